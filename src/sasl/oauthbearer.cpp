// OAUTHBEARER, RFC 7628 §3.1:
//   client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep
//   gs2-header  = "n," ["a=" saslname] ","          (RFC 5801 §4; ',' -> "=2C", '=' -> "=3D")
// with the keys host=, port= (only when known) and auth=Bearer <token>. An error challenge
// (§3.2.2, JSON) is answered with a single 0x01 (§3.2.3); the server then fails the exchange.
#include <fmt/format.h>

#include <string>

#include "sasl/clients.hpp"

namespace oauthmail::sasl::detail {

namespace {

// RFC 5801 §4 saslname: "=2C" for ',' and "=3D" for '='.
std::string escape_saslname(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 8);
  for (const char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

class oauthbearer_client final : public initial_response_mechanism {
 public:
  explicit oauthbearer_client(credentials creds) : creds_(std::move(creds)) {}
  mechanism kind() const noexcept override { return mechanism::oauthbearer; }

 protected:
  core::result<response> initial() override {
    // The authzid is optional (`n,,`); when given it must be clean.
    if (auto ok = check_user(creds_.user, name(), /*required=*/false); !ok) return ok.error();
    if (creds_.host.find_first_of(std::string_view("\x01\0\r\n", 4)) != std::string::npos) {
      return make_error(sasl_errc::bad_credentials_format,
                        "the host name for OAUTHBEARER contains a control character (0x01, NUL, CR or LF)",
                        core::failure_class::needs_human);
    }
    if (auto ok = check_secret(creds_.secret, name(), "access token", /*no_controls=*/true); !ok) return ok.error();
    const std::string authzid = creds_.user.empty() ? std::string() : "a=" + escape_saslname(creds_.user);
    const std::string host = creds_.host.empty() ? std::string() : "host=" + creds_.host + "\x01";
    const std::string port = creds_.port == 0 ? std::string() : fmt::format("port={}\x01", creds_.port);
    return make_response({"n,", authzid, ",\x01", host, port, "auth=Bearer ", creds_.secret.expose(), "\x01\x01"});
  }

  core::result<response> challenge(std::string_view bytes) override {
    if (server_error_) {
      return make_error(sasl_errc::unexpected_challenge,
                        "the server sent a second OAUTHBEARER challenge after its error challenge was acknowledged",
                        core::failure_class::protocol);
    }
    auto parsed = parse_error_challenge(bytes);
    if (!parsed) return std::move(parsed).error();
    server_error_ = std::move(parsed).value();
    return make_response({"\x01"}, /*acknowledges_error=*/true);
  }

 private:
  credentials creds_;
};

}  // namespace

std::unique_ptr<client_mechanism> make_oauthbearer(credentials creds) {
  return std::make_unique<oauthbearer_client>(std::move(creds));
}

}  // namespace oauthmail::sasl::detail
