#include "oauth/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <limits>

#include "core/base64.hpp"
#include "core/openssl_ptr.hpp"
#include "oauth/errors.hpp"
#include "oauth/form.hpp"
#include "oauth/presets.hpp"

namespace oauthmail::oauth {

namespace {

using core::bio_ptr;
using core::md_ctx_ptr;
using core::pkey_ptr;
using core::x509_ptr;

constexpr std::size_t max_token_size = 64 * 1024;
constexpr std::int64_t max_unix_seconds = 7258118400;  // 2200-01-01T00:00:00Z

core::error key_error(std::string msg) {
  return make_error(oauth_errc::bad_key, std::move(msg), core::failure_class::needs_human);
}

// Never prompt for a passphrase: encrypted keys fail to load.
int no_passphrase(char*, int, int, void*) { return -1; }

bio_ptr memory_bio(std::string_view text) {
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) return nullptr;
  return bio_ptr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

x509_ptr load_certificate(std::string_view pem) {
  auto bio = memory_bio(pem);
  if (!bio) return nullptr;
  x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
  ERR_clear_error();
  return cert;
}

std::string digest_b64url(const EVP_MD* md, const unsigned char* data, std::size_t size) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data, size, out, &len, md, nullptr) != 1) return {};
  return core::base64url_encode(std::string_view(reinterpret_cast<const char*>(out), len));
}

std::optional<wall_clock::time_point> asn1_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  const auto ymd = std::chrono::year{tm.tm_year + 1900} / std::chrono::month{static_cast<unsigned>(tm.tm_mon + 1)} /
                   std::chrono::day{static_cast<unsigned>(tm.tm_mday)};
  if (!ymd.ok()) return std::nullopt;
  // In seconds first: certificates may say 9999-12-31, beyond what wall_clock (nanoseconds) holds.
  const std::chrono::sys_seconds when = std::chrono::sys_days(ymd) + std::chrono::hours(tm.tm_hour) +
                                        std::chrono::minutes(tm.tm_min) + std::chrono::seconds(tm.tm_sec);
  const auto secs = std::clamp<std::int64_t>(when.time_since_epoch().count(), 0, max_unix_seconds);
  return wall_clock::time_point(std::chrono::duration_cast<wall_clock::duration>(std::chrono::seconds(secs)));
}

const EVP_MD* alg_digest(jwt_alg) { return EVP_sha256(); }

core::result<void> configure_padding(EVP_PKEY_CTX* pctx, jwt_alg alg) {
  if (alg == jwt_alg::ps256) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0) {
      ERR_clear_error();
      return key_error("OpenSSL refused RSA-PSS padding for PS256");
    }
  } else {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) {
      ERR_clear_error();
      return key_error("OpenSSL refused RSA PKCS#1 v1.5 padding for RS256");
    }
  }
  return {};
}

std::optional<wall_clock::time_point> numeric_date(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  double seconds = 0;
  if (const auto* i = v->if_int64()) {
    seconds = static_cast<double>(*i);
  } else if (const auto* u = v->if_uint64()) {
    seconds = static_cast<double>(*u);
  } else if (const auto* d = v->if_double()) {
    seconds = *d;
  } else {
    return std::nullopt;
  }
  // Bound to years 1970..2199: wall_clock counts nanoseconds in 64 bits (it ends in 2262).
  if (!(seconds >= 0 && seconds < static_cast<double>(max_unix_seconds))) return std::nullopt;
  return wall_clock::time_point(
      std::chrono::duration_cast<wall_clock::duration>(std::chrono::seconds(static_cast<std::int64_t>(seconds))));
}

std::string claim_string(const boost::json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key)) {
    if (const auto* s = v->if_string()) return std::string(*s);
  }
  return {};
}

std::vector<std::string> claim_strings(const boost::json::object& o, std::string_view key) {
  std::vector<std::string> out;
  const auto* v = o.if_contains(key);
  if (v == nullptr) return out;
  if (const auto* s = v->if_string()) {
    out.emplace_back(*s);
  } else if (const auto* arr = v->if_array()) {
    for (const auto& item : *arr) {
      if (const auto* is = item.if_string()) out.emplace_back(*is);
    }
  }
  return out;
}

bool contains_icase(const std::vector<std::string>& items, std::string_view wanted) {
  return std::any_of(items.begin(), items.end(), [&](const std::string& s) {
    return s.size() == wanted.size() && std::equal(s.begin(), s.end(), wanted.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
           });
  });
}

std::string_view strip_slash(std::string_view s) {
  if (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

bool is_graph_audience(std::string_view aud) {
  aud = strip_slash(aud);
  return aud == "00000003-0000-0000-c000-000000000000" || aud == "https://graph.microsoft.com" ||
         aud == "https://graph.microsoft.us" || aud == "https://dod-graph.microsoft.us" ||
         aud == "https://microsoftgraph.chinacloudapi.cn";
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

}  // namespace

std::string_view to_string(jwt_alg a) noexcept { return a == jwt_alg::ps256 ? "PS256" : "RS256"; }

std::string encode_header(jwt_alg alg, const boost::json::object& extra) {
  boost::json::object h;
  h["alg"] = to_string(alg);
  h["typ"] = "JWT";
  for (const auto& kv : extra) {
    if (kv.key() == "alg" || kv.key() == "typ") continue;
    h[kv.key()] = kv.value();
  }
  return core::base64url_encode(boost::json::serialize(h));
}

core::result<signing_key> signing_key::from_pem(const core::secret<std::string>& pem) {
  const std::string& text = pem.expose();
  if (text.find("ENCRYPTED") != std::string::npos) {
    return key_error(
        "the private key is encrypted with a passphrase, which oauthmail does not support; decrypt it, e.g. "
        "`openssl pkey -in key.pem -out plain.pem`, and protect the file with mode 0600 instead");
  }
  auto bio = memory_bio(text);
  if (!bio) return key_error("the private key is too large");
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
  ERR_clear_error();
  if (raw == nullptr) {
    return key_error(
        "the private key could not be read: expected an unencrypted PEM RSA private key (\"-----BEGIN PRIVATE "
        "KEY-----\" or \"-----BEGIN RSA PRIVATE KEY-----\")");
  }
  signing_key k;
  k.key_.reset(raw, [](EVP_PKEY* p) { EVP_PKEY_free(p); });
  if (EVP_PKEY_is_a(raw, "RSA") != 1) {
    return key_error("the private key is not an RSA key; RS256/PS256 need RSA (2048 bits or more)");
  }
  if (EVP_PKEY_get_bits(raw) < 2048) {
    return key_error("the RSA private key has " + std::to_string(EVP_PKEY_get_bits(raw)) +
                     " bits; providers require at least 2048");
  }
  return k;
}

int signing_key::bits() const noexcept { return key_ ? EVP_PKEY_get_bits(key_.get()) : 0; }

core::result<core::secret<std::string>> sign_jwt(const boost::json::object& header_extra,
                                                 const boost::json::object& claims, const signing_key& key,
                                                 jwt_alg alg) {
  if (key.native() == nullptr) return key_error("no signing key loaded");
  std::string input = encode_header(alg, header_extra);
  input.push_back('.');
  input += core::base64url_encode(boost::json::serialize(claims));

  md_ctx_ptr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, alg_digest(alg), nullptr, key.native()) != 1) {
    ERR_clear_error();
    return key_error("OpenSSL could not start signing with the private key");
  }
  if (auto r = configure_padding(pctx, alg); !r) return r.error();
  std::size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) {
    ERR_clear_error();
    return key_error("OpenSSL could not sign with the private key");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()) != 1) {
    ERR_clear_error();
    return key_error("OpenSSL could not sign with the private key");
  }
  sig.resize(len);
  std::string sig64 = core::base64url_encode(sig);
  std::string jwt;
  jwt.reserve(input.size() + 1 + sig64.size());
  jwt.append(input).push_back('.');
  jwt.append(sig64);
  core::secret<std::string> out(jwt);
  core::secure_wipe(jwt.data(), jwt.size());
  core::secure_wipe(sig64.data(), sig64.size());
  core::secure_wipe(sig.data(), sig.size());
  return out;
}

core::result<void> verify_signature(std::string_view jwt, std::string_view pem) {
  const auto bad = [](std::string msg) {
    return make_error(oauth_errc::not_a_jwt, std::move(msg), core::failure_class::protocol);
  };
  const auto last_dot = jwt.rfind('.');
  if (last_dot == std::string_view::npos) return bad("not a JWS compact token");
  auto decoded = decode_unverified(jwt);
  if (!decoded) return decoded.error();
  const std::string alg = claim_string(decoded->header, "alg");
  jwt_alg a{};
  if (alg == "RS256") {
    a = jwt_alg::rs256;
  } else if (alg == "PS256") {
    a = jwt_alg::ps256;
  } else {
    return bad("unsupported JWS algorithm (only RS256 and PS256 are accepted)");
  }
  auto sig = core::base64url_decode(jwt.substr(last_dot + 1));
  if (!sig || sig->empty()) return bad("the JWS signature is not base64url");

  pkey_ptr pub;
  if (pem.find("BEGIN CERTIFICATE") != std::string_view::npos) {
    auto cert = load_certificate(pem);
    if (!cert) return key_error("the certificate could not be read (PEM expected)");
    pub.reset(X509_get_pubkey(cert.get()));
  } else {
    auto bio = memory_bio(pem);
    if (bio) pub.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr));
  }
  ERR_clear_error();
  if (!pub) return key_error("the public key could not be read (PEM expected)");

  md_ctx_ptr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, pub.get()) != 1) {
    ERR_clear_error();
    return key_error("OpenSSL could not start verifying with the public key");
  }
  if (auto r = configure_padding(pctx, a); !r) return r.error();
  const std::string_view signed_part = jwt.substr(0, last_dot);
  const int ok = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                                  reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size());
  ERR_clear_error();
  if (ok != 1) return bad("the JWS signature does not verify");
  return {};
}

core::result<certificate_info> read_certificate(std::string_view pem) {
  auto cert = load_certificate(pem);
  if (!cert) {
    return key_error("the certificate could not be read: expected PEM (\"-----BEGIN CERTIFICATE-----\")");
  }
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert.get(), &der);
  if (len <= 0 || der == nullptr) return key_error("the certificate could not be encoded (DER)");
  certificate_info info;
  info.x5t = digest_b64url(EVP_sha1(), der, static_cast<std::size_t>(len));
  info.x5t_s256 = digest_b64url(EVP_sha256(), der, static_cast<std::size_t>(len));
  OPENSSL_free(der);
  if (char* line = X509_NAME_oneline(X509_get_subject_name(cert.get()), nullptr, 0)) {
    info.subject = line;
    OPENSSL_free(line);
  }
  info.not_before = asn1_time(X509_get0_notBefore(cert.get())).value_or(wall_clock::time_point{});
  info.not_after = asn1_time(X509_get0_notAfter(cert.get())).value_or(wall_clock::time_point{});
  if (info.x5t.empty() || info.x5t_s256.empty()) return key_error("the certificate thumbprint could not be computed");
  return info;
}

bool certificate_matches_key(std::string_view certificate_pem, const signing_key& key) {
  auto cert = load_certificate(certificate_pem);
  if (!cert || key.native() == nullptr) return false;
  const int ok = X509_check_private_key(cert.get(), key.native());
  ERR_clear_error();
  return ok == 1;
}

core::result<decoded_jwt> decode_unverified(std::string_view token) {
  const auto bad = [](std::string msg) {
    return make_error(oauth_errc::not_a_jwt, std::move(msg), core::failure_class::protocol);
  };
  if (token.size() > max_token_size) return bad("token too large to be inspected");
  const auto d1 = token.find('.');
  if (d1 == std::string_view::npos) return bad("not a JWT (no '.')");
  const auto d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return bad("not a JWT (two parts)");
  if (token.find('.', d2 + 1) != std::string_view::npos) return bad("not a JWS compact JWT (more than three parts)");
  auto header = core::base64url_decode(token.substr(0, d1));
  auto claims = core::base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  if (!header || !claims) return bad("not a JWT (header or claims are not base64url)");
  boost::system::error_code ec;
  boost::json::value h = boost::json::parse(*header, ec);
  if (ec || !h.is_object()) return bad("not a JWT (header is not a JSON object)");
  boost::json::value c = boost::json::parse(*claims, ec);
  if (ec || !c.is_object()) return bad("not a JWT (claims are not a JSON object)");
  return decoded_jwt{std::move(h.get_object()), std::move(c.get_object())};
}

token_facts inspect_token(std::string_view token) {
  token_facts f;
  auto d = decode_unverified(token);
  if (!d) {
    f.format = token_format::opaque;
    if (token.substr(0, 3) == "EwB") {
      f.opaque_kind = "Microsoft consumer token (EwB...)";
    } else if (token.substr(0, 5) == "ya29.") {
      f.opaque_kind = "Google token (ya29.)";
    } else {
      f.opaque_kind = "unknown";
    }
    return f;
  }
  f.format = token_format::jwt;
  f.alg = claim_string(d->header, "alg");
  f.typ = claim_string(d->header, "typ");
  const auto& c = d->claims;
  f.expires_at = numeric_date(c, "exp");
  f.not_before = numeric_date(c, "nbf");
  f.issued_at = numeric_date(c, "iat");
  f.audiences = claim_strings(c, "aud");
  const std::string scp = claim_string(c, "scp");
  f.scopes = split_scopes(scp.empty() ? claim_string(c, "scope") : scp);
  f.roles = claim_strings(c, "roles");
  for (const char* k : {"upn", "preferred_username", "unique_name", "email"}) {
    f.user = claim_string(c, k);
    if (!f.user.empty()) break;
  }
  f.tenant_id = claim_string(c, "tid");
  for (const char* k : {"appid", "azp", "client_id"}) {
    f.app_id = claim_string(c, k);
    if (!f.app_id.empty()) break;
  }
  f.issuer = claim_string(c, "iss");
  f.subject = claim_string(c, "sub");
  return f;
}

std::vector<std::string> smtp_suitability(const token_facts& f, const provider_endpoints& e,
                                          wall_clock::time_point now) {
  std::vector<std::string> w;
  if (f.format != token_format::jwt) return w;
  if (f.expires_at && *f.expires_at <= now) {
    w.push_back("the access token has expired (exp is in the past); it must be renewed before use");
  }
  const bool microsoft = e.provider == config::provider_kind::microsoft || e.provider == config::provider_kind::outlook;
  if (!microsoft) return w;
  const std::string expected = e.smtp_audiences.empty() ? "https://outlook.office.com" : e.smtp_audiences.front();
  const bool graph = std::any_of(f.audiences.begin(), f.audiences.end(), is_graph_audience);
  if (graph) {
    w.push_back("the token's audience is Microsoft Graph (" + join(f.audiences, ", ") + "), but SMTP needs " +
                expected +
                ": Exchange refuses it with 535 5.7.3. Request the scope with its resource prefix, e.g. "
                "https://outlook.office.com/SMTP.Send (delegated) or https://outlook.office365.com/.default "
                "(app-only), and never mix Graph scopes into the same request");
  } else if (!f.audiences.empty() && !e.smtp_audiences.empty()) {
    const bool exchange = std::any_of(f.audiences.begin(), f.audiences.end(), [&](const std::string& a) {
      return std::any_of(e.smtp_audiences.begin(), e.smtp_audiences.end(),
                         [&](const std::string& x) { return strip_slash(a) == strip_slash(x); });
    });
    if (!exchange) {
      w.push_back("the token's audience (" + join(f.audiences, ", ") + ") is not Exchange Online (" +
                  join(e.smtp_audiences, ", ") + "); SMTP will refuse it with 535 5.7.3");
    }
  }
  const bool app_only = e.flow == config::flow_kind::client_credentials || (f.scopes.empty() && !f.roles.empty());
  if (app_only) {
    if (!contains_icase(f.roles, "SMTP.SendAsApp")) {
      w.push_back("the app-only token has no SMTP.SendAsApp role" +
                  (f.roles.empty() ? std::string() : " (roles: " + join(f.roles, ", ") + ")") +
                  ": in the app registration add API permissions -> APIs my organization uses -> Office 365 Exchange "
                  "Online -> Application permissions -> SMTP.SendAsApp, and grant admin consent");
    }
  } else if (!contains_icase(f.scopes, "SMTP.Send")) {
    w.push_back("the token has no SMTP.Send scope" +
                (f.scopes.empty() ? std::string() : " (scp: " + join(f.scopes, " ") + ")") +
                ": request https://outlook.office.com/SMTP.Send and make sure the app registration has the "
                "delegated SMTP.Send permission (consented)");
  }
  return w;
}

}  // namespace oauthmail::oauth
