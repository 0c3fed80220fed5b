// Delivery to Postfix's smtp-sink on loopback, without TLS or credentials: one message, and 200
// messages over one connection with and without PIPELINING (RFC 2920), checked against what
// smtp-sink counted and dumped.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "integration/support/client.hpp"
#include "integration/support/harness.hpp"
#include "integration/support/peers.hpp"

namespace oauthmail::testing {
namespace {

constexpr const char* sender = "sender@oauthmail.test";
constexpr const char* recipient = "rcpt@oauthmail.test";

class SmtpSinkTest : public ::testing::Test {
 protected:
  test_deadline deadline_{std::chrono::seconds(120), "SmtpSinkTest"};
  temp_dir dir_;
};

std::vector<smtp::outgoing_message> numbered_messages(std::size_t n) {
  std::vector<smtp::outgoing_message> messages;
  for (std::size_t i = 0; i < n; ++i)
    messages.push_back(make_message(sender, {recipient}, sample_message(sender, {recipient}, i)));
  return messages;
}

// Every message arrived, in order, exactly once.
void expect_numbered_in_dump(const std::string& dump, std::size_t n) {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string id = "Message-ID: <it-" + std::to_string(i) + "@oauthmail.test>";
    const auto found = dump.find(id, pos);
    ASSERT_NE(found, std::string::npos) << "message " << i << " missing or out of order";
    pos = found + id.size();
    EXPECT_EQ(count_occurrences(dump, id + "\n"), 1u) << "message " << i;
  }
}

TEST_F(SmtpSinkTest, DeliversOneMessageWithoutTls) {
  smtp_sink sink(dir_);
  auto options = loopback_options(sink.port(), smtp::tls_mode::none);
  std::vector<smtp::outgoing_message> messages;
  messages.push_back(make_message(sender, {recipient}, sample_message(sender, {recipient}, 0)));

  auto results = net::send_messages(std::move(options), std::move(messages));
  ASSERT_TRUE(results.has_value()) << describe(results.error());
  ASSERT_EQ(results->size(), 1u);
  const auto& r = results->front();
  EXPECT_TRUE(r.delivered()) << describe(r);
  EXPECT_EQ(r.accepted_count(), 1u);
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_EQ(r.recipients[0].address, recipient);
  EXPECT_TRUE(r.recipients[0].accepted);
  ASSERT_TRUE(r.final_reply.has_value());
  EXPECT_EQ(r.final_reply->code, 250);

  ASSERT_TRUE(sink.wait_for(1, 1)) << "smtp-sink counters: " << sink.process().log();
  const auto c = sink.last_counters();
  EXPECT_EQ(c.messages, 1u);
  EXPECT_EQ(c.quits, 1u);
  EXPECT_EQ(sink.dumped_messages(), 1u);
  const std::string dump = sink.dump();
  EXPECT_NE(dump.find("X-Client-Proto: ESMTP\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find("X-Helo-Args: client.oauthmail.test\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find(std::string("X-Mail-Args: <") + sender + ">"), std::string::npos) << dump;
  EXPECT_NE(dump.find(std::string("X-Rcpt-Args: <") + recipient + ">"), std::string::npos) << dump;
  EXPECT_NE(dump.find("Subject: Integration test message 0\n"), std::string::npos) << dump;
}

struct bulk_case {
  const char* name;
  bool client_pipelining;
  bool sink_offers_pipelining;
  friend void PrintTo(const bulk_case& c, std::ostream* os) { *os << c.name; }
};

class SmtpSinkBulkTest : public SmtpSinkTest, public ::testing::WithParamInterface<bulk_case> {};

// 200 messages over ONE connection: smtp-sink counts 200 messages and one QUIT, and the connection
// saw (or did not see) PIPELINING as configured.
TEST_P(SmtpSinkBulkTest, TwoHundredMessagesOverOneConnection) {
  const auto& param = GetParam();
  smtp_sink::options sink_options;
  sink_options.pipelining = param.sink_offers_pipelining;
  smtp_sink sink(dir_, sink_options);
  constexpr std::size_t n = 200;

  auto options = loopback_options(sink.port(), smtp::tls_mode::none);
  options.session.pipelining = param.client_pipelining;
  auto run = run_connection(std::move(options), numbered_messages(n));
  ASSERT_FALSE(run.open_error) << describe(*run.open_error);
  EXPECT_EQ(run.capabilities.pipelining, param.sink_offers_pipelining);
  EXPECT_FALSE(run.tls_active);
  EXPECT_FALSE(run.authenticated);
  ASSERT_EQ(run.results.size(), n);
  std::size_t delivered = 0;
  for (const auto& r : run.results) {
    if (r.delivered())
      ++delivered;
    else
      ADD_FAILURE() << describe(r);
  }
  EXPECT_EQ(delivered, n);
  EXPECT_TRUE(run.usable_at_end);

  ASSERT_TRUE(sink.wait_for(n, 1)) << "smtp-sink counters: " << sink.process().log();
  const auto c = sink.last_counters();
  EXPECT_EQ(c.messages, n);
  EXPECT_EQ(c.quits, 1u) << "more than one connection said QUIT";
  EXPECT_EQ(sink.dumped_messages(), n);
  expect_numbered_in_dump(sink.dump(), n);
}

INSTANTIATE_TEST_SUITE_P(Pipelining, SmtpSinkBulkTest,
                         ::testing::Values(bulk_case{"Pipelined", true, true}, bulk_case{"NotPipelined", false, true},
                                           bulk_case{"ServerWithoutPipelining", true, false}),
                         [](const auto& info) { return std::string(info.param.name); });

// The blocking convenience API also uses one connection for all messages.
TEST_F(SmtpSinkTest, SendMessagesUsesOneConnectionFor200Messages) {
  smtp_sink sink(dir_);
  constexpr std::size_t n = 200;
  auto results = net::send_messages(loopback_options(sink.port(), smtp::tls_mode::none), numbered_messages(n));
  ASSERT_TRUE(results.has_value()) << describe(results.error());
  ASSERT_EQ(results->size(), n);
  for (const auto& r : *results) EXPECT_TRUE(r.delivered()) << describe(r);
  ASSERT_TRUE(sink.wait_for(n, 1)) << "smtp-sink counters: " << sink.process().log();
  const auto c = sink.last_counters();
  EXPECT_EQ(c.messages, n);
  EXPECT_EQ(c.quits, 1u);
  expect_numbered_in_dump(sink.dump(), n);
}

// smtp-sink -e refuses EHLO: the client falls back to HELO and still delivers.
TEST_F(SmtpSinkTest, FallsBackToHeloWithoutEsmtp) {
  smtp_sink::options sink_options;
  sink_options.esmtp = false;
  smtp_sink sink(dir_, sink_options);
  auto results = net::send_messages(loopback_options(sink.port(), smtp::tls_mode::none), numbered_messages(3));
  ASSERT_TRUE(results.has_value()) << describe(results.error());
  ASSERT_EQ(results->size(), 3u);
  for (const auto& r : *results) EXPECT_TRUE(r.delivered()) << describe(r);
  ASSERT_TRUE(sink.wait_for(3, 1)) << "smtp-sink counters: " << sink.process().log();
  EXPECT_EQ(sink.dumped_messages(), 3u);
  EXPECT_NE(sink.dump().find("X-Client-Proto: SMTP\n"), std::string::npos) << sink.dump();
}

// Nothing listens on the port: a connect failure, classified transient (try again later).
TEST_F(SmtpSinkTest, ConnectionRefusedPortIsConnectFailure) {
  const std::uint16_t port = free_port();  // nothing listens here
  auto results = net::send_messages(loopback_options(port, smtp::tls_mode::none), numbered_messages(1));
  ASSERT_FALSE(results.has_value());
  EXPECT_EQ(results.error().code(), smtp::session_errc::connect_failed) << describe(results.error());
  EXPECT_EQ(results.error().classification(), core::failure_class::transient) << describe(results.error());
}

}  // namespace
}  // namespace oauthmail::testing
