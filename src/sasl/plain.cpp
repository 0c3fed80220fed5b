// PLAIN, RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd, sent as the initial
// response with an empty authzid. The server sends no challenge after it.
#include "sasl/clients.hpp"

namespace oauthmail::sasl::detail {

namespace {

class plain_client final : public initial_response_mechanism {
 public:
  explicit plain_client(credentials creds) : creds_(std::move(creds)) {}
  mechanism kind() const noexcept override { return mechanism::plain; }

 protected:
  core::result<response> initial() override {
    if (auto ok = check_user(creds_.user, name(), /*required=*/true); !ok) return ok.error();
    // RFC 4616: passwd = 1*SAFE, SAFE excludes NUL.
    if (auto ok = check_secret(creds_.secret, name(), "password", /*no_controls=*/false); !ok) return ok.error();
    return make_response({std::string_view("\0", 1), creds_.user, std::string_view("\0", 1), creds_.secret.expose()});
  }

  core::result<response> challenge(std::string_view /*bytes*/) override {
    return make_error(sasl_errc::unexpected_challenge,
                      "the server sent a challenge after the PLAIN credentials; PLAIN has a single step",
                      core::failure_class::protocol);
  }

 private:
  credentials creds_;
};

}  // namespace

std::unique_ptr<client_mechanism> make_plain(credentials creds) {
  return std::make_unique<plain_client>(std::move(creds));
}

}  // namespace oauthmail::sasl::detail
