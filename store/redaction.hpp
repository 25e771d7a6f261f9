#pragma once
// Scrubbing secrets out of a capture before it is written: values of query parameters,
// form fields (urlencoded and multipart) and JSON keys whose names look like secrets,
// and any value shaped like a payment card number (13–19 digits, Luhn-valid).
// Credential headers (Authorization, Cookie, …) are kept — replay needs them — and
// masked only where they are shown (see mask_header_value).
#include <string>
#include <string_view>
#include <vector>

#include "store/capture.hpp"

namespace hindsight::store {

inline constexpr std::string_view redaction_marker = "[redacted]";

class redaction_rules {
 public:
  // password, passwd, secret, api_key, apikey, private_key, credentials.
  static redaction_rules defaults();
  void add(std::string name);         // --redact NAME
  void keep(std::string_view name);   // --keep NAME: removes a default (or an added name)
  // Whether a field of this name is scrubbed: case-insensitive, '-' and '_' alike, and
  // a rule matches anywhere in the name ("user_password", "X-Api-Key").
  bool matches(std::string_view field_name) const;
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;  // normalised
};

// Scrubs the capture in place (the target's query, the request body by its
// Content-Type, a JSON response body) and returns what was scrubbed, each as
// "<where>:<name>" — where is query, form, multipart or json (json names are dotted
// paths) — or "<where>:<name>(card)" for a card number found under another name.
std::vector<std::string> redact(capture& c, const redaction_rules& rules);

// Credential headers are shown as "[masked]" unless revealed: Authorization,
// Proxy-Authorization, Cookie, Set-Cookie, and names like *token*, *api-key*, *secret*.
bool is_credential_header(std::string_view name);
inline constexpr std::string_view mask_marker = "[masked]";

}  // namespace hindsight::store
