// SASL client mechanisms as pure step functions (model: emersion/go-sasl Start/Next):
// XOAUTH2 (Google/Microsoft), OAUTHBEARER (RFC 7628, RFC 5801 gs2 header, host/port), PLAIN
// (RFC 4616), LOGIN (draft-murchison-sasl-login). Payloads are raw bytes; the SMTP layer (RFC 4954)
// does base64. XOAUTH2 and OAUTHBEARER decode the server's JSON error challenge (Gmail:
// {"status":"400",...}; RFC 7628 §3.2.2: {"status":"invalid_token",...}) and answer it as each
// protocol requires: XOAUTH2 with an empty response, OAUTHBEARER with a single 0x01 (RFC 7628
// §3.2.3). choose() picks the mechanism for a session from the server's AUTH list.
// Must not: print or log credentials (responses are secret bytes; they format as "***"; error
// messages never contain a token or password); touch sockets; pick OAUTHBEARER when XOAUTH2 was
// configured (or any other substitute for a configured mechanism); send a user name containing
// 0x01, NUL, CR or LF (refused with bad_credentials_format).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/secret.hpp"

namespace oauthmail::sasl {

enum class mechanism { xoauth2, oauthbearer, plain, login };

std::string_view to_string(mechanism m) noexcept;                          // "XOAUTH2", ...
std::optional<mechanism> parse_mechanism(std::string_view name) noexcept;  // case-insensitive
bool is_oauth(mechanism m) noexcept;                                       // XOAUTH2 or OAUTHBEARER

enum class sasl_errc {
  unexpected_challenge = 1,  // a challenge arrived where the mechanism expects none
  bad_challenge,             // the challenge could not be decoded
  mechanism_not_offered,     // the configured mechanism is not in the server's AUTH list
  no_common_mechanism,       // nothing in the server's list fits the credentials
  bad_credentials_format,    // e.g. a user name with 0x01 or NUL in it
};
const std::error_category& sasl_category() noexcept;
std::error_code make_error_code(sasl_errc e) noexcept;

// What the client authenticates with. `secret` is a bearer token (XOAUTH2, OAUTHBEARER) or a
// password (PLAIN, LOGIN).
struct credentials {
  std::string user;  // mailbox / user name; for OAUTHBEARER the gs2 authzid (a=)
  core::secret<std::string> secret;
  std::string host;        // OAUTHBEARER host= (optional, empty = omitted)
  std::uint16_t port = 0;  // OAUTHBEARER port= (optional, 0 = omitted)
};

// The decoded JSON of an XOAUTH2/OAUTHBEARER error challenge. Fields are empty when absent.
struct error_challenge {
  std::string status;  // "400", "401", "invalid_token"
  std::string schemes;
  std::string scope;
  std::string openid_configuration;
};
// Parses the (already base64-decoded) challenge. Lenient: a trailing newline, unknown keys and
// numbers instead of strings are accepted; not-JSON is an error (class protocol).
core::result<error_challenge> parse_error_challenge(std::string_view json);

// One client response: raw bytes (secret: never log them) to be base64-encoded by the caller.
struct response {
  core::secret<std::string> bytes;
  bool acknowledges_error = false;  // the dummy response to an error challenge
};

class client_mechanism {
 public:
  virtual ~client_mechanism() = default;
  virtual mechanism kind() const noexcept = 0;
  std::string_view name() const noexcept { return to_string(kind()); }

  // The initial response, or nullopt for a mechanism that waits for the first challenge (LOGIN).
  // Checks the credentials first (bad_credentials_format).
  virtual core::result<std::optional<response>> start() = 0;
  // Answers one server challenge (base64-decoded bytes of the 334 text). A challenge the
  // mechanism does not expect is unexpected_challenge; the caller then cancels with "*".
  // RFC 4954 §4: a caller that did not send the initial response (e.g. because it is longer than
  // the server accepts on the AUTH line) may instead call step("") first, for the server's empty
  // challenge; it returns the initial response.
  virtual core::result<response> step(std::string_view challenge) = 0;

  // After an error challenge: what the server said (XOAUTH2/OAUTHBEARER only).
  const std::optional<error_challenge>& server_error() const noexcept { return server_error_; }

 protected:
  std::optional<error_challenge> server_error_;
};

std::unique_ptr<client_mechanism> make_client(mechanism m, credentials creds);

// For logs and diagnostics: the secret parts print as "***".
// credentials: `user=U secret=*** host=H port=P`; response: `*** (N bytes)`.
std::string to_string(const credentials& c);
std::string to_string(const response& r);
std::ostream& operator<<(std::ostream& os, const credentials& c);
std::ostream& operator<<(std::ostream& os, const response& r);

// Chooses the mechanism for a session. A configured mechanism must be offered (else
// mechanism_not_offered; never a substitute). Otherwise, for a bearer token: XOAUTH2, then
// OAUTHBEARER; for a password: PLAIN, then LOGIN; nothing fits: no_common_mechanism.
// `offered` are the server's AUTH names (case-insensitive; an entry holding several
// space-separated names, as in "LOGIN XOAUTH2", is split). A configured XOAUTH2/OAUTHBEARER with
// a password is bad_credentials_format (it would send the password as a token); a configured
// PLAIN/LOGIN with a bearer token is allowed (some servers take a token as the password).
enum class credential_kind { bearer_token, password };
core::result<mechanism> choose(std::span<const std::string> offered, credential_kind kind,
                               std::optional<mechanism> configured);

}  // namespace oauthmail::sasl

template <>
struct std::is_error_code_enum<oauthmail::sasl::sasl_errc> : std::true_type {};

template <>
struct fmt::formatter<oauthmail::sasl::credentials> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const oauthmail::sasl::credentials& c, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(oauthmail::sasl::to_string(c), ctx);
  }
};

template <>
struct fmt::formatter<oauthmail::sasl::response> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const oauthmail::sasl::response& r, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(oauthmail::sasl::to_string(r), ctx);
  }
};
