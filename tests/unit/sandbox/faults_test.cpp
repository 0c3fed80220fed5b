#include "sandbox/faults.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace oauthmail::sandbox {
namespace {

fault_plan parse_ok(std::string_view text) {
  auto plan = parse_fault_plan(boost::json::parse(text));
  EXPECT_TRUE(plan.has_value()) << (plan ? "" : plan.error().message());
  return plan ? std::move(*plan) : fault_plan{};
}

std::string parse_error(std::string_view text) {
  auto plan = parse_fault_plan(boost::json::parse(text));
  EXPECT_FALSE(plan.has_value()) << text;
  return plan ? std::string() : plan.error().message();
}

TEST(FaultSteps, NamesRoundTrip) {
  for (auto s :
       {smtp_step::connect, smtp_step::greeting, smtp_step::ehlo, smtp_step::starttls, smtp_step::auth, smtp_step::mail,
        smtp_step::rcpt, smtp_step::data, smtp_step::data_end, smtp_step::rset, smtp_step::quit}) {
    const auto name = to_string(s);
    ASSERT_TRUE(parse_smtp_step(name).has_value()) << name;
    EXPECT_EQ(*parse_smtp_step(name), s);
  }
  EXPECT_EQ(to_string(smtp_step::data_end), "data_end");
  EXPECT_FALSE(parse_smtp_step("MAIL").has_value());
  EXPECT_FALSE(parse_smtp_step("").has_value());
}

TEST(FaultPlanParse, TheHeaderExample) {
  const auto plan = parse_ok(R"({"smtp": [{"step": "mail", "action": "reply",
      "reply": "451 4.7.500 Server busy. Please try again later.", "times": 1, "rate": 1.0}],
      "token": [{"kind": "throttled", "retry_after": 2, "times": 1}]})");
  ASSERT_EQ(plan.smtp.size(), 1u);
  const auto& f = plan.smtp[0];
  EXPECT_EQ(f.step, smtp_step::mail);
  EXPECT_EQ(f.what, smtp_fault::action::reply);
  ASSERT_TRUE(f.reply.has_value());
  EXPECT_EQ(f.reply->code, 451);
  EXPECT_EQ(f.reply->enhanced, "4.7.500");
  ASSERT_EQ(f.reply->lines.size(), 1u);
  EXPECT_EQ(f.reply->lines[0], "Server busy. Please try again later.");
  EXPECT_EQ(f.times, 1);
  EXPECT_DOUBLE_EQ(f.rate, 1.0);
  ASSERT_EQ(plan.token.size(), 1u);
  EXPECT_EQ(plan.token[0].what, token_fault::kind::throttled);
  EXPECT_EQ(plan.token[0].retry_after, std::chrono::seconds(2));
  EXPECT_EQ(plan.token[0].times, 1);
}

TEST(FaultPlanParse, AllActionsAndKinds) {
  const auto plan = parse_ok(R"({"smtp": [
      {"step": "connect", "action": "drop"},
      {"step": "data_end", "action": "delay", "delay_ms": 1500},
      {"step": "rcpt", "action": "reply", "reply": "550 5.1.1 User unknown", "delay_ms": 20, "rate": 0.25},
      {"step": "ehlo", "reply": "421 4.3.2 Service not available"},
      {"step": "quit", "delay_ms": 5}],
    "token": [{"kind": "server_error"}, {"kind": "invalid_grant", "times": 3},
              {"kind": "slow", "delay_ms": 2000, "rate": 0.5}]})");
  ASSERT_EQ(plan.smtp.size(), 5u);
  EXPECT_EQ(plan.smtp[0].what, smtp_fault::action::drop);
  EXPECT_EQ(plan.smtp[0].times, -1);
  EXPECT_FALSE(plan.smtp[0].reply.has_value());
  EXPECT_EQ(plan.smtp[1].what, smtp_fault::action::delay);
  EXPECT_EQ(plan.smtp[1].delay, std::chrono::milliseconds(1500));
  EXPECT_EQ(plan.smtp[2].delay, std::chrono::milliseconds(20));
  EXPECT_DOUBLE_EQ(plan.smtp[2].rate, 0.25);
  EXPECT_EQ(plan.smtp[2].reply->code, 550);
  EXPECT_EQ(plan.smtp[3].what, smtp_fault::action::reply);  // shorthand: reply alone
  EXPECT_EQ(plan.smtp[3].reply->lines[0], "Service not available");
  EXPECT_EQ(plan.smtp[4].what, smtp_fault::action::delay);  // shorthand: delay alone
  ASSERT_EQ(plan.token.size(), 3u);
  EXPECT_EQ(plan.token[0].what, token_fault::kind::server_error);
  EXPECT_EQ(plan.token[1].what, token_fault::kind::invalid_grant);
  EXPECT_EQ(plan.token[1].times, 3);
  EXPECT_EQ(plan.token[2].what, token_fault::kind::slow);
  EXPECT_EQ(plan.token[2].delay, std::chrono::milliseconds(2000));
}

TEST(FaultPlanParse, EmptyPlans) {
  EXPECT_TRUE(parse_ok("{}").smtp.empty());
  const auto plan = parse_ok(R"({"smtp": [], "token": []})");
  EXPECT_TRUE(plan.smtp.empty());
  EXPECT_TRUE(plan.token.empty());
}

TEST(FaultPlanParse, ErrorsNameTheEntryAndTheKey) {
  EXPECT_EQ(parse_error(R"({"smtp": [{"step": "mail", "action": "reply", "reply": "250 2.0.0 fine"}]})"),
            "smtp[0].reply: must be \"NNN x.y.z text\" with NNN 400..599");
  EXPECT_EQ(parse_error(R"({"smtp": [{"step": "mail", "action": "drop"}, {"step": "nope", "action": "drop"}]})")
                .rfind("smtp[1].step: unknown step \"nope\"", 0),
            0u);
  EXPECT_EQ(parse_error(R"({"smtp": [{"step": "mail", "action": "explode"}]})").rfind("smtp[0].action: unknown", 0),
            0u);
  EXPECT_EQ(parse_error(R"({"smtp": [{"action": "drop"}]})").rfind("smtp[0].step: missing", 0), 0u);
  EXPECT_EQ(parse_error(R"({"smtp": [{"step": "rcpt"}]})").rfind("smtp[0].action: missing", 0), 0u);
  EXPECT_EQ(parse_error(R"({"smtp": [{"step": "rcpt", "action": "reply"}]})").rfind("smtp[0].reply: missing", 0), 0u);
  EXPECT_EQ(parse_error(R"({"smtp": [{"step": "rcpt", "action": "delay"}]})").rfind("smtp[0].delay_ms: missing", 0),
            0u);
  EXPECT_EQ(parse_error(R"({"smtp": [{"step": "rcpt", "action": "drop", "dleay_ms": 3}]})")
                .rfind("smtp[0].dleay_ms: unknown key", 0),
            0u);
  EXPECT_EQ(parse_error(R"({"smtp": [{"step": "rcpt", "action": "drop", "times": 0}]})").rfind("smtp[0].times:", 0),
            0u);
  EXPECT_EQ(parse_error(R"({"smtp": [{"step": "rcpt", "action": "drop", "rate": 0}]})").rfind("smtp[0].rate:", 0), 0u);
  EXPECT_EQ(parse_error(R"({"smtp": [{"step": "rcpt", "action": "drop", "rate": 1.5}]})").rfind("smtp[0].rate:", 0),
            0u);
  EXPECT_EQ(
      parse_error(R"({"smtp": [{"step": "rcpt", "action": "delay", "delay_ms": -1}]})").rfind("smtp[0].delay_ms:", 0),
      0u);
  EXPECT_EQ(
      parse_error(R"({"smtp": [{"step": "rcpt", "action": "delay", "delay_ms": "5"}]})").rfind("smtp[0].delay_ms:", 0),
      0u);
  EXPECT_EQ(parse_error(R"({"smtp": [{"step": 3, "action": "drop"}]})"), "smtp[0].step: must be a string");
  EXPECT_EQ(parse_error(R"({"smtp": ["mail"]})").rfind("smtp[0]: must be an object", 0), 0u);
  EXPECT_EQ(parse_error(R"({"smtp": {}})").rfind("smtp: must be an array", 0), 0u);
  EXPECT_EQ(parse_error(R"({"smpt": []})").rfind("smpt: unknown key", 0), 0u);
  EXPECT_EQ(parse_error(R"([1])").rfind("faults: must be an object", 0), 0u);
  EXPECT_EQ(parse_error(R"({"token": [{"kind": "slow"}]})").rfind("token[0].delay_ms: missing", 0), 0u);
  EXPECT_EQ(parse_error(R"({"token": [{"kind": "server_error", "retry_after": 3}]})")
                .rfind("token[0].retry_after: only for kind \"throttled\"", 0),
            0u);
  EXPECT_EQ(parse_error(R"({"token": [{"kind": "throttled", "retry_after": -3}]})").rfind("token[0].retry_after:", 0),
            0u);
  EXPECT_EQ(parse_error(R"({"token": [{"retry_after": 3}]})").rfind("token[0].kind: missing", 0), 0u);
  EXPECT_EQ(parse_error(R"({"token": [{"kind": "teapot"}]})").rfind("token[0].kind: unknown kind \"teapot\"", 0), 0u);
}

TEST(FaultPlanParse, ReplyGrammar) {
  auto reply_of = [](std::string_view r) {
    boost::json::object entry{{"step", "mail"}, {"action", "reply"}, {"reply", r}};
    boost::json::object plan{{"smtp", boost::json::array{entry}}};
    return parse_fault_plan(plan);
  };
  EXPECT_TRUE(reply_of("421 4.7.0 Try again later, closing connection."));
  EXPECT_TRUE(reply_of("554 5.2.252 SendAsDenied; a@x not allowed to send as b@x"));
  EXPECT_TRUE(reply_of("535 5.7.139 Authentication unsuccessful"));
  EXPECT_FALSE(reply_of("451 Server busy"));             // no enhanced code
  EXPECT_FALSE(reply_of("451 5.7.500 Server busy"));     // class differs from the code
  EXPECT_FALSE(reply_of("451 4.7.5000 Server busy"));    // detail too long
  EXPECT_FALSE(reply_of("451 4.7. Server busy"));        // empty detail
  EXPECT_FALSE(reply_of("451 4.7.500"));                 // no text
  EXPECT_FALSE(reply_of("451 4.7.500 "));                // empty text
  EXPECT_FALSE(reply_of("451 4.7.500 busy\r\n250 ok"));  // a second line smuggled in
  EXPECT_FALSE(reply_of("600 6.0.0 nope"));
  EXPECT_FALSE(reply_of("399 3.0.0 nope"));
  EXPECT_FALSE(reply_of("45 4.7.500 x"));
  EXPECT_FALSE(reply_of("451-4.7.500 x"));
}

TEST(FaultPlanJson, RoundTrips) {
  const auto plan = parse_ok(R"({"smtp": [
      {"step": "connect", "action": "drop", "times": 2},
      {"step": "data_end", "action": "delay", "delay_ms": 1500},
      {"step": "rcpt", "action": "reply", "reply": "550 5.1.1 User unknown", "delay_ms": 20, "rate": 0.25}],
    "token": [{"kind": "throttled", "retry_after": 7}, {"kind": "slow", "delay_ms": 2000}]})");
  const auto json = to_json(plan);
  const auto& smtp = json.at("smtp").as_array();
  ASSERT_EQ(smtp.size(), 3u);
  EXPECT_EQ(smtp[0].at("step"), "connect");
  EXPECT_EQ(smtp[0].at("action"), "drop");
  EXPECT_EQ(smtp[0].at("times"), 2);
  EXPECT_FALSE(smtp[0].as_object().contains("delay_ms"));
  EXPECT_EQ(smtp[1].at("delay_ms"), 1500);
  EXPECT_EQ(smtp[2].at("reply"), "550 5.1.1 User unknown");
  EXPECT_EQ(smtp[2].at("rate"), 0.25);
  const auto& token = json.at("token").as_array();
  EXPECT_EQ(token[0].at("kind"), "throttled");
  EXPECT_EQ(token[0].at("retry_after"), 7);
  EXPECT_EQ(token[0].at("times"), -1);
  EXPECT_EQ(token[1].at("delay_ms"), 2000);
  // What GET returns can be PUT back unchanged.
  const auto again = parse_fault_plan(json);
  ASSERT_TRUE(again.has_value()) << again.error().message();
  EXPECT_EQ(boost::json::serialize(to_json(*again)), boost::json::serialize(json));
}

TEST(FaultRegistry, TimesCountsDownAndRemovesExhaustedEntries) {
  fault_registry reg(1);
  reg.replace(parse_ok(R"({"smtp": [{"step": "mail", "action": "reply", "reply": "451 4.7.500 busy", "times": 2}]})"));
  EXPECT_FALSE(reg.fire_smtp(smtp_step::rcpt).has_value());  // other steps are untouched
  auto first = reg.fire_smtp(smtp_step::mail);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->reply->code, 451);
  EXPECT_EQ(reg.plan().smtp.at(0).times, 1);
  EXPECT_TRUE(reg.fire_smtp(smtp_step::mail).has_value());
  EXPECT_TRUE(reg.plan().smtp.empty());
  EXPECT_FALSE(reg.fire_smtp(smtp_step::mail).has_value());
}

TEST(FaultRegistry, UnlimitedFiresEveryTime) {
  fault_registry reg(1);
  reg.replace(parse_ok(R"({"smtp": [{"step": "auth", "action": "drop"}]})"));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(reg.fire_smtp(smtp_step::auth).has_value());
  EXPECT_EQ(reg.plan().smtp.size(), 1u);
}

TEST(FaultRegistry, FirstMatchingEntryWinsThenTheNext) {
  fault_registry reg(1);
  reg.replace(parse_ok(R"({"smtp": [{"step": "mail", "action": "drop", "times": 1},
                                    {"step": "mail", "action": "reply", "reply": "451 4.3.0 later"}]})"));
  EXPECT_EQ(reg.fire_smtp(smtp_step::mail)->what, smtp_fault::action::drop);
  EXPECT_EQ(reg.fire_smtp(smtp_step::mail)->what, smtp_fault::action::reply);
  EXPECT_EQ(reg.fire_smtp(smtp_step::mail)->what, smtp_fault::action::reply);
}

TEST(FaultRegistry, RateIsSeededAndRoughlyRight) {
  const auto plan = parse_ok(R"({"smtp": [{"step": "rcpt", "action": "drop", "rate": 0.3}]})");
  auto run = [&](std::uint64_t seed) {
    fault_registry reg(seed);
    reg.replace(plan);
    std::vector<bool> fired;
    for (int i = 0; i < 2000; ++i) fired.push_back(reg.fire_smtp(smtp_step::rcpt).has_value());
    return fired;
  };
  const auto a = run(42);
  const auto b = run(42);
  const auto c = run(43);
  EXPECT_EQ(a, b);  // same seed, same sequence
  EXPECT_NE(a, c);
  const auto hits = std::count(a.begin(), a.end(), true);
  EXPECT_GT(hits, 480);  // 600 expected; far outside these bounds only if rate were ignored
  EXPECT_LT(hits, 720);
}

TEST(FaultRegistry, RateAndTimesTogether) {
  fault_registry reg(7);
  reg.replace(parse_ok(R"({"smtp": [{"step": "data", "action": "drop", "rate": 0.5, "times": 3}]})"));
  int fired = 0;
  int occasions = 0;
  while (!reg.plan().smtp.empty() && occasions < 1000) {
    ++occasions;
    if (reg.fire_smtp(smtp_step::data)) ++fired;
  }
  EXPECT_EQ(fired, 3);
  EXPECT_GT(occasions, 3);  // with rate 0.5, some occasions passed without a fault (seeded)
}

TEST(FaultRegistry, AddAppendsClearEmpties) {
  fault_registry reg(1);
  reg.replace(parse_ok(R"({"smtp": [{"step": "mail", "action": "drop"}]})"));
  reg.add(parse_ok(R"({"smtp": [{"step": "rcpt", "action": "drop"}], "token": [{"kind": "server_error"}]})"));
  EXPECT_EQ(reg.plan().smtp.size(), 2u);
  EXPECT_TRUE(reg.fire_smtp(smtp_step::rcpt).has_value());
  EXPECT_TRUE(reg.fire_token().has_value());
  reg.replace(parse_ok(R"({"token": [{"kind": "invalid_grant", "times": 1}]})"));
  EXPECT_FALSE(reg.fire_smtp(smtp_step::mail).has_value());
  EXPECT_EQ(reg.fire_token()->what, token_fault::kind::invalid_grant);
  EXPECT_FALSE(reg.fire_token().has_value());
  reg.add(parse_ok(R"({"smtp": [{"step": "quit", "action": "drop"}]})"));
  reg.clear();
  EXPECT_FALSE(reg.fire_smtp(smtp_step::quit).has_value());
  EXPECT_TRUE(reg.plan().smtp.empty());
}

}  // namespace
}  // namespace oauthmail::sandbox
