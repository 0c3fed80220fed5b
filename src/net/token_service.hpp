// The token manager: obtains, caches, renews and protects OAuth2 access tokens for configured
// accounts, so that mail never stops because a token expired.
//  - One cached token per account and scope set, shared by every sender in the process; renewed
//    ahead of expiry by the account's margin (default 10 min, never more than half the lifetime).
//  - Single-flight: however many threads ask at once, one request goes to the provider (a mutex per
//    account; the others wait and take the result).
//  - Across processes on one host: an advisory lock around the encrypted cache file, so that CLI
//    invocations and a daemon reuse one token and only one of them renews it.
//  - Refresh tokens: the newest is always stored (Microsoft rotates them); the old one stays in the
//    cache until the new one is durably saved, so a crash never loses it.
//  - Failures: transient ones (network, 5xx, 429 + Retry-After) are retried with exponential
//    backoff and jitter within a time budget; ones that need a person (invalid_grant, consent,
//    invalid_client, AADSTS codes) mark the account "needs attention" with the cause and fix, and
//    are not retried blindly. Discovery of a generic provider (RFC 8414 / OpenID) is retried the
//    same way; a discovery document that is missing or wrong needs a person and is recorded too.
//  - Keep-alive: keep_alive() refreshes the idle refresh tokens of accounts with keep_alive = true
//    before the provider expires them (oauth::decide_keep_alive; a token set's obtained_at is the
//    refresh token's last successful use). Meant for a daily timer (`oauthmail token keep-alive`).
//  - Sign-out deletes the local tokens first, then revokes the refresh token (RFC 7009) with one
//    attempt, so that a provider that cannot be reached never keeps the tokens here.
// Grants come from src/oauth (sans-I/O); HTTP from net::perform; the cache from
// secrets::encrypted_store.
// Must not: log or return a secret in an error; hold the cache lock while waiting for a person.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"
#include "net/http_client.hpp"
#include "oauth/renewal.hpp"
#include "oauth/token.hpp"

namespace oauthmail::net {

// What is known about an account's tokens, for `account status` and `token show`.
struct token_status {
  std::string account;
  bool has_access_token = false;
  bool has_refresh_token = false;
  oauth::wall_clock::time_point obtained_at{};
  oauth::wall_clock::time_point expires_at{};
  std::vector<std::string> scopes;
  std::optional<oauth::wall_clock::time_point> last_renewal;
  // Set when the last renewal failed in a way a person must fix.
  std::optional<std::string> attention_cause;
  std::optional<std::string> attention_fix;
  std::optional<oauth::wall_clock::time_point> attention_since;
};

// What keep_alive() found and did for one account.
struct keep_alive_report {
  std::string account;
  oauth::keep_alive_verdict verdict = oauth::keep_alive_verdict::disabled;  // `due`: a refresh was attempted
  bool refreshed = false;                                                   // the refresh succeeded
  std::optional<oauth::wall_clock::time_point> last_used;  // the refresh token's last use before this run
  std::optional<oauth::wall_clock::time_point> due_at;     // the next refresh due (after a refresh: from it)
  std::optional<core::error> error;                        // the refresh (or reading the cache) failed
};

// What sign_out() did besides deleting the local tokens.
enum class revocation_outcome {
  not_needed,   // no refresh token was stored
  unsupported,  // the provider has no revocation endpoint (Microsoft Entra)
  revoked,      // the provider answered 200 (RFC 7009 §2.2)
  failed,       // the provider could not be reached, or refused
};
struct logout_report {
  bool had_refresh_token = false;
  revocation_outcome revocation = revocation_outcome::not_needed;
  std::optional<core::error> revocation_error;  // why it failed (no secret in it)
};
std::string_view to_string(revocation_outcome o) noexcept;  // "not_needed", "unsupported", "revoked", "failed"

// Talks to the person during an interactive sign-in (device code, authorization code).
struct login_prompt {
  // Device flow: show the URL and the code (and the provider's message, if any).
  std::function<void(const std::string& verification_uri, const std::string& user_code, const std::string& message)>
      show_device_code;
  // Authorization code: show the URL to open; return the redirected URL the person pastes when
  // `paste` mode is on (else the loopback listener receives it).
  std::function<void(const std::string& authorize_url)> show_authorize_url;
  std::function<std::optional<std::string>()> read_pasted_redirect;
  bool paste = false;
};

struct token_service_options {
  std::string cache_path;               // encrypted cache file
  std::optional<std::string> key_file;  // key file to create/read when no key reference is configured
  config::secret_setting key;           // token_cache.key (reference or inline), if configured
  http_options http;
  std::chrono::milliseconds lock_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds retry_budget{std::chrono::seconds(60)};  // transient failures: retry this long
  // Keep-alive: refresh a refresh token whose last use is at least this old.
  std::chrono::hours keep_alive_after{oauth::default_keep_alive_period};
  // Clock (tests): wall-clock time.
  std::function<oauth::wall_clock::time_point()> now = [] { return oauth::wall_clock::now(); };
};

class token_service {
 public:
  explicit token_service(token_service_options options);
  ~token_service();
  token_service(const token_service&) = delete;
  token_service& operator=(const token_service&) = delete;

  // A valid access token for the account, renewed when needed. Thread-safe.
  core::result<oauth::token_set> access_token(const config::account& account);

  // Renews now, whatever the cached token's age (`token refresh`). The cached token stays valid
  // if the renewal fails.
  core::result<oauth::token_set> renew(const config::account& account);

  // The SMTP server refused this token: forget it (here and in the cache) so that the next
  // access_token() renews. Only drops the token if it is still the cached one.
  void invalidate(const config::account& account, const core::secret<std::string>& refused);

  // Runs the account's interactive flow (device code, authorization code), or a plain grant for
  // non-interactive flows, and stores the result.
  core::result<oauth::token_set> login(const config::account& account, const login_prompt& prompt);

  // Deletes the account's tokens; revokes the refresh token where the provider has RFC 7009 (a
  // failed revocation is logged as a warning). sign_out() does the same and reports it.
  core::result<void> logout(const config::account& account);
  core::result<logout_report> sign_out(const config::account& account);

  // For every account with keep_alive = true and a stored refresh token last used at least
  // keep_alive_after before `now`: a refresh (with retries for transient failures; failures that
  // need a person are recorded as for any renewal). Others are reported and left alone. Thread-safe.
  std::vector<keep_alive_report> keep_alive(std::span<const config::account> accounts,
                                            oauth::wall_clock::time_point now);

  core::result<token_status> status(const config::account& account);

  // Number of token requests sent (for tests and metrics).
  std::size_t token_requests() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Where the cache lives by default: $XDG_STATE_HOME/oauthmail/tokens (or ~/.local/state/...),
// /var/lib/oauthmail/tokens when running as root.
std::string default_cache_path();

}  // namespace oauthmail::net
