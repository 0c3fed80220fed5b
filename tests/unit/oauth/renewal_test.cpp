// Renewal margins and the backoff schedule.
#include "oauth/renewal.hpp"

#include <gtest/gtest.h>

#include "unit/oauth/helpers.hpp"

namespace oauthmail::oauth {
namespace {

using namespace std::chrono_literals;
using testing::at;

token_set token(std::int64_t obtained, std::int64_t expires) {
  token_set t;
  t.access_token = core::secret<std::string>("at");
  t.obtained_at = at(obtained);
  t.expires_at = at(expires);
  return t;
}

TEST(Renewal, DefaultMarginIsTenMinutes) {
  const auto t = token(0, 3600);
  EXPECT_EQ(default_renew_margin, 600s);
  EXPECT_EQ(renew_at(t), at(3000));
  EXPECT_FALSE(needs_renewal(t, at(2999)));
  EXPECT_TRUE(needs_renewal(t, at(3000)));
  EXPECT_FALSE(is_expired(t, at(3599)));
  EXPECT_TRUE(is_expired(t, at(3600)));
}

TEST(Renewal, MarginCappedAtHalfTheLifetime) {
  const auto t = token(1000, 1060);  // a 60 s token
  EXPECT_EQ(renew_at(t), at(1030));
  EXPECT_FALSE(needs_renewal(t, at(1029)));
  EXPECT_TRUE(needs_renewal(t, at(1030)));
  EXPECT_EQ(renew_at(token(0, 3600), 60s), at(3540));
  EXPECT_EQ(renew_at(token(0, 0)), at(0));  // degenerate: renew now
  token_set empty = token(0, 3600);
  empty.access_token = core::secret<std::string>();
  EXPECT_TRUE(needs_renewal(empty, at(0)));
}

TEST(Backoff, CeilingDoublesFromOneSecondToFiveMinutes) {
  EXPECT_EQ(backoff_ceiling(0), 1000ms);
  EXPECT_EQ(backoff_ceiling(1), 2000ms);
  EXPECT_EQ(backoff_ceiling(5), 32000ms);
  EXPECT_EQ(backoff_ceiling(8), 256000ms);
  EXPECT_EQ(backoff_ceiling(9), 300000ms);
  EXPECT_EQ(backoff_ceiling(1000), 300000ms);
}

TEST(Backoff, FullJitterWithinTheWindow) {
  // All-zero randomness gives 0; all-ones gives the top of the window's modulus range.
  EXPECT_EQ(backoff_delay(3, testing::fixed_random(0)), 0ms);
  const auto r = system_random();
  for (unsigned attempt = 0; attempt < 12; ++attempt) {
    for (int i = 0; i < 50; ++i) {
      const auto d = backoff_delay(attempt, r);
      EXPECT_GE(d, 0ms);
      EXPECT_LE(d, backoff_ceiling(attempt));
    }
  }
}

TEST(Backoff, RetryAfterIsAFloor) {
  EXPECT_EQ(backoff_delay(0, testing::fixed_random(0), 120s), 120000ms);
  EXPECT_EQ(backoff_delay(20, testing::fixed_random(0), 900s), 900000ms);  // beyond the cap: honoured
  // A Retry-After shorter than the jitter does not shorten it.
  const auto d = backoff_delay(8, testing::fixed_random(0xFF), 1s);
  EXPECT_GE(d, 1000ms);
}

TEST(KeepAlive, DueAfterThePeriodWithARefreshToken) {
  auto t = token(0, 3600);
  EXPECT_FALSE(keep_alive_due(t, at(100 * 24 * 3600)));  // no refresh token: nothing to keep alive
  t.refresh_token = core::secret<std::string>("rt");
  EXPECT_EQ(default_keep_alive_period, std::chrono::hours(7 * 24));
  EXPECT_FALSE(keep_alive_due(t, at(7 * 24 * 3600 - 1)));
  EXPECT_TRUE(keep_alive_due(t, at(7 * 24 * 3600)));
  EXPECT_FALSE(keep_alive_due(t, at(29 * 24 * 3600), std::chrono::hours(30 * 24)));
  EXPECT_TRUE(keep_alive_due(t, at(30 * 24 * 3600), std::chrono::hours(30 * 24)));
}

// A fake clock: days since the sign-in at day 100.
constexpr std::int64_t day = 24 * 3600;

std::optional<token_set> signed_in_at(std::int64_t when) {
  auto t = token(when, when + 3600);
  t.refresh_token = core::secret<std::string>("rt");
  return t;
}

TEST(KeepAlive, DecisionForADelegatedAccountFollowsTheLastUse) {
  const auto stored = signed_in_at(100 * day);
  // The access token expired long ago; what counts is the refresh token's last use.
  auto d = decide_keep_alive(true, true, stored, at(106 * day));
  EXPECT_EQ(d.verdict, keep_alive_verdict::fresh);
  EXPECT_EQ(d.last_used, at(100 * day));
  EXPECT_EQ(d.due_at, at(107 * day));
  d = decide_keep_alive(true, true, stored, at(107 * day));
  EXPECT_EQ(d.verdict, keep_alive_verdict::due);
  EXPECT_EQ(decide_keep_alive(true, true, stored, at(189 * day)).verdict, keep_alive_verdict::due);
  // A refresh moves the last use: fresh again for a week.
  const auto renewed = signed_in_at(189 * day);
  EXPECT_EQ(decide_keep_alive(true, true, renewed, at(190 * day)).verdict, keep_alive_verdict::fresh);
  // Another threshold.
  EXPECT_EQ(decide_keep_alive(true, true, stored, at(101 * day), std::chrono::hours(24)).verdict,
            keep_alive_verdict::due);
  EXPECT_EQ(
      decide_keep_alive(true, true, stored, at(101 * day) - std::chrono::seconds(1), std::chrono::hours(24)).verdict,
      keep_alive_verdict::fresh);
}

TEST(KeepAlive, NothingToDoWithoutKeepAliveOrARefreshToken) {
  const auto stored = signed_in_at(0);
  auto off = decide_keep_alive(false, true, stored, at(365 * day));
  EXPECT_EQ(off.verdict, keep_alive_verdict::disabled);
  EXPECT_EQ(off.last_used, at(0));  // still reported
  EXPECT_EQ(decide_keep_alive(true, false, stored, at(365 * day)).verdict, keep_alive_verdict::not_applicable);
  EXPECT_EQ(decide_keep_alive(false, false, std::nullopt, at(0)).verdict, keep_alive_verdict::not_applicable);
  auto none = decide_keep_alive(true, true, std::nullopt, at(365 * day));
  EXPECT_EQ(none.verdict, keep_alive_verdict::not_signed_in);
  EXPECT_FALSE(none.last_used);
  EXPECT_FALSE(none.due_at);
  auto app_token = token(0, 3600);  // an access token without a refresh token
  EXPECT_EQ(decide_keep_alive(true, true, app_token, at(365 * day)).verdict, keep_alive_verdict::not_signed_in);
  EXPECT_EQ(to_string(keep_alive_verdict::due), "due");
  EXPECT_EQ(to_string(keep_alive_verdict::not_signed_in), "not_signed_in");
}

}  // namespace
}  // namespace oauthmail::oauth
