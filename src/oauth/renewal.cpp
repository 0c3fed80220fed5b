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

keep_alive_decision decide_keep_alive(bool enabled, bool delegated, const std::optional<token_set>& stored,
                                      wall_clock::time_point now, std::chrono::hours after) {
  keep_alive_decision d;
  if (stored && stored->refresh_token) {
    d.last_used = stored->obtained_at;
    d.due_at = stored->obtained_at + after;
  }
  if (!delegated) {
    d.verdict = keep_alive_verdict::not_applicable;
  } else if (!enabled) {
    d.verdict = keep_alive_verdict::disabled;
  } else if (!stored || !stored->refresh_token) {
    d.verdict = keep_alive_verdict::not_signed_in;
  } else {
    d.verdict = keep_alive_due(*stored, now, after) ? keep_alive_verdict::due : keep_alive_verdict::fresh;
  }
  return d;
}

std::string_view to_string(keep_alive_verdict v) noexcept {
  switch (v) {
    case keep_alive_verdict::disabled:
      return "disabled";
    case keep_alive_verdict::not_applicable:
      return "not_applicable";
    case keep_alive_verdict::not_signed_in:
      return "not_signed_in";
    case keep_alive_verdict::fresh:
      return "fresh";
    case keep_alive_verdict::due:
      return "due";
  }
  return "unknown";
}

}  // namespace oauthmail::oauth
