// The checklist model: step order (STARTTLS and implicit TLS), recording and stopping at the first
// failure, exit status, and both renderings (text with Unicode or ASCII symbols, JSON).
#include "doctor/checklist.hpp"

#include <gtest/gtest.h>
#include <sysexits.h>

#include <boost/json.hpp>

namespace oauthmail::doctor {
namespace {

std::vector<step_id> order(const checklist& c) {
  std::vector<step_id> out;
  for (const auto& s : c.steps()) out.push_back(s.id);
  return out;
}

TEST(Checklist, StartsWithEveryStepNotCheckedInStarttlsOrder) {
  checklist c;
  EXPECT_EQ(order(c), (std::vector<step_id>{step_id::configuration, step_id::secrets, step_id::dns, step_id::tcp,
                                            step_id::greeting, step_id::tls, step_id::ehlo, step_id::token,
                                            step_id::token_contents, step_id::auth}));
  for (const auto& s : c.steps()) EXPECT_EQ(s.status, verdict::not_checked);
  EXPECT_TRUE(c.ok());
  EXPECT_EQ(c.exit_code(), 0);
  EXPECT_FALSE(c.has(step_id::send_test));
  EXPECT_TRUE(checklist(true).has(step_id::send_test));
  EXPECT_EQ(checklist(true).steps().back().id, step_id::send_test);
}

TEST(Checklist, ImplicitTlsPutsTheHandshakeBeforeTheGreeting) {
  checklist c;
  c.use_tls_mode(config::tls_setting::implicit);
  auto o = order(c);
  EXPECT_LT(std::find(o.begin(), o.end(), step_id::tls), std::find(o.begin(), o.end(), step_id::greeting));
  // And back for STARTTLS (and none).
  c.use_tls_mode(config::tls_setting::starttls);
  o = order(c);
  EXPECT_LT(std::find(o.begin(), o.end(), step_id::greeting), std::find(o.begin(), o.end(), step_id::tls));
  c.use_tls_mode(config::tls_setting::none);
  EXPECT_EQ(order(c), order(checklist{}));
}

TEST(Checklist, OrderDoesNotChangeOnceANetworkStepWasRecorded) {
  checklist c;
  c.record(step_id::greeting, finding::passed("220 hello"));
  c.use_tls_mode(config::tls_setting::implicit);
  EXPECT_EQ(order(c), order(checklist{}));
}

TEST(Checklist, StopsAtTheFirstFailureAndKeepsItsExitCode) {
  checklist c;
  c.record(step_id::configuration, finding::passed("ok"));
  c.record(step_id::secrets, finding::warning("looks odd", "check it"));
  EXPECT_TRUE(c.ok());
  c.record(step_id::dns, finding::failed("no such host", "check smtp.host", EX_NOHOST));
  EXPECT_TRUE(c.stopped());
  EXPECT_EQ(c.exit_code(), EX_NOHOST);
  // Later findings are ignored: the walk stopped.
  c.record(step_id::tcp, finding::failed("refused", "port", EX_UNAVAILABLE));
  c.record(step_id::greeting, finding::passed("220"));
  EXPECT_EQ(c.at(step_id::tcp).status, verdict::not_checked);
  EXPECT_EQ(c.at(step_id::greeting).status, verdict::not_checked);
  EXPECT_EQ(c.exit_code(), EX_NOHOST);
  ASSERT_NE(c.first_failure(), nullptr);
  EXPECT_EQ(c.first_failure()->id, step_id::dns);
  EXPECT_EQ(c.at(step_id::secrets).status, verdict::warn);
  EXPECT_EQ(c.at(step_id::secrets).exit_code, 0);
}

TEST(Checklist, AFailureWithoutACodeStillFails) {
  checklist c;
  c.record(step_id::configuration, finding::failed("bad", "fix", 0));
  EXPECT_NE(c.exit_code(), 0);
}

TEST(Checklist, SendTestFindingIsAddedWhenNotListed) {
  checklist c;
  c.record(step_id::send_test, finding::passed("accepted"));
  EXPECT_TRUE(c.has(step_id::send_test));
  EXPECT_THROW((void)checklist{}.at(step_id::send_test), std::out_of_range);
}

TEST(Checklist, RendersAsciiWithFactsAndFix) {
  checklist c;
  c.record(step_id::configuration, finding::passed("config.toml: account work"));
  c.record(step_id::secrets, finding::failed("env:SECRET is not set", "export SECRET", EX_CONFIG,
                                             {"client_secret (env:SECRET): cannot be used"}));
  const std::string text = render_text(c, false);
  EXPECT_NE(text.find("[ OK ] Configuration      config.toml: account work\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[FAIL] Secret references  env:SECRET is not set\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n                          client_secret (env:SECRET): cannot be used\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\n                          fix: export SECRET\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[ -- ] DNS                not checked\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Stopped at Secret references (exit status 78).\n"), std::string::npos) << text;
  // ASCII only.
  for (const char ch : text) EXPECT_LT(static_cast<unsigned char>(ch), 0x80) << text;
  EXPECT_EQ(text.find("\u2713"), std::string::npos);
  EXPECT_EQ(text.find("\u2717"), std::string::npos);
}

TEST(Checklist, RendersUnicodeSymbols) {
  checklist c;
  c.record(step_id::configuration, finding::passed("ok"));
  c.record(step_id::secrets, finding::warning("odd", "look"));
  c.record(step_id::dns, finding::failed("no", "yes", EX_NOHOST));
  const std::string text = render_text(c, true);
  EXPECT_NE(text.find("\u2713 Configuration"), std::string::npos) << text;
  EXPECT_NE(text.find("! Secret references"), std::string::npos) << text;
  EXPECT_NE(text.find("\u2717 DNS"), std::string::npos) << text;
  EXPECT_NE(text.find("\u00b7 TCP connection"), std::string::npos) << text;
  // Continuation lines line up under the detail (symbol, space, 18 columns, space).
  EXPECT_NE(text.find("\n" + std::string(20, ' ') + " fix: yes\n"), std::string::npos) << text;
}

TEST(Checklist, SummaryMentionsWarnings) {
  checklist c;
  c.record(step_id::configuration, finding::passed("ok"));
  EXPECT_EQ(render_summary(c), "All checks passed.\n");
  c.record(step_id::secrets, finding::warning("odd", ""));
  EXPECT_EQ(render_summary(c), "All checks passed, with warnings (see above).\n");
}

TEST(Checklist, JsonHasEveryStep) {
  checklist c(true);
  c.record(step_id::configuration, finding::passed("ok", {"a fact"}));
  c.record(step_id::secrets, finding::failed("bad", "fix it", EX_CONFIG));
  const auto o = to_json(c);
  EXPECT_EQ(o.at("ok"), false);
  EXPECT_EQ(o.at("exit_code"), EX_CONFIG);
  const auto& steps = o.at("steps").as_array();
  ASSERT_EQ(steps.size(), 11u);
  EXPECT_EQ(steps[0].at("step"), "configuration");
  EXPECT_EQ(steps[0].at("title"), "Configuration");
  EXPECT_EQ(steps[0].at("status"), "pass");
  EXPECT_EQ(steps[0].at("facts").as_array().size(), 1u);
  EXPECT_EQ(steps[1].at("status"), "fail");
  EXPECT_EQ(steps[1].at("fix"), "fix it");
  EXPECT_EQ(steps[1].at("exit_code"), EX_CONFIG);
  EXPECT_EQ(steps[2].at("status"), "not_checked");
  EXPECT_EQ(steps[10].at("step"), "send_test");
  // Round trip through the serializer: valid JSON.
  EXPECT_NO_THROW((void)boost::json::parse(boost::json::serialize(o)));
}

TEST(Checklist, NamesAreStable) {
  EXPECT_EQ(to_string(step_id::token_contents), "token_contents");
  EXPECT_EQ(to_string(step_id::send_test), "send_test");
  EXPECT_EQ(title(step_id::auth), "SMTP AUTH");
  EXPECT_EQ(to_string(verdict::not_checked), "not_checked");
  EXPECT_EQ(to_string(verdict::warn), "warn");
}

}  // namespace
}  // namespace oauthmail::doctor
