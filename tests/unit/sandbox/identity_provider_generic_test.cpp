// The sandbox identity provider, profile generic: a plain RFC 6749 / 8628 / 7636 / 7009 / 7662 /
// 8414 server, driven by our own OAuth client in "any provider" mode (discovery, then grants).
#include <gtest/gtest.h>

#include "oauth/device_flow.hpp"
#include "oauth/pkce.hpp"
#include "oauth/presets.hpp"
#include "oauth/responses.hpp"
#include "sandbox/identity_provider.hpp"
#include "unit/sandbox/idp_support.hpp"

namespace oauthmail::sandbox::test {
namespace {

const std::vector<std::string> smtp = {"smtp"};

class Generic : public idp_test {
 protected:
  void SetUp() override { start(profile_kind::generic); }

  static void expect_rfc(const http_response& r, int status, std::string_view error) {
    EXPECT_EQ(r.status, status) << r.body;
    const auto o = json_body(r);
    EXPECT_EQ(str(o, "error"), error) << r.body;
    EXPECT_FALSE(str(o, "error_description").empty());
    EXPECT_FALSE(o.contains("error_codes"));
  }

  oauth::token_set device_tokens(const std::vector<std::string>& scopes = {"smtp", "offline_access"}) {
    auto req = oauth::device_authorization_request(ep_.device_authorization, cl("public").client_id, scopes);
    auto a = oauth::parse_device_authorization(to_client(call(*req)));
    EXPECT_TRUE(a);
    EXPECT_TRUE(idp_->approve_device(a->user_code, "sender@example.test", true, t0));
    auto p = oauth::device_token_request(ep_.token, oauth::public_client(cl("public").client_id), a->device_code,
                                         ctx(t0 + 5s));
    auto t = oauth::parse_token_response(to_client(call(*p, t0 + 5s)), t0 + 5s, scopes);
    EXPECT_TRUE(t);
    return std::move(*t);
  }
};

TEST_F(Generic, DiscoveryThroughOurClientsAnyProviderMode) {
  EXPECT_EQ(ep_.discovery, base_url + "/.well-known/oauth-authorization-server");
  auto req = oauth::discovery_request(ep_.issuer, oauth::discovery_document::oauth_authorization_server);
  ASSERT_TRUE(req);
  EXPECT_EQ(req->url, ep_.discovery);
  auto m = oauth::parse_discovery(to_client(call(*req)), ep_.issuer);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->token_endpoint, base_url + "/token");
  EXPECT_EQ(m->device_authorization_endpoint, base_url + "/device/code");
  EXPECT_EQ(m->authorization_endpoint, base_url + "/authorize");
  EXPECT_EQ(m->revocation_endpoint, base_url + "/revoke");
  EXPECT_EQ(m->jwks_uri, base_url + "/jwks");
  EXPECT_TRUE(std::count(m->token_endpoint_auth_methods_supported.begin(),
                         m->token_endpoint_auth_methods_supported.end(), "private_key_jwt"));

  oauth::provider_endpoints e;
  e.flow = config::flow_kind::device_code;
  e.needs_discovery = true;
  EXPECT_TRUE(oauth::apply_discovery(e, *m));
  EXPECT_EQ(e.device_authorization_endpoint, ep_.device_authorization);
  e.flow = config::flow_kind::authorization_code;
  EXPECT_TRUE(oauth::apply_discovery(e, *m));  // S256 is listed

  // The OpenID document does not exist here.
  EXPECT_FALSE(idp_->handle(
      to_sandbox(*oauth::discovery_request(ep_.issuer, oauth::discovery_document::openid_configuration)), t0));
}

TEST_F(Generic, ClientCredentialsBasicAndErrors) {
  auto req = oauth::client_credentials_request(
      ep_.token, secret_auth("app-secret", oauth::client_auth_method::client_secret_basic), smtp, ctx());
  auto r = call(*req);
  ASSERT_EQ(r.status, 200) << r.body;
  auto o = json_body(r);
  EXPECT_EQ(str(o, "scope"), "smtp");
  const auto v = validated(str(o, "access_token"));
  EXPECT_EQ(v.audiences, std::vector<std::string>{base_url});
  EXPECT_EQ(v.scopes, std::vector<std::string>{"smtp"});
  EXPECT_FALSE(v.user);

  auto wrong = oauth::client_credentials_request(
      ep_.token,
      oauth::secret_client(cl("app-secret").client_id, core::secret<std::string>(std::string("nope")),
                           oauth::client_auth_method::client_secret_basic),
      smtp, ctx());
  auto w = call(*wrong);
  expect_rfc(w, 401, "invalid_client");
  EXPECT_EQ(header_of(w, "WWW-Authenticate"), "Basic realm=\"oauthmail-sandbox\"");  // RFC 6749 §5.2

  auto pub = post_form("/token", "grant_type=client_credentials&client_id=" + cl("public").client_id);
  expect_rfc(pub, 400, "unauthorized_client");
  expect_rfc(post_form("/token", "grant_type=client_credentials&client_id=" + cl("app-secret").client_id +
                                     "&client_secret=x&scope=%22bad%22"),
             401, "invalid_client");
  auto bad_scope =
      oauth::client_credentials_request(ep_.token, secret_auth("app-secret"), std::vector<std::string>{"a\\b"}, ctx());
  expect_rfc(call(*bad_scope), 400, "invalid_scope");
  expect_rfc(post_form("/token", "grant_type=implicit"), 400, "unsupported_grant_type");
  expect_rfc(post_form("/token", "grant_type=refresh_token&refresh_token=a&refresh_token=b"), 400, "invalid_request");
  expect_rfc(get("/token"), 405, "invalid_request");

  // RFC 8707 resource chooses the audience.
  auto res = post_form("/token", "grant_type=client_credentials&client_id=" + cl("app-secret").client_id +
                                     "&client_secret=" + oauth::form_encode(cl("app-secret").secret) +
                                     "&resource=smtp%3A%2F%2Fsandbox");
  EXPECT_EQ(validated(str(json_body(res), "access_token")).audiences, std::vector<std::string>{"smtp://sandbox"});
}

TEST_F(Generic, PrivateKeyJwtWithoutThumbprintAndIssuerAudience) {
  auto r = call(*oauth::client_credentials_request(ep_.token, cert_auth(), smtp, ctx()));
  EXPECT_EQ(r.status, 200) << r.body;
  // A generic server finds the key without x5t, and RFC 7523 allows the issuer as audience.
  const auto t = std::chrono::duration_cast<std::chrono::seconds>(t0.time_since_epoch()).count();
  auto key = oauth::signing_key::from_pem(core::secret<std::string>(mat().private_key("app-cert")));
  ASSERT_TRUE(key);
  const boost::json::object claims{
      {"aud", ep_.issuer}, {"iss", cl("app-cert").client_id}, {"sub", cl("app-cert").client_id}, {"exp", t + 60}};
  auto jwt = oauth::sign_jwt({}, claims, *key, oauth::jwt_alg::rs256);
  ASSERT_TRUE(jwt);
  auto body =
      "grant_type=client_credentials&client_assertion_type=" + oauth::form_encode(oauth::assertion_type_jwt_bearer) +
      "&client_assertion=" + jwt->expose();
  EXPECT_EQ(post_form("/token", body).status, 200);  // client_id taken from the assertion (RFC 7521 §4.2)
  EXPECT_EQ(post_form("/token", body).status, 200);  // no jti: nothing to replay-check (optional outside Entra)
}

TEST_F(Generic, DeviceFlowWithSlowDownAndCompleteUri) {
  const std::vector<std::string> scopes = {"smtp", "offline_access"};
  auto req = oauth::device_authorization_request(ep_.device_authorization, cl("public").client_id, scopes);
  auto r = call(*req);
  ASSERT_EQ(r.status, 200);
  auto a = oauth::parse_device_authorization(to_client(r));
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->verification_uri_complete);
  EXPECT_EQ(*a->verification_uri_complete, ep_.device_page + "?user_code=" + oauth::form_encode(a->user_code));
  // The complete URI pre-fills the page.
  auto page = get(path_of(*a->verification_uri_complete) +
                  a->verification_uri_complete->substr(a->verification_uri_complete->find('?')));
  EXPECT_NE(page.body.find("value=\"" + a->user_code + "\""), std::string::npos);

  oauth::device_poller poller(*a, t0, scopes);
  const auto poll = [&](wall_clock::time_point now) {
    auto p =
        oauth::device_token_request(ep_.token, oauth::public_client(cl("public").client_id), a->device_code, ctx(now));
    auto resp = call(*p, now);
    poller.on_poll_response(to_client(resp), now);
    return resp;
  };
  expect_rfc(poll(t0 + 1s), 400, "slow_down");  // before the first interval
  EXPECT_EQ(poller.interval(), 10s);
  expect_rfc(poll(t0 + 11s), 400, "authorization_pending");
  ASSERT_TRUE(idp_->approve_device(a->user_code, "sender@example.test", true, t0 + 12s));
  auto done = poll(t0 + 21s);
  ASSERT_EQ(done.status, 200) << done.body;
  auto fin = poller.next(t0 + 21s);
  ASSERT_TRUE(std::holds_alternative<oauth::device_poller::done>(fin));
  const auto& t = std::get<oauth::device_poller::done>(fin).tokens;
  EXPECT_TRUE(t.refresh_token);
  EXPECT_EQ(validated(t.access_token.expose(), t0 + 21s).scopes, std::vector<std::string>{"smtp"});
}

TEST_F(Generic, DeviceDeniedIsAccessDenied) {
  auto req = oauth::device_authorization_request(ep_.device_authorization, cl("public").client_id,
                                                 std::vector<std::string>{"smtp"});
  auto a = oauth::parse_device_authorization(to_client(call(*req)));
  ASSERT_TRUE(a);
  ASSERT_TRUE(idp_->approve_device(a->user_code, "sender@example.test", false, t0));
  auto p = oauth::device_token_request(ep_.token, oauth::public_client(cl("public").client_id), a->device_code,
                                       ctx(t0 + 5s));
  expect_rfc(call(*p, t0 + 5s), 400, "access_denied");
}

TEST_F(Generic, RefreshRotation) {
  auto t = device_tokens();
  const std::string rt1 = t.refresh_token->expose();
  auto r = call(*oauth::refresh_token_request(ep_.token, oauth::public_client(cl("public").client_id),
                                              core::secret<std::string>(rt1), {}, ctx(t0 + 10s)),
                t0 + 10s);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string rt2 = str(json_body(r), "refresh_token");
  EXPECT_NE(rt2, rt1);
  auto old = call(*oauth::refresh_token_request(ep_.token, oauth::public_client(cl("public").client_id),
                                                core::secret<std::string>(rt1), {}, ctx(t0 + 11s)),
                  t0 + 11s);
  expect_rfc(old, 400, "invalid_grant");
  EXPECT_NE(str(json_body(old), "error_description").find("newest"), std::string::npos);
  // Narrowing the scope is allowed, widening is not.
  auto narrow = call(
      *oauth::refresh_token_request(ep_.token, oauth::public_client(cl("public").client_id),
                                    core::secret<std::string>(rt2), std::vector<std::string>{"smtp"}, ctx(t0 + 12s)),
      t0 + 12s);
  ASSERT_EQ(narrow.status, 200);
  auto wide = call(*oauth::refresh_token_request(ep_.token, oauth::public_client(cl("public").client_id),
                                                 core::secret<std::string>(str(json_body(narrow), "refresh_token")),
                                                 std::vector<std::string>{"admin"}, ctx(t0 + 13s)),
                   t0 + 13s);
  expect_rfc(wide, 400, "invalid_scope");
}

TEST_F(Generic, AuthorizationCodeWithConfidentialClientAndResource) {
  auto pkce = oauth::make_pkce(oauth::system_random());
  oauth::authorize_params p;
  p.authorization_endpoint = ep_.authorization;
  p.client_id = cl("app-secret").client_id;
  p.redirect_uri = "http://127.0.0.1:7000/callback";
  p.scopes = {"smtp"};
  p.state = "s1";
  p.code_challenge = pkce.challenge;
  p.extra = {{"resource", "smtp://sandbox"}};
  auto location = sign_in(*oauth::authorize_url(p), "shared%40example.test");
  auto code = oauth::parse_redirect(location, "s1");
  ASSERT_TRUE(code) << location;
  auto req = oauth::authorization_code_request(ep_.token, secret_auth("app-secret"), code->code, p.redirect_uri,
                                               pkce.verifier, ctx());
  auto r = call(*req);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto v = validated(str(json_body(r), "access_token"));
  EXPECT_EQ(v.user, "shared@example.test");
  EXPECT_EQ(v.audiences, std::vector<std::string>{"smtp://sandbox"});
  // Wrong client for the code.
  auto again = oauth::authorization_code_request(ep_.token, secret_auth("app-noperm"), code->code, p.redirect_uri,
                                                 pkce.verifier, ctx());
  expect_rfc(call(*again), 400, "invalid_grant");
}

TEST_F(Generic, RevocationRfc7009) {
  auto t = device_tokens();
  const auto pub = oauth::public_client(cl("public").client_id);
  // Unknown tokens: 200 all the same.
  auto unknown = oauth::revocation_request(ep_.revocation, pub, core::secret<std::string>(std::string("nothing")),
                                           "refresh_token", ctx());
  EXPECT_EQ(call(*unknown).status, 200);
  // Another client's token: refused.
  auto foreign =
      oauth::revocation_request(ep_.revocation, secret_auth("app-secret"), *t.refresh_token, "refresh_token", ctx());
  expect_rfc(call(*foreign), 400, "unauthorized_client");
  // The access token alone.
  auto at = oauth::revocation_request(ep_.revocation, pub, t.access_token, "access_token", ctx());
  EXPECT_EQ(call(*at, t0 + 6s).status, 200);
  EXPECT_EQ(tokens_->validate(t.access_token.expose(), t0 + 6s).problem, token_problem::revoked);
  auto still = call(*oauth::refresh_token_request(ep_.token, pub, *t.refresh_token, {}, ctx(t0 + 6s)), t0 + 6s);
  ASSERT_EQ(still.status, 200);  // the refresh token lives on here (not at Google)
  // The refresh token takes its access tokens with it.
  const std::string rt2 = str(json_body(still), "refresh_token");
  const std::string at2 = str(json_body(still), "access_token");
  auto rt = oauth::revocation_request(ep_.revocation, pub, core::secret<std::string>(rt2), "refresh_token", ctx());
  EXPECT_EQ(call(*rt, t0 + 7s).status, 200);
  EXPECT_EQ(tokens_->validate(at2, t0 + 8s).problem, token_problem::revoked);
  expect_rfc(
      call(*oauth::refresh_token_request(ep_.token, pub, core::secret<std::string>(rt2), {}, ctx(t0 + 8s)), t0 + 8s),
      400, "invalid_grant");
  // Client authentication is required for confidential clients.
  auto wrong = post_form("/revoke", "token=x&client_id=" + cl("app-secret").client_id + "&client_secret=bad");
  expect_rfc(wrong, 401, "invalid_client");
  expect_rfc(post_form("/revoke", "client_id=" + cl("public").client_id), 400, "invalid_request");
  expect_rfc(get("/revoke"), 405, "invalid_request");
}

TEST_F(Generic, IntrospectionOfAppTokenShowsRolesAndScope) {
  auto r = call(*oauth::client_credentials_request(ep_.token, secret_auth("app-secret"), smtp, ctx()));
  const std::string at = str(json_body(r), "access_token");
  auto i =
      post_form("/introspect", "token=" + at + "&token_type_hint=access_token&client_id=" + cl("app-noperm").client_id +
                                   "&client_secret=" + oauth::form_encode(cl("app-noperm").secret));
  auto o = json_body(i);
  EXPECT_EQ(o.at("active").as_bool(), true);
  EXPECT_EQ(str(o, "client_id"), cl("app-secret").client_id);
  EXPECT_EQ(str(o, "sub"), cl("app-secret").client_id);
  EXPECT_EQ(str(o, "scope"), "smtp");
  EXPECT_FALSE(o.contains("username"));
  // After expiry.
  auto late = post_form("/introspect",
                        "token=" + at + "&client_id=" + cl("app-noperm").client_id +
                            "&client_secret=" + oauth::form_encode(cl("app-noperm").secret),
                        t0 + 3599s);
  EXPECT_EQ(late.body, R"({"active":false})");
}

TEST_F(Generic, AuthorizationServerPathsOnly) {
  for (const char* path :
       {"/o/oauth2/v2/auth", "/oauth2/v3/certs", "/.well-known/openid-configuration", "/api/faults"}) {
    http_request r;
    r.method = "GET";
    r.target = path;
    EXPECT_FALSE(idp_->handle(r, t0)) << path;
  }
  EXPECT_EQ(get("/jwks").status, 200);
}

}  // namespace
}  // namespace oauthmail::sandbox::test
