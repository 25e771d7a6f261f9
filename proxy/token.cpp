#include "proxy/token.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace hindsight::proxy {
namespace {

constexpr unsigned char token_version = 1;
constexpr std::size_t id_size = 16;
constexpr std::size_t payload_size = 1 + 8 + 8 + id_size;
constexpr std::size_t mac_size = 32;
// Domain separation: the same secret will sign the web UI's session cookies.
constexpr std::string_view mac_context{"hindsight-debug-token\0", 22};

constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Unpadded base64url; false on any other character, an impossible length, or unused
// trailing bits that are not zero: one token has exactly one spelling, so a flipped
// last character can never verify.
bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 == 1) return false;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = b64_value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return (acc & ((1u << bits) - 1)) == 0;
}

void put_be64(unsigned char* p, std::int64_t v) {
  auto u = static_cast<std::uint64_t>(v);
  for (int i = 7; i >= 0; --i, u >>= 8) p[i] = static_cast<unsigned char>(u & 0xff);
}

std::int64_t get_be64(const unsigned char* p) {
  std::uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | p[i];
  return static_cast<std::int64_t>(u);
}

std::array<unsigned char, mac_size> mac_of(const token_secret& secret, std::string_view payload) {
  std::string message(mac_context);
  message.append(payload);
  std::array<unsigned char, mac_size> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &len);
  return mac;
}

void random_bytes(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1)
    throw std::runtime_error("cannot get random bytes from OpenSSL's generator");
}

std::string errno_text() { return std::strerror(errno); }

bool read_secret(const std::filesystem::path& path, token_secret& out) {
  // O_NONBLOCK: a FIFO planted there must not hang us; it is refused below.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    if (errno == ELOOP)
      throw std::runtime_error("the debug token secret '" + path.string() +
                               "' is a symbolic link: hindsight only trusts a file of its own there; remove it");
    throw std::runtime_error("cannot read the debug token secret '" + path.string() + "': " + errno_text() +
                             " — run hindsight as the user that owns the data directory");
  }
  // Whoever can read or replace the secret can sign tokens: it must be this user's own
  // regular file, readable by nobody else.
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    ::close(fd);
    throw std::runtime_error("the debug token secret '" + path.string() +
                             "' is not a regular file of this user with mode 0600: remove it (a new one is made; "
                             "tokens signed with the old one stop working)");
  }
  unsigned char buf[64];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n != static_cast<ssize_t>(out.size()))
    throw std::runtime_error("the debug token secret '" + path.string() + "' is not 32 bytes long: delete it (a new "
                             "one is made; tokens signed with the old one stop working)");
  std::memcpy(out.data(), buf, out.size());
  return true;
}

// Removes `name` pairs from a Cookie field value (RFC 6265 §4.2.1: pairs separated by
// "; "), keeping the other pairs and the separators between them byte for byte.
bool remove_cookie(std::string_view value, std::string_view name, std::string& out, std::string_view& found) {
  struct pair_span {
    std::size_t begin, end;
  };
  out.clear();
  bool removed = false;
  std::size_t kept_end = std::string_view::npos;  // end of the last pair kept
  std::size_t prev_end = 0;                       // end of the previous pair, kept or not
  bool first = true;
  for (std::size_t start = 0; start <= value.size();) {
    auto semi = value.find(';', start);
    auto end = semi == std::string_view::npos ? value.size() : semi;
    std::size_t b = start, e = end;
    while (b < e && (value[b] == ' ' || value[b] == '\t')) ++b;
    while (e > b && (value[e - 1] == ' ' || value[e - 1] == '\t')) --e;
    auto pair = value.substr(b, e - b);
    auto eq = pair.find('=');
    auto pair_name = pair.substr(0, eq);
    // "name =value": frameworks trim around the name (Django, Werkzeug), so must we.
    while (!pair_name.empty() && (pair_name.back() == ' ' || pair_name.back() == '\t')) pair_name.remove_suffix(1);
    if (pair_name == name) {
      if (found.empty() && eq != std::string_view::npos) {
        auto v = pair.substr(eq + 1);
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        found = v;
      }
      removed = true;
    } else if (!pair.empty() || semi != std::string_view::npos || !first) {
      // The separator that preceded this pair in the original, then the pair.
      if (kept_end != std::string_view::npos) out.append(value.substr(prev_end, b - prev_end));
      out.append(pair);
      kept_end = e;
    }
    prev_end = e;
    first = false;
    if (semi == std::string_view::npos) break;
    start = semi + 1;
  }
  return removed;
}

// Removes `name` parameters from the query of `target`; the others keep their bytes and
// order. false (and `out` untouched) when there is none.
bool remove_query_param(std::string_view target, std::string_view name, std::string& out, std::string_view& found) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return false;
  auto query = target.substr(q + 1);
  bool removed = false;
  std::string kept;
  bool any_kept = false;
  for (std::size_t start = 0; start <= query.size();) {
    auto amp = query.find('&', start);
    auto param = query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    auto eq = param.find('=');
    // Compared decoded: the app's framework decodes %68indsight_token to the name.
    if (form_decodes_to(param.substr(0, eq), name)) {
      if (found.empty() && eq != std::string_view::npos) found = param.substr(eq + 1);
      removed = true;
    } else {
      if (any_kept) kept += '&';
      kept.append(param);
      any_kept = true;
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  if (!removed) return false;
  out.assign(target.substr(0, q));
  if (any_kept) out.append("?").append(kept);
  return true;
}

bool inside(std::string_view outer, std::string_view inner) {
  auto o = reinterpret_cast<std::uintptr_t>(outer.data());
  auto i = reinterpret_cast<std::uintptr_t>(inner.data());
  return inner.data() != nullptr && i >= o && i + inner.size() <= o + outer.size();
}

}  // namespace

std::string_view describe(token_status s) {
  switch (s) {
    case token_status::valid: return "valid";
    case token_status::malformed: return "malformed (not a hindsight debug token)";
    case token_status::forged: return "forged (its signature does not match this data directory's secret)";
    case token_status::expired: return "expired";
    case token_status::unknown_version: return "made by another version of hindsight";
  }
  return "?";
}

std::string base64url(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(b64_alphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(b64_alphabet[(acc << (6 - bits)) & 63]);
  return out;
}

std::string sign_token(const token_secret& secret, std::int64_t issued_s, std::int64_t expires_s) {
  std::array<unsigned char, payload_size> payload{};
  payload[0] = token_version;
  put_be64(&payload[1], issued_s);
  put_be64(&payload[9], expires_s);
  random_bytes(&payload[17], id_size);
  std::string_view p(reinterpret_cast<const char*>(payload.data()), payload.size());
  auto mac = mac_of(secret, p);
  return base64url(p) + "." + base64url(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

token_status verify_token(const token_secret& secret, std::string_view token, std::int64_t now_s, token_info* info) {
  auto dot = token.find('.');
  if (dot == std::string_view::npos) return token_status::malformed;
  std::string payload, mac;
  if (!base64url_decode(token.substr(0, dot), payload) || !base64url_decode(token.substr(dot + 1), mac))
    return token_status::malformed;
  if (payload.empty() || mac.size() != mac_size) return token_status::malformed;
  if (static_cast<unsigned char>(payload[0]) != token_version) return token_status::unknown_version;
  if (payload.size() != payload_size) return token_status::malformed;
  auto expected = mac_of(secret, payload);
  if (CRYPTO_memcmp(expected.data(), mac.data(), mac_size) != 0) return token_status::forged;
  auto p = reinterpret_cast<const unsigned char*>(payload.data());
  if (info) {
    info->issued_s = get_be64(p + 1);
    info->expires_s = get_be64(p + 9);
    static constexpr char hex[] = "0123456789abcdef";
    info->id.clear();
    for (std::size_t i = 0; i < id_size; ++i) {
      info->id.push_back(hex[p[17 + i] >> 4]);
      info->id.push_back(hex[p[17 + i] & 15]);
    }
  }
  if (now_s >= get_be64(p + 9)) return token_status::expired;
  return token_status::valid;
}

token_secret load_or_create_secret(const std::filesystem::path& data_dir) {
  auto path = data_dir / "secret";
  token_secret secret{};
  if (read_secret(path, secret)) return secret;
  // Written whole under a temporary name, then linked in place: link() never replaces,
  // so of two processes creating it at once one wins and both read the winner's.
  token_secret fresh{};
  random_bytes(fresh.data(), fresh.size());
  // A random name: two containers sharing the volume may both be pid 1.
  unsigned char nonce[8];
  random_bytes(nonce, sizeof nonce);
  std::string suffix;
  for (auto b : nonce) suffix += "0123456789abcdef"[b >> 4], suffix += "0123456789abcdef"[b & 15];
  auto tmp = data_dir / (".secret." + suffix);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == EEXIST) {
    ::unlink(tmp.c_str());
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  }
  if (fd < 0)
    throw std::runtime_error("cannot create the debug token secret in '" + data_dir.string() + "': " + errno_text() +
                             " — the data directory must be writable (--data)");
  bool ok = ::write(fd, fresh.data(), fresh.size()) == static_cast<ssize_t>(fresh.size()) && ::fsync(fd) == 0;
  int write_errno = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    errno = write_errno;
    throw std::runtime_error("cannot write the debug token secret '" + tmp.string() + "': " + errno_text());
  }
  int linked = ::link(tmp.c_str(), path.c_str());
  int link_errno = errno;
  ::unlink(tmp.c_str());
  if (linked != 0 && link_errno != EEXIST) {
    errno = link_errno;
    throw std::runtime_error("cannot create the debug token secret '" + path.string() + "': " + errno_text());
  }
  if (!read_secret(path, secret))
    throw std::runtime_error("the debug token secret '" + path.string() + "' vanished while it was created");
  return secret;
}

// X-Hindsight-Token in any case, and with '_' for '-': WSGI servers that accept
// underscores in names (gunicorn before 22) give the app HTTP_X_HINDSIGHT_TOKEN for it.
static bool is_token_header(std::string_view name) {
  if (name.size() != token_header.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i] == '_' ? '-' : name[i];
    if (std::tolower(static_cast<unsigned char>(c)) != std::tolower(static_cast<unsigned char>(token_header[i])))
      return false;
  }
  return true;
}

found_token strip_debug_token(request_head& req, token_scratch& scratch) {
  found_token f;
  std::string_view header_value, cookie_value, query_value;
  if (!scratch.cookies.empty()) scratch.cookies.clear();
  for (std::size_t i = 0; i < req.fields.size();) {
    auto& fl = req.fields[i];
    if (is_token_header(fl.name)) {
      if (header_value.empty()) header_value = fl.value;
      req.fields.erase(req.fields.begin() + static_cast<std::ptrdiff_t>(i));
      f.stripped = true;
      continue;
    }
    if (fl.name.size() == 6 && iequals(fl.name, "cookie") && fl.value.find(token_cookie) != std::string_view::npos) {
      auto& rewritten = scratch.cookies.emplace_front();
      std::string_view value;
      if (remove_cookie(fl.value, token_cookie, rewritten, value)) {
        f.stripped = true;
        if (cookie_value.empty()) cookie_value = value;
        if (rewritten.empty()) {
          req.fields.erase(req.fields.begin() + static_cast<std::ptrdiff_t>(i));
          continue;
        }
        fl.value = rewritten;
      }
    }
    ++i;
  }
  // The query is searched when the name may be in it, also percent-encoded.
  if (auto q = req.target.find('?');
      q != std::string_view::npos && (req.target.find(token_query, q) != std::string_view::npos ||
                                      req.target.find('%', q) != std::string_view::npos)) {
    std::string_view value, ignored;
    if (remove_query_param(req.target, token_query, scratch.target, value)) {
      f.stripped = true;
      f.in_query = true;
      f.original_target = req.target;
      query_value = value;
      req.target = scratch.target;
      if (remove_query_param(req.origin_target, token_query, scratch.origin_target, ignored))
        req.origin_target = scratch.origin_target;
    }
  }
  if (!header_value.empty()) {
    f.source = token_source::header;
    f.value = header_value;
  } else if (!cookie_value.empty()) {
    f.source = token_source::cookie;
    f.value = cookie_value;
  } else if (!query_value.empty()) {
    f.source = token_source::query;
    f.value = query_value;
  }
  // Copied: the head's bytes may move once the body is read into the same buffer.
  if (f.source != token_source::none) {
    scratch.token.assign(f.value);
    f.value = scratch.token;
  }
  if (f.source != token_source::query && !query_value.empty()) {
    scratch.query_token.assign(query_value);
    f.query_value = scratch.query_token;
  }
  return f;
}

std::string head_without_token(std::string_view raw_head, const request_head& req, const found_token& found) {
  std::string out;
  out.reserve(raw_head.size());
  // The request line, its target replaced when it changed.
  auto line_start = static_cast<std::size_t>(req.method.data() - raw_head.data());
  auto line_end = raw_head.find("\r\n", line_start);
  if (!found.original_target.empty() && inside(raw_head, found.original_target)) {
    auto t = static_cast<std::size_t>(found.original_target.data() - raw_head.data());
    out.append(raw_head.substr(line_start, t - line_start));
    out.append(req.target);
    out.append(raw_head.substr(t + found.original_target.size(), line_end + 2 - t - found.original_target.size()));
  } else {
    out.append(raw_head.substr(line_start, line_end + 2 - line_start));
  }
  for (const auto& f : req.fields) {
    if (inside(raw_head, f.name) && (f.value.empty() || inside(raw_head, f.value))) {
      auto begin = static_cast<std::size_t>(f.name.data() - raw_head.data());
      auto from = f.value.empty() ? begin + f.name.size() : static_cast<std::size_t>(f.value.data() - raw_head.data());
      auto eol = raw_head.find("\r\n", from);
      out.append(raw_head.substr(begin, eol + 2 - begin));
    } else {
      out.append(f.name).append(": ").append(f.value).append("\r\n");
    }
  }
  out.append("\r\n");
  return out;
}

std::string token_set_cookie(std::string_view token, std::int64_t max_age_s) {
  return std::string(token_cookie) + "=" + std::string(token) +
         "; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=" + std::to_string(max_age_s < 0 ? 0 : max_age_s);
}

}  // namespace hindsight::proxy
