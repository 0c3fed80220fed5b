// The sandbox identity provider, profile microsoft (and what all profiles share): every grant's
// success and each AADSTS error in Entra's exact shape, driven by oauthmail's own OAuth client code
// (src/oauth request builders, response parsers, device poller, discovery parser) with the bytes
// handed over in memory, and explicit `now` values.
#include "sandbox/identity_provider.hpp"

#include <gtest/gtest.h>

#include <regex>

#include "oauth/device_flow.hpp"
#include "oauth/pkce.hpp"
#include "oauth/presets.hpp"
#include "oauth/responses.hpp"
#include "sandbox/pki.hpp"
#include "unit/sandbox/idp_support.hpp"

namespace oauthmail::sandbox::test {
namespace {

const std::vector<std::string> app_scope = {"https://outlook.office365.com/.default"};
const std::vector<std::string> smtp_scopes = {"https://outlook.office.com/SMTP.Send", "offline_access"};

class Microsoft : public idp_test {
 protected:
  void SetUp() override { start(profile_kind::microsoft); }

  // The error body must be exactly Entra's shape (providers.md §1.7).
  static void expect_aadsts(const http_response& r, int status, std::string_view error, long code,
                            std::string_view description_start, wall_clock::time_point now = t0) {
    EXPECT_EQ(r.status, status) << r.body;
    const auto o = json_body(r);
    EXPECT_EQ(str(o, "error"), error) << r.body;
    const std::string d = str(o, "error_description");
    const std::string prefix = "AADSTS" + std::to_string(code) + ": " + std::string(description_start);
    EXPECT_EQ(d.substr(0, prefix.size()), prefix) << d;
    const std::regex trailer(
        ".*\\r\\nTrace ID: ([0-9a-f-]{36})\\r\\nCorrelation ID: ([0-9a-f-]{36})\\r\\nTimestamp: "
        "(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ)$");
    std::smatch m;
    ASSERT_TRUE(std::regex_match(d, m, trailer)) << d;
    ASSERT_TRUE(o.contains("error_codes"));
    EXPECT_EQ(o.at("error_codes"), boost::json::value(boost::json::array{code}));
    EXPECT_EQ(str(o, "trace_id"), m[1].str());
    EXPECT_EQ(str(o, "correlation_id"), m[2].str());
    EXPECT_EQ(str(o, "timestamp"), m[3].str());
    const std::time_t tt = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char ts[32];
    std::strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%SZ", &tm);
    EXPECT_EQ(str(o, "timestamp"), ts);
    EXPECT_EQ(str(o, "error_uri"), "https://login.microsoftonline.com/error?code=" + std::to_string(code));
    EXPECT_EQ(header_of(r, "Cache-Control"), "no-store");
  }

  http_response client_credentials(const oauth::client_auth& auth, const std::vector<std::string>& scopes = app_scope,
                                   wall_clock::time_point now = t0, std::string token_endpoint = {}) {
    auto req =
        oauth::client_credentials_request(token_endpoint.empty() ? ep_.token : token_endpoint, auth, scopes, ctx(now));
    EXPECT_TRUE(req) << (req ? "" : req.error().message());
    return call(*req, now);
  }

  // Starts a device authorization for the public client and returns it parsed by our client.
  oauth::device_authorization start_device(const std::vector<std::string>& scopes = smtp_scopes) {
    auto req = oauth::device_authorization_request(ep_.device_authorization, cl("public").client_id, scopes);
    EXPECT_TRUE(req);
    auto resp = call(*req);
    EXPECT_EQ(resp.status, 200) << resp.body;
    auto auth = oauth::parse_device_authorization(to_client(resp));
    EXPECT_TRUE(auth) << (auth ? "" : auth.error().message());
    return std::move(*auth);
  }
  http_response poll(const oauth::device_authorization& a, wall_clock::time_point now) {
    auto req =
        oauth::device_token_request(ep_.token, oauth::public_client(cl("public").client_id), a.device_code, ctx(now));
    EXPECT_TRUE(req);
    return call(*req, now);
  }

  // Delegated tokens (SMTP.Send, offline_access) for sender@ through the device flow.
  oauth::token_set delegated_tokens(const std::vector<std::string>& scopes = smtp_scopes) {
    auto a = start_device(scopes);
    EXPECT_TRUE(idp_->approve_device(a.user_code, "sender@contoso.test", true, t0 + 1s));
    auto r = poll(a, t0 + 5s);
    auto t = oauth::parse_token_response(to_client(r), t0 + 5s, scopes);
    EXPECT_TRUE(t) << r.body;
    return std::move(*t);
  }

  http_response refresh(const std::string& refresh_token, const std::vector<std::string>& scopes,
                        wall_clock::time_point now) {
    auto req = oauth::refresh_token_request(ep_.token, oauth::public_client(cl("public").client_id),
                                            core::secret<std::string>(refresh_token), scopes, ctx(now));
    EXPECT_TRUE(req);
    return call(*req, now);
  }

  // A client assertion for app-cert with chosen header and claims, signed with `key_pem`.
  std::string assertion(boost::json::object header, boost::json::object claims, const std::string& key_pem,
                        oauth::jwt_alg alg = oauth::jwt_alg::rs256) {
    auto key = oauth::signing_key::from_pem(core::secret<std::string>(key_pem));
    EXPECT_TRUE(key);
    auto jwt = oauth::sign_jwt(header, claims, *key, alg);
    EXPECT_TRUE(jwt);
    return jwt->expose();
  }
  boost::json::object good_claims(wall_clock::time_point now = t0) const {
    const auto t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    return {{"aud", ep_.token},
            {"iss", cl("app-cert").client_id},
            {"sub", cl("app-cert").client_id},
            {"jti", oauth::random_uuid(oauth::system_random())},
            {"nbf", t},
            {"iat", t},
            {"exp", t + 300}};
  }
  boost::json::object good_header() const {
    auto info = oauth::read_certificate(cl("app-cert").certificate_pem);
    EXPECT_TRUE(info);
    return {{"x5t", info->x5t}, {"x5t#S256", info->x5t_s256}};
  }
  http_response post_assertion(const std::string& jwt, wall_clock::time_point now = t0) {
    return post_form(path_of(ep_.token),
                     "grant_type=client_credentials&client_id=" + cl("app-cert").client_id +
                         "&scope=https%3A%2F%2Foutlook.office365.com%2F.default&client_assertion_type=" +
                         oauth::form_encode(oauth::assertion_type_jwt_bearer) + "&client_assertion=" + jwt,
                     now);
  }
};

// ------------------------------------------------------------------ endpoints, discovery, keys

TEST_F(Microsoft, EndpointsCarryTheTenant) {
  const std::string t = base_url + "/" + dir_.tenant_id;
  EXPECT_EQ(ep_.issuer, t + "/v2.0");
  EXPECT_EQ(ep_.discovery, t + "/v2.0/.well-known/openid-configuration");
  EXPECT_EQ(ep_.token, t + "/oauth2/v2.0/token");
  EXPECT_EQ(ep_.device_authorization, t + "/oauth2/v2.0/devicecode");
  EXPECT_EQ(ep_.authorization, t + "/oauth2/v2.0/authorize");
  EXPECT_EQ(ep_.jwks, t + "/discovery/v2.0/keys");
  EXPECT_EQ(ep_.revocation, "");
  EXPECT_EQ(ep_.introspection, base_url + "/introspect");
  EXPECT_EQ(ep_.device_page, base_url + "/device");
  EXPECT_EQ(tokens_->issuer(), ep_.issuer);
}

TEST_F(Microsoft, DiscoveryParsesWithOurClientAndListsExactlyTheEndpoints) {
  auto req = oauth::discovery_request(ep_.issuer, oauth::discovery_document::openid_configuration);
  ASSERT_TRUE(req);
  EXPECT_EQ(req->url, ep_.discovery);
  auto resp = call(*req);
  ASSERT_EQ(resp.status, 200);
  auto m = oauth::parse_discovery(to_client(resp), ep_.issuer);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->token_endpoint, ep_.token);
  EXPECT_EQ(m->device_authorization_endpoint, ep_.device_authorization);
  EXPECT_EQ(m->authorization_endpoint, ep_.authorization);
  EXPECT_EQ(m->jwks_uri, ep_.jwks);
  EXPECT_EQ(m->revocation_endpoint, "");  // Entra has none
  EXPECT_EQ(m->code_challenge_methods_supported, std::vector<std::string>{"S256"});
  EXPECT_TRUE(std::count(m->grant_types_supported.begin(), m->grant_types_supported.end(), "client_credentials"));
  EXPECT_EQ(str(json_body(resp), "introspection_endpoint"), ep_.introspection);
  EXPECT_FALSE(json_body(resp).contains("userinfo_endpoint"));  // not served, so not listed

  // RFC 8414's document does not exist at Microsoft: our client falls back to OpenID's.
  auto rfc8414 = oauth::discovery_request(ep_.issuer, oauth::discovery_document::oauth_authorization_server);
  ASSERT_TRUE(rfc8414);
  EXPECT_FALSE(idp_->handle(to_sandbox(*rfc8414), t0));

  // Every endpoint it lists answers.
  for (const auto& url :
       {m->token_endpoint, m->device_authorization_endpoint, m->authorization_endpoint, m->jwks_uri}) {
    http_request r;
    r.method = "GET";
    r.target = path_of(url);
    EXPECT_TRUE(idp_->handle(r, t0)) << url;
  }
}

TEST_F(Microsoft, OrganizationsDiscoveryHasTheTemplateIssuerAndTenantPaths) {
  auto r = get("/organizations/v2.0/.well-known/openid-configuration");
  ASSERT_EQ(r.status, 200);
  auto o = json_body(r);
  EXPECT_EQ(str(o, "issuer"), base_url + "/{tenantid}/v2.0");
  EXPECT_EQ(str(o, "token_endpoint"), base_url + "/organizations/oauth2/v2.0/token");
  // The domain works as the tenant too.
  auto byname = get("/contoso.test/v2.0/.well-known/openid-configuration");
  EXPECT_EQ(str(json_body(byname), "issuer"), ep_.issuer);
}

TEST_F(Microsoft, JwksHasTheSigningKey) {
  auto r = get(path_of(ep_.jwks));
  ASSERT_EQ(r.status, 200);
  auto o = json_body(r);
  ASSERT_TRUE(o.contains("keys"));
  const auto& key = o.at("keys").as_array().at(0).as_object();
  EXPECT_EQ(str(key, "kid"), tokens_->key_id());
  EXPECT_EQ(str(key, "kty"), "RSA");
  auto post = post_form(path_of(ep_.jwks), "");
  EXPECT_EQ(post.status, 405);
}

TEST_F(Microsoft, UnknownTenantIsAADSTS90002AndOtherPathsAreNotOurs) {
  auto r = post_form("/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token", "grant_type=client_credentials");
  expect_aadsts(r, 400, "invalid_request", 90002, "Tenant '11111111-2222-3333-4444-555555555555' not found.");
  http_request other;
  other.method = "GET";
  other.target = "/api/messages";
  EXPECT_FALSE(idp_->handle(other, t0));
  other.target = "/token";  // the generic path is not Microsoft's
  EXPECT_FALSE(idp_->handle(other, t0));
  other.target = "/revoke";
  EXPECT_FALSE(idp_->handle(other, t0));
}

// ------------------------------------------------------------------ client credentials

TEST_F(Microsoft, ClientCredentialsWithSecretGivesAnAppOnlyExchangeToken) {
  auto r = client_credentials(secret_auth("app-secret"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto o = json_body(r);
  EXPECT_EQ(str(o, "token_type"), "Bearer");
  EXPECT_EQ(o.at("expires_in").as_int64(), 3599);
  EXPECT_TRUE(o.contains("ext_expires_in"));
  EXPECT_FALSE(o.contains("refresh_token"));  // RFC 6749 §4.4.3
  EXPECT_FALSE(o.contains("scope"));
  EXPECT_EQ(header_of(r, "Cache-Control"), "no-store");
  EXPECT_EQ(header_of(r, "Pragma"), "no-cache");

  auto t = oauth::parse_token_response(to_client(r), t0, app_scope);
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->expires_at, t0 + 3599s);
  const auto v = validated(t->access_token.expose());
  EXPECT_EQ(v.client_id, cl("app-secret").client_id);
  EXPECT_FALSE(v.user);
  EXPECT_EQ(v.audiences, std::vector<std::string>{"https://outlook.office365.com"});
  EXPECT_EQ(v.roles, std::vector<std::string>{"SMTP.SendAsApp"});
  EXPECT_TRUE(v.scopes.empty());
}

TEST_F(Microsoft, ClientSecretBasicWithFormEncodedSecret) {
  // The secret has '~' and '.', and Basic needs each half form-encoded (RFC 6749 §2.3.1).
  auto r = client_credentials(secret_auth("app-secret", oauth::client_auth_method::client_secret_basic));
  ASSERT_EQ(r.status, 200) << r.body;
  // Not form-encoded before base64: still accepted when no special characters are affected; a
  // secret with '+' would differ, which the decoder handles as RFC 6749 Appendix B says.
  const std::string pair = cl("app-secret").client_id + ":" + cl("app-secret").secret;
  auto raw = post_form(path_of(ep_.token),
                       "grant_type=client_credentials&scope=https%3A%2F%2Foutlook.office365.com%2F.default", t0,
                       {{std::string("authorization"), "Basic " + core::base64_encode(pair)}});
  EXPECT_EQ(raw.status, 200) << raw.body;
}

TEST_F(Microsoft, WrongSecretIsAADSTS7000215AndOurClientExplainsIt) {
  auto auth =
      oauth::secret_client(cl("app-secret").client_id, core::secret<std::string>(std::string("wrong-secret-value")));
  auto r = client_credentials(auth);
  expect_aadsts(r, 401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent");
  EXPECT_EQ(r.body.find("wrong-secret-value"), std::string::npos);  // never echoed
  EXPECT_EQ(r.body.find(cl("app-secret").secret), std::string::npos);
  auto out = oauth::evaluate_token_response(to_client(r), t0, app_scope);
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.error->error_codes, std::vector<long>{7000215});
  EXPECT_EQ(out.diagnosis.klass, core::failure_class::needs_human);
  EXPECT_FALSE(out.error->correlation_id.empty());
}

TEST_F(Microsoft, CorrelationIdEchoesClientRequestId) {
  const std::string id = "0f6b5cb4-7f3a-4b6e-9a51-2c7d13b0e9aa";
  auto r =
      post_form(path_of(ep_.token), "grant_type=client_credentials&client_id=nobody", t0, {{"client-request-id", id}});
  EXPECT_EQ(str(json_body(r), "correlation_id"), id);
}

TEST_F(Microsoft, UnknownClientIsAADSTS700016) {
  auto auth = oauth::secret_client("00000000-1111-2222-3333-444444444444", core::secret<std::string>(std::string("x")));
  expect_aadsts(client_credentials(auth), 400, "unauthorized_client", 700016,
                "Application with identifier '00000000-1111-2222-3333-444444444444' was not found in the directory "
                "'contoso.test'.");
}

TEST_F(Microsoft, ClientCredentialsScopeRules) {
  // Not /.default
  expect_aadsts(client_credentials(secret_auth("app-secret"), {"https://outlook.office.com/SMTP.Send"}), 400,
                "invalid_scope", 1002012,
                "The provided value for scope https://outlook.office.com/SMTP.Send is not valid. Client credential "
                "flows must have a scope value with /.default suffixed");
  // Two resources
  expect_aadsts(client_credentials(secret_auth("app-secret"),
                                   {"https://outlook.office365.com/.default", "https://graph.microsoft.com/.default"}),
                400, "invalid_scope", 28000,
                "Provided value for the input parameter scope is not valid because it contains more than one "
                "resource.");
  // Unknown resource
  expect_aadsts(client_credentials(secret_auth("app-secret"), {"https://example.contoso.com/.default"}), 400,
                "invalid_resource", 500011, "The resource principal named https://example.contoso.com was not found");
  // No scope at all
  expect_aadsts(client_credentials(secret_auth("app-secret"), {}), 400, "invalid_request", 900144,
                "The request body must contain the following parameter: 'scope'.");
  // Graph: a token SMTP will refuse (wrong audience), no SMTP role.
  auto g = client_credentials(secret_auth("app-secret"), {"https://graph.microsoft.com/.default"});
  ASSERT_EQ(g.status, 200);
  const auto v = validated(str(json_body(g), "access_token"));
  EXPECT_EQ(v.audiences, std::vector<std::string>{"https://graph.microsoft.com"});
  EXPECT_TRUE(v.roles.empty());
}

TEST_F(Microsoft, WithoutServicePrincipalTheTokenHasNoRole) {
  for (auto& c : dir_.clients) {
    if (c.name == "app-noperm") c.service_principal = false;
  }
  auto r = client_credentials(secret_auth("app-noperm"));
  ASSERT_EQ(r.status, 200) << r.body;
  const auto v = validated(str(json_body(r), "access_token"));
  EXPECT_EQ(v.audiences, std::vector<std::string>{"https://outlook.office365.com"});
  EXPECT_TRUE(v.roles.empty());
  // app-noperm with its service principal: the role is there (its missing mailbox permission is
  // the SMTP server's business).
  for (auto& c : dir_.clients) {
    if (c.name == "app-noperm") c.service_principal = true;
  }
  auto r2 = client_credentials(secret_auth("app-noperm"));
  EXPECT_EQ(validated(str(json_body(r2), "access_token")).roles, std::vector<std::string>{"SMTP.SendAsApp"});
}

TEST_F(Microsoft, PublicAndConfidentialClientCredentialRules) {
  // A public client presenting a secret.
  auto pub = oauth::secret_client(cl("public").client_id, core::secret<std::string>(std::string("s")));
  expect_aadsts(client_credentials(pub), 401, "invalid_client", 700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.");
  // A confidential client presenting nothing (the device flow with an app not marked public).
  auto a = start_device();
  ASSERT_TRUE(idp_->approve_device(a.user_code, "sender@contoso.test", true, t0));
  auto req = oauth::device_token_request(ep_.token, oauth::public_client(cl("app-secret").client_id), a.device_code,
                                         ctx(t0 + 5s));
  ASSERT_TRUE(req);
  expect_aadsts(call(*req, t0 + 5s), 401, "invalid_client", 7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                t0 + 5s);
  // A public client cannot use client credentials at all.
  auto r = post_form(path_of(ep_.token), "grant_type=client_credentials&client_id=" + cl("public").client_id +
                                             "&scope=https%3A%2F%2Foutlook.office365.com%2F.default");
  expect_aadsts(r, 401, "invalid_client", 7000218, "The request body must contain");
  // Both Basic and a body secret.
  auto both = post_form(
      path_of(ep_.token),
      "grant_type=client_credentials&client_secret=x&scope=https%3A%2F%2Foutlook.office365.com%2F."
      "default",
      t0, {{std::string("authorization"), "Basic " + core::base64_encode(cl("app-secret").client_id + ":x")}});
  expect_aadsts(both, 400, "invalid_request", 9002313, "Invalid request. Request is malformed or invalid.");
}

TEST_F(Microsoft, AppOnlyNeedsTheTenantAndCommonIsRefused) {
  const std::string orgs = base_url + "/organizations/oauth2/v2.0/token";
  expect_aadsts(client_credentials(secret_auth("app-secret"), app_scope, t0, orgs), 400, "invalid_request", 50059,
                "No tenant-identifying information found");
  const std::string common = base_url + "/common/oauth2/v2.0/token";
  expect_aadsts(client_credentials(secret_auth("app-secret"), app_scope, t0, common), 400, "invalid_request", 50194,
                "Application '" + cl("app-secret").client_id + "'(app-secret) is not configured as a multi-tenant");
  // The domain name works like the tenant id.
  auto r = client_credentials(secret_auth("app-secret"), app_scope, t0, base_url + "/contoso.test/oauth2/v2.0/token");
  EXPECT_EQ(r.status, 200) << r.body;
}

// ------------------------------------------------------------------ private_key_jwt

TEST_F(Microsoft, CertificateClientWithRs256AndPs256) {
  for (const auto alg : {oauth::jwt_alg::rs256, oauth::jwt_alg::ps256}) {
    auto r = client_credentials(cert_auth(t0, alg));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(validated(str(json_body(r), "access_token")).client_id, cl("app-cert").client_id);
  }
  // Only x5t#S256 (Microsoft's current documentation).
  auto h = good_header();
  h.erase("x5t");
  EXPECT_EQ(post_assertion(assertion(h, good_claims(), mat().private_key("app-cert"), oauth::jwt_alg::ps256)).status,
            200);
}

TEST_F(Microsoft, AssertionErrors) {
  const std::string key = mat().private_key("app-cert");
  // No thumbprint in the header.
  expect_aadsts(post_assertion(assertion({}, good_claims(), key)), 401, "invalid_client", 50027,
                "Invalid JWT token. No certificate thumbprint specified in token header.");
  // A thumbprint of another certificate.
  auto other = make_self_signed("someone else");
  ASSERT_TRUE(other);
  auto oi = oauth::read_certificate(other->certificate_pem);
  ASSERT_TRUE(oi);
  expect_aadsts(post_assertion(assertion({{"x5t", oi->x5t}}, good_claims(), other->private_key_pem)), 401,
                "invalid_client", 700027,
                "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key "
                "used by client: '");
  // The right thumbprint, signed with another key.
  expect_aadsts(post_assertion(assertion(good_header(), good_claims(), other->private_key_pem)), 401, "invalid_client",
                700027, "Client assertion contains an invalid signature. [Reason - Key was found, but use of the key");
  // Wrong audience.
  auto c = good_claims();
  c["aud"] = "https://login.microsoftonline.com/x/oauth2/v2.0/token";
  expect_aadsts(post_assertion(assertion(good_header(), c, key)), 401, "invalid_client", 50012,
                "Client assertion audience claim does not match Realm issuer.");
  // iss/sub not the client.
  c = good_claims();
  c["iss"] = cl("app-secret").client_id;
  expect_aadsts(post_assertion(assertion(good_header(), c, key)), 401, "invalid_client", 700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.");
  // Expired, and valid for more than an hour.
  expect_aadsts(post_assertion(assertion(good_header(), good_claims(), key), t0 + 301s), 401, "invalid_client", 700024,
                "Client assertion is not within its valid time range. Current time: 2027-01-15T08:05:01.0000000Z, "
                "assertion valid from 2027-01-15T08:00:00.0000000Z, expiry time of assertion "
                "2027-01-15T08:05:00.0000000Z.",
                t0 + 301s);
  c = good_claims();
  c["exp"] = c["iat"].as_int64() + 7200;
  expect_aadsts(post_assertion(assertion(good_header(), c, key)), 401, "invalid_client", 700024,
                "Client assertion is not within its valid time range.");
  // Not valid yet (beyond the clock skew).
  c = good_claims(t0 + 600s);
  c["exp"] = c["nbf"].as_int64() + 300;
  expect_aadsts(post_assertion(assertion(good_header(), c, key)), 401, "invalid_client", 700024,
                "Client assertion is not within its valid time range.");
  // Not a JWT.
  expect_aadsts(post_assertion("not.a-jwt"), 401, "invalid_client", 50027, "JWT token is invalid or malformed.");
  // alg none is refused.
  const std::string none =
      core::base64url_encode(R"({"alg":"none","x5t":")" + std::string(good_header().at("x5t").as_string()) + R"("})") +
      "." + core::base64url_encode(boost::json::serialize(good_claims())) + ".";
  expect_aadsts(post_assertion(none), 401, "invalid_client", 700027, "Client assertion contains an invalid signature.");
}

TEST_F(Microsoft, AssertionJtiIsGoodForOneRequest) {
  const std::string jwt = assertion(good_header(), good_claims(), mat().private_key("app-cert"));
  EXPECT_EQ(post_assertion(jwt).status, 200);
  expect_aadsts(post_assertion(jwt, t0 + 1s), 401, "invalid_client", 50013, "Assertion is invalid", t0 + 1s);
}

TEST_F(Microsoft, AssertionAudienceMayBeTheDomainPathWhenPostedThere) {
  auto c = good_claims();
  c["aud"] = base_url + "/contoso.test/oauth2/v2.0/token";
  auto r = post_form("/contoso.test/oauth2/v2.0/token",
                     "grant_type=client_credentials&client_id=" + cl("app-cert").client_id +
                         "&scope=https%3A%2F%2Foutlook.office365.com%2F.default&client_assertion_type=" +
                         oauth::form_encode(oauth::assertion_type_jwt_bearer) +
                         "&client_assertion=" + assertion(good_header(), c, mat().private_key("app-cert")));
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(Microsoft, SecretClientPresentingAnAssertionHasNoKey) {
  auto c = good_claims();
  c["iss"] = c["sub"] = cl("app-secret").client_id;
  auto r = post_form(path_of(ep_.token),
                     "grant_type=client_credentials&client_id=" + cl("app-secret").client_id +
                         "&scope=https%3A%2F%2Foutlook.office365.com%2F.default&client_assertion_type=" +
                         oauth::form_encode(oauth::assertion_type_jwt_bearer) +
                         "&client_assertion=" + assertion(good_header(), c, mat().private_key("app-cert")));
  expect_aadsts(r, 401, "invalid_client", 700027,
                "Client assertion contains an invalid signature. [Reason - The key was not found.");
  // And the certificate client sending a secret has no secret.
  auto wrong = oauth::secret_client(cl("app-cert").client_id, core::secret<std::string>(std::string("guess")));
  expect_aadsts(client_credentials(wrong), 401, "invalid_client", 7000215, "Invalid client secret provided.");
}

// ------------------------------------------------------------------ request parsing

TEST_F(Microsoft, TokenEndpointRequestErrors) {
  const std::string path = path_of(ep_.token);
  expect_aadsts(get(path), 400, "invalid_request", 900561,
                "The endpoint only accepts POST, OPTIONS requests. Received a GET request.");
  http_request json_req;
  json_req.method = "POST";
  json_req.target = path;
  json_req.headers["content-type"] = "application/json";
  json_req.body = R"({"grant_type":"client_credentials"})";
  expect_aadsts(call(json_req), 400, "invalid_request", 9002313, "Invalid request. Request is malformed or invalid.");
  expect_aadsts(post_form(path, "grant_type=client_credentials&grant_type=refresh_token"), 400, "invalid_request",
                9002313, "Invalid request.");
  expect_aadsts(post_form(path, "grant_type=%ZZ"), 400, "invalid_request", 9002313, "Invalid request.");
  expect_aadsts(post_form(path, "client_id=x"), 400, "invalid_request", 900144,
                "The request body must contain the following parameter: 'grant_type'.");
  expect_aadsts(post_form(path, "grant_type=password&username=a&password=b"), 400, "unsupported_grant_type", 70003,
                "The app requested an unsupported grant type 'password'.");
  expect_aadsts(post_form(path, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=x"), 400,
                "unsupported_grant_type", 70003, "The app requested an unsupported grant type");
  expect_aadsts(post_form(path, "grant_type=client_credentials"), 400, "invalid_request", 900144,
                "The request body must contain the following parameter: 'client_id'.");
  expect_aadsts(post_form(path, std::string(70 * 1024, 'a')), 400, "invalid_request", 9002313, "Invalid request.");
  // Charset parameter on the content type is fine.
  auto ok = post_form(path,
                      "grant_type=client_credentials&client_id=" + cl("app-secret").client_id +
                          "&client_secret=" + oauth::form_encode(cl("app-secret").secret) +
                          "&scope=https%3A%2F%2Foutlook.office365.com%2F.default",
                      t0, {{"content-type", "application/x-www-form-urlencoded; charset=UTF-8"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
}

// ------------------------------------------------------------------ device code

TEST_F(Microsoft, DeviceAuthorizationResponseIsMicrosofts) {
  auto req = oauth::device_authorization_request(ep_.device_authorization, cl("public").client_id, smtp_scopes);
  ASSERT_TRUE(req);
  auto r = call(*req);
  ASSERT_EQ(r.status, 200) << r.body;
  auto o = json_body(r);
  for (const char* k : {"device_code", "user_code", "verification_uri", "expires_in", "interval", "message"}) {
    EXPECT_TRUE(o.contains(k)) << k;
  }
  EXPECT_FALSE(o.contains("verification_uri_complete"));
  EXPECT_FALSE(o.contains("verification_url"));
  EXPECT_EQ(str(o, "verification_uri"), ep_.device_page);
  EXPECT_EQ(o.at("expires_in").as_int64(), 900);
  EXPECT_EQ(o.at("interval").as_int64(), 5);
  EXPECT_TRUE(std::regex_match(str(o, "user_code"), std::regex("[A-Z2-9]{9}")));
  EXPECT_EQ(str(o, "message"), "To sign in, use a web browser to open the page " + ep_.device_page +
                                   " and enter the code " + str(o, "user_code") + " to authenticate.");
  auto parsed = oauth::parse_device_authorization(to_client(r));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->instructions(), str(o, "message"));
}

TEST_F(Microsoft, DeviceAuthorizationErrors) {
  auto unknown = oauth::device_authorization_request(ep_.device_authorization, "nobody", smtp_scopes);
  expect_aadsts(call(*unknown), 400, "unauthorized_client", 700016, "Application with identifier 'nobody'");
  auto bad_scope =
      oauth::device_authorization_request(ep_.device_authorization, cl("public").client_id,
                                          std::vector<std::string>{"https://example.contoso.com/activity.read"});
  expect_aadsts(call(*bad_scope), 400, "invalid_scope", 70011,
                "The provided value for the input parameter 'scope' isn't valid. The scope "
                "https://example.contoso.com/activity.read isn't valid.");
  auto parsed = oauth::parse_device_authorization(to_client(call(*bad_scope)));
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().classification(), core::failure_class::needs_human);
  auto common = post_form("/common/oauth2/v2.0/devicecode", "client_id=" + cl("public").client_id + "&scope=openid");
  expect_aadsts(common, 400, "invalid_request", 50194, "Application '");
  // /organizations is fine for delegated flows.
  auto orgs = post_form("/organizations/oauth2/v2.0/devicecode",
                        "client_id=" + cl("public").client_id + "&scope=https%3A%2F%2Foutlook.office.com%2FSMTP.Send");
  EXPECT_EQ(orgs.status, 200) << orgs.body;
}

TEST_F(Microsoft, DeviceFlowPendingThenApprovedWithOurPoller) {
  auto a = start_device();
  oauth::device_poller poller(a, t0, smtp_scopes);
  // Polling before the approval: authorization_pending (AADSTS70016), our poller waits.
  auto pending = poll(a, t0 + 5s);
  expect_aadsts(pending, 400, "authorization_pending", 70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.", t0 + 5s);
  poller.on_poll_response(to_client(pending), t0 + 5s);
  auto next = poller.next(t0 + 5s);
  ASSERT_TRUE(std::holds_alternative<oauth::device_poller::wait_until>(next));
  EXPECT_EQ(std::get<oauth::device_poller::wait_until>(next).when, t0 + 10s);
  // Polling too fast: Entra has no slow_down, it stays pending.
  expect_aadsts(poll(a, t0 + 6s), 400, "authorization_pending", 70016, "OAuth 2.0 device flow error.", t0 + 6s);

  ASSERT_TRUE(idp_->approve_device(a.user_code, "Sender@Contoso.test", true, t0 + 8s));
  auto done = poll(a, t0 + 10s);
  ASSERT_EQ(done.status, 200) << done.body;
  poller.on_poll_response(to_client(done), t0 + 10s);
  auto fin = poller.next(t0 + 10s);
  ASSERT_TRUE(std::holds_alternative<oauth::device_poller::done>(fin));
  const auto& tokens = std::get<oauth::device_poller::done>(fin).tokens;
  ASSERT_TRUE(tokens.refresh_token);  // offline_access was asked for
  EXPECT_EQ(tokens.scopes, std::vector<std::string>{"https://outlook.office.com/SMTP.Send"});
  const auto v = validated(tokens.access_token.expose(), t0 + 10s);
  EXPECT_EQ(v.audiences, std::vector<std::string>{"https://outlook.office.com"});
  EXPECT_EQ(v.scopes, std::vector<std::string>{"SMTP.Send"});
  EXPECT_EQ(v.user, "sender@contoso.test");
  EXPECT_EQ(v.client_id, cl("public").client_id);

  // The device code is spent.
  auto again = poll(a, t0 + 15s);
  expect_aadsts(again, 400, "invalid_grant", 70000, "Provided grant is invalid or malformed.", t0 + 15s);
}

TEST_F(Microsoft, DeviceFlowWithoutOfflineAccessHasNoRefreshToken) {
  auto t = delegated_tokens({"https://outlook.office.com/SMTP.Send"});
  EXPECT_FALSE(t.refresh_token);
}

TEST_F(Microsoft, DeviceFlowDeclinedExpiredAndUnknown) {
  auto a = start_device();
  ASSERT_TRUE(idp_->approve_device(a.user_code, "", false, t0 + 1s));
  auto declined = poll(a, t0 + 5s);
  expect_aadsts(declined, 400, "authorization_declined", 65004, "User declined to consent to access the app.", t0 + 5s);
  oauth::device_poller p1(a, t0, smtp_scopes);
  p1.on_poll_response(to_client(declined), t0 + 5s);
  EXPECT_TRUE(std::holds_alternative<oauth::device_poller::failed>(p1.next(t0 + 5s)));

  auto b = start_device();
  auto expired = poll(b, t0 + 900s);
  expect_aadsts(expired, 400, "expired_token", 70019, "Verification code expired.", t0 + 900s);
  EXPECT_FALSE(idp_->approve_device(b.user_code, "sender@contoso.test", true, t0 + 901s));

  oauth::device_authorization fake = b;
  fake.device_code = core::secret<std::string>(std::string("DAQABIQEAAADnotacode"));
  expect_aadsts(poll(fake, t0 + 5s), 400, "bad_verification_code", 70018, "Invalid verification code.", t0 + 5s);
}

TEST_F(Microsoft, ApproveDeviceErrors) {
  auto a = start_device();
  auto unknown = idp_->approve_device("ZZZZZZZZZ", "sender@contoso.test", true, t0);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("not known"), std::string::npos);
  auto nobody = idp_->approve_device(a.user_code, "nobody@contoso.test", true, t0);
  ASSERT_FALSE(nobody);
  EXPECT_NE(nobody.error().message().find("no mailbox"), std::string::npos);
  // Lower case and separators are forgiven, as people type them.
  std::string typed = a.user_code.substr(0, 4) + "-" + a.user_code.substr(4);
  for (auto& c : typed) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_TRUE(idp_->approve_device(typed, "sender@contoso.test", true, t0));
  auto twice = idp_->approve_device(a.user_code, "sender@contoso.test", true, t0);
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message().find("already"), std::string::npos);
}

TEST_F(Microsoft, DeviceApprovalPage) {
  auto a = start_device();
  auto page = get("/device?user_code=" + a.user_code);
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("value=\"" + a.user_code + "\""), std::string::npos);
  for (const auto& m : dir_.mailboxes) EXPECT_NE(page.body.find("value=\"" + m.address + "\""), std::string::npos);
  EXPECT_NE(page.body.find("value=\"approve\""), std::string::npos);
  EXPECT_NE(page.body.find("value=\"decline\""), std::string::npos);

  // Script in the code is escaped.
  auto xss = get("/device?user_code=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E");
  EXPECT_EQ(xss.body.find("<script>"), std::string::npos);
  EXPECT_NE(xss.body.find("&lt;script&gt;"), std::string::npos);

  auto wrong = post_form("/device", "user_code=NOPE&mailbox=sender%40contoso.test&action=approve");
  EXPECT_EQ(wrong.status, 400);
  EXPECT_NE(wrong.body.find("not known"), std::string::npos);
  auto no_action = post_form("/device", "user_code=" + a.user_code + "&mailbox=sender%40contoso.test");
  EXPECT_EQ(no_action.status, 400);

  auto ok = post_form("/device", "user_code=" + a.user_code + "&mailbox=sender%40contoso.test&action=approve");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(ok.body.find("signed in to public as sender@contoso.test"), std::string::npos);
  EXPECT_EQ(poll(a, t0 + 5s).status, 200);

  auto b = start_device();
  auto deny = post_form("/device", "user_code=" + b.user_code + "&mailbox=sender%40contoso.test&action=decline");
  EXPECT_EQ(deny.status, 200);
  EXPECT_EQ(str(json_body(poll(b, t0 + 5s)), "error"), "authorization_declined");
}

// ------------------------------------------------------------------ refresh tokens

TEST_F(Microsoft, RefreshRotatesAndTheOldTokenDies) {
  auto first = delegated_tokens();
  ASSERT_TRUE(first.refresh_token);
  const std::string rt1 = first.refresh_token->expose();
  EXPECT_TRUE(rt1.starts_with("0.A"));
  auto r = refresh(rt1, {"https://outlook.office.com/SMTP.Send", "offline_access"}, t0 + 60s);
  ASSERT_EQ(r.status, 200) << r.body;
  auto second = oauth::parse_token_response(to_client(r), t0 + 60s, smtp_scopes);
  ASSERT_TRUE(second);
  ASSERT_TRUE(second->refresh_token);
  EXPECT_NE(second->refresh_token->expose(), rt1);
  EXPECT_EQ(validated(second->access_token.expose(), t0 + 60s).user, "sender@contoso.test");

  expect_aadsts(refresh(rt1, smtp_scopes, t0 + 61s), 400, "invalid_grant", 70000,
                "Provided grant is invalid or malformed.", t0 + 61s);
  // The newest one works.
  EXPECT_EQ(refresh(second->refresh_token->expose(), smtp_scopes, t0 + 62s).status, 200);
  // Garbage.
  expect_aadsts(refresh("0.Anot-a-token", smtp_scopes, t0), 400, "invalid_grant", 9002313,
                "Invalid request. Request is malformed or invalid.");
}

TEST_F(Microsoft, RefreshOneResourceAtATime) {
  // Consent spanning two resources (allowed at sign-in): the first token is for the first one,
  // the refresh token mints the other.
  auto t = delegated_tokens(
      {"https://outlook.office.com/SMTP.Send", "https://graph.microsoft.com/Mail.Send", "offline_access"});
  EXPECT_EQ(validated(t.access_token.expose(), t0 + 5s).audiences,
            std::vector<std::string>{"https://outlook.office.com"});
  auto g = refresh(t.refresh_token->expose(), {"https://graph.microsoft.com/Mail.Send"}, t0 + 10s);
  ASSERT_EQ(g.status, 200) << g.body;
  auto go = json_body(g);
  EXPECT_EQ(validated(str(go, "access_token"), t0 + 10s).audiences,
            std::vector<std::string>{"https://graph.microsoft.com"});
  EXPECT_EQ(str(go, "scope"), "https://graph.microsoft.com/Mail.Send");
  // Both resources at once.
  expect_aadsts(refresh(str(go, "refresh_token"),
                        {"https://outlook.office.com/SMTP.Send", "https://graph.microsoft.com/Mail.Send"}, t0 + 11s),
                400, "invalid_scope", 28000, "Provided value for the input parameter scope is not valid", t0 + 11s);
}

TEST_F(Microsoft, RefreshForScopesNotConsentedIsAADSTS65001) {
  auto t = delegated_tokens();
  expect_aadsts(refresh(t.refresh_token->expose(), {"https://graph.microsoft.com/Mail.Read"}, t0 + 10s), 400,
                "invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '",
                t0 + 10s);
}

TEST_F(Microsoft, BareScopeIsAGraphScope) {
  // The classic trap: "SMTP.Send" without the Outlook prefix is Microsoft Graph's.
  auto t = delegated_tokens({"SMTP.Send", "offline_access"});
  const auto v = validated(t.access_token.expose(), t0 + 5s);
  EXPECT_EQ(v.audiences, std::vector<std::string>{"https://graph.microsoft.com"});
  EXPECT_EQ(v.scopes, std::vector<std::string>{"SMTP.Send"});
}

TEST_F(Microsoft, DefaultScopeExpandsToTheConsentedPermissions) {
  auto t = delegated_tokens({"https://outlook.office.com/.default", "offline_access"});
  const auto v = validated(t.access_token.expose(), t0 + 5s);
  EXPECT_TRUE(std::count(v.scopes.begin(), v.scopes.end(), "SMTP.Send"));
  auto mixed = oauth::device_authorization_request(
      ep_.device_authorization, cl("public").client_id,
      std::vector<std::string>{"https://outlook.office.com/.default", "https://outlook.office.com/SMTP.Send"});
  expect_aadsts(call(*mixed), 400, "invalid_scope", 70011,
                "The provided value for the input parameter 'scope' isn't valid. The scope "
                "https://outlook.office.com/.default https://outlook.office.com/SMTP.Send isn't valid.");
}

TEST_F(Microsoft, RefreshTokenExpiresAndSessionsCanBeRevoked) {
  idp_settings s;
  s.refresh_token_lifetime = 3600s;
  start(profile_kind::microsoft, s);
  auto t = delegated_tokens();
  expect_aadsts(refresh(t.refresh_token->expose(), smtp_scopes, t0 + 5s + 3600s), 400, "invalid_grant", 700082,
                "The refresh token has expired due to inactivity. The token was issued on 2027-01-15T08:00:05.0000000Z "
                "and was inactive for 0.01:00:00.",
                t0 + 5s + 3600s);

  auto u = delegated_tokens();
  idp_->revoke_user_sessions("SENDER@contoso.test");
  auto revoked = refresh(u.refresh_token->expose(), smtp_scopes, t0 + 10s);
  expect_aadsts(revoked, 400, "invalid_grant", 50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is needed.", t0 + 10s);
  auto out = oauth::evaluate_token_response(to_client(revoked), t0 + 10s, smtp_scopes);
  EXPECT_EQ(out.diagnosis.klass, core::failure_class::needs_human);
}

TEST_F(Microsoft, RefreshTokenOfAnotherClient) {
  auto t = delegated_tokens();
  auto req = oauth::refresh_token_request(ep_.token, secret_auth("app-secret"), *t.refresh_token, smtp_scopes, ctx());
  ASSERT_TRUE(req);
  expect_aadsts(call(*req), 400, "invalid_grant", 70000, "Provided grant is invalid or malformed.");
}

// ------------------------------------------------------------------ authorization code + PKCE

class MicrosoftAuthCode : public Microsoft {
 protected:
  std::string redirect = "http://localhost:53682/";
  oauth::pkce_pair pkce = oauth::make_pkce(oauth::system_random());
  std::string state = "st-123";

  std::string url(std::vector<std::string> scopes = smtp_scopes, std::string client = {}) {
    oauth::authorize_params p;
    p.authorization_endpoint = ep_.authorization;
    p.client_id = client.empty() ? cl("public").client_id : client;
    p.redirect_uri = redirect;
    p.scopes = std::move(scopes);
    p.state = state;
    p.code_challenge = pkce.challenge;
    p.login_hint = "sender@contoso.test";
    auto u = oauth::authorize_url(p);
    EXPECT_TRUE(u);
    return *u;
  }
  http_response redeem(const std::string& code, wall_clock::time_point now = t0,
                       const core::secret<std::string>* verifier = nullptr) {
    auto req = oauth::authorization_code_request(ep_.token, oauth::public_client(cl("public").client_id),
                                                 core::secret<std::string>(code), redirect,
                                                 verifier != nullptr ? *verifier : pkce.verifier, ctx(now));
    EXPECT_TRUE(req);
    return call(*req, now);
  }
  std::string code_from(const std::string& location) {
    auto r = oauth::parse_redirect(location, state);
    EXPECT_TRUE(r) << location;
    return r ? r->code.expose() : std::string();
  }
};

TEST_F(MicrosoftAuthCode, LoginPageThenTokens) {
  auto page = get(path_of(url()) + url().substr(url().find('?')));
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("https://outlook.office.com/SMTP.Send"), std::string::npos);
  EXPECT_NE(page.body.find("value=\"sender@contoso.test\" selected"), std::string::npos);  // login_hint
  EXPECT_NE(page.body.find("action=\"/login\""), std::string::npos);

  const std::string location = sign_in(url(), "sender%40contoso.test");
  EXPECT_TRUE(location.starts_with(redirect + "?code=")) << location;
  auto r = redeem(code_from(location));
  ASSERT_EQ(r.status, 200) << r.body;
  auto t = oauth::parse_token_response(to_client(r), t0, smtp_scopes);
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->refresh_token);
  const auto v = validated(t->access_token.expose());
  EXPECT_EQ(v.user, "sender@contoso.test");
  EXPECT_EQ(v.audiences, std::vector<std::string>{"https://outlook.office.com"});
}

TEST_F(MicrosoftAuthCode, Rfc7636AppendixBVector) {
  const std::vector<unsigned char> octets = {116, 24,  223, 180, 151, 153, 224, 37,  79,  250, 96,
                                             125, 216, 173, 187, 186, 22,  212, 37,  77,  105, 214,
                                             191, 240, 91,  88,  5,   88,  83,  132, 141, 121};
  pkce = oauth::pkce_from_octets(octets);
  ASSERT_EQ(pkce.verifier.expose(), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  ASSERT_EQ(pkce.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  const std::string code = code_from(sign_in(url(), "sender%40contoso.test"));
  EXPECT_EQ(redeem(code).status, 200);

  // A different verifier for the same challenge fails.
  const std::string code2 = code_from(sign_in(url(), "sender%40contoso.test"));
  const core::secret<std::string> wrong(std::string("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"));
  expect_aadsts(redeem(code2, t0, &wrong), 400, "invalid_grant", 501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.");
}

TEST_F(MicrosoftAuthCode, CodeIsGoodOnceAndReplayRevokesTheGrant) {
  const std::string code = code_from(sign_in(url(), "sender%40contoso.test"));
  auto first = redeem(code);
  ASSERT_EQ(first.status, 200);
  const std::string rt = str(json_body(first), "refresh_token");
  const std::string at = str(json_body(first), "access_token");
  expect_aadsts(redeem(code, t0 + 1s), 400, "invalid_grant", 54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing "
                "refresh token.",
                t0 + 1s);
  EXPECT_EQ(refresh(rt, smtp_scopes, t0 + 2s).status, 400);  // what the code gave is revoked
  EXPECT_EQ(tokens_->validate(at, t0 + 2s).problem, token_problem::revoked);
}

TEST_F(MicrosoftAuthCode, CodeExpiresAndMustComeBackWithTheSameRedirect) {
  const std::string code = code_from(sign_in(url(), "sender%40contoso.test"));
  expect_aadsts(redeem(code, t0 + 600s), 400, "invalid_grant", 70008,
                "The provided authorization code or refresh token has expired due to inactivity.", t0 + 600s);
  const std::string code2 = code_from(sign_in(url(), "sender%40contoso.test"));
  auto req =
      oauth::authorization_code_request(ep_.token, oauth::public_client(cl("public").client_id),
                                        core::secret<std::string>(code2), "http://localhost:1/", pkce.verifier, ctx());
  expect_aadsts(call(*req), 400, "invalid_grant", 70000, "Provided grant is invalid or malformed.");
}

TEST_F(MicrosoftAuthCode, CancelRedirectsWithAccessDenied) {
  const std::string location = sign_in(url(), "sender%40contoso.test", "cancel");
  EXPECT_NE(location.find("error=access_denied"), std::string::npos);
  EXPECT_NE(location.find("state=st-123"), std::string::npos);
  auto r = oauth::parse_redirect(location, state);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("access_denied"), std::string::npos);
}

TEST_F(MicrosoftAuthCode, RedirectUriMustBeLoopbackHttp) {
  for (const std::string bad : {"https://evil.example/cb", "http://evil.example/cb", "http://[::1]:5000/",
                                "http://user@127.0.0.1:5000/", "http://127.0.0.1:5000/#x", "not a uri"}) {
    redirect = bad;
    auto u = url();
    auto r = get(path_of(u) + u.substr(u.find('?')));
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_TRUE(header_of(r, "Location").empty()) << bad;  // never redirected to an unchecked URI
    EXPECT_NE(r.body.find("AADSTS50011"), std::string::npos) << bad;
  }
  for (const std::string good : {"http://127.0.0.1:1234/cb", "http://localhost:65000/", "http://127.0.0.1/"}) {
    redirect = good;
    EXPECT_EQ(get(path_of(url()) + url().substr(url().find('?'))).status, 200) << good;
  }
}

TEST_F(MicrosoftAuthCode, AuthorizeRequestErrors) {
  // PKCE "plain" and a public client without PKCE.
  auto u = url();
  auto plain = get(path_of(u) + u.substr(u.find('?')) + "&code_challenge_method=plain");
  // the last code_challenge_method wins: plain
  EXPECT_EQ(plain.status, 302);
  EXPECT_NE(header_of(plain, "Location").find("error=invalid_request"), std::string::npos);
  auto no_pkce = get(path_of(ep_.authorization) + "?response_type=code&client_id=" + cl("public").client_id +
                     "&redirect_uri=" + oauth::form_encode(redirect) + "&scope=openid&state=s");
  EXPECT_NE(header_of(no_pkce, "Location").find("error=invalid_request"), std::string::npos);
  // Unknown client: a page, no redirect.
  auto unknown = get(path_of(ep_.authorization) +
                     "?response_type=code&client_id=nobody&redirect_uri=" + oauth::form_encode(redirect));
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("AADSTS700016"), std::string::npos);
  // Bad scope: redirected back with invalid_scope.
  auto bad = get(path_of(url({"https://outlook.office.com/Nope"})) +
                 url({"https://outlook.office.com/Nope"}).substr(url().find('?')));
  EXPECT_NE(header_of(bad, "Location").find("error=invalid_scope"), std::string::npos);
  // response_type token
  auto token = get(path_of(ep_.authorization) + "?response_type=token&client_id=" + cl("public").client_id +
                   "&redirect_uri=" + oauth::form_encode(redirect) + "&state=s");
  EXPECT_NE(header_of(token, "Location").find("error=unsupported_response_type"), std::string::npos);
  // The login form with an unknown request id.
  auto stale = post_form("/login", "request=nope&mailbox=sender%40contoso.test&action=accept");
  EXPECT_EQ(stale.status, 400);
  EXPECT_EQ(get("/login").status, 405);
}

TEST_F(MicrosoftAuthCode, LoginRequestExpires) {
  auto u = url();
  auto page = get(path_of(u) + u.substr(u.find('?')));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(page.body, m, std::regex("name=\"request\" value=\"([^\"]+)\"")));
  auto late = post_form("/login", "request=" + m[1].str() + "&mailbox=sender%40contoso.test&action=accept", t0 + 601s);
  EXPECT_EQ(late.status, 400);
}

TEST_F(MicrosoftAuthCode, ConfidentialClientWithoutPkceButNotWithAStrayVerifier) {
  redirect = "http://127.0.0.1:8400/";
  const auto web = cl("app-secret");
  auto page = get(path_of(ep_.authorization) + "?response_type=code&client_id=" + web.client_id +
                  "&redirect_uri=" + oauth::form_encode(redirect) + "&scope=" +
                  oauth::form_encode("https://outlook.office.com/SMTP.Send offline_access") + "&state=" + state);
  ASSERT_EQ(page.status, 200) << page.body;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(page.body, m, std::regex("name=\"request\" value=\"([^\"]+)\"")));
  auto done = post_form("/login", "request=" + m[1].str() + "&mailbox=sender%40contoso.test&action=accept");
  const std::string code = code_from(header_of(done, "Location"));
  // RFC 9700 §2.1.1: a verifier without a challenge is refused.
  auto req = oauth::authorization_code_request(ep_.token, secret_auth("app-secret"), core::secret<std::string>(code),
                                               redirect, pkce.verifier, ctx());
  expect_aadsts(call(*req), 400, "invalid_grant", 501481, "The Code_Verifier does not match");
}

// ------------------------------------------------------------------ introspection, counters

TEST_F(Microsoft, IntrospectionForConfidentialClients) {
  auto t = delegated_tokens();
  const auto ask = [&](const std::string& token, std::string_view client = "app-secret") {
    const auto& c = cl(client);
    return post_form("/introspect",
                     "token=" + oauth::form_encode(token) + "&client_id=" + c.client_id +
                         "&client_secret=" + oauth::form_encode(c.secret),
                     t0 + 6s);
  };
  auto at = json_body(ask(t.access_token.expose()));
  EXPECT_EQ(at.at("active"), true);
  EXPECT_EQ(str(at, "client_id"), cl("public").client_id);
  EXPECT_EQ(str(at, "username"), "sender@contoso.test");
  EXPECT_EQ(str(at, "scope"), "SMTP.Send");
  EXPECT_EQ(str(at, "token_type"), "Bearer");
  EXPECT_EQ(str(at, "iss"), ep_.issuer);
  EXPECT_EQ(at.at("aud").as_array().at(0).as_string(), "https://outlook.office.com");
  EXPECT_EQ(at.at("exp").as_int64(), 1'800'000'005 + 3599);

  auto rt = json_body(ask(t.refresh_token->expose()));
  EXPECT_EQ(rt.at("active"), true);
  EXPECT_EQ(str(rt, "username"), "sender@contoso.test");

  EXPECT_EQ(ask("garbage").body, R"({"active":false})");
  tokens_->revoke(t.access_token.expose(), t0 + 6s);
  EXPECT_EQ(ask(t.access_token.expose()).body, R"({"active":false})");

  // Public clients may not introspect; credentials are checked.
  auto pub = post_form("/introspect", "token=x&client_id=" + cl("public").client_id, t0);
  EXPECT_EQ(pub.status, 401);
  auto wrong = post_form("/introspect", "token=x&client_id=" + cl("app-secret").client_id + "&client_secret=no", t0);
  EXPECT_EQ(wrong.status, 401);
  auto missing = post_form("/introspect", "client_id=" + cl("app-secret").client_id +
                                              "&client_secret=" + oauth::form_encode(cl("app-secret").secret));
  EXPECT_EQ(str(json_body(missing), "error"), "invalid_request");
}

TEST_F(Microsoft, CountersByGrantType) {
  EXPECT_EQ(client_credentials(secret_auth("app-secret")).status, 200);
  EXPECT_EQ(client_credentials(
                oauth::secret_client(cl("app-secret").client_id, core::secret<std::string>(std::string("bad"))))
                .status,
            401);
  auto a = start_device();
  poll(a, t0 + 5s);
  post_form(path_of(ep_.token), "grant_type=password");
  const auto c = idp_->counters();
  const auto& g = c.at("token_requests").as_object();
  EXPECT_EQ(g.at("client_credentials").at("requests").as_uint64(), 2u);
  EXPECT_EQ(g.at("client_credentials").at("issued").as_uint64(), 1u);
  EXPECT_EQ(g.at("client_credentials").at("errors").as_uint64(), 1u);
  EXPECT_EQ(g.at(std::string(oauth::grant_device_code)).at("errors").as_uint64(), 1u);
  EXPECT_EQ(g.at("other").at("requests").as_uint64(), 1u);  // never the client's string as a key
  EXPECT_EQ(c.at("device_authorizations").at("issued").as_uint64(), 1u);
}

TEST_F(Microsoft, AccessTokenLifetimeDownToOneSecond) {
  idp_->set_access_token_lifetime(1s);
  auto r = client_credentials(secret_auth("app-secret"));
  EXPECT_EQ(json_body(r).at("expires_in").as_int64(), 1);
  const std::string at = str(json_body(r), "access_token");
  EXPECT_TRUE(tokens_->validate(at, t0).token);
  EXPECT_EQ(tokens_->validate(at, t0 + 1s).problem, token_problem::expired);
  idp_->set_access_token_lifetime(0s);  // clamped
  EXPECT_EQ(json_body(client_credentials(secret_auth("app-secret"))).at("expires_in").as_int64(), 1);
}

}  // namespace
}  // namespace oauthmail::sandbox::test
