#include "oauth/errors.hpp"

namespace oauthmail::oauth {

namespace {

class oauth_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oauthmail.oauth"; }
  std::string message(int ev) const override {
    switch (static_cast<oauth_errc>(ev)) {
      case oauth_errc::token_endpoint_error:
        return "the token endpoint refused the request";
      case oauth_errc::malformed_response:
        return "malformed response from the OAuth provider";
      case oauth_errc::bad_request_input:
        return "cannot build the OAuth request";
      case oauth_errc::bad_key:
        return "unusable key or certificate";
      case oauth_errc::discovery_failed:
        return "authorization server discovery failed";
      case oauth_errc::redirect_error:
        return "authorization redirect failed";
      case oauth_errc::device_flow_failed:
        return "device authorization failed";
      case oauth_errc::not_a_jwt:
        return "not a JWT";
      case oauth_errc::unsupported:
        return "unsupported provider or flow";
      case oauth_errc::bad_cache_entry:
        return "unreadable token cache entry";
    }
    return "unknown oauth error";
  }
};

}  // namespace

const std::error_category& oauth_category() noexcept {
  static const oauth_category_impl instance;
  return instance;
}

std::error_code make_error_code(oauth_errc e) noexcept { return {static_cast<int>(e), oauth_category()}; }

}  // namespace oauthmail::oauth
