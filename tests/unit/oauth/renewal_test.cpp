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
  EXPECT_FALSE(keep_alive_due(t, at(29 * 24 * 3600)));
  EXPECT_TRUE(keep_alive_due(t, at(30 * 24 * 3600)));
}

}  // namespace
}  // namespace oauthmail::oauth
