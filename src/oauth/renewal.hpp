// Renewal policy, pure functions of a token and `now` (the token manager applies them):
//  - renew_at = expires_at - min(margin, lifetime / 2): ahead of expiry by the configured margin
//    (default 10 minutes, since Exchange's high-volume endpoint refuses tokens close to expiry),
//    but never more than half the token's lifetime (a 60 s token is renewed after 30 s).
//  - backoff for transient token endpoint failures: exponential from 1 s, capped at 5 min, with
//    full jitter (delay uniform in [0, min(cap, base * 2^attempt)]; randomness injected), and never
//    shorter than the provider's Retry-After.
//  - keep-alive of idle refresh tokens: due when the token set was obtained more than `period` ago
//    (default 30 days, inside Microsoft's 90-day inactivity expiry, AADSTS700082).
// Must not: read a clock or a global random generator.
#pragma once

#include <chrono>
#include <optional>

#include "oauth/random.hpp"
#include "oauth/token.hpp"

namespace oauthmail::oauth {

inline constexpr std::chrono::seconds default_renew_margin{600};
inline constexpr std::chrono::hours default_keep_alive_period{24 * 30};

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

}  // namespace oauthmail::oauth
