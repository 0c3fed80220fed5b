// Internal to src/sasl: the concrete client mechanisms behind make_client() and the helpers they
// share (credential checks, error construction). XOAUTH2 (Google's and Microsoft's definition),
// OAUTHBEARER (RFC 7628 with the RFC 5801 gs2 header), PLAIN (RFC 4616), LOGIN
// (draft-murchison-sasl-login); initial responses as in RFC 4954 §4.
// Must not: be included outside src/sasl; put a token or password into an error message; build a
// response by appending piecemeal into a growing buffer (a reallocation would leave an unwiped
// copy of the secret on the heap; sizes are reserved first).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sasl/mechanism.hpp"

namespace oauthmail::sasl::detail {

// An error of the sasl category. `message` must be built from non-secret facts only.
core::error make_error(sasl_errc code, std::string message, core::failure_class cls);

// Refuses a user name with 0x01, NUL, CR or LF (which would inject keys into a SASL message or
// break it); `required` also refuses an empty one. `what` names the field for the message.
core::result<void> check_user(std::string_view user, std::string_view mech, bool required);
// Refuses an empty secret and, for `no_controls`, one with 0x01, NUL, CR or LF. The message names
// the mechanism and what is wrong, never the value.
core::result<void> check_secret(const core::secret<std::string>& secret, std::string_view mech, std::string_view what,
                                bool no_controls);

// A response whose bytes are `parts` concatenated, built in one reserved allocation.
response make_response(std::initializer_list<std::string_view> parts, bool acknowledges_error = false);

// Base of the mechanisms that send an initial response (all but LOGIN): keeps track of whether
// start() ran, so that step("") before start() returns the initial response (RFC 4954 §4).
class initial_response_mechanism : public client_mechanism {
 public:
  core::result<std::optional<response>> start() final;
  core::result<response> step(std::string_view challenge) final;

 protected:
  // Checks the credentials and builds the initial response.
  virtual core::result<response> initial() = 0;
  // Answers a challenge that arrived after the initial response.
  virtual core::result<response> challenge(std::string_view bytes) = 0;

 private:
  bool started_ = false;
};

std::unique_ptr<client_mechanism> make_xoauth2(credentials creds);
std::unique_ptr<client_mechanism> make_oauthbearer(credentials creds);
std::unique_ptr<client_mechanism> make_plain(credentials creds);
std::unique_ptr<client_mechanism> make_login(credentials creds);

}  // namespace oauthmail::sasl::detail
