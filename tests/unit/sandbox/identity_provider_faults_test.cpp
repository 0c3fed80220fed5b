// Token endpoint faults (fault_registry::fire_token) as each profile answers them, and as our own
// client classifies them: 500 and 429 (with Retry-After) are transient, invalid_grant needs a
// person, a slow answer is delayed and otherwise normal; a fault counted `times` stops firing.
#include <gtest/gtest.h>

#include "oauth/responses.hpp"
#include "sandbox/identity_provider.hpp"
#include "unit/sandbox/idp_support.hpp"

namespace oauthmail::sandbox::test {
namespace {

const std::vector<std::string> app_scope = {"https://outlook.office365.com/.default"};

struct fault_case {
  profile_kind profile;
  token_fault::kind kind;
  int status;
  std::string error;
  long code;  // microsoft
  core::failure_class klass;
};

class TokenFaults : public idp_test, public ::testing::WithParamInterface<fault_case> {
 protected:
  void SetUp() override { start(GetParam().profile); }

  // A request that succeeds when no fault fires: client credentials (microsoft, generic) or the
  // service account's JWT bearer grant (google).
  oauth::http_request good_request() {
    if (GetParam().profile == profile_kind::google) {
      const auto& sa = cl("service-account");
      oauth::service_account_key k;
      k.client_email = sa.service_account_email;
      k.private_key_id = sa.key_id;
      k.private_key_pem = core::secret<std::string>(mat().private_key("service-account"));
      auto r = oauth::jwt_bearer_request(ep_.token, k, "sender@example.test",
                                         std::vector<std::string>{"https://mail.google.com/"}, ctx());
      EXPECT_TRUE(r);
      return std::move(*r);
    }
    const std::vector<std::string> scopes =
        GetParam().profile == profile_kind::microsoft ? app_scope : std::vector<std::string>{"smtp"};
    auto r = oauth::client_credentials_request(ep_.token, secret_auth("app-secret"), scopes, ctx());
    EXPECT_TRUE(r);
    return std::move(*r);
  }

  void plan(token_fault f) {
    fault_plan p;
    p.token.push_back(f);
    faults_.replace(std::move(p));
  }
};

TEST_P(TokenFaults, FiresOnceWithTheProfilesShapeAndOurClientClassifiesIt) {
  const auto& c = GetParam();
  token_fault f;
  f.what = c.kind;
  f.times = 1;
  f.retry_after = 7s;
  plan(f);
  auto r = call(good_request());
  EXPECT_EQ(r.status, c.status) << r.body;
  const auto o = json_body(r);
  EXPECT_EQ(str(o, "error"), c.error);
  EXPECT_FALSE(str(o, "error_description").empty());
  if (c.profile == profile_kind::microsoft) {
    EXPECT_EQ(o.at("error_codes"), boost::json::value(boost::json::array{c.code}));
    EXPECT_TRUE(str(o, "error_description").starts_with("AADSTS" + std::to_string(c.code) + ": "));
  } else {
    EXPECT_FALSE(o.contains("error_codes"));
  }
  if (c.kind == token_fault::kind::throttled) {
    EXPECT_EQ(header_of(r, "Retry-After"), "7");
  }

  auto out = oauth::evaluate_token_response(to_client(r), t0, app_scope);
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.diagnosis.klass, c.klass);
  if (c.kind == token_fault::kind::throttled) {
    EXPECT_EQ(out.error->retry_after, 7s);
  }

  // Spent: the next request is served.
  EXPECT_EQ(call(good_request()).status, 200);
  const auto counters = idp_->counters();
  const std::string name = c.kind == token_fault::kind::server_error ? "server_error"
                           : c.kind == token_fault::kind::throttled  ? "throttled"
                                                                     : "invalid_grant";
  EXPECT_EQ(counters.at("token_faults").at(name).as_uint64(), 1u);
}

INSTANTIATE_TEST_SUITE_P(AllProfiles, TokenFaults,
                         ::testing::Values(fault_case{profile_kind::microsoft, token_fault::kind::server_error, 500,
                                                      "server_error", 50000, core::failure_class::transient},
                                           fault_case{profile_kind::microsoft, token_fault::kind::throttled, 429,
                                                      "temporarily_unavailable", 90033, core::failure_class::transient},
                                           fault_case{profile_kind::microsoft, token_fault::kind::invalid_grant, 400,
                                                      "invalid_grant", 70000, core::failure_class::needs_human},
                                           fault_case{profile_kind::google, token_fault::kind::server_error, 500,
                                                      "internal_failure", 0, core::failure_class::transient},
                                           fault_case{profile_kind::google, token_fault::kind::throttled, 429,
                                                      "rate_limit_exceeded", 0, core::failure_class::transient},
                                           fault_case{profile_kind::google, token_fault::kind::invalid_grant, 400,
                                                      "invalid_grant", 0, core::failure_class::needs_human},
                                           fault_case{profile_kind::generic, token_fault::kind::server_error, 500,
                                                      "server_error", 0, core::failure_class::transient},
                                           fault_case{profile_kind::generic, token_fault::kind::throttled, 429,
                                                      "temporarily_unavailable", 0, core::failure_class::transient},
                                           fault_case{profile_kind::generic, token_fault::kind::invalid_grant, 400,
                                                      "invalid_grant", 0, core::failure_class::needs_human}),
                         [](const auto& info) {
                           const auto& c = info.param;
                           std::string n = std::string(to_string(c.profile)) + "_" + c.error;
                           for (auto& ch : n) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

class SlowTokenEndpoint : public idp_test {};

TEST_F(SlowTokenEndpoint, DelaysAndStillAnswers) {
  start(profile_kind::microsoft);
  fault_plan p;
  token_fault slow;
  slow.what = token_fault::kind::slow;
  slow.delay = 2500ms;
  slow.times = 2;
  p.token.push_back(slow);
  faults_.replace(std::move(p));
  auto req = oauth::client_credentials_request(ep_.token, secret_auth("app-secret"), app_scope, ctx());
  ASSERT_TRUE(req);
  for (int i = 0; i < 2; ++i) {
    auto r = call(*req);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.delay, 2500ms);
  }
  auto third = call(*req);
  EXPECT_EQ(third.status, 200);
  EXPECT_EQ(third.delay, 0ms);
  EXPECT_EQ(idp_->counters().at("token_faults").at("slow").as_uint64(), 2u);
  // A slow answer can also be an error answer.
  faults_.replace(fault_plan{{}, {slow}});
  auto bad = oauth::client_credentials_request(
      ep_.token, oauth::secret_client(cl("app-secret").client_id, core::secret<std::string>(std::string("no"))),
      app_scope, ctx());
  auto r = call(*bad);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.delay, 2500ms);
}

TEST_F(SlowTokenEndpoint, FaultsAreForTheTokenEndpointOnly) {
  start(profile_kind::generic);
  fault_plan p;
  token_fault f;
  f.what = token_fault::kind::server_error;  // every time
  p.token.push_back(f);
  faults_.replace(std::move(p));
  // Discovery, JWKS and device authorization are not the token endpoint.
  EXPECT_EQ(get("/.well-known/oauth-authorization-server").status, 200);
  EXPECT_EQ(get("/jwks").status, 200);
  EXPECT_EQ(post_form("/device/code", "client_id=" + cl("public").client_id + "&scope=smtp").status, 200);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(post_form("/token", "grant_type=client_credentials").status, 500);
  EXPECT_EQ(idp_->counters().at("token_faults").at("server_error").as_uint64(), 3u);
}

}  // namespace
}  // namespace oauthmail::sandbox::test
