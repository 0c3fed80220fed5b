// SASL server mechanisms as pure step functions (the server halves of sasl/mechanism.hpp):
// XOAUTH2 (Google/Microsoft), OAUTHBEARER (RFC 7628 §3, gs2 header per RFC 5801), PLAIN
// (RFC 4616), LOGIN (draft-murchison-sasl-login). Payloads are raw bytes; the SMTP server session
// (RFC 4954) does base64, the 334 framing, the "*" cancel and the line limits.
//
// A mechanism extracts the client's credentials and returns them with step kind `verify`; it never
// judges them. The caller (a sandbox or relay backend) checks the token or password and then calls
// accept() or reject(). For XOAUTH2/OAUTHBEARER, reject() with an error JSON produces one more
// challenge (Gmail: `334 eyJzdGF0dXMiOiI0MDAi...`; RFC 7628 §3.2.2) and the client's answer (an
// empty response for XOAUTH2, a single 0x01 for OAUTHBEARER, §3.2.3) ends the exchange as
// `rejected`; without JSON (Microsoft answers 535 at once) reject() ends it immediately.
//
// Must not: log or print credentials (server_credentials::secret is secret<>; to_string() shows
// "***"); accept a response that does not follow the mechanism's grammar (NUL in PLAIN fields
// beyond the separators, missing auth= in XOAUTH2/OAUTHBEARER, a gs2 header other than "n,"/"y,"
// with an optional a=, unknown gs2 flags "p="); touch sockets.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/secret.hpp"
#include "sasl/mechanism.hpp"

namespace oauthmail::sasl {

// What a client presented. For XOAUTH2/OAUTHBEARER `secret` is the bearer token (the text after
// "Bearer ", scheme matched case-insensitively); for PLAIN/LOGIN the password.
struct server_credentials {
  mechanism kind = mechanism::xoauth2;
  std::string user;     // XOAUTH2 user=, OAUTHBEARER a= (may be empty), PLAIN authcid, LOGIN user name
  std::string authzid;  // PLAIN authzid (empty when absent)
  core::secret<std::string> secret;
  std::string host;        // OAUTHBEARER host= (empty when absent)
  std::uint16_t port = 0;  // OAUTHBEARER port= (0 when absent)
};
// "kind=XOAUTH2 user=U secret=*** host=H port=P"
std::string to_string(const server_credentials& c);

struct server_step {
  enum class kind {
    challenge,  // send `challenge` (raw bytes; the session base64-encodes them) in a 334 reply
    verify,     // `credentials` are complete: check them, then call accept() or reject()
    accepted,   // after accept(): reply 235
    rejected,   // after reject() (and the client's answer to the error challenge): reply 535
    malformed,  // the client's response breaks the grammar: reply 501 5.5.2 (see `error`)
  };
  kind what = kind::malformed;
  std::string challenge;
  std::optional<server_credentials> credentials;
  std::optional<core::error> error;  // malformed: what was wrong (never quotes the secret)
};

enum class server_sasl_errc {
  malformed_response = 1,  // grammar error in a client response
  missing_user,            // XOAUTH2 without user= (Microsoft: 501 5.5.124)
  missing_auth,            // XOAUTH2/OAUTHBEARER without auth=
  bad_scheme,              // auth= is not "Bearer <token>"
  out_of_sequence,         // step() after the exchange ended, accept()/reject() outside verify
};
const std::error_category& server_sasl_category() noexcept;
std::error_code make_error_code(server_sasl_errc e) noexcept;

class server_mechanism {
 public:
  virtual ~server_mechanism() = default;
  virtual mechanism kind() const noexcept = 0;

  // First step. `initial_response` is the decoded initial response from the AUTH line (RFC 4954
  // §4: "=" on the line is an empty initial response, passed here as ""), or nullopt when the
  // client sent none; then the mechanism answers with its first challenge (an empty one for
  // XOAUTH2/OAUTHBEARER/PLAIN, "Username:" for LOGIN).
  virtual server_step start(std::optional<std::string_view> initial_response) = 0;
  // The client's (decoded) answer to the last challenge.
  virtual server_step step(std::string_view response) = 0;
  // After `verify`.
  virtual server_step accept() = 0;
  // After `verify`. XOAUTH2/OAUTHBEARER with `error_json`: a challenge carrying it; the next step()
  // then returns `rejected` (whatever the client answers; OAUTHBEARER expects 0x01, XOAUTH2 "").
  // Otherwise (or for PLAIN/LOGIN) `rejected` at once.
  virtual server_step reject(std::optional<std::string> error_json) = 0;
};

std::unique_ptr<server_mechanism> make_server(mechanism m);

}  // namespace oauthmail::sasl

template <>
struct std::is_error_code_enum<oauthmail::sasl::server_sasl_errc> : std::true_type {};
