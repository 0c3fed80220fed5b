#include "oauth/renewal.hpp"

#include <algorithm>

namespace oauthmail::oauth {

wall_clock::time_point renew_at(const token_set& t, std::chrono::seconds margin) {
  const auto lifetime = t.expires_at - t.obtained_at;
  if (lifetime <= wall_clock::duration::zero()) return t.expires_at;
  const auto ahead = std::min<wall_clock::duration>(std::max(margin, std::chrono::seconds(0)), lifetime / 2);
  return t.expires_at - ahead;
}

bool needs_renewal(const token_set& t, wall_clock::time_point now, std::chrono::seconds margin) {
  return t.access_token.empty() || now >= renew_at(t, margin);
}

bool is_expired(const token_set& t, wall_clock::time_point now) { return now >= t.expires_at; }

std::chrono::milliseconds backoff_ceiling(unsigned attempt, const backoff_policy& p) {
  const auto cap = std::max(p.cap, p.base);
  auto ceiling = p.base;
  for (unsigned i = 0; i < attempt && ceiling < cap; ++i) ceiling *= 2;
  return std::min(ceiling, cap);
}

std::chrono::milliseconds backoff_delay(unsigned attempt, const random_source& random,
                                        std::optional<std::chrono::seconds> retry_after, const backoff_policy& p) {
  const auto ceiling = backoff_ceiling(attempt, p);
  const auto span = static_cast<std::uint64_t>(std::max<std::int64_t>(ceiling.count(), 0)) + 1;
  const auto jittered = std::chrono::milliseconds(static_cast<std::int64_t>(random_u64(random) % span));
  if (retry_after) return std::max<std::chrono::milliseconds>(jittered, *retry_after);
  return jittered;
}

bool keep_alive_due(const token_set& t, wall_clock::time_point now, std::chrono::hours period) {
  return t.refresh_token.has_value() && now - t.obtained_at >= period;
}

}  // namespace oauthmail::oauth
