// Token endpoint requests: form encoding, client authentication (providers.md §5 vectors for
// client_secret_basic), RFC 7523 client assertions with x5t / x5t#S256, Google's service-account
// grant, device, refresh, authorization code, authorize URL and revocation.
#include "oauth/grants.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

#include "core/base64.hpp"
#include "oauth/errors.hpp"
#include "oauth/form.hpp"
#include "unit/oauth/helpers.hpp"

namespace oauthmail::oauth {
namespace {

using testing::at;

// Decodes a form body (test side: %XX only; the encoder never emits '+').
std::map<std::string, std::string> form_fields(const std::string& body) {
  std::map<std::string, std::string> out;
  std::size_t i = 0;
  while (i <= body.size()) {
    const auto amp = std::min(body.find('&', i), body.size());
    const std::string pair = body.substr(i, amp - i);
    const auto eq = pair.find('=');
    const auto decode = [](std::string s) {
      std::string r;
      for (std::size_t k = 0; k < s.size(); ++k) {
        if (s[k] == '%' && k + 2 < s.size()) {
          r.push_back(static_cast<char>(std::stoi(s.substr(k + 1, 2), nullptr, 16)));
          k += 2;
        } else {
          r.push_back(s[k]);
        }
      }
      return r;
    };
    if (eq != std::string::npos) {
      EXPECT_FALSE(out.count(pair.substr(0, eq))) << "repeated parameter " << pair.substr(0, eq);
      out[decode(pair.substr(0, eq))] = decode(pair.substr(eq + 1));
    }
    if (amp == body.size()) break;
    i = amp + 1;
  }
  return out;
}

const std::string* header(const http_request& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

request_context ctx() { return request_context{at(1700000000), testing::counting_random()}; }

TEST(Form, EncodesReservedCharacters) {
  EXPECT_EQ(form_encode("a+b/c=d~e:f"), "a%2Bb%2Fc%3Dd~e%3Af");
  EXPECT_EQ(form_encode("https://outlook.office.com/SMTP.Send offline_access"),
            "https%3A%2F%2Foutlook.office.com%2FSMTP.Send%20offline_access");
  EXPECT_EQ(form_encode("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(join_scopes(split_scopes("  a  b\tc ")), "a b c");
}

TEST(ClientAuth, BasicVectorsFromProvidersMd) {
  EXPECT_EQ(basic_authorization("s6BhdRkqt3", core::secret<std::string>("gX1fBat3bV")).expose(),
            "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW");
  EXPECT_EQ(basic_authorization("s6BhdRkqt3", core::secret<std::string>("a+b/c=d~e:f")).expose(),
            "Basic czZCaGRSa3F0MzphJTJCYiUyRmMlM0RkfmUlM0Fm");
}

TEST(ClientCredentials, SecretPost) {
  auto auth = secret_client("client-1", core::secret<std::string>("s3cr3t value"));
  const std::vector<std::string> scopes = {"https://outlook.office365.com/.default"};
  auto r =
      client_credentials_request("https://login.microsoftonline.com/contoso/oauth2/v2.0/token", auth, scopes, ctx());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->url, "https://login.microsoftonline.com/contoso/oauth2/v2.0/token");
  ASSERT_NE(header(*r, "Content-Type"), nullptr);
  EXPECT_EQ(*header(*r, "Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(r->body.expose(),
            "grant_type=client_credentials&scope=https%3A%2F%2Foutlook.office365.com%2F.default&client_id=client-1&"
            "client_secret=s3cr3t%20value");
  EXPECT_FALSE(r->headers_secret);
}

TEST(ClientCredentials, SecretBasic) {
  auto auth =
      secret_client("s6BhdRkqt3", core::secret<std::string>("a+b/c=d~e:f"), client_auth_method::client_secret_basic);
  const std::vector<std::string> scopes = {"api://x/.default"};
  auto r = client_credentials_request("https://as.example/token", auth, scopes, ctx());
  ASSERT_TRUE(r);
  ASSERT_NE(header(*r, "Authorization"), nullptr);
  EXPECT_EQ(*header(*r, "Authorization"), "Basic czZCaGRSa3F0MzphJTJCYiUyRmMlM0RkfmUlM0Fm");
  EXPECT_TRUE(r->headers_secret);
  const auto f = form_fields(r->body.expose());
  EXPECT_EQ(f.count("client_secret"), 0u);
  EXPECT_EQ(f.count("client_id"), 0u);
}

TEST(ClientCredentials, PublicClientRefused) {
  const std::vector<std::string> scopes;
  auto r = client_credentials_request("https://as.example/token", public_client("c"), scopes, ctx());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
  auto no_endpoint = client_credentials_request("", secret_client("c", core::secret<std::string>("s")), scopes, ctx());
  ASSERT_FALSE(no_endpoint);
  EXPECT_EQ(no_endpoint.error().code(), make_error_code(oauth_errc::bad_request_input));
}

TEST(ClientCredentials, PrivateKeyJwtWithThumbprints) {
  const auto& k = testing::shared_key();
  const std::string endpoint = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token";
  auto auth = certificate_client("app-id-1", core::secret<std::string>(k.private_pem), k.certificate_pem,
                                 at(1700000000), jwt_alg::ps256);
  ASSERT_TRUE(auth) << auth.error().message();
  const std::vector<std::string> scopes = {"https://outlook.office365.com/.default"};
  auto r = client_credentials_request(endpoint, *auth, scopes, ctx());
  ASSERT_TRUE(r) << r.error().message();
  const auto f = form_fields(r->body.expose());
  EXPECT_EQ(f.at("grant_type"), "client_credentials");
  EXPECT_EQ(f.at("client_id"), "app-id-1");
  EXPECT_EQ(f.at("client_assertion_type"), "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  EXPECT_EQ(f.count("client_secret"), 0u);
  const std::string& assertion = f.at("client_assertion");
  ASSERT_TRUE(verify_signature(assertion, k.certificate_pem));

  auto d = decode_unverified(assertion);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->header.at("alg").as_string(), "PS256");
  EXPECT_EQ(d->header.at("typ").as_string(), "JWT");
  // x5t = base64url(SHA-1(DER)), x5t#S256 = base64url(SHA-256(DER)), computed here independently.
  unsigned char sha1[20], sha256[32];
  unsigned int n = 0;
  EVP_Digest(k.certificate_der.data(), k.certificate_der.size(), sha1, &n, EVP_sha1(), nullptr);
  EVP_Digest(k.certificate_der.data(), k.certificate_der.size(), sha256, &n, EVP_sha256(), nullptr);
  EXPECT_EQ(d->header.at("x5t").as_string(),
            core::base64url_encode(std::string_view(reinterpret_cast<char*>(sha1), 20)));
  EXPECT_EQ(d->header.at("x5t#S256").as_string(),
            core::base64url_encode(std::string_view(reinterpret_cast<char*>(sha256), 32)));
  const auto& c = d->claims;
  EXPECT_EQ(c.at("aud").as_string(), endpoint);
  EXPECT_EQ(c.at("iss").as_string(), "app-id-1");
  EXPECT_EQ(c.at("sub").as_string(), "app-id-1");
  EXPECT_EQ(c.at("iat").as_int64(), 1700000000);
  EXPECT_EQ(c.at("nbf").as_int64(), 1700000000);
  EXPECT_EQ(c.at("exp").as_int64(), 1700000300);
  // counting_random: bytes 0..15 as a version-4 UUID
  EXPECT_EQ(c.at("jti").as_string(), "00010203-0405-4607-8809-0a0b0c0d0e0f");
}

TEST(ClientCredentials, AssertionIsRs256ByDefault) {
  const auto& k = testing::shared_key();
  auto auth = certificate_client("app", core::secret<std::string>(k.private_pem), k.certificate_pem, at(1700000000));
  ASSERT_TRUE(auth);
  auto a = client_assertion(*auth, "https://as.example/token", ctx());
  ASSERT_TRUE(a);
  auto d = decode_unverified(a->expose());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->header.at("alg").as_string(), "RS256");
  EXPECT_TRUE(verify_signature(a->expose(), k.public_pem));
}

TEST(ClientCredentials, CertificateMustMatchKeyAndBeValid) {
  const auto& k = testing::shared_key();
  const auto other = testing::make_key();
  auto mismatch =
      certificate_client("app", core::secret<std::string>(k.private_pem), other.certificate_pem, at(1700000000));
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code(), make_error_code(oauth_errc::bad_key));
  EXPECT_NE(mismatch.error().message().find("does not belong"), std::string::npos);
  // The test certificate expires a year from now: 20 years on it is refused.
  const auto later = wall_clock::now() + std::chrono::hours(24 * 365 * 20);
  auto expired = certificate_client("app", core::secret<std::string>(k.private_pem), k.certificate_pem, later);
  ASSERT_FALSE(expired);
  EXPECT_NE(expired.error().message().find("expired"), std::string::npos);
}

TEST(RefreshToken, MicrosoftRepeatsScope) {
  const std::vector<std::string> scopes = {"https://outlook.office.com/SMTP.Send", "offline_access"};
  auto r =
      refresh_token_request("https://login.microsoftonline.com/organizations/oauth2/v2.0/token", public_client("c1"),
                            core::secret<std::string>("tGzv3JOkF0XG5Qx2TlKWIA"), scopes, ctx());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.expose(),
            "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA&scope=https%3A%2F%2Foutlook.office.com%"
            "2FSMTP.Send%20offline_access&client_id=c1");
  const std::vector<std::string> none;
  auto g =
      refresh_token_request("https://oauth2.googleapis.com/token", secret_client("g", core::secret<std::string>("gs")),
                            core::secret<std::string>("1//rt"), none, ctx());
  ASSERT_TRUE(g);
  EXPECT_EQ(form_fields(g->body.expose()).count("scope"), 0u);
  EXPECT_FALSE(refresh_token_request("https://x/token", public_client("c"), core::secret<std::string>(), none, ctx()));
}

TEST(DeviceFlow, Requests) {
  const std::vector<std::string> scopes = {"https://outlook.office.com/SMTP.Send", "offline_access"};
  auto d = device_authorization_request("https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode",
                                        "1406020730", scopes);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->body.expose(),
            "client_id=1406020730&scope=https%3A%2F%2Foutlook.office.com%2FSMTP.Send%20offline_access");
  auto p = device_token_request("https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
                                public_client("1406020730"),
                                core::secret<std::string>("GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS"), ctx());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->body.expose(),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code="
            "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS&client_id=1406020730");
  // Google needs the client secret when polling.
  auto g = device_token_request("https://oauth2.googleapis.com/token",
                                secret_client("gid", core::secret<std::string>("gsecret")),
                                core::secret<std::string>("dc"), ctx());
  ASSERT_TRUE(g);
  EXPECT_EQ(form_fields(g->body.expose()).at("client_secret"), "gsecret");
}

TEST(AuthorizationCode, AuthorizeUrlAndExchange) {
  authorize_params p;
  p.authorization_endpoint = "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize";
  p.client_id = "c1";
  p.redirect_uri = "http://localhost:53682/";
  p.scopes = {"https://outlook.office.com/SMTP.Send", "offline_access"};
  p.state = "st4te";
  p.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  p.login_hint = "user@contoso.com";
  auto url = authorize_url(p);
  ASSERT_TRUE(url);
  EXPECT_EQ(*url,
            "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize?response_type=code&client_id=c1&"
            "redirect_uri=http%3A%2F%2Flocalhost%3A53682%2F&scope=https%3A%2F%2Foutlook.office.com%2FSMTP.Send%"
            "20offline_access&state=st4te&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_"
            "challenge_method=S256&login_hint=user%40contoso.com");
  p.login_hint.clear();
  p.extra = {{"access_type", "offline"}, {"prompt", "consent"}};
  p.authorization_endpoint = "https://accounts.google.com/o/oauth2/v2/auth";
  auto g = authorize_url(p);
  ASSERT_TRUE(g);
  EXPECT_NE(g->find("&access_type=offline&prompt=consent"), std::string::npos);
  EXPECT_EQ(g->find("login_hint"), std::string::npos);
  p.state.clear();
  EXPECT_FALSE(authorize_url(p));

  auto x = authorization_code_request("https://oauth2.googleapis.com/token",
                                      secret_client("gid", core::secret<std::string>("gsecret")),
                                      core::secret<std::string>("4/0Acode"), "http://127.0.0.1:8400/",
                                      core::secret<std::string>("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), ctx());
  ASSERT_TRUE(x);
  const auto f = form_fields(x->body.expose());
  EXPECT_EQ(f.at("grant_type"), "authorization_code");
  EXPECT_EQ(f.at("code"), "4/0Acode");
  EXPECT_EQ(f.at("redirect_uri"), "http://127.0.0.1:8400/");
  EXPECT_EQ(f.at("code_verifier"), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  EXPECT_EQ(f.at("client_secret"), "gsecret");
}

std::string service_account_json(const std::string& private_pem) {
  boost::json::object o;
  o["type"] = "service_account";
  o["project_id"] = "p";
  o["private_key_id"] = "kid-123";
  o["private_key"] = private_pem;
  o["client_email"] = "mailer@p.iam.gserviceaccount.com";
  o["client_id"] = "1234567890";
  o["token_uri"] = "https://oauth2.googleapis.com/token";
  return boost::json::serialize(o);
}

TEST(ServiceAccount, JwtBearerGrant) {
  const auto& k = testing::shared_key();
  auto sa = parse_service_account_json(core::secret<std::string>(service_account_json(k.private_pem)));
  ASSERT_TRUE(sa) << sa.error().message();
  EXPECT_EQ(sa->client_email, "mailer@p.iam.gserviceaccount.com");
  EXPECT_EQ(sa->token_uri, "https://oauth2.googleapis.com/token");
  const std::vector<std::string> scopes = {"https://mail.google.com/"};
  auto r = jwt_bearer_request(sa->token_uri, *sa, "user@example.com", scopes, ctx(), std::chrono::hours(2));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->url, "https://oauth2.googleapis.com/token");
  const auto f = form_fields(r->body.expose());
  EXPECT_EQ(f.at("grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer");
  EXPECT_EQ(f.size(), 2u);
  const std::string& jwt = f.at("assertion");
  EXPECT_EQ(jwt.substr(0, jwt.find('.')).substr(0, 10), std::string("eyJhbGciOi"));
  ASSERT_TRUE(verify_signature(jwt, k.public_pem));
  auto d = decode_unverified(jwt);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->header.at("alg").as_string(), "RS256");
  EXPECT_EQ(d->header.at("kid").as_string(), "kid-123");
  EXPECT_EQ(d->claims.at("iss").as_string(), "mailer@p.iam.gserviceaccount.com");
  EXPECT_EQ(d->claims.at("scope").as_string(), "https://mail.google.com/");
  EXPECT_EQ(d->claims.at("aud").as_string(), "https://oauth2.googleapis.com/token");
  EXPECT_EQ(d->claims.at("sub").as_string(), "user@example.com");
  EXPECT_EQ(d->claims.at("iat").as_int64(), 1700000000);
  EXPECT_EQ(d->claims.at("exp").as_int64(), 1700003600);  // capped at iat + 3600
}

TEST(ServiceAccount, BadKeyFiles) {
  auto not_json = parse_service_account_json(core::secret<std::string>("-----BEGIN PRIVATE KEY-----"));
  ASSERT_FALSE(not_json);
  EXPECT_EQ(not_json.error().code(), make_error_code(oauth_errc::bad_key));
  EXPECT_FALSE(parse_service_account_json(core::secret<std::string>(R"({"type":"authorized_user"})")));
  EXPECT_FALSE(parse_service_account_json(core::secret<std::string>(R"({"type":"service_account"})")));
}

TEST(Revocation, Request) {
  auto r =
      revocation_request("https://oauth2.googleapis.com/revoke", secret_client("gid", core::secret<std::string>("gs")),
                         core::secret<std::string>("1//rt"), "refresh_token", ctx());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.expose(), "token=1%2F%2Frt&token_type_hint=refresh_token&client_id=gid&client_secret=gs");
  EXPECT_FALSE(revocation_request("", public_client("c"), core::secret<std::string>("t"), "", ctx()));
}

}  // namespace
}  // namespace oauthmail::oauth
