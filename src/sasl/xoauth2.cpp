// XOAUTH2 as Google (developers.google.com/workspace/gmail/imap/xoauth2-protocol) and Microsoft
// (Exchange "Authenticate an IMAP, POP or SMTP connection using OAuth") define it:
//   user={User}^Aauth=Bearer {Access Token}^A^A
// On failure Gmail sends a 334 challenge with a JSON error; the client answers with an empty line
// and reads the final 535. Microsoft answers 535 at once (no challenge).
#include <fmt/format.h>

#include "sasl/clients.hpp"

namespace oauthmail::sasl::detail {

namespace {

class xoauth2_client final : public initial_response_mechanism {
 public:
  explicit xoauth2_client(credentials creds) : creds_(std::move(creds)) {}
  mechanism kind() const noexcept override { return mechanism::xoauth2; }

 protected:
  core::result<response> initial() override {
    if (auto ok = check_user(creds_.user, name(), /*required=*/true); !ok) return ok.error();
    if (auto ok = check_secret(creds_.secret, name(), "access token", /*no_controls=*/true); !ok) return ok.error();
    return make_response({"user=", creds_.user,
                          "\x01"
                          "auth=Bearer ",
                          creds_.secret.expose(), "\x01\x01"});
  }

  core::result<response> challenge(std::string_view bytes) override {
    if (server_error_) {
      return make_error(sasl_errc::unexpected_challenge,
                        "the server sent a second XOAUTH2 challenge after its error challenge was acknowledged",
                        core::failure_class::protocol);
    }
    auto parsed = parse_error_challenge(bytes);
    if (!parsed) return std::move(parsed).error();
    server_error_ = std::move(parsed).value();
    // Google: "The client sends an empty response ("\r\n") to the challenge containing the error".
    return make_response({}, /*acknowledges_error=*/true);
  }

 private:
  credentials creds_;
};

}  // namespace

std::unique_ptr<client_mechanism> make_xoauth2(credentials creds) {
  return std::make_unique<xoauth2_client>(std::move(creds));
}

}  // namespace oauthmail::sasl::detail
