#include "oauth/grants.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "core/base64.hpp"
#include "oauth/detail/secure_json.hpp"
#include "oauth/errors.hpp"
#include "oauth/form.hpp"

namespace oauthmail::oauth {

namespace {

constexpr std::string_view google_token_uri = "https://oauth2.googleapis.com/token";

core::error input_error(std::string msg) {
  return make_error(oauth_errc::bad_request_input, std::move(msg), core::failure_class::needs_human);
}
core::error key_error(std::string msg) {
  return make_error(oauth_errc::bad_key, std::move(msg), core::failure_class::needs_human);
}

std::int64_t unix_seconds(wall_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

http_request post(std::string_view url, form_builder& form) {
  http_request r;
  r.method = "POST";
  r.url = std::string(url);
  r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  r.headers.emplace_back("Accept", "application/json");
  r.body = form.take();
  return r;
}

core::result<void> check_endpoint(std::string_view url, std::string_view what) {
  if (url.empty()) return input_error("no " + std::string(what) + " is known for this account; configure it");
  return {};
}

// Adds the client authentication to the form (and maybe a header to the request).
core::result<void> authenticate(form_builder& form, http_request& request, const client_auth& auth,
                                std::string_view token_endpoint, const request_context& ctx) {
  if (auth.client_id.empty()) return input_error("client_id is empty; set client_id for this account");
  switch (auth.method) {
    case client_auth_method::none:
      form.add("client_id", auth.client_id);
      return {};
    case client_auth_method::client_secret_post:
      if (auth.client_secret.empty()) return input_error("the client secret is empty");
      form.add("client_id", auth.client_id);
      form.add("client_secret", auth.client_secret);
      return {};
    case client_auth_method::client_secret_basic:
      if (auth.client_secret.empty()) return input_error("the client secret is empty");
      request.headers.emplace_back("Authorization", basic_authorization(auth.client_id, auth.client_secret).expose());
      request.headers_secret = true;
      return {};
    case client_auth_method::private_key_jwt: {
      auto assertion =
          client_assertion(auth, auth.assertion_audience.empty() ? token_endpoint : auth.assertion_audience, ctx);
      if (!assertion) return assertion.error();
      form.add("client_id", auth.client_id);
      form.add("client_assertion_type", assertion_type_jwt_bearer);
      form.add("client_assertion", *assertion);
      return {};
    }
  }
  return input_error("unknown client authentication method");
}

// Builds the request: grant parameters first, then client authentication.
template <class AddParams>
core::result<http_request> token_request(std::string_view endpoint, const client_auth& auth, const request_context& ctx,
                                         AddParams&& add_params) {
  if (auto r = check_endpoint(endpoint, "token endpoint"); !r) return r.error();
  form_builder form;
  add_params(form);
  http_request request;
  if (auto r = authenticate(form, request, auth, endpoint, ctx); !r) return r.error();
  http_request built = post(endpoint, form);
  for (auto& h : request.headers) built.headers.push_back(std::move(h));
  built.headers_secret = request.headers_secret;
  return built;
}

}  // namespace

client_auth public_client(std::string client_id) {
  client_auth a;
  a.method = client_auth_method::none;
  a.client_id = std::move(client_id);
  return a;
}

client_auth secret_client(std::string client_id, core::secret<std::string> secret, client_auth_method method) {
  client_auth a;
  a.method = method;
  a.client_id = std::move(client_id);
  a.client_secret = std::move(secret);
  return a;
}

core::result<client_auth> certificate_client(std::string client_id, const core::secret<std::string>& private_key_pem,
                                             std::string_view certificate_pem, wall_clock::time_point now,
                                             jwt_alg alg) {
  auto key = signing_key::from_pem(private_key_pem);
  if (!key) return key.error();
  client_auth a;
  a.method = client_auth_method::private_key_jwt;
  a.client_id = std::move(client_id);
  a.alg = alg;
  if (!certificate_pem.empty()) {
    auto cert = read_certificate(certificate_pem);
    if (!cert) return cert.error();
    if (!certificate_matches_key(certificate_pem, *key)) {
      return key_error(
          "the certificate does not belong to the private key (client_certificate and client_private_key must be "
          "the two halves of the certificate uploaded to the app registration)");
    }
    if (cert->not_after != wall_clock::time_point{} && cert->not_after <= now) {
      return key_error("the client certificate (" + cert->subject +
                       ") has expired; create a new one and upload it to the app registration -> Certificates & "
                       "secrets");
    }
    a.certificate = std::move(*cert);
  }
  a.key = std::move(*key);
  return a;
}

core::secret<std::string> basic_authorization(std::string_view client_id, const core::secret<std::string>& secret) {
  std::string pair = form_encode(client_id);
  pair.push_back(':');
  form_encode_append(pair, secret.expose());
  std::string value = "Basic " + core::base64_encode(pair);
  core::secure_wipe(pair.data(), pair.size());
  core::secret<std::string> out(value);
  core::secure_wipe(value.data(), value.size());
  return out;
}

core::result<core::secret<std::string>> client_assertion(const client_auth& auth, std::string_view audience,
                                                         const request_context& ctx) {
  if (!auth.key) return key_error("private_key_jwt needs a private key (client_private_key)");
  if (!ctx.random) return input_error("no random source for the assertion's jti");
  if (audience.empty()) return input_error("the client assertion needs an audience (the token endpoint)");
  boost::json::object header;
  if (auth.certificate) {
    header["x5t"] = auth.certificate->x5t;
    header["x5t#S256"] = auth.certificate->x5t_s256;
  }
  const auto now = unix_seconds(ctx.now);
  boost::json::object claims;
  claims["aud"] = audience;
  claims["iss"] = auth.client_id;
  claims["sub"] = auth.client_id;
  claims["jti"] = random_uuid(ctx.random);
  claims["nbf"] = now;
  claims["iat"] = now;
  claims["exp"] = now + std::max<std::int64_t>(auth.assertion_lifetime.count(), 60);
  return sign_jwt(header, claims, *auth.key, auth.alg);
}

core::result<http_request> client_credentials_request(std::string_view token_endpoint, const client_auth& auth,
                                                      std::span<const std::string> scopes, const request_context& ctx) {
  if (auth.method == client_auth_method::none) {
    return input_error("client credentials need a client secret or a certificate and private key");
  }
  const std::string scope = join_scopes(scopes);
  return token_request(token_endpoint, auth, ctx, [&](form_builder& f) {
    f.add("grant_type", grant_client_credentials);
    f.add("scope", scope);
  });
}

core::result<http_request> refresh_token_request(std::string_view token_endpoint, const client_auth& auth,
                                                 const core::secret<std::string>& refresh_token,
                                                 std::span<const std::string> scopes, const request_context& ctx) {
  if (refresh_token.empty()) {
    return input_error("there is no refresh token for this account; sign in with `oauthmail account login`");
  }
  const std::string scope = join_scopes(scopes);
  return token_request(token_endpoint, auth, ctx, [&](form_builder& f) {
    f.add("grant_type", grant_refresh_token);
    f.add("refresh_token", refresh_token);
    f.add("scope", scope);
  });
}

core::result<http_request> device_authorization_request(std::string_view endpoint, std::string_view client_id,
                                                        std::span<const std::string> scopes) {
  if (auto r = check_endpoint(endpoint, "device authorization endpoint"); !r) return r.error();
  if (client_id.empty()) return input_error("client_id is empty; set client_id for this account");
  form_builder f;
  f.add("client_id", client_id);
  f.add("scope", join_scopes(scopes));
  return post(endpoint, f);
}

core::result<http_request> device_token_request(std::string_view token_endpoint, const client_auth& auth,
                                                const core::secret<std::string>& device_code,
                                                const request_context& ctx) {
  if (device_code.empty()) return input_error("the device code is empty");
  return token_request(token_endpoint, auth, ctx, [&](form_builder& f) {
    f.add("grant_type", grant_device_code);
    f.add("device_code", device_code);
  });
}

core::result<std::string> authorize_url(const authorize_params& p) {
  if (auto r = check_endpoint(p.authorization_endpoint, "authorization endpoint"); !r) return r.error();
  if (p.client_id.empty()) return input_error("client_id is empty; set client_id for this account");
  if (p.redirect_uri.empty() || p.state.empty() || p.code_challenge.empty()) {
    return input_error("the authorization request needs redirect_uri, state and a PKCE code_challenge");
  }
  form_builder f;
  f.add("response_type", "code");
  f.add("client_id", p.client_id);
  f.add("redirect_uri", p.redirect_uri);
  f.add("scope", join_scopes(p.scopes));
  f.add("state", p.state);
  f.add("code_challenge", p.code_challenge);
  f.add("code_challenge_method", "S256");
  f.add("login_hint", p.login_hint);
  for (const auto& [k, v] : p.extra) f.add(k, v);
  const char sep = p.authorization_endpoint.find('?') == std::string::npos ? '?' : '&';
  return p.authorization_endpoint + sep + f.text();
}

core::result<http_request> authorization_code_request(std::string_view token_endpoint, const client_auth& auth,
                                                      const core::secret<std::string>& code,
                                                      std::string_view redirect_uri,
                                                      const core::secret<std::string>& code_verifier,
                                                      const request_context& ctx) {
  if (code.empty()) return input_error("the authorization code is empty");
  if (redirect_uri.empty()) return input_error("the redirect_uri of the authorization request is needed");
  if (code_verifier.empty()) return input_error("the PKCE code verifier is missing");
  return token_request(token_endpoint, auth, ctx, [&](form_builder& f) {
    f.add("grant_type", grant_authorization_code);
    f.add("code", code);
    f.add("redirect_uri", redirect_uri);
    f.add("code_verifier", code_verifier);
  });
}

core::result<service_account_key> parse_service_account_json(const core::secret<std::string>& json) {
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(json.expose(), ec, detail::secure_storage());
  if (ec || !doc.is_object()) {
    return key_error(
        "the service-account key file is not JSON; download a JSON key (Google Cloud console -> IAM & "
        "Admin -> Service accounts -> Keys -> Add key -> JSON)");
  }
  const auto& o = doc.get_object();
  const auto text = [&](std::string_view k) -> std::string {
    if (const auto* v = o.if_contains(k)) {
      if (const auto* s = v->if_string()) return std::string(*s);
    }
    return {};
  };
  if (const std::string type = text("type"); !type.empty() && type != "service_account") {
    return key_error("the key file is of type \"" + type.substr(0, 40) +
                     "\", not \"service_account\"; download the service account's JSON key");
  }
  service_account_key k;
  k.client_email = text("client_email");
  k.client_id = text("client_id");
  k.private_key_id = text("private_key_id");
  k.token_uri = text("token_uri");
  if (k.token_uri.empty()) k.token_uri = std::string(google_token_uri);
  if (const auto* v = o.if_contains("private_key")) {
    if (const auto* s = v->if_string()) k.private_key_pem = core::secret<std::string>(std::string(*s));
  }
  if (k.client_email.empty() || k.private_key_pem.empty()) {
    return key_error("the service-account key file lacks client_email or private_key; download a new JSON key");
  }
  return k;
}

core::result<http_request> jwt_bearer_request(std::string_view token_endpoint, const service_account_key& sa,
                                              std::string_view subject, std::span<const std::string> scopes,
                                              const request_context& ctx, std::chrono::seconds lifetime) {
  if (auto r = check_endpoint(token_endpoint, "token endpoint"); !r) return r.error();
  auto key = signing_key::from_pem(sa.private_key_pem);
  if (!key) return key.error();
  const auto now = unix_seconds(ctx.now);
  const auto life = std::clamp<std::int64_t>(lifetime.count(), 60, 3600);
  boost::json::object header;
  if (!sa.private_key_id.empty()) header["kid"] = sa.private_key_id;
  boost::json::object claims;
  claims["iss"] = sa.client_email;
  claims["scope"] = join_scopes(scopes);
  claims["aud"] = token_endpoint;
  claims["iat"] = now;
  claims["exp"] = now + life;
  if (!subject.empty()) claims["sub"] = subject;
  auto assertion = sign_jwt(header, claims, *key, jwt_alg::rs256);
  if (!assertion) return assertion.error();
  form_builder f;
  f.add("grant_type", grant_jwt_bearer);
  f.add("assertion", *assertion);
  return post(token_endpoint, f);
}

core::result<http_request> revocation_request(std::string_view endpoint, const client_auth& auth,
                                              const core::secret<std::string>& token, std::string_view token_type_hint,
                                              const request_context& ctx) {
  if (auto r = check_endpoint(endpoint, "revocation endpoint (RFC 7009)"); !r) return r.error();
  if (token.empty()) return input_error("there is no token to revoke");
  return token_request(endpoint, auth, ctx, [&](form_builder& f) {
    f.add("token", token);
    f.add("token_type_hint", token_type_hint);
  });
}

}  // namespace oauthmail::oauth
