// The server halves of the SASL mechanisms (see sasl/server.hpp): grammar checks and credential
// extraction for XOAUTH2, OAUTHBEARER (RFC 7628 §3.1 with the RFC 5801 gs2 header), PLAIN
// (RFC 4616 §2) and LOGIN (draft-murchison-sasl-login), and the shared step sequence
//   start → [challenge → step]… → verify → accept | reject [→ error challenge → step] → end.
// Error messages name the field and what is wrong, never a value (a response holds a secret).
#include "sasl/server.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

namespace oauthmail::sasl {

namespace {

class server_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oauthmail.sasl.server"; }
  std::string message(int ev) const override {
    switch (static_cast<server_sasl_errc>(ev)) {
      case server_sasl_errc::malformed_response:
        return "malformed SASL response";
      case server_sasl_errc::missing_user:
        return "SASL response without a user name";
      case server_sasl_errc::missing_auth:
        return "SASL response without auth=";
      case server_sasl_errc::bad_scheme:
        return "SASL auth= value is not \"Bearer <token>\"";
      case server_sasl_errc::out_of_sequence:
        return "SASL step out of sequence";
    }
    return "unknown sasl server error";
  }
};

char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

bool is_alpha(char c) noexcept { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

core::error server_error(server_sasl_errc code, std::string message) {
  return core::error(make_error_code(code), std::move(message), core::failure_class::protocol);
}

server_step malformed(server_sasl_errc code, std::string message) {
  server_step s;
  s.what = server_step::kind::malformed;
  s.error = server_error(code, std::move(message));
  return s;
}

server_step challenge(std::string bytes) {
  server_step s;
  s.what = server_step::kind::challenge;
  s.challenge = std::move(bytes);
  return s;
}

server_step simple(server_step::kind k) {
  server_step s;
  s.what = k;
  return s;
}

// A secret copy of a response fragment, built in one allocation.
core::secret<std::string> make_secret(std::string_view bytes) { return core::secret<std::string>(std::string(bytes)); }

// One kvpair of XOAUTH2 / OAUTHBEARER (RFC 7628 §3.1: key = 1*ALPHA, value = *(VCHAR / SP / HTAB
// / CR / LF)).
struct kvpair {
  std::string_view key;
  std::string_view value;
};

bool valid_value(std::string_view v) noexcept {
  return std::all_of(v.begin(), v.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= 0x21 && u <= 0x7e) || u == ' ' || u == '\t' || u == '\r' || u == '\n' || u >= 0x80;
  });
}

// Splits `body` (the kvpairs, each ending in 0x01, followed by the final 0x01) into pairs; on a
// grammar error returns false with the reason in `error_out`.
bool split_kvpairs(std::string_view body, std::string_view mech, std::vector<kvpair>& out, std::string& error_out) {
  // body = *kvpair kvsep, kvpair = key "=" value kvsep
  if (body.empty() || body.back() != '\x01') {
    error_out = fmt::format("the {} response does not end with the 0x01 separator", mech);
    return false;
  }
  body.remove_suffix(1);  // the final kvsep
  while (!body.empty()) {
    const std::size_t end = body.find('\x01');
    if (end == std::string_view::npos) {
      error_out = fmt::format("the {} response does not end with two 0x01 separators", mech);
      return false;
    }
    const std::string_view pair = body.substr(0, end);
    body.remove_prefix(end + 1);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      error_out = fmt::format("the {} response has a field without \"key=\"", mech);
      return false;
    }
    const std::string_view key = pair.substr(0, eq);
    if (!std::all_of(key.begin(), key.end(), is_alpha)) {
      error_out = fmt::format("the {} response has a field whose key is not letters only", mech);
      return false;
    }
    const std::string_view value = pair.substr(eq + 1);
    if (!valid_value(value)) {
      error_out = fmt::format("the {} response has a control character in a field value", mech);
      return false;
    }
    for (const auto& seen : out) {
      if (iequals(seen.key, key)) {
        error_out = fmt::format("the {} response has a key twice", mech);
        return false;
      }
    }
    out.push_back({key, value});
  }
  return true;
}

const kvpair* find_key(const std::vector<kvpair>& pairs, std::string_view key) {
  for (const auto& p : pairs) {
    if (iequals(p.key, key)) return &p;
  }
  return nullptr;
}

// RFC 6750 §2.1 credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 7628
// §3.1: "The SASL OAuth method names are case insensitive"). The token must be visible ASCII.
std::optional<std::string_view> bearer_token(std::string_view auth) {
  constexpr std::string_view scheme = "bearer";
  if (auth.size() <= scheme.size() || !iequals(auth.substr(0, scheme.size()), scheme)) return std::nullopt;
  std::string_view rest = auth.substr(scheme.size());
  if (rest.front() != ' ') return std::nullopt;
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty()) return std::nullopt;
  const bool visible = std::all_of(rest.begin(), rest.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7e;
  });
  if (!visible) return std::nullopt;
  return rest;
}

// The state all mechanisms share; subclasses parse responses.
class server_base : public server_mechanism {
 public:
  server_step start(std::optional<std::string_view> initial_response) final {
    if (state_ != state::fresh) return out_of_sequence("start() called twice");
    if (!initial_response) {
      state_ = state::waiting;
      return challenge(first_challenge());
    }
    return on_response(*initial_response);
  }

  server_step step(std::string_view response) final {
    switch (state_) {
      case state::waiting:
        return on_response(response);
      case state::error_challenge:
        // RFC 7628 §3.2.3 / Google: whatever the client answers, the exchange fails.
        state_ = state::done;
        return simple(server_step::kind::rejected);
      case state::fresh:
        return out_of_sequence("step() before start()");
      case state::verify:
        return out_of_sequence("step() while the credentials are being verified");
      case state::done:
        break;
    }
    return out_of_sequence("step() after the exchange ended");
  }

  server_step accept() final {
    if (state_ != state::verify) return out_of_sequence("accept() outside verification");
    state_ = state::done;
    return simple(server_step::kind::accepted);
  }

  server_step reject(std::optional<std::string> error_json) final {
    if (state_ != state::verify) return out_of_sequence("reject() outside verification");
    if (error_json && is_oauth(kind())) {
      state_ = state::error_challenge;
      return challenge(std::move(*error_json));
    }
    state_ = state::done;
    return simple(server_step::kind::rejected);
  }

 protected:
  // The challenge sent when the client gave no initial response.
  virtual std::string first_challenge() { return {}; }
  // Parses one response; returns verify (with credentials), challenge (and stays waiting), or
  // malformed.
  virtual server_step parse(std::string_view response) = 0;

  server_step verified(server_credentials c) {
    c.kind = kind();
    server_step s;
    s.what = server_step::kind::verify;
    s.credentials = std::move(c);
    return s;
  }

  server_step fail(server_sasl_errc code, std::string message) {
    state_ = state::done;
    return malformed(code, std::move(message));
  }

 private:
  enum class state { fresh, waiting, verify, error_challenge, done };

  server_step on_response(std::string_view response) {
    state_ = state::waiting;
    server_step s = parse(response);
    if (s.what == server_step::kind::verify) state_ = state::verify;
    if (s.what == server_step::kind::malformed) state_ = state::done;
    return s;
  }

  server_step out_of_sequence(std::string_view what) {
    return malformed(server_sasl_errc::out_of_sequence,
                     fmt::format("{} server mechanism: {}", to_string(kind()), what));
  }

  state state_ = state::fresh;
};

// XOAUTH2: "user=" U 0x01 "auth=Bearer " T 0x01 0x01 (Google's and Microsoft's definition). The
// kvpairs follow RFC 7628's grammar; keys other than user and auth are ignored.
class xoauth2_server final : public server_base {
 public:
  mechanism kind() const noexcept override { return mechanism::xoauth2; }

 protected:
  server_step parse(std::string_view response) override {
    std::vector<kvpair> pairs;
    std::string why;
    if (!split_kvpairs(response, "XOAUTH2", pairs, why)) return fail(server_sasl_errc::malformed_response, why);
    const kvpair* user = find_key(pairs, "user");
    if (user == nullptr || user->value.empty()) {
      return fail(server_sasl_errc::missing_user, "the XOAUTH2 response has no user= (the mailbox address)");
    }
    if (user->value.find_first_of("\r\n") != std::string_view::npos) {
      return fail(server_sasl_errc::malformed_response, "the XOAUTH2 user= value contains CR or LF");
    }
    const kvpair* auth = find_key(pairs, "auth");
    if (auth == nullptr) return fail(server_sasl_errc::missing_auth, "the XOAUTH2 response has no auth=");
    const auto token = bearer_token(auth->value);
    if (!token) return fail(server_sasl_errc::bad_scheme, "the XOAUTH2 auth= value is not \"Bearer <token>\"");
    server_credentials c;
    c.user = std::string(user->value);
    c.secret = make_secret(*token);
    return verified(std::move(c));
  }
};

// RFC 5801 §4 saslname: "=2C" stands for ',' and "=3D" for '='; any other '=' is an error, and a
// ',' cannot occur (it ends the field).
std::optional<std::string> unescape_saslname(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\0') return std::nullopt;
    if (c != '=') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const std::string_view esc = s.substr(i + 1, 2);
    if (esc == "2C" || esc == "2c") {
      out.push_back(',');
    } else if (esc == "3D" || esc == "3d") {
      out.push_back('=');
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return out;
}

// OAUTHBEARER, RFC 7628 §3.1:
//   client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep
//   gs2-header  = gs2-cb-flag "," [ gs2-authzid ] ","      (RFC 5801 §4)
//   gs2-cb-flag = "n" / "y" ("p=" channel binding is refused: OAUTHBEARER has none)
class oauthbearer_server final : public server_base {
 public:
  mechanism kind() const noexcept override { return mechanism::oauthbearer; }

 protected:
  server_step parse(std::string_view response) override {
    if (response == "\x01") {
      // The other alternative of client-resp: legal only as the answer to an error challenge.
      return fail(server_sasl_errc::missing_auth, "the OAUTHBEARER response is a lone 0x01 without credentials");
    }
    if (response.size() < 2 || response[1] != ',') {
      if (!response.empty() && response[0] == 'p') {
        return fail(server_sasl_errc::malformed_response,
                    "the OAUTHBEARER gs2 header asks for channel binding (p=), which OAUTHBEARER does not support");
      }
      return fail(server_sasl_errc::malformed_response,
                  "the OAUTHBEARER response does not start with \"n,\" or \"y,\"");
    }
    if (response[0] != 'n' && response[0] != 'y') {
      return fail(server_sasl_errc::malformed_response,
                  "the OAUTHBEARER gs2 header flag is not \"n\" or \"y\" (channel binding is not supported)");
    }
    std::string_view rest = response.substr(2);
    const std::size_t comma = rest.find(',');
    if (comma == std::string_view::npos) {
      return fail(server_sasl_errc::malformed_response, "the OAUTHBEARER gs2 header does not end with ','");
    }
    const std::string_view authzid_field = rest.substr(0, comma);
    rest.remove_prefix(comma + 1);
    std::string authzid;
    if (!authzid_field.empty()) {
      if (authzid_field.size() < 3 || authzid_field.substr(0, 2) != "a=") {
        return fail(server_sasl_errc::malformed_response,
                    "the OAUTHBEARER gs2 header has a field other than \"a=<authzid>\"");
      }
      auto name = unescape_saslname(authzid_field.substr(2));
      if (!name || name->find_first_of(std::string_view("\x01\r\n", 3)) != std::string::npos) {
        return fail(server_sasl_errc::malformed_response,
                    "the OAUTHBEARER authzid (a=) is not a valid saslname (RFC 5801: '=' only as =2C or =3D)");
      }
      authzid = std::move(*name);
    }
    if (rest.empty() || rest.front() != '\x01') {
      return fail(server_sasl_errc::malformed_response, "the OAUTHBEARER gs2 header is not followed by 0x01");
    }
    rest.remove_prefix(1);
    std::vector<kvpair> pairs;
    std::string why;
    if (!split_kvpairs(rest, "OAUTHBEARER", pairs, why)) return fail(server_sasl_errc::malformed_response, why);
    const kvpair* auth = find_key(pairs, "auth");
    if (auth == nullptr) return fail(server_sasl_errc::missing_auth, "the OAUTHBEARER response has no auth=");
    const auto token = bearer_token(auth->value);
    if (!token) return fail(server_sasl_errc::bad_scheme, "the OAUTHBEARER auth= value is not \"Bearer <token>\"");
    server_credentials c;
    if (const kvpair* host = find_key(pairs, "host")) {
      if (host->value.empty() || host->value.find_first_of(" \t\r\n") != std::string_view::npos) {
        return fail(server_sasl_errc::malformed_response, "the OAUTHBEARER host= value is not a host name");
      }
      c.host = std::string(host->value);
    }
    if (const kvpair* port = find_key(pairs, "port")) {
      const std::string_view v = port->value;
      unsigned long n = 0;
      const bool digits = !v.empty() && v.size() <= 5 &&
                          std::all_of(v.begin(), v.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      if (digits) n = std::stoul(std::string(v));
      if (!digits || n == 0 || n > 65535) {
        return fail(server_sasl_errc::malformed_response, "the OAUTHBEARER port= value is not a port number");
      }
      c.port = static_cast<std::uint16_t>(n);
    }
    c.user = std::move(authzid);
    c.secret = make_secret(*token);
    return verified(std::move(c));
  }
};

// PLAIN, RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd; authcid and passwd
// are 1*SAFE (no NUL), so exactly two NULs.
class plain_server final : public server_base {
 public:
  mechanism kind() const noexcept override { return mechanism::plain; }

 protected:
  server_step parse(std::string_view response) override {
    const std::size_t first = response.find('\0');
    const std::size_t second = first == std::string_view::npos ? first : response.find('\0', first + 1);
    if (second == std::string_view::npos) {
      return fail(server_sasl_errc::malformed_response,
                  "the PLAIN response is not authzid NUL authcid NUL password (RFC 4616)");
    }
    if (response.find('\0', second + 1) != std::string_view::npos) {
      return fail(server_sasl_errc::malformed_response, "the PLAIN response has a NUL beyond its two separators");
    }
    const std::string_view authzid = response.substr(0, first);
    const std::string_view authcid = response.substr(first + 1, second - first - 1);
    const std::string_view passwd = response.substr(second + 1);
    if (authcid.empty()) return fail(server_sasl_errc::missing_user, "the PLAIN response has an empty user name");
    if (passwd.empty()) return fail(server_sasl_errc::malformed_response, "the PLAIN response has an empty password");
    server_credentials c;
    c.user = std::string(authcid);
    c.authzid = std::string(authzid);
    c.secret = make_secret(passwd);
    return verified(std::move(c));
  }
};

// LOGIN (draft-murchison-sasl-login): challenges "Username:" and "Password:"; the answers are the
// raw user name and password. An initial response (AUTH LOGIN <user>, as many clients send) is
// taken as the user name.
class login_server final : public server_base {
 public:
  mechanism kind() const noexcept override { return mechanism::login; }

 protected:
  std::string first_challenge() override { return "Username:"; }

  server_step parse(std::string_view response) override {
    if (!have_user_) {
      if (response.empty()) return fail(server_sasl_errc::missing_user, "the LOGIN user name is empty");
      if (response.find_first_of(std::string_view("\0\r\n", 3)) != std::string_view::npos) {
        return fail(server_sasl_errc::malformed_response, "the LOGIN user name contains NUL, CR or LF");
      }
      user_ = std::string(response);
      have_user_ = true;
      return challenge("Password:");
    }
    if (response.empty()) return fail(server_sasl_errc::malformed_response, "the LOGIN password is empty");
    if (response.find('\0') != std::string_view::npos) {
      return fail(server_sasl_errc::malformed_response, "the LOGIN password contains NUL");
    }
    server_credentials c;
    c.user = std::move(user_);
    c.secret = make_secret(response);
    return verified(std::move(c));
  }

 private:
  std::string user_;
  bool have_user_ = false;
};

}  // namespace

std::string to_string(const server_credentials& c) {
  std::string out = fmt::format("kind={} user={}", to_string(c.kind), c.user);
  if (!c.authzid.empty()) out += fmt::format(" authzid={}", c.authzid);
  out += fmt::format(" secret={}", c.secret);
  if (!c.host.empty()) out += fmt::format(" host={}", c.host);
  if (c.port != 0) out += fmt::format(" port={}", c.port);
  return out;
}

const std::error_category& server_sasl_category() noexcept {
  static const server_category_impl instance;
  return instance;
}

std::error_code make_error_code(server_sasl_errc e) noexcept { return {static_cast<int>(e), server_sasl_category()}; }

std::unique_ptr<server_mechanism> make_server(mechanism m) {
  switch (m) {
    case mechanism::xoauth2:
      return std::make_unique<xoauth2_server>();
    case mechanism::oauthbearer:
      return std::make_unique<oauthbearer_server>();
    case mechanism::plain:
      return std::make_unique<plain_server>();
    case mechanism::login:
      return std::make_unique<login_server>();
  }
  return nullptr;
}

}  // namespace oauthmail::sasl
