#pragma once
// The heads the proxy writes: the request it sends upstream and the response head it
// sends back to the client. Pure functions from parsed heads to bytes.
#include <string>
#include <string_view>

#include "proxy/http_head.hpp"

namespace hindsight::proxy {

// Appends the request head to send upstream: always HTTP/1.1 in origin-form, Host first,
// the client's fields in order minus hop-by-hop ones (RFC 9110 §7.6.1) and Expect (the
// proxy answers 100-continue itself), X-Forwarded-For with `client_ip` appended (nothing
// appended when empty: unix-socket clients have no address), then the proxy's own
// framing: Content-Length, or Transfer-Encoding: chunked, or the upgrade fields.
void write_upstream_request_head(const request_head& request, std::string_view client_ip, std::string& out);

// How the response body travels to the client.
enum class client_framing { none, content_length, chunked, until_close, tunnel };

struct response_plan {
  client_framing framing = client_framing::none;
  bool close = false;  // close the client connection after this response
};

// Appends the response head for the client and says how to send the body. A 1.0
// client never receives chunked: a body of unknown length then ends with the connection.
// `must_close` forces Connection: close (draining, an unread request body).
response_plan write_client_response_head(const response_head& response, const request_head& request,
                                         bool must_close, std::string& out);

// Appends an interim (1xx) response head for an HTTP/1.1 client.
void write_interim_response_head(const response_head& response, std::string& out);

// The proxy's own answer (errors and refusals): a complete response with a short
// plain-text body, Connection: close.
std::string own_response(int status, std::string_view why);
std::string_view reason_phrase(int status);

}  // namespace hindsight::proxy
