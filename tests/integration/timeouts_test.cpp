// Time limits against a real server that is slow on purpose: Postfix's smtp-sink with -W/-w delays
// replies at one command. The client must give up at its own limit for that step, classify it as
// transient, and never report the message delivered; with a limit above the delay it delivers.
// PIPELINING is off: smtp-sink answers pipelined commands out of order while it delays one.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "integration/support/client.hpp"
#include "integration/support/harness.hpp"
#include "integration/support/peers.hpp"

namespace oauthmail::testing {
namespace {

constexpr const char* sender = "sender@oauthmail.test";
constexpr const char* recipient = "rcpt@oauthmail.test";

class TimeoutTest : public ::testing::Test {
 protected:
  test_deadline deadline_{std::chrono::seconds(60), "TimeoutTest"};
  temp_dir dir_;
};

net::connection_options slow_options(std::uint16_t port, std::chrono::milliseconds limit) {
  auto o = loopback_options(port, smtp::tls_mode::none, limit);
  o.session.pipelining = false;
  return o;
}

std::vector<smtp::outgoing_message> one_message() {
  std::vector<smtp::outgoing_message> m;
  m.push_back(make_message(sender, {recipient}, sample_message(sender, {recipient}, 0)));
  return m;
}

struct slow_step {
  std::string sink_args;  // smtp-sink option that delays one reply by 3 s
  std::string flag;
};

class SlowStepTest : public TimeoutTest, public ::testing::WithParamInterface<slow_step> {};

TEST_P(SlowStepTest, GivesUpAtTheStepLimitAsTransient) {
  smtp_sink::options o;
  o.extra_args = {GetParam().flag, GetParam().sink_args};
  smtp_sink sink(dir_, o);
  const auto started = std::chrono::steady_clock::now();
  auto results = net::send_messages(slow_options(sink.port(), std::chrono::milliseconds(700)), one_message());
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, std::chrono::milliseconds(2500)) << "the client waited for the slow reply";
  if (results) {
    ASSERT_EQ(results->size(), 1u);
    const auto& r = results->front();
    EXPECT_FALSE(r.delivered());
    ASSERT_TRUE(r.failure);
    EXPECT_EQ(r.failure->code(), smtp::session_errc::timeout) << describe(*r.failure);
    EXPECT_EQ(r.failure->classification(), core::failure_class::transient);
  } else {
    EXPECT_EQ(results.error().code(), smtp::session_errc::timeout) << describe(results.error());
    EXPECT_EQ(results.error().classification(), core::failure_class::transient);
  }
}

INSTANTIATE_TEST_SUITE_P(Steps, SlowStepTest,
                         ::testing::Values(slow_step{"ehlo:3", "-W"}, slow_step{"mail:3", "-W"},
                                           slow_step{"rcpt:3", "-W"}, slow_step{"3", "-w"}),
                         [](const auto& info) {
                           std::string n = info.param.flag == "-w" ? "data" : info.param.sink_args;
                           return n.substr(0, n.find(':'));
                         });

TEST_F(TimeoutTest, DeliversWhenTheLimitIsAboveTheDelay) {
  smtp_sink::options o;
  o.extra_args = {"-W", "rcpt:1"};
  smtp_sink sink(dir_, o);
  auto results = net::send_messages(slow_options(sink.port(), std::chrono::seconds(5)), one_message());
  ASSERT_TRUE(results) << describe(results.error());
  EXPECT_TRUE(results->front().delivered()) << describe(results->front());
}

}  // namespace
}  // namespace oauthmail::testing
