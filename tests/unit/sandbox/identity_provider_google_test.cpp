// The sandbox identity provider, profile google: Google's endpoints and error bodies
// ({"error","error_description"} with Google's texts), the service-account JWT bearer grant with
// domain-wide delegation, the device flow's scope list, desktop clients' secrets, refresh tokens
// that do not rotate, and RFC 7009 revocation as Google does it; driven by our own OAuth client.
#include <gtest/gtest.h>

#include <regex>

#include "oauth/device_flow.hpp"
#include "oauth/pkce.hpp"
#include "oauth/presets.hpp"
#include "oauth/responses.hpp"
#include "sandbox/identity_provider.hpp"
#include "sandbox/pki.hpp"
#include "unit/sandbox/idp_support.hpp"

namespace oauthmail::sandbox::test {
namespace {

const std::vector<std::string> gmail = {"https://mail.google.com/"};

class Google : public idp_test {
 protected:
  void SetUp() override { start(profile_kind::google); }

  static void expect_google(const http_response& r, int status, std::string_view error, std::string_view description) {
    EXPECT_EQ(r.status, status) << r.body;
    const auto o = json_body(r);
    EXPECT_EQ(str(o, "error"), error) << r.body;
    EXPECT_EQ(str(o, "error_description"), description) << r.body;
    EXPECT_FALSE(o.contains("error_codes"));
    EXPECT_EQ(o.size(), 2u) << r.body;
  }

  oauth::service_account_key sa_key(std::string pem = {}) const {
    const auto& sa = cl("service-account");
    oauth::service_account_key k;
    k.client_email = sa.service_account_email;
    k.client_id = sa.client_id;
    k.private_key_id = sa.key_id;
    k.private_key_pem = core::secret<std::string>(pem.empty() ? mat().private_key("service-account") : pem);
    k.token_uri = ep_.token;
    return k;
  }
  http_response jwt_bearer(std::string_view subject, const std::vector<std::string>& scopes = gmail,
                           wall_clock::time_point signed_at = t0, wall_clock::time_point now = t0,
                           std::string pem = {}) {
    auto req = oauth::jwt_bearer_request(ep_.token, sa_key(std::move(pem)), subject, scopes, ctx(signed_at));
    EXPECT_TRUE(req) << (req ? "" : req.error().message());
    return call(*req, now);
  }

  oauth::client_auth desktop() const { return secret_auth("public"); }

  // Authorization code with PKCE for the desktop client; returns the token response.
  http_response code_flow(std::string_view mailbox = "sender%40example.test",
                          std::string redirect = "http://127.0.0.1:8765/") {
    auto pkce = oauth::make_pkce(oauth::system_random());
    oauth::authorize_params p;
    p.authorization_endpoint = ep_.authorization;
    p.client_id = cl("public").client_id;
    p.redirect_uri = redirect;
    p.scopes = gmail;
    p.state = "xyz";
    p.code_challenge = pkce.challenge;
    p.extra = {{"access_type", "offline"}, {"prompt", "consent"}};
    auto url = oauth::authorize_url(p);
    EXPECT_TRUE(url);
    auto location = sign_in(*url, mailbox);
    auto code = oauth::parse_redirect(location, "xyz");
    EXPECT_TRUE(code) << location;
    auto req = oauth::authorization_code_request(ep_.token, desktop(), code->code, redirect, pkce.verifier, ctx());
    EXPECT_TRUE(req);
    return call(*req);
  }
};

TEST_F(Google, EndpointsAndDiscovery) {
  EXPECT_EQ(ep_.issuer, base_url);
  EXPECT_EQ(ep_.token, base_url + "/token");
  EXPECT_EQ(ep_.device_authorization, base_url + "/device/code");
  EXPECT_EQ(ep_.authorization, base_url + "/o/oauth2/v2/auth");
  EXPECT_EQ(ep_.revocation, base_url + "/revoke");
  EXPECT_EQ(ep_.jwks, base_url + "/oauth2/v3/certs");
  EXPECT_EQ(ep_.discovery, base_url + "/.well-known/openid-configuration");

  auto req = oauth::discovery_request(ep_.issuer, oauth::discovery_document::openid_configuration);
  ASSERT_TRUE(req);
  auto r = call(*req);
  auto m = oauth::parse_discovery(to_client(r), ep_.issuer);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->revocation_endpoint, ep_.revocation);
  EXPECT_EQ(m->token_endpoint, ep_.token);
  EXPECT_FALSE(std::count(m->grant_types_supported.begin(), m->grant_types_supported.end(), "client_credentials"));
  EXPECT_TRUE(std::count(m->grant_types_supported.begin(), m->grant_types_supported.end(),
                         "urn:ietf:params:oauth:grant-type:jwt-bearer"));
  EXPECT_FALSE(std::count(m->token_endpoint_auth_methods_supported.begin(),
                          m->token_endpoint_auth_methods_supported.end(), "private_key_jwt"));
  // No RFC 8414 document at Google; no Microsoft paths.
  EXPECT_FALSE(idp_->handle(
      to_sandbox(*oauth::discovery_request(ep_.issuer, oauth::discovery_document::oauth_authorization_server)), t0));
  http_request ms;
  ms.method = "POST";
  ms.target = "/" + dir_.tenant_id + "/oauth2/v2.0/token";
  EXPECT_FALSE(idp_->handle(ms, t0));
  EXPECT_EQ(get("/oauth2/v3/certs").status, 200);
}

TEST_F(Google, NoClientCredentialsAtGoogle) {
  auto req = oauth::client_credentials_request(ep_.token, secret_auth("app-secret"), gmail, ctx());
  ASSERT_TRUE(req);
  expect_google(call(*req), 400, "unsupported_grant_type", "Invalid grant_type: client_credentials");
  expect_google(post_form("/token", "client_id=x"), 400, "unsupported_grant_type", "Invalid grant_type: ");
}

// ------------------------------------------------------------------ service account (JWT bearer)

TEST_F(Google, ServiceAccountWithDomainWideDelegation) {
  auto r = jwt_bearer("sender@example.test");
  ASSERT_EQ(r.status, 200) << r.body;
  auto o = json_body(r);
  EXPECT_FALSE(o.contains("refresh_token"));
  EXPECT_EQ(str(o, "token_type"), "Bearer");
  auto t = oauth::parse_token_response(to_client(r), t0, gmail);
  ASSERT_TRUE(t);
  const auto v = validated(t->access_token.expose());
  EXPECT_EQ(v.user, "sender@example.test");
  EXPECT_EQ(v.audiences, std::vector<std::string>{cl("service-account").client_id});
  EXPECT_EQ(v.scopes, gmail);
  // Without sub: a token for the service account itself.
  auto self = jwt_bearer("");
  ASSERT_EQ(self.status, 200);
  EXPECT_EQ(validated(str(json_body(self), "access_token")).user, cl("service-account").service_account_email);
}

TEST_F(Google, ServiceAccountErrorsAreGoogles) {
  auto other = make_self_signed("stranger");
  ASSERT_TRUE(other);
  expect_google(jwt_bearer("sender@example.test", gmail, t0, t0, other->private_key_pem), 400, "invalid_grant",
                "Invalid JWT Signature.");
  const std::string skew =
      "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and "
      "exp values and use a clock with skew to account for differences in time.";
  expect_google(jwt_bearer("sender@example.test", gmail, t0 - 2h, t0), 400, "invalid_grant", skew);  // expired
  expect_google(jwt_bearer("sender@example.test", gmail, t0 + 1h, t0), 400, "invalid_grant", skew);  // from the future
  expect_google(jwt_bearer("nobody@example.test"), 400, "invalid_grant", "Invalid email or User ID");
  expect_google(jwt_bearer("sender@example.test", {"https://www.googleapis.com/auth/nothing"}), 400, "invalid_scope",
                "Invalid OAuth scope or ID token audience provided.");
  for (auto& c : dir_.clients) {
    if (c.name == "service-account") c.domain_wide_delegation = false;
  }
  auto r = jwt_bearer("sender@example.test");
  expect_google(
      r, 401, "unauthorized_client",
      "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of "
      "the scopes requested.");
  auto out = oauth::evaluate_token_response(to_client(r), t0, gmail);
  EXPECT_EQ(out.diagnosis.klass, core::failure_class::needs_human);
}

TEST_F(Google, ServiceAccountAssertionClaims) {
  const auto& sa = cl("service-account");
  auto key = oauth::signing_key::from_pem(core::secret<std::string>(mat().private_key("service-account")));
  ASSERT_TRUE(key);
  const auto t = std::chrono::duration_cast<std::chrono::seconds>(t0.time_since_epoch()).count();
  const auto send = [&](boost::json::object header, boost::json::object claims) {
    auto jwt = oauth::sign_jwt(header, claims, *key, oauth::jwt_alg::rs256);
    EXPECT_TRUE(jwt);
    return post_form("/token",
                     "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + jwt->expose());
  };
  boost::json::object claims{{"iss", sa.service_account_email},
                             {"scope", "https://mail.google.com/"},
                             {"aud", ep_.token},
                             {"iat", t},
                             {"exp", t + 3600},
                             {"sub", "sender@example.test"}};
  EXPECT_EQ(send({{"kid", sa.key_id}}, claims).status, 200);
  // Longer than an hour.
  auto c = claims;
  c["exp"] = t + 3601;
  EXPECT_EQ(str(json_body(send({}, c)), "error"), "invalid_grant");
  // Wrong audience.
  c = claims;
  c["aud"] = "https://oauth2.googleapis.com/token";
  expect_google(send({}, c), 400, "invalid_grant",
                "Invalid JWT: Failed audience check. The right audience is " + ep_.token);
  // Unknown issuer.
  c = claims;
  c["iss"] = "nobody@nowhere.iam.gserviceaccount.com";
  expect_google(send({}, c), 400, "invalid_grant", "Invalid grant: account not found");
  // A key id that is not the account's.
  expect_google(send({{"kid", "0123"}}, claims), 400, "invalid_grant", "Invalid JWT Signature.");
  // Not a JWT, and no assertion.
  expect_google(post_form("/token", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=x"),
                400, "invalid_grant", "Invalid JWT Signature.");
  expect_google(post_form("/token", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"), 400,
                "invalid_request", "Missing required parameter: assertion");
}

// ------------------------------------------------------------------ client authentication

TEST_F(Google, ClientErrors) {
  auto unknown = oauth::refresh_token_request(
      ep_.token,
      oauth::secret_client("123-abc.apps.googleusercontent.com", core::secret<std::string>(std::string("s"))),
      core::secret<std::string>(std::string("1//0x")), {}, ctx());
  expect_google(call(*unknown), 401, "invalid_client", "The OAuth client was not found.");
  auto wrong = oauth::refresh_token_request(
      ep_.token, oauth::secret_client(cl("public").client_id, core::secret<std::string>(std::string("GOCSPX-wrong"))),
      core::secret<std::string>(std::string("1//0x")), {}, ctx());
  expect_google(call(*wrong), 401, "invalid_client", "Unauthorized");
  auto no_secret = oauth::refresh_token_request(ep_.token, oauth::public_client(cl("public").client_id),
                                                core::secret<std::string>(std::string("1//0x")), {}, ctx());
  expect_google(call(*no_secret), 400, "invalid_request", "client_secret is missing.");
  expect_google(post_form("/token", "grant_type=refresh_token&refresh_token=x"), 400, "invalid_request",
                "Could not determine client ID from request.");
}

// ------------------------------------------------------------------ authorization code, refresh

TEST_F(Google, DesktopClientCodeFlowAndRefreshWithoutRotation) {
  auto r = code_flow();
  ASSERT_EQ(r.status, 200) << r.body;
  auto o = json_body(r);
  EXPECT_EQ(str(o, "scope"), "https://mail.google.com/");
  const std::string rt = str(o, "refresh_token");
  ASSERT_TRUE(rt.starts_with("1//0")) << rt;
  const auto v = validated(str(o, "access_token"));
  EXPECT_EQ(v.audiences, std::vector<std::string>{cl("public").client_id});
  EXPECT_EQ(v.user, "sender@example.test");

  // Google refreshes without a new refresh token; the old one keeps working.
  for (int i = 1; i <= 2; ++i) {
    auto req = oauth::refresh_token_request(ep_.token, desktop(), core::secret<std::string>(rt), {}, ctx(t0 + i * 1h));
    auto rr = call(*req, t0 + i * 1h);
    ASSERT_EQ(rr.status, 200) << rr.body;
    auto t = oauth::parse_token_response(to_client(rr), t0 + i * 1h, gmail);
    ASSERT_TRUE(t);
    EXPECT_FALSE(t->refresh_token);
  }
  // A scope beyond the grant.
  auto more =
      oauth::refresh_token_request(ep_.token, desktop(), core::secret<std::string>(rt),
                                   std::vector<std::string>{"https://www.googleapis.com/auth/gmail.send"}, ctx());
  expect_google(call(*more), 400, "invalid_scope", "Bad Request");

  // Password change: "Token has been expired or revoked."
  idp_->revoke_user_sessions("sender@example.test");
  auto req = oauth::refresh_token_request(ep_.token, desktop(), core::secret<std::string>(rt), {}, ctx());
  expect_google(call(*req), 400, "invalid_grant", "Token has been expired or revoked.");
}

TEST_F(Google, RefreshTokenExpiry) {
  idp_settings s;
  s.refresh_token_lifetime = 7 * 24h;  // "Testing" consent screens: 7 days
  start(profile_kind::google, s);
  const std::string rt = str(json_body(code_flow()), "refresh_token");
  auto req = oauth::refresh_token_request(ep_.token, desktop(), core::secret<std::string>(rt), {}, ctx());
  expect_google(call(*req, t0 + 7 * 24h), 400, "invalid_grant", "Token has been expired or revoked.");
  auto garbage =
      oauth::refresh_token_request(ep_.token, desktop(), core::secret<std::string>(std::string("1//0nope")), {}, ctx());
  expect_google(call(*garbage), 400, "invalid_grant", "Bad Request");
}

TEST_F(Google, CodeErrors) {
  auto req = oauth::authorization_code_request(ep_.token, desktop(), core::secret<std::string>(std::string("4/0Abad")),
                                               "http://127.0.0.1:8765/",
                                               core::secret<std::string>(std::string(43, 'a')), ctx());
  expect_google(call(*req), 400, "invalid_grant", "Malformed auth code.");
}

TEST_F(Google, LoopbackRedirectsIncludingIpv6) {
  EXPECT_EQ(code_flow("sender%40example.test", "http://[::1]:9000/cb").status, 200);
  EXPECT_EQ(code_flow("sender%40example.test", "http://localhost:9000/").status, 200);
  auto bad = get("/o/oauth2/v2/auth?response_type=code&client_id=" + cl("public").client_id +
                 "&redirect_uri=https%3A%2F%2Fexample.com%2Fcb&scope=openid");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("redirect_uri_mismatch"), std::string::npos);
  auto scope = get("/o/oauth2/v2/auth?response_type=code&client_id=" + cl("public").client_id +
                   "&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2F&state=s&code_challenge=" +
                   oauth::s256_challenge(std::string(43, 'v')) + "&code_challenge_method=S256&scope=" +
                   oauth::form_encode("https://mail.google.com/ https://www.googleapis.com/auth/bogus"));
  ASSERT_EQ(scope.status, 302);
  const std::string loc = header_of(scope, "Location");
  EXPECT_NE(loc.find("error=invalid_scope"), std::string::npos) << loc;
  EXPECT_NE(loc.find("state=s"), std::string::npos);
}

// ------------------------------------------------------------------ device flow

TEST_F(Google, DeviceFlowRefusesGmailScopes) {
  auto req = oauth::device_authorization_request(ep_.device_authorization, cl("public").client_id, gmail);
  ASSERT_TRUE(req);
  expect_google(call(*req), 400, "invalid_scope", "Invalid device flow scope: https://mail.google.com/");
  auto unknown = oauth::device_authorization_request(ep_.device_authorization, "nobody", gmail);
  expect_google(call(*unknown), 401, "invalid_client", "The OAuth client was not found.");
}

TEST_F(Google, DeviceFlowWithAllowedScopesPendingSlowDownApproved) {
  const std::vector<std::string> scopes = {"openid", "email"};
  auto req = oauth::device_authorization_request(ep_.device_authorization, cl("public").client_id, scopes);
  auto r = call(*req);
  ASSERT_EQ(r.status, 200) << r.body;
  auto o = json_body(r);
  EXPECT_EQ(str(o, "verification_url"), ep_.device_page);  // Google's name
  EXPECT_FALSE(o.contains("verification_uri"));
  EXPECT_FALSE(o.contains("message"));
  EXPECT_TRUE(std::regex_match(str(o, "user_code"), std::regex("[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}")));
  auto a = oauth::parse_device_authorization(to_client(r));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->verification_uri, ep_.device_page);

  oauth::device_poller poller(*a, t0, scopes);
  const auto poll = [&](wall_clock::time_point now) {
    auto p = oauth::device_token_request(ep_.token, desktop(), a->device_code, ctx(now));  // Google wants the secret
    return call(*p, now);
  };
  auto pending = poll(t0 + 5s);
  expect_google(pending, 428, "authorization_pending", "Precondition Required");
  poller.on_poll_response(to_client(pending), t0 + 5s);
  EXPECT_EQ(std::get<oauth::device_poller::wait_until>(poller.next(t0 + 5s)).when, t0 + 10s);

  auto slow = poll(t0 + 7s);
  expect_google(slow, 403, "slow_down", "Forbidden");
  poller.on_poll_response(to_client(slow), t0 + 7s);
  EXPECT_EQ(poller.interval(), 10s);
  // Now the interval is 10 s: 9 s later is too fast again (15 s from then on), 15 s later is fine.
  expect_google(poll(t0 + 16s), 403, "slow_down", "Forbidden");
  expect_google(poll(t0 + 31s), 428, "authorization_pending", "Precondition Required");

  ASSERT_TRUE(idp_->approve_device(a->user_code, "sender@example.test", true, t0 + 32s));
  auto done = poll(t0 + 46s);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_FALSE(str(json_body(done), "refresh_token").empty());
  // Without the secret.
  auto nosecret = oauth::device_token_request(ep_.token, oauth::public_client(cl("public").client_id), a->device_code,
                                              ctx(t0 + 60s));
  expect_google(call(*nosecret, t0 + 60s), 400, "invalid_request", "client_secret is missing.");
}

TEST_F(Google, DeviceFlowDeniedAndExpired) {
  const std::vector<std::string> scopes = {"email"};
  auto start_one = [&] {
    auto req = oauth::device_authorization_request(ep_.device_authorization, cl("public").client_id, scopes);
    auto a = oauth::parse_device_authorization(to_client(call(*req)));
    EXPECT_TRUE(a);
    return std::move(*a);
  };
  auto a = start_one();
  ASSERT_TRUE(idp_->approve_device(a.user_code, "", false, t0));
  auto p = oauth::device_token_request(ep_.token, desktop(), a.device_code, ctx(t0 + 5s));
  expect_google(call(*p, t0 + 5s), 403, "access_denied", "Forbidden");
  auto b = start_one();
  auto q = oauth::device_token_request(ep_.token, desktop(), b.device_code, ctx(t0 + 900s));
  expect_google(call(*q, t0 + 900s), 400, "expired_token", "Expired");
  auto fake = oauth::device_token_request(ep_.token, desktop(), core::secret<std::string>(std::string("AH-1Ngnope")),
                                          ctx(t0 + 5s));
  expect_google(call(*fake, t0 + 5s), 400, "invalid_grant", "Malformed auth code.");
}

// ------------------------------------------------------------------ revocation

TEST_F(Google, RevokeRefreshTokenThenItIsDead) {
  auto o = json_body(code_flow());
  const std::string rt = str(o, "refresh_token");
  const std::string at = str(o, "access_token");
  // Google needs no client authentication for revocation.
  auto req = oauth::revocation_request(ep_.revocation, oauth::public_client(cl("public").client_id),
                                       core::secret<std::string>(rt), "refresh_token", ctx());
  ASSERT_TRUE(req);
  auto r = call(*req);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(tokens_->validate(at, t0).problem, token_problem::revoked);  // its access tokens too
  auto refresh = oauth::refresh_token_request(ep_.token, desktop(), core::secret<std::string>(rt), {}, ctx());
  expect_google(call(*refresh), 400, "invalid_grant", "Token has been expired or revoked.");
  // Revoking it again, or anything unknown.
  expect_google(call(*req), 400, "invalid_token", "Token expired or revoked");
}

TEST_F(Google, RevokingTheAccessTokenRevokesTheGrantAndTheQueryFormWorks) {
  auto o = json_body(code_flow());
  const std::string rt = str(o, "refresh_token");
  http_request r;
  r.method = "POST";
  r.target = "/revoke?token=" + oauth::form_encode(str(o, "access_token"));
  EXPECT_EQ(call(r).status, 200);
  auto refresh = oauth::refresh_token_request(ep_.token, desktop(), core::secret<std::string>(rt), {}, ctx());
  expect_google(call(*refresh), 400, "invalid_grant", "Token has been expired or revoked.");
}

}  // namespace
}  // namespace oauthmail::sandbox::test
