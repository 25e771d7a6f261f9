#include "store/redaction.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace hs = hindsight::store;
using strings = std::vector<std::string>;

namespace {

hs::capture request(std::string target, std::string content_type = "", std::string body = "") {
  hs::capture c;
  c.method = body.empty() ? "GET" : "POST";
  c.target = std::move(target);
  c.request_headers = "Host: example.com\r\n";
  if (!content_type.empty()) c.request_headers += "Content-Type: " + content_type + "\r\n";
  c.request_headers += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  c.request_body = std::move(body);
  c.request_body_size = c.request_body.size();
  c.status = 500;
  return c;
}

hs::capture json_response(std::string body) {
  hs::capture c = request("/");
  c.response_headers = "content-type: application/json; charset=utf-8\r\n";
  c.response_body = std::move(body);
  return c;
}

boost::json::value json_of(const std::string& s) { return boost::json::parse(s); }

// Whether Boost.JSON, as strict as the scanner and as deep, takes s as one JSON text.
bool is_json(const std::string& s) {
  boost::json::parse_options options;
  options.max_depth = 256;
  boost::json::error_code ec;
  boost::json::parse(s, ec, {}, options);
  return !ec;
}

const hs::redaction_rules defaults = hs::redaction_rules::defaults();

}  // namespace

// --- rules ---------------------------------------------------------------------------

TEST(RedactRules, defaults_match_secret_names_anywhere_in_any_case) {
  for (const char* name : {"password", "PASSWORD", "user_password", "passwordConfirm", "passwd", "client_secret",
                           "X-Api-Key", "api_key", "apiKey", "private-key", "aws_credentials", "new-Password"})
    EXPECT_TRUE(defaults.matches(name)) << name;
  for (const char* name : {"username", "email", "pass", "api", "key", "token_type", "card", ""})
    EXPECT_FALSE(defaults.matches(name)) << name;
}

TEST(RedactRules, keep_removes_a_default_and_add_adds_a_name) {
  auto rules = hs::redaction_rules::defaults();
  rules.keep("Secret");  // normalised like the rules
  EXPECT_FALSE(rules.matches("client_secret"));
  EXPECT_TRUE(rules.matches("password"));
  rules.add("SSN");
  rules.add("ssn");  // twice is once
  EXPECT_TRUE(rules.matches("customer_ssn"));
  EXPECT_EQ(std::count(rules.names().begin(), rules.names().end(), "ssn"), 1);
  rules.add("auth-code");
  EXPECT_TRUE(rules.matches("AUTH_CODE"));
  rules.keep("ssn");
  EXPECT_FALSE(rules.matches("customer_ssn"));
}

TEST(RedactRules, no_rules_match_nothing) {
  hs::redaction_rules none;
  EXPECT_FALSE(none.matches("password"));
  auto c = request("/login?password=hunter2");
  EXPECT_TRUE(hs::redact(c, none).empty());
  EXPECT_EQ(c.target, "/login?password=hunter2");
}

// --- the query ------------------------------------------------------------------------

TEST(RedactQuery, scrubs_matching_values_and_keeps_every_other_byte) {
  auto c = request("/login?user=a%20b+c&password=hunter2&next=%2Fhome%3Fx%3D1&&flag&Api-Key=k#frag");
  EXPECT_EQ(hs::redact(c, defaults), (strings{"query:password", "query:Api-Key"}));
  EXPECT_EQ(c.target, "/login?user=a%20b+c&password=%5Bredacted%5D&next=%2Fhome%3Fx%3D1&&flag&Api-Key=%5Bredacted%5D#frag");
}

TEST(RedactQuery, decodes_names_before_matching) {
  auto c = request("/x?pass%77ord=1&user%5Bsecret%5D=2&my+password=3");
  EXPECT_EQ(hs::redact(c, defaults), (strings{"query:password", "query:user[secret]", "query:my password"}));
  EXPECT_EQ(c.target, "/x?pass%77ord=%5Bredacted%5D&user%5Bsecret%5D=%5Bredacted%5D&my+password=%5Bredacted%5D");
}

TEST(RedactQuery, leaves_the_target_untouched_when_nothing_matches) {
  const std::string target = "/search?q=%E2%9C%93&password&secret=&page=2&%zz=1";
  auto c = request(target);
  EXPECT_TRUE(hs::redact(c, defaults).empty());  // a name without a value hides nothing
  EXPECT_EQ(c.target, target);
}

TEST(RedactQuery, scrubs_card_numbers_under_any_name) {
  auto c = request("/pay?cc=4111+1111+1111+1111&ref=4111111111111112&amount=12");
  EXPECT_EQ(hs::redact(c, defaults), (strings{"query:cc(card)"}));
  EXPECT_EQ(c.target, "/pay?cc=%5Bredacted%5D&ref=4111111111111112&amount=12");
}

TEST(RedactQuery, repeated_names_are_listed_once) {
  auto c = request("/x?password=a&password=b");
  EXPECT_EQ(hs::redact(c, defaults), (strings{"query:password"}));
  EXPECT_EQ(c.target, "/x?password=%5Bredacted%5D&password=%5Bredacted%5D");
}

// --- urlencoded form bodies ------------------------------------------------------------

TEST(RedactForm, scrubs_fields_of_an_urlencoded_body) {
  auto c = request("/login?next=/", "application/x-www-form-urlencoded; charset=UTF-8",
                   "username=ann&password=p%40ss+word&csrfmiddlewaretoken=abc");
  const std::string headers = c.request_headers;
  EXPECT_EQ(hs::redact(c, defaults), (strings{"form:password"}));
  EXPECT_EQ(c.request_body, "username=ann&password=%5Bredacted%5D&csrfmiddlewaretoken=abc");
  EXPECT_EQ(c.target, "/login?next=/");
  EXPECT_EQ(c.request_headers, headers);  // Content-Length is recomputed at replay
}

TEST(RedactForm, content_type_is_found_in_any_case) {
  auto c = request("/");
  c.request_headers = "host: x\r\nCONTENT-TYPE:Application/X-WWW-Form-Urlencoded\r\n";
  c.request_body = "secret=1";
  EXPECT_EQ(hs::redact(c, defaults), (strings{"form:secret"}));
  EXPECT_EQ(c.request_body, "secret=%5Bredacted%5D");
}

TEST(RedactForm, query_and_body_are_both_scrubbed) {
  auto c = request("/x?api_key=k1", "application/x-www-form-urlencoded", "password=p");
  EXPECT_EQ(hs::redact(c, defaults), (strings{"query:api_key", "form:password"}));
  EXPECT_EQ(c.target, "/x?api_key=%5Bredacted%5D");
  EXPECT_EQ(c.request_body, "password=%5Bredacted%5D");
}

TEST(RedactForm, other_content_types_are_left_alone) {
  auto c = request("/", "text/plain", "password=hunter2");
  EXPECT_TRUE(hs::redact(c, defaults).empty());
  EXPECT_EQ(c.request_body, "password=hunter2");
}

TEST(RedactForm, compressed_bodies_are_left_alone) {
  auto c = request("/", "application/x-www-form-urlencoded", "password=hunter2");
  c.request_headers += "Content-Encoding: gzip\r\n";
  EXPECT_TRUE(hs::redact(c, defaults).empty());
  EXPECT_EQ(c.request_body, "password=hunter2");
}

// --- multipart ---------------------------------------------------------------------------

TEST(RedactMultipart, scrubs_named_fields_and_card_numbers_and_leaves_files) {
  const std::string binary("\x89PNG\r\n\x1a\n\0\xff 4111111111111111 password", 33);
  const std::string body =
      "preamble\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"username\"\r\n\r\n"
      "ann\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"password\"\r\n\r\n"
      "hunter2\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"card\"\r\n\r\n"
      "4111 1111 1111 1111\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n"
      "Content-Type: image/png\r\n\r\n" +
      binary +
      "\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
      "4111111111111112\r\n"
      "--XyZ--\r\n"
      "epilogue";
  auto c = request("/upload", "multipart/form-data; boundary=XyZ", body);
  EXPECT_EQ(hs::redact(c, defaults), (strings{"multipart:password", "multipart:card(card)"}));
  std::string expected = body;
  expected.replace(expected.find("hunter2"), 7, "[redacted]");
  expected.replace(expected.find("4111 1111 1111 1111"), 19, "[redacted]");
  EXPECT_EQ(c.request_body, expected);
  EXPECT_NE(c.request_body.find(binary), std::string::npos);
}

TEST(RedactMultipart, a_file_part_is_scrubbed_only_by_its_name) {
  const std::string body =
      "--b\r\n"
      "Content-Disposition: form-data; name=\"private_key\"; filename=\"id_ed25519\"\r\n\r\n"
      "-----BEGIN OPENSSH PRIVATE KEY-----\r\n"
      "--b\r\n"
      "Content-Disposition: form-data; name=\"doc\"; filename=\"card.txt\"\r\n\r\n"
      "4111111111111111\r\n"
      "--b--\r\n";
  auto c = request("/keys", "multipart/form-data; boundary=\"b\"", body);
  EXPECT_EQ(hs::redact(c, defaults), (strings{"multipart:private_key"}));
  EXPECT_EQ(c.request_body,
            "--b\r\n"
            "Content-Disposition: form-data; name=\"private_key\"; filename=\"id_ed25519\"\r\n\r\n"
            "[redacted]\r\n"
            "--b\r\n"
            "Content-Disposition: form-data; name=\"doc\"; filename=\"card.txt\"\r\n\r\n"
            "4111111111111111\r\n"
            "--b--\r\n");
}

TEST(RedactMultipart, a_truncated_body_is_scrubbed_as_far_as_it_goes) {
  const std::string body =
      "--b\r\n"
      "Content-Disposition: form-data; name=\"password\"\r\n\r\n"
      "hunter2\r\n"
      "--b\r\n"
      "Content-Disposition: form-data; name=\"secret\"\r\n\r\n"
      "half-of-it";
  auto c = request("/", "multipart/form-data; boundary=b", body);
  c.request_body_size = 10'000;
  c.request_body_truncated = true;
  EXPECT_EQ(hs::redact(c, defaults), (strings{"multipart:password", "multipart:secret"}));
  EXPECT_EQ(c.request_body,
            "--b\r\n"
            "Content-Disposition: form-data; name=\"password\"\r\n\r\n"
            "[redacted]\r\n"
            "--b\r\n"
            "Content-Disposition: form-data; name=\"secret\"\r\n\r\n"
            "[redacted]");
}

TEST(RedactMultipart, a_body_without_its_boundary_is_left_alone) {
  const std::string body = "--other\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nx\r\n--other--\r\n";
  auto c = request("/", "multipart/form-data; boundary=b", body);
  EXPECT_TRUE(hs::redact(c, defaults).empty());
  EXPECT_EQ(c.request_body, body);
  auto no_boundary = request("/", "multipart/form-data", body);
  EXPECT_TRUE(hs::redact(no_boundary, defaults).empty());
  EXPECT_EQ(no_boundary.request_body, body);
}

// --- JSON ---------------------------------------------------------------------------------

TEST(RedactJson, scrubs_nested_keys_with_dotted_paths) {
  auto c = request("/api", "application/json",
                   R"({"user":{"name":"ann","password":"hunter2","settings":{"apiKey":12345}},"ok":true})");
  EXPECT_EQ(hs::redact(c, defaults), (strings{"json:user.password", "json:user.settings.apiKey"}));
  EXPECT_EQ(c.request_body, R"({"user":{"name":"ann","password":"[redacted]","settings":{"apiKey":"[redacted]"}},"ok":true})");
}

TEST(RedactJson, scrubs_a_whole_object_or_array_under_a_matching_key) {
  auto c = request("/api", "application/vnd.api+json",
                   R"({"credentials":{"user":"a","token":"t"},"secrets":["a","b"],"items":[1,2]})");
  EXPECT_EQ(hs::redact(c, defaults), (strings{"json:credentials", "json:secrets"}));
  EXPECT_EQ(c.request_body, R"({"credentials":"[redacted]","secrets":"[redacted]","items":[1,2]})");
}

TEST(RedactJson, finds_card_numbers_in_arrays_as_strings_and_integers) {
  auto c = request("/pay", "application/json",
                   R"({"cards":[{"number":"4111-1111-1111-1111"},{"number":5555555555554444},)"
                   R"({"number":"4111111111111112"}],"order":20240501,"phone":"+1 555 0100"})");
  EXPECT_EQ(hs::redact(c, defaults), (strings{"json:cards[0].number(card)", "json:cards[1].number(card)"}));
  EXPECT_EQ(c.request_body, R"({"cards":[{"number":"[redacted]"},{"number":"[redacted]"},)"
                            R"({"number":"4111111111111112"}],"order":20240501,"phone":"+1 555 0100"})");
}

TEST(RedactJson, a_top_level_array_gets_indexed_paths) {
  auto c = request("/bulk", "application/json", R"([{"password":"a"},"378282246310005"])");
  EXPECT_EQ(hs::redact(c, defaults), (strings{"json:[0].password", "json:[1](card)"}));
  EXPECT_EQ(c.request_body, R"([{"password":"[redacted]"},"[redacted]"])");
}

TEST(RedactJson, leaves_the_bytes_untouched_when_nothing_matches) {
  const std::string body = "{ \"name\" : \"ann\",\n  \"price\": 1.50, \"n\": 1e3, \"password\": null, \"passwd\": \"\","
                           " \"has_password\": true, \"u\": \"\\u00e9\" }";
  auto c = request("/api", "application/json; charset=utf-8", body);
  EXPECT_TRUE(hs::redact(c, defaults).empty());
  EXPECT_EQ(c.request_body, body);
}

TEST(RedactJson, invalid_or_truncated_json_is_left_and_not_claimed) {
  const std::string truncated = R"({"user":{"password":"hunter2","bio":"long)";
  auto c = request("/api", "application/json", truncated);
  c.request_body_size = 1 << 20;
  c.request_body_truncated = true;
  EXPECT_TRUE(hs::redact(c, defaults).empty());
  EXPECT_EQ(c.request_body, truncated);

  const std::string invalid = "{password: 'hunter2'}";
  auto d = request("/api", "application/json", invalid);
  EXPECT_TRUE(hs::redact(d, defaults).empty());
  EXPECT_EQ(d.request_body, invalid);
}

TEST(RedactJson, deeply_nested_documents_are_still_scrubbed) {
  std::string body;
  for (int i = 0; i < 100; ++i) body += "{\"a\":";
  body += R"({"password":"x"})";
  for (int i = 0; i < 100; ++i) body += "}";
  auto c = request("/api", "application/json", body);
  auto scrubbed = hs::redact(c, defaults);
  ASSERT_EQ(scrubbed.size(), 1u);
  EXPECT_EQ(c.request_body.find("\"x\""), std::string::npos);
}

TEST(RedactJson, the_response_body_is_scrubbed_as_response_json) {
  auto c = json_response(R"({"token":"ok","client_secret":"s3cr3t","card":"4111 1111 1111 1111"})");
  EXPECT_EQ(hs::redact(c, defaults), (strings{"response-json:client_secret", "response-json:card(card)"}));
  EXPECT_EQ(c.response_body, R"({"token":"ok","client_secret":"[redacted]","card":"[redacted]"})");
}

TEST(RedactJson, a_response_that_is_not_json_is_left_alone) {
  hs::capture c = request("/");
  c.response_headers = "Content-Type: text/html\r\n";
  c.response_body = R"({"password":"x"})";
  EXPECT_TRUE(hs::redact(c, defaults).empty());
  EXPECT_EQ(c.response_body, R"({"password":"x"})");
}

// Redaction rewrites only the scrubbed values' bytes: the capture is replayed later.
TEST(RedactJson, every_other_byte_is_kept_as_sent) {
  const std::string body =
      "\t{ \"amount\" :12345678901234567890123,\"price\": 0.1 ,\"tiny\":-1.5E-300,\"big\":2e+400,\"zero\":-0,"
      "\r\n \"id\": 9007199254740993, \"name\": \"caf\\u00e9 \\ud83d\\ude00 \xc3\xbc \\/\\\"\\\\\\b\\f\\n\\r\\t\","
      " \"password\"\n:\n\"hunter2\" , \"password\": 12345, \"items\": [ 1,2.50, {\"k\" : null} , [] , {} ],"
      " \"id\": \"again\", \"ok\": true }\n ";
  auto c = request("/pay", "application/json", body);
  EXPECT_EQ(hs::redact(c, defaults), (strings{"json:password"}));  // twice, listed once
  std::string expected = body;
  expected.replace(expected.find("\"hunter2\""), 9, "\"[redacted]\"");
  expected.replace(expected.find("12345,"), 5, "\"[redacted]\"");
  EXPECT_EQ(c.request_body, expected);
  EXPECT_TRUE(is_json(c.request_body));
}

TEST(RedactJson, the_output_is_json_with_a_string_in_place_of_each_scrubbed_value) {
  for (const char* value : {R"("hunter2")", "0", "-1.5e3", R"({"a":[1,{"b":"c"}]})", "[]", "{}", R"(["x",null])",
                            R"("\u0000")"}) {
    const std::string body = std::string(R"({"a":1,"password":)") + value + R"(,"b":[2]})";
    auto c = request("/", "application/json", body);
    EXPECT_EQ(hs::redact(c, defaults), (strings{"json:password"})) << value;
    EXPECT_EQ(c.request_body, R"({"a":1,"password":"[redacted]","b":[2]})") << value;
    ASSERT_TRUE(is_json(c.request_body)) << value;
    EXPECT_EQ(json_of(c.request_body).at("password"), "[redacted]");
  }
}

TEST(RedactJson, null_booleans_and_empty_strings_under_a_secret_name_are_kept) {
  const std::string body = R"({"password":null,"secret":false,"api_key":true,"passwd":"" , "x": {"credentials" : ""}})";
  auto c = request("/", "application/json", body);
  EXPECT_TRUE(hs::redact(c, defaults).empty());
  EXPECT_EQ(c.request_body, body);
}

TEST(RedactJson, a_scrubbed_object_or_array_is_replaced_whole_and_nothing_inside_is_listed) {
  const std::string body =
      "{\"credentials\": {\"password\": \"x\", \"card\": \"4111111111111111\", \"deep\": [[{\"secret\": 1}]]},\n"
      " \"secrets\" : [ \"a\" , [\"4111111111111111\"] ],\n"
      " \"after\": {\"password\": \"y\", \"n\": 4111111111111111}}";
  auto c = request("/", "application/json", body);
  EXPECT_EQ(hs::redact(c, defaults),
            (strings{"json:credentials", "json:secrets", "json:after.password", "json:after.n(card)"}));
  EXPECT_EQ(c.request_body,
            "{\"credentials\": \"[redacted]\",\n"
            " \"secrets\" : \"[redacted]\",\n"
            " \"after\": {\"password\": \"[redacted]\", \"n\": \"[redacted]\"}}");
  EXPECT_TRUE(is_json(c.request_body));
}

TEST(RedactJson, key_names_are_unescaped_before_matching) {
  const std::string body =
      R"({"pass\u0077ord":"a","\u0041PI\u005fKEY":1,"\ud83d\udd11\/secret":"b","a\u0000passwd":"c",)"
      R"("pass\"word":"d","u":{"sec\u0072et":[1]}})";
  auto c = request("/", "application/json", body);
  EXPECT_EQ(hs::redact(c, defaults),
            (strings{"json:password", "json:API_KEY", "json:\xf0\x9f\x94\x91/secret", "json:a?passwd", "json:u.secret"}));
  EXPECT_EQ(c.request_body,
            R"({"pass\u0077ord":"[redacted]","\u0041PI\u005fKEY":"[redacted]","\ud83d\udd11\/secret":"[redacted]",)"
            R"("a\u0000passwd":"[redacted]","pass\"word":"d","u":{"sec\u0072et":"[redacted]"}})");
  EXPECT_TRUE(is_json(c.request_body));
}

TEST(RedactJson, card_numbers_are_strings_after_unescaping_or_plain_positive_integers) {
  const std::string body =
      R"({"a":"\u0034111 1111 1111 1111","b":4111111111111111,"c":-4111111111111111,"d":4111111111111111.0,)"
      R"("e":4111111111111111e0,"f":"4111111111111111\n","g":41111111111111111111,"h":0,"i":"0000000000000000"})";
  auto c = request("/", "application/json", body);
  EXPECT_EQ(hs::redact(c, defaults), (strings{"json:a(card)", "json:b(card)"}));
  EXPECT_EQ(c.request_body,
            R"({"a":"[redacted]","b":"[redacted]","c":-4111111111111111,"d":4111111111111111.0,)"
            R"("e":4111111111111111e0,"f":"4111111111111111\n","g":41111111111111111111,"h":0,"i":"0000000000000000"})");
}

TEST(RedactJson, a_top_level_scalar_can_be_a_card_number) {
  for (const char* body : {R"("4111111111111111")", " 4111111111111111\n"}) {
    auto c = request("/", "application/json", body);
    EXPECT_EQ(hs::redact(c, defaults), (strings{"json:(card)"})) << body;
    EXPECT_EQ(c.request_body, std::string(body).find('"') == std::string::npos ? " \"[redacted]\"\n" : "\"[redacted]\"");
  }
}

TEST(RedactJson, every_truncation_is_left_and_not_claimed) {
  const std::string body = R"({"user":{"password":"hunter2","n":[1.5e-3,-0,true,null,"\ud83d\ude00"]},"secret":1234})";
  ASSERT_TRUE(is_json(body));
  for (std::size_t n = 1; n < body.size(); ++n) {
    const std::string cut = body.substr(0, n);
    auto c = request("/", "application/json", cut);
    EXPECT_TRUE(hs::redact(c, defaults).empty()) << cut;
    EXPECT_EQ(c.request_body, cut);
  }
}

TEST(RedactJson, what_a_strict_parser_rejects_is_left_and_not_claimed) {
  for (const std::string& bad : strings{
           R"({"password":"x",})", R"({"password":"x"} {})", R"({"password":"x"} x)", R"({"password":'x'})",
           R"({password:"x"})", R"({"password":"x" /* c */})", R"({"password":01})", R"({"password":1.})",
           R"({"password":.5})", R"({"password":+1})", R"({"password":1e})", R"({"password":-})", R"({"password":NaN})",
           R"({"password":tru})", R"({"password":"x","a":nulll})", R"({"password":"x","a":[1,]})", R"({"password":"x",,"a":1})",
           R"({"password":"\ud800"})", R"({"password":"\udc00\ud800"})", R"({"password":"\ud800\u0041"})",
           R"({"password":"\x"})", R"({"password":"\u12G4"})", R"({"password" "x"})", R"(["password":"x"])",
           R"({"password":"x"]})", R"([{"password":"x"}})", std::string("{\"password\":\"a\tb\"}"),
           std::string("{\"password\":\"\xff\"}"), std::string("{\"password\":\"\xc0\xaf\"}"),
           std::string("{\"password\":\"\xed\xa0\x80\"}"), std::string("{\"password\":\"\xf4\x90\x80\x80\"}"),
           std::string("{\"password\":\"\xe2\x82\"}"), std::string("\xef\xbb\xbf{\"password\":\"x\"}"),
           std::string("{\"password\":\"x\"}\0", 17), std::string("{\"password\":\"x\"}\f"), std::string(" \n")}) {
    EXPECT_FALSE(is_json(bad)) << bad;  // Boost.JSON rejects it too
    auto c = request("/", "application/json", bad);
    EXPECT_TRUE(hs::redact(c, defaults).empty()) << bad;
    EXPECT_EQ(c.request_body, bad);
  }
}

TEST(RedactJson, nesting_is_limited_to_256_containers) {
  auto nested = [](int depth) {
    std::string body;
    for (int i = 1; i < depth; ++i) body += i % 2 ? "[" : "{\"a\":";
    body += R"({"password":"x"})";
    for (int i = depth - 1; i >= 1; --i) body += i % 2 ? "]" : "}";
    return body;
  };
  const std::string at_limit = nested(256);
  ASSERT_TRUE(is_json(at_limit));
  auto c = request("/", "application/json", at_limit);
  ASSERT_EQ(hs::redact(c, defaults).size(), 1u);
  EXPECT_EQ(c.request_body.find("\"x\""), std::string::npos);
  EXPECT_TRUE(is_json(c.request_body));

  const std::string too_deep = nested(257);
  EXPECT_FALSE(is_json(too_deep));
  auto d = request("/", "application/json", too_deep);
  EXPECT_TRUE(hs::redact(d, defaults).empty());
  EXPECT_EQ(d.request_body, too_deep);
}

TEST(RedactJson, hostile_nesting_does_not_exhaust_the_stack) {
  const std::string open(1'000'000, '[');
  for (const std::string& body : {open, open + "\"4111111111111111\"" + std::string(1'000'000, ']'),
                                  std::string(500'000, '{') + std::string(500'000, '}')}) {
    auto c = request("/", "application/json", body);
    EXPECT_TRUE(hs::redact(c, defaults).empty());
    EXPECT_EQ(c.request_body.size(), body.size());
  }
}

TEST(RedactJson, a_large_document_is_scrubbed_in_place) {
  std::string body = "[";
  for (int i = 0; i < 20'000; ++i) body += (i ? "," : "") + std::string(R"({"id":)") + std::to_string(i) + R"(,"password":"p)" +
                                           std::to_string(i) + R"(","v":0.1})";
  body += "]";
  auto c = request("/", "application/json", body);
  auto scrubbed = hs::redact(c, defaults);
  ASSERT_EQ(scrubbed.size(), 20'000u);
  EXPECT_EQ(scrubbed[19'999], "json:[19999].password");
  EXPECT_EQ(c.request_body.find("\"p1"), std::string::npos);
  EXPECT_NE(c.request_body.find(R"({"id":12345,"password":"[redacted]","v":0.1})"), std::string::npos);
  EXPECT_TRUE(is_json(c.request_body));
}

// --- card numbers --------------------------------------------------------------------------

TEST(RedactCard, luhn_valid_13_to_19_digits_with_spaces_or_dashes) {
  auto scrubbed = [](const std::string& value) {
    auto c = request("/?v=" + value);
    return !hs::redact(c, defaults).empty();
  };
  EXPECT_TRUE(scrubbed("4111+1111+1111+1111"));  // '+' decodes to a space
  EXPECT_TRUE(scrubbed("4111-1111-1111-1111"));
  EXPECT_TRUE(scrubbed("4111111111111111"));
  EXPECT_TRUE(scrubbed("378282246310005"));       // 15 digits, Amex
  EXPECT_TRUE(scrubbed("4222222222222"));         // 13 digits
  EXPECT_FALSE(scrubbed("4111111111111112"));     // Luhn fails
  EXPECT_FALSE(scrubbed("411111111111"));         // 12 digits
  EXPECT_FALSE(scrubbed("41111111111111111111")); // 20 digits
  EXPECT_FALSE(scrubbed("0000000000000000"));     // Luhn-valid padding
  EXPECT_FALSE(scrubbed("4111.1111.1111.1111"));  // other separators
  EXPECT_FALSE(scrubbed("x4111111111111111"));
  EXPECT_FALSE(scrubbed("-4111111111111111"));
}

// --- credential headers ---------------------------------------------------------------------

TEST(RedactHeaders, credential_headers) {
  for (const char* name : {"Authorization", "proxy-authorization", "Cookie", "SET-COOKIE", "X-Api-Key", "x_api_key",
                           "X-Auth-Token", "X-Amz-Security-Token", "X-Client-Secret", "X-Session-Id", "X-Password",
                           "Apikey"})
    EXPECT_TRUE(hs::is_credential_header(name)) << name;
  for (const char* name : {"Content-Type", "Host", "Accept", "X-Request-Id", "User-Agent", "X-CSRFToken", "X-XSRF-TOKEN",
                           "X-Forwarded-For", "Authority"})
    EXPECT_FALSE(hs::is_credential_header(name)) << name;
}

TEST(RedactHeaders, request_headers_are_never_changed) {
  auto c = request("/?password=x", "application/json", R"({"password":"x"})");
  c.request_headers += "Authorization: Bearer abc\r\nCookie: sessionid=1\r\n";
  const std::string headers = c.request_headers;
  EXPECT_EQ(hs::redact(c, defaults).size(), 2u);
  EXPECT_EQ(c.request_headers, headers);
}
