// Renewal policy, pure functions of a token and `now` (the token manager applies them):
//  - renew_at = expires_at - min(margin, lifetime / 2): ahead of expiry by the configured margin
//    (default 10 minutes, since Exchange's high-volume endpoint refuses tokens close to expiry),
//    but never more than half the token's lifetime (a 60 s token is renewed after 30 s).
//  - backoff for transient token endpoint failures: exponential from 1 s, capped at 5 min, with
//    full jitter (delay uniform in [0, min(cap, base * 2^attempt)]; randomness injected), and never
//    shorter than the provider's Retry-After.
//  - keep-alive of idle refresh tokens: providers expire a refresh token that is not used
//    (Microsoft after 90 days of inactivity, AADSTS700082; Google after 6 months). A token set's
//    obtained_at is the refresh token's last successful use (every renewal of a delegated account
//    uses it, and the sign-in issued it); a refresh is due when that is `after` ago or longer
//    (default 7 days, so a daily or weekly timer keeps every provider's window far away).
// Must not: read a clock or a global random generator.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "oauth/random.hpp"
#include "oauth/token.hpp"

namespace oauthmail::oauth {

inline constexpr std::chrono::seconds default_renew_margin{600};
inline constexpr std::chrono::hours default_keep_alive_period{24 * 7};

wall_clock::time_point renew_at(const token_set& tokens, std::chrono::seconds margin = default_renew_margin);
bool needs_renewal(const token_set& tokens, wall_clock::time_point now,
                   std::chrono::seconds margin = default_renew_margin);
bool is_expired(const token_set& tokens, wall_clock::time_point now);

struct backoff_policy {
  std::chrono::milliseconds base{1000};
  std::chrono::milliseconds cap{300000};
};
// The delay before retry number `attempt` (0 for the first retry).
std::chrono::milliseconds backoff_delay(unsigned attempt, const random_source& random,
                                        std::optional<std::chrono::seconds> retry_after = std::nullopt,
                                        const backoff_policy& policy = {});
// The upper bound of the jitter window for `attempt` (without randomness), for tests and status.
std::chrono::milliseconds backoff_ceiling(unsigned attempt, const backoff_policy& policy = {});

bool keep_alive_due(const token_set& tokens, wall_clock::time_point now,
                    std::chrono::hours period = default_keep_alive_period);

// What keep-alive does for one account.
enum class keep_alive_verdict {
  not_applicable,  // an app-only flow: no refresh token to keep alive
  disabled,        // the account's keep_alive is off
  not_signed_in,   // delegated, but no refresh token is stored
  fresh,           // the refresh token was used recently: nothing to do before due_at
  due,             // refresh now
};
struct keep_alive_decision {
  keep_alive_verdict verdict = keep_alive_verdict::disabled;
  std::optional<wall_clock::time_point> last_used;  // the refresh token's last successful use
  std::optional<wall_clock::time_point> due_at;     // when a refresh becomes due
};
// `stored` is the account's cached token set, if any. `delegated`: the flow has refresh tokens.
keep_alive_decision decide_keep_alive(bool enabled, bool delegated, const std::optional<token_set>& stored,
                                      wall_clock::time_point now, std::chrono::hours after = default_keep_alive_period);
std::string_view to_string(keep_alive_verdict v) noexcept;  // "disabled", "not_applicable", ...

}  // namespace oauthmail::oauth
