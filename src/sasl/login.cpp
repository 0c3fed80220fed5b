// LOGIN, draft-murchison-sasl-login: no initial response; the server prompts "Username:" and then
// "Password:" (base64 in the 334 text; here already decoded). Prompts are matched
// case-insensitively; a server with other prompt text gets the user name on the first challenge
// and the password on the second. A challenge after both is an error.
#include <array>

#include "sasl/clients.hpp"

namespace oauthmail::sasl::detail {

namespace {

enum class prompt { user, password, other };

prompt classify(std::string_view text) {
  // Trim what servers put around the word: spaces, ':', NUL.
  while (!text.empty() && (text.back() == ':' || text.back() == ' ' || text.back() == '\0' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  std::string lower(text.size(), '\0');
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  constexpr std::array<std::string_view, 4> user_words = {"username", "user name", "user", "login"};
  constexpr std::array<std::string_view, 2> password_words = {"password", "pass"};
  for (const auto w : user_words) {
    if (lower == w) return prompt::user;
  }
  for (const auto w : password_words) {
    if (lower == w) return prompt::password;
  }
  return prompt::other;
}

class login_client final : public client_mechanism {
 public:
  explicit login_client(credentials creds) : creds_(std::move(creds)) {}
  mechanism kind() const noexcept override { return mechanism::login; }

  core::result<std::optional<response>> start() override {
    if (auto ok = check(); !ok) return ok.error();
    return std::optional<response>();
  }

  core::result<response> step(std::string_view challenge) override {
    if (auto ok = check(); !ok) return ok.error();
    prompt p = classify(challenge);
    if (p == prompt::other) p = sent_user_ ? prompt::password : prompt::user;
    if (p == prompt::user && !sent_user_) {
      sent_user_ = true;
      return make_response({creds_.user});
    }
    if (p == prompt::password && !sent_password_) {
      sent_password_ = true;
      return make_response({creds_.secret.expose()});
    }
    return make_error(sasl_errc::unexpected_challenge,
                      sent_password_ ? "the server sent another LOGIN challenge after the password"
                                     : "the server asked twice for the LOGIN user name",
                      core::failure_class::protocol);
  }

 private:
  core::result<void> check() const {
    if (auto ok = check_user(creds_.user, name(), /*required=*/true); !ok) return ok;
    return check_secret(creds_.secret, name(), "password", /*no_controls=*/false);
  }

  credentials creds_;
  bool sent_user_ = false;
  bool sent_password_ = false;
};

}  // namespace

std::unique_ptr<client_mechanism> make_login(credentials creds) {
  return std::make_unique<login_client>(std::move(creds));
}

}  // namespace oauthmail::sasl::detail
