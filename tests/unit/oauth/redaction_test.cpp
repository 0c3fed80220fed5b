// Secrets never reach a message: requests are built with known secret strings, every failure path
// of the OAuth core is provoked (including providers that echo what we sent), and everything the
// code produced for people (error messages, diagnoses, details, warnings, formatted values) is
// searched for the secrets, raw, form-encoded and base64-encoded.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <variant>

#include "core/base64.hpp"
#include "oauth/device_flow.hpp"
#include "oauth/form.hpp"
#include "oauth/grants.hpp"
#include "oauth/jwt.hpp"
#include "oauth/pkce.hpp"
#include "oauth/responses.hpp"
#include "oauth/token_codec.hpp"
#include "unit/oauth/helpers.hpp"

namespace oauthmail::oauth {
namespace {

using testing::at;
using testing::response;

const std::string client_secret = "CS~TOPSECRET~aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3x";
const std::string refresh_token = "0.AXoTOPSECRETrefresh4Q7rS9tU1vW3xY5zA7bC9dE1fG3hI5jK7lM9nO";
const std::string access_token = "eyJ0eXAiOiJKV1QiTOPSECRET.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnTOPSECRET";
const std::string device_code = "DAQABTOPSECRETdevice7rS9tU1vW3xY5zA7bC9dE1fG3hI5jK7lM9nO1pQ";
const std::string auth_code = "M.C507_TOPSECRET_code_9tU1vW3xY5zA7bC9dE1fG3hI5jK7lM9nO1pQ3rS";
const std::string short_secret = "s3cr3t";  // too short for the token heuristic: only sent_secrets catch it

class Collector {
 public:
  void add(std::string s) { texts_.push_back(std::move(s)); }
  void add(const core::error& e) { add(e.message()); }
  void add(const oauth_diagnosis& d) {
    add(d.cause);
    add(d.fix);
  }
  void add(const grant_outcome& o) {
    add(o.diagnosis);
    add(o.to_error());
    if (o.error) {
      add(provider_detail(*o.error));
      add(o.error->description);
      add(o.error->error);
    }
  }
  void check(const std::vector<std::string>& secrets) const {
    ASSERT_FALSE(texts_.empty());
    for (const auto& secret : secrets) {
      for (const std::string& needle : {secret, form_encode(secret), core::base64_encode(secret)}) {
        for (const auto& t : texts_) {
          EXPECT_EQ(t.find(needle), std::string::npos) << "secret found in: " << t;
        }
      }
    }
  }

 private:
  std::vector<std::string> texts_;
};

std::string echo(std::string_view code, const std::string& what) {
  return std::string(R"({"error":")") + std::string(code) + R"(","error_description":"we got )" + what +
         R"( and refuse it","error_codes":[70008]})";
}

TEST(Redaction, RequestsFormatAsStars) {
  const request_context ctx{at(1700000000), testing::counting_random()};
  const std::vector<std::string> scopes = {"https://outlook.office365.com/.default"};
  auto basic = client_credentials_request(
      "https://as/token",
      secret_client("id", core::secret<std::string>(client_secret), client_auth_method::client_secret_basic), scopes,
      ctx);
  ASSERT_TRUE(basic);
  EXPECT_TRUE(basic->headers_secret);
  EXPECT_EQ(fmt::format("{}", basic->body), "***");
  auto refresh = refresh_token_request("https://as/token", public_client("id"),
                                       core::secret<std::string>(refresh_token), scopes, ctx);
  ASSERT_TRUE(refresh);
  EXPECT_EQ(fmt::format("{}", refresh->body), "***");
  EXPECT_EQ(refresh->url.find(refresh_token), std::string::npos);
}

TEST(Redaction, NoSecretInAnyMessage) {
  Collector out;
  const auto now = at(1700000000);
  const core::secret<std::string> cs(client_secret), rt(refresh_token), dc(device_code), ac(auth_code),
      ss(short_secret);
  const diagnosis_context ctx{
      "work", config::provider_kind::microsoft, config::flow_kind::device_code, {&cs, &rt, &dc, &ac, &ss}};
  const std::vector<std::string> scopes = {"https://outlook.office.com/SMTP.Send"};

  // Providers echoing what we sent, with and without knowing what we sent.
  for (const std::string* s : {&client_secret, &refresh_token, &device_code, &auth_code, &access_token}) {
    for (const int status : {400, 401, 429, 500}) {
      out.add(evaluate_token_response(response(status, echo("invalid_grant", *s)), now, scopes, ctx));
      out.add(evaluate_token_response(response(status, echo("invalid_grant", *s)), now, scopes));
      out.add(evaluate_token_response(response(status, echo(*s, "x")), now, scopes, ctx));
      auto r = parse_token_response(response(status, echo("invalid_client", *s)), now, scopes, ctx);
      ASSERT_FALSE(r);
      out.add(r.error());
    }
  }
  out.add(evaluate_token_response(response(400, echo("invalid_client", short_secret)), now, scopes, ctx));
  out.add(evaluate_token_response(response(400, echo("invalid_client", form_encode(client_secret))), now, scopes, ctx));
  // A success without access_token that carries our refresh token.
  out.add(evaluate_token_response(response(200, R"({"refresh_token":")" + refresh_token + "\"}"), now, scopes, ctx));

  // Device flow: echoed device code, declined, expired.
  auto auth = parse_device_authorization(
      response(200, R"({"device_code":")" + device_code + R"(","user_code":"U","verification_uri":"https://v"})"));
  ASSERT_TRUE(auth);
  out.add(auth->instructions());
  for (const char* code : {"authorization_declined", "expired_token", "bad_verification_code", "invalid_grant"}) {
    device_poller p(*auth, now, scopes, {"work", config::provider_kind::microsoft, config::flow_kind::device_code, {}});
    p.on_poll_response(response(400, echo(code, device_code)), now + std::chrono::seconds(5));
    auto a = p.next(now + std::chrono::seconds(5));
    ASSERT_TRUE(std::holds_alternative<device_poller::failed>(a)) << code;
    out.add(std::get<device_poller::failed>(a).to_error());
    out.add(std::get<device_poller::failed>(a).diagnosis);
  }
  auto bad_auth = parse_device_authorization(response(400, echo("invalid_client", client_secret)), ctx);
  ASSERT_FALSE(bad_auth);
  out.add(bad_auth.error());
  // Found by the fuzzer: a short secret inside the `error` member (or the correlation id).
  auto echoed_code = parse_device_authorization(
      response(400, R"({"error":"slow)" + short_secret + R"(_dow","correlation_id":")" + short_secret + R"("})"), ctx);
  ASSERT_FALSE(echoed_code);
  out.add(echoed_code.error());

  // Redirects carrying codes and errors.
  auto mismatch = parse_redirect("http://127.0.0.1:1/?code=" + auth_code + "&state=x", "y");
  ASSERT_FALSE(mismatch);
  out.add(mismatch.error());
  auto err = parse_redirect("http://127.0.0.1:1/?error=invalid_request&error_description=code%20" + auth_code +
                                "&code=" + auth_code + "&state=y",
                            "y");
  ASSERT_FALSE(err);
  out.add(err.error());
  auto short_code = parse_redirect(
      "/?error=access_denied&error_description=code%20" + short_secret + "&code=" + short_secret + "&state=y", "y");
  ASSERT_FALSE(short_code);
  out.add(short_code.error());

  // Keys, certificates, service-account files, cache entries.
  const std::string key_pem = "-----BEGIN PRIVATE KEY-----\n" + client_secret + "\n-----END PRIVATE KEY-----\n";
  auto key = signing_key::from_pem(core::secret<std::string>(key_pem));
  ASSERT_FALSE(key);
  out.add(key.error());
  auto cert = certificate_client("id", core::secret<std::string>(key_pem), "x", now);
  ASSERT_FALSE(cert);
  out.add(cert.error());
  auto sa = parse_service_account_json(
      core::secret<std::string>(R"({"type":"service_account","private_key":")" + client_secret + "\"}"));
  ASSERT_FALSE(sa);
  out.add(sa.error());
  auto sa_type = parse_service_account_json(core::secret<std::string>(R"({"type":")" + client_secret + "\"}"));
  ASSERT_FALSE(sa_type);
  out.add(sa_type.error());
  auto cache = decode_token_set(core::secret<std::string>(R"({"version":9,"access_token":")" + access_token + "\"}"));
  ASSERT_FALSE(cache);
  out.add(cache.error());
  token_set t;
  t.access_token = core::secret<std::string>(access_token);
  t.refresh_token = core::secret<std::string>(refresh_token);
  out.add(fmt::format("{} {}", t.access_token, *t.refresh_token));

  // Request builders that refuse.
  const request_context rctx{now, testing::counting_random()};
  auto no_endpoint = refresh_token_request("", public_client("id"), rt, scopes, rctx);
  ASSERT_FALSE(no_endpoint);
  out.add(no_endpoint.error());

  out.check({client_secret, refresh_token, device_code, auth_code, access_token, short_secret});
}

}  // namespace
}  // namespace oauthmail::oauth
