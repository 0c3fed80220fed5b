#include "oauth/presets.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <boost/url.hpp>

#include "oauth/errors.hpp"
#include "oauth/responses.hpp"

namespace oauthmail::oauth {

namespace {

using config::flow_kind;
using config::microsoft_cloud;
using config::provider_kind;

// Microsoft national clouds. Sources: providers.md §1.1/§1.3/§1.4 (global); Microsoft Entra
// "national clouds" page (login.microsoftonline.us; China: login.partner.microsoftonline.cn, the
// current name of login.chinacloudapi.cn, which MSAL still maps to); Exchange resource and SMTP host
// names for US Government (outlook.office365.us, smtp.office365.us) and China
// (partner.outlook.cn, smtp.partner.outlook.cn) are taken from public client code and
// configurations, not from a Microsoft page read here: UNVERIFIED, overridable by configuration.
struct cloud_facts {
  std::string_view login_host;
  std::string_view delegated_resource;  // prefix of SMTP.Send
  std::string_view app_resource;        // prefix of /.default for app-only
  std::string_view smtp_host;
  std::vector<std::string_view> exchange_audiences;
};

const cloud_facts& facts(microsoft_cloud c) {
  static const cloud_facts global{
      "login.microsoftonline.com",
      "https://outlook.office.com",
      "https://outlook.office365.com",
      "smtp.office365.com",
      {"https://outlook.office.com", "https://outlook.office365.com", "00000002-0000-0ff1-ce00-000000000000"}};
  static const cloud_facts us_gov{"login.microsoftonline.us",
                                  "https://outlook.office365.us",  // UNVERIFIED for delegated SMTP.Send
                                  "https://outlook.office365.us",
                                  "smtp.office365.us",
                                  {"https://outlook.office365.us", "https://outlook.office.com",
                                   "https://outlook.office365.com", "00000002-0000-0ff1-ce00-000000000000"}};
  static const cloud_facts china{"login.partner.microsoftonline.cn",
                                 "https://partner.outlook.cn",  // UNVERIFIED (observed in public code)
                                 "https://partner.outlook.cn",
                                 "smtp.partner.outlook.cn",
                                 {"https://partner.outlook.cn", "00000002-0000-0ff1-ce00-000000000000"}};
  switch (c) {
    case microsoft_cloud::us_government:
      return us_gov;
    case microsoft_cloud::china:
      return china;
    case microsoft_cloud::global:
      break;
  }
  return global;
}

core::error unsupported(std::string msg) {
  return make_error(oauth_errc::unsupported, std::move(msg), core::failure_class::needs_human);
}
core::error bad_input(std::string msg) {
  return make_error(oauth_errc::bad_request_input, std::move(msg), core::failure_class::needs_human);
}
core::error bad_discovery(std::string msg) {
  return make_error(oauth_errc::discovery_failed, std::move(msg), core::failure_class::needs_human);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
  return out;
}

bool is_multi_tenant_alias(std::string_view tenant) {
  const std::string t = lower(tenant);
  return t == "common" || t == "organizations" || t == "consumers";
}

bool valid_tenant(std::string_view tenant) {
  if (tenant.empty() || tenant.size() > 253) return false;
  return std::all_of(tenant.begin(), tenant.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

void apply_overrides(provider_endpoints& e, const config::account& a) {
  if (a.token_endpoint) e.token_endpoint = *a.token_endpoint;
  if (a.authorization_endpoint) e.authorization_endpoint = *a.authorization_endpoint;
  if (a.device_authorization_endpoint) e.device_authorization_endpoint = *a.device_authorization_endpoint;
  if (a.revocation_endpoint) e.revocation_endpoint = *a.revocation_endpoint;
  e.scopes = a.scopes.empty() ? e.default_scopes : a.scopes;
  if (a.smtp.tls) {
    e.smtp.tls = *a.smtp.tls;
    if (*a.smtp.tls == config::tls_setting::implicit) e.smtp.port = 465;
  }
  if (a.smtp.host) e.smtp.host = *a.smtp.host;
  if (a.smtp.port) e.smtp.port = *a.smtp.port;
  if (a.smtp.mechanism != config::mechanism_setting::automatic) e.smtp.mechanism = a.smtp.mechanism;
}

core::result<void> microsoft_preset(provider_endpoints& e, const config::account& a) {
  const bool consumer = a.provider == provider_kind::outlook;
  if (a.flow == flow_kind::service_account) {
    return unsupported(
        "the service_account flow is Google's (JWT bearer with domain-wide delegation); Microsoft app-only access "
        "uses flow = \"client_credentials\" with a client secret or certificate");
  }
  if (consumer && a.flow == flow_kind::client_credentials) {
    return unsupported(
        "Outlook.com (personal) accounts have no app-only access; use flow = \"device_code\" or "
        "\"authorization_code\", or provider = \"microsoft\" with a Microsoft 365 tenant");
  }
  if (consumer && a.cloud != microsoft_cloud::global) {
    return unsupported("Outlook.com accounts exist only in the global Microsoft cloud; remove `cloud`");
  }
  const cloud_facts& f = facts(a.cloud);
  std::string tenant;
  if (a.tenant && !a.tenant->empty()) {
    tenant = *a.tenant;
  } else if (consumer) {
    tenant = "consumers";
  } else if (a.flow == flow_kind::client_credentials) {
    return bad_input(
        "app-only (client_credentials) access needs the tenant: set tenant to the directory (tenant) ID or a "
        "verified domain, e.g. tenant = \"contoso.onmicrosoft.com\"");
  } else {
    tenant = "organizations";
  }
  if (!valid_tenant(tenant)) {
    return bad_input(
        "tenant must be a directory (tenant) ID, a domain, \"organizations\", \"common\" or "
        "\"consumers\"");
  }
  if (a.flow == flow_kind::client_credentials && is_multi_tenant_alias(tenant)) {
    return bad_input("app-only (client_credentials) access cannot use tenant \"" + tenant +
                     "\" (Microsoft refuses it, e.g. AADSTS90124/9001023); set the directory (tenant) ID or a "
                     "verified domain");
  }
  e.tenant = tenant;
  e.authority = "https://" + std::string(f.login_host) + "/" + tenant;
  e.authorization_endpoint = e.authority + "/oauth2/v2.0/authorize";
  e.token_endpoint = e.authority + "/oauth2/v2.0/token";
  e.device_authorization_endpoint = e.authority + "/oauth2/v2.0/devicecode";
  e.revocation_endpoint.clear();  // Entra has no RFC 7009 endpoint
  if (a.flow == flow_kind::client_credentials) {
    e.default_scopes = {std::string(f.app_resource) + "/.default"};
  } else {
    e.default_scopes = {std::string(f.delegated_resource) + "/SMTP.Send", "offline_access"};
  }
  e.smtp.host = consumer ? "smtp-mail.outlook.com" : std::string(f.smtp_host);
  e.smtp.port = 587;
  e.smtp.tls = config::tls_setting::starttls;
  e.smtp.mechanism = config::mechanism_setting::xoauth2;  // Exchange Online offers XOAUTH2 only (§6.5)
  e.refresh_sends_scope = true;
  e.rotates_refresh_tokens = true;
  e.loopback_host = "localhost";  // port ignored when matching http://localhost (providers.md §1.7)
  for (const auto aud : f.exchange_audiences) e.smtp_audiences.emplace_back(aud);
  return {};
}

void google_preset(provider_endpoints& e, const config::account& a) {
  e.authority = "https://accounts.google.com";
  e.authorization_endpoint = "https://accounts.google.com/o/oauth2/v2/auth";
  e.token_endpoint = "https://oauth2.googleapis.com/token";
  e.device_authorization_endpoint = "https://oauth2.googleapis.com/device/code";
  e.revocation_endpoint = "https://oauth2.googleapis.com/revoke";
  e.default_scopes = {"https://mail.google.com/"};
  e.smtp.host = "smtp.gmail.com";
  e.smtp.port = 587;
  e.smtp.tls = config::tls_setting::starttls;
  e.smtp.mechanism = config::mechanism_setting::automatic;  // Gmail offers XOAUTH2 and OAUTHBEARER
  e.public_client_sends_secret = true;
  e.loopback_host = "127.0.0.1";
  e.authorize_extra = {{"access_type", "offline"}, {"prompt", "consent"}};
  if (a.flow == flow_kind::device_code) {
    e.warnings.push_back(
        "Google's device flow allows only a limited set of scopes and Gmail's https://mail.google.com/ is not "
        "among them, so the device flow will probably be refused (invalid_scope); use flow = "
        "\"authorization_code\" (you can paste the redirected URL on a remote machine) or a service account");
  }
}

}  // namespace

// One spelling of each name: the configuration's.
std::string_view provider_name(config::provider_kind p) noexcept { return config::to_string(p); }

std::string_view flow_name(config::flow_kind f) noexcept { return config::to_string(f); }

bool is_delegated(config::flow_kind f) noexcept {
  return f == flow_kind::device_code || f == flow_kind::authorization_code;
}

core::result<provider_endpoints> resolve_provider(const config::account& a) {
  provider_endpoints e;
  e.provider = a.provider;
  e.flow = a.flow;
  switch (a.provider) {
    case provider_kind::microsoft:
    case provider_kind::outlook: {
      auto r = microsoft_preset(e, a);
      if (!r) return r.error();
      break;
    }
    case provider_kind::google:
      if (a.flow == flow_kind::client_credentials) {
        return unsupported(
            "Google has no client-credentials grant for Gmail; use flow = \"service_account\" (Workspace, "
            "domain-wide delegation) or \"authorization_code\"");
      }
      google_preset(e, a);
      break;
    case provider_kind::generic:
      if (a.flow == flow_kind::service_account) {
        return unsupported("flow = \"service_account\" is supported for provider = \"google\" only");
      }
      if (a.issuer) {
        e.issuer = *a.issuer;
        e.authority = *a.issuer;
      }
      e.smtp.mechanism = config::mechanism_setting::automatic;
      break;
  }
  apply_overrides(e, a);

  if (a.provider == provider_kind::generic) {
    const bool missing_flow_endpoint = e.token_endpoint.empty() ||
                                       (a.flow == flow_kind::device_code && e.device_authorization_endpoint.empty()) ||
                                       (a.flow == flow_kind::authorization_code && e.authorization_endpoint.empty());
    if (missing_flow_endpoint) {
      if (e.issuer.empty()) {
        return bad_input(
            "a generic provider needs either `issuer` (for RFC 8414 / OpenID discovery) or explicit endpoints: "
            "token_endpoint, plus device_authorization_endpoint for the device flow or authorization_endpoint "
            "for the authorization code flow");
      }
      e.needs_discovery = true;
    }
    if (e.smtp.host.empty()) {
      return bad_input("a generic provider has no default SMTP server: set smtp.host (and smtp.port)");
    }
  }
  if ((a.provider == provider_kind::microsoft || a.provider == provider_kind::outlook) &&
      e.smtp.tls == config::tls_setting::implicit) {
    e.warnings.push_back(
        "Microsoft documents SMTP submission on port 587 with STARTTLS only; implicit TLS (port 465) is not "
        "documented and may not work: use smtp.tls = \"starttls\"");
  }
  if (e.smtp.mechanism == config::mechanism_setting::oauthbearer &&
      (a.provider == provider_kind::microsoft || a.provider == provider_kind::outlook)) {
    e.warnings.push_back(
        "Exchange Online does not offer OAUTHBEARER, only XOAUTH2: use smtp.mechanism = \"xoauth2\" (or leave it "
        "out)");
  }
  return e;
}

// --- discovery ---

namespace {

std::string_view strip_slash(std::string_view s) {
  if (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

// Boost.URL 1.81 crashes on an empty view with a null data pointer: never hand it one.
boost::urls::result<boost::urls::url_view> parse_url(std::string_view s) {
  static constexpr char empty[] = "";
  return boost::urls::parse_absolute_uri(s.empty() ? boost::core::string_view(empty, 0)
                                                   : boost::core::string_view(s.data(), s.size()));
}

bool is_http_url(std::string_view s) {
  if (s.empty()) return false;
  auto u = parse_url(s);
  if (!u) return false;
  const auto scheme = lower(u->scheme());
  return (scheme == "https" || scheme == "http") && u->has_authority() && !u->host().empty();
}

std::string json_string(const boost::json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key)) {
    if (const auto* s = v->if_string()) return std::string(*s);
  }
  return {};
}

std::vector<std::string> json_strings(const boost::json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* v = o.if_contains(key)) {
    if (const auto* arr = v->if_array()) {
      for (const auto& item : *arr) {
        if (const auto* s = item.if_string()) out.emplace_back(*s);
      }
    }
  }
  return out;
}

}  // namespace

core::result<std::string> discovery_url(std::string_view issuer, discovery_document doc) {
  auto parsed = parse_url(issuer);
  if (!parsed || !is_http_url(issuer)) {
    return bad_discovery("the issuer must be an absolute https:// URL, e.g. issuer = \"https://login.example.com\"");
  }
  if (parsed->has_query() || parsed->has_fragment()) {
    return bad_discovery("the issuer must not have a query or fragment (RFC 8414 §2)");
  }
  const std::string origin = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_authority());
  const std::string path(strip_slash(parsed->encoded_path()));
  if (doc == discovery_document::oauth_authorization_server) {
    return origin + "/.well-known/oauth-authorization-server" + path;
  }
  return origin + path + "/.well-known/openid-configuration";
}

core::result<http_request> discovery_request(std::string_view issuer, discovery_document doc) {
  auto url = discovery_url(issuer, doc);
  if (!url) return url.error();
  http_request r;
  r.method = "GET";
  r.url = std::move(*url);
  r.headers.emplace_back("Accept", "application/json");
  return r;
}

core::result<server_metadata> parse_discovery(const http_response& response, std::string_view expected_issuer) {
  if (response.status < 200 || response.status > 299) {
    return bad_discovery("the discovery document was not found (HTTP " + std::to_string(response.status) +
                         "); check `issuer`, or configure token_endpoint (and the other endpoints) explicitly");
  }
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(response.body, ec);
  if (ec || !doc.is_object()) {
    return bad_discovery("the discovery document is not a JSON object; check `issuer`");
  }
  const auto& o = doc.get_object();
  server_metadata m;
  m.issuer = json_string(o, "issuer");
  if (strip_slash(m.issuer) != strip_slash(expected_issuer)) {
    return bad_discovery("the discovery document is for issuer \"" + m.issuer.substr(0, 200) +
                         "\", not the configured \"" + std::string(expected_issuer.substr(0, 200)) +
                         "\" (RFC 8414 §3.3 requires them to be equal); correct `issuer`");
  }
  m.authorization_endpoint = json_string(o, "authorization_endpoint");
  m.token_endpoint = json_string(o, "token_endpoint");
  m.device_authorization_endpoint = json_string(o, "device_authorization_endpoint");
  m.revocation_endpoint = json_string(o, "revocation_endpoint");
  m.jwks_uri = json_string(o, "jwks_uri");
  m.response_types_supported = json_strings(o, "response_types_supported");
  m.grant_types_supported = json_strings(o, "grant_types_supported");
  m.code_challenge_methods_supported = json_strings(o, "code_challenge_methods_supported");
  m.token_endpoint_auth_methods_supported = json_strings(o, "token_endpoint_auth_methods_supported");
  m.scopes_supported = json_strings(o, "scopes_supported");
  for (const auto* url : {&m.authorization_endpoint, &m.token_endpoint, &m.device_authorization_endpoint,
                          &m.revocation_endpoint, &m.jwks_uri}) {
    if (!url->empty() && !is_http_url(*url)) {
      return bad_discovery("the discovery document lists an endpoint that is not an http(s) URL");
    }
  }
  return m;
}

core::result<void> apply_discovery(provider_endpoints& e, const server_metadata& m) {
  if (e.token_endpoint.empty()) e.token_endpoint = m.token_endpoint;
  if (e.authorization_endpoint.empty()) e.authorization_endpoint = m.authorization_endpoint;
  if (e.device_authorization_endpoint.empty()) e.device_authorization_endpoint = m.device_authorization_endpoint;
  if (e.revocation_endpoint.empty()) e.revocation_endpoint = m.revocation_endpoint;
  e.needs_discovery = false;
  if (e.token_endpoint.empty()) {
    return bad_discovery("the authorization server publishes no token_endpoint; configure token_endpoint");
  }
  if (e.flow == flow_kind::device_code && e.device_authorization_endpoint.empty()) {
    return bad_discovery(
        "the authorization server publishes no device_authorization_endpoint (RFC 8628); configure "
        "device_authorization_endpoint or use flow = \"authorization_code\"");
  }
  if (e.flow == flow_kind::authorization_code) {
    if (e.authorization_endpoint.empty()) {
      return bad_discovery("the authorization server publishes no authorization_endpoint; configure it");
    }
    const auto& methods = m.code_challenge_methods_supported;
    if (!methods.empty() && std::find(methods.begin(), methods.end(), "S256") == methods.end()) {
      return bad_discovery(
          "the authorization server does not support PKCE with S256 (code_challenge_methods_supported), which "
          "oauthmail requires for the authorization code flow");
    }
  }
  if (!m.grant_types_supported.empty()) {
    std::string grant;
    switch (e.flow) {
      case flow_kind::client_credentials:
        grant = "client_credentials";
        break;
      case flow_kind::device_code:
        grant = "urn:ietf:params:oauth:grant-type:device_code";
        break;
      case flow_kind::authorization_code:
        grant = "authorization_code";
        break;
      case flow_kind::service_account:
        grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
        break;
    }
    const auto& g = m.grant_types_supported;
    if (std::find(g.begin(), g.end(), grant) == g.end()) {
      e.warnings.push_back("the authorization server does not list the grant type " + grant +
                           " in grant_types_supported; the token request may be refused");
    }
  }
  return {};
}

// --- one pass of discovery ---

namespace {
constexpr std::array<discovery_document, 2> discovery_order = {discovery_document::oauth_authorization_server,
                                                               discovery_document::openid_configuration};
}  // namespace

discovery_attempt::discovery_attempt(std::string issuer) : issuer_(std::move(issuer)) {}

discovery_attempt::step discovery_attempt::next() {
  if (outcome_) return *outcome_;
  if (document_ >= discovery_order.size()) {
    std::string seen;
    for (const int s : statuses_) seen += (seen.empty() ? "HTTP " : ", ") + std::to_string(s);
    if (trouble_) {
      outcome_ = failed{make_error(oauth_errc::discovery_failed,
                                   "the provider of issuer " + issuer_ + " cannot answer discovery requests now (" +
                                       seen + "); try again later",
                                   core::failure_class::transient),
                        retry_after_};
    } else {
      outcome_ = failed{bad_discovery("discovery failed for issuer " + issuer_ +
                                      ": neither /.well-known/oauth-authorization-server nor "
                                      "/.well-known/openid-configuration was found (" +
                                      seen +
                                      "); check `issuer`, or configure token_endpoint (and the other "
                                      "endpoints) explicitly"),
                        std::nullopt};
    }
    return *outcome_;
  }
  auto request = discovery_request(issuer_, discovery_order[document_]);
  if (!request) {
    outcome_ = failed{request.error(), std::nullopt};
    return *outcome_;
  }
  awaiting_ = true;
  return fetch{std::move(*request)};
}

void discovery_attempt::on_response(const http_response& response, wall_clock::time_point now) {
  if (!awaiting_ || outcome_) return;
  awaiting_ = false;
  const int status = response.status;
  if (status >= 200 && status <= 299) {
    auto meta = parse_discovery(response, issuer_);
    if (meta) {
      outcome_ = found{std::move(*meta)};
    } else {
      outcome_ = failed{make_error(oauth_errc::discovery_failed,
                                   "discovery for issuer " + issuer_ + " failed: " + meta.error().message(),
                                   core::failure_class::needs_human),
                        std::nullopt};
    }
    return;
  }
  statuses_.push_back(status);
  if (status >= 500 || status == 408 || status == 429) {
    trouble_ = true;
    if (const auto* h = response.header("retry-after")) {
      if (auto after = parse_retry_after(*h, now); after && (!retry_after_ || *after > *retry_after_)) {
        retry_after_ = after;
      }
    }
  }
  ++document_;
}

void discovery_attempt::on_transport_failure(core::error error) {
  if (!awaiting_ || outcome_) return;
  awaiting_ = false;
  const auto cls = error.classification();
  outcome_ = failed{core::error(error.code(), "discovery for issuer " + issuer_ + " failed: " + error.message(), cls),
                    std::nullopt};
}

}  // namespace oauthmail::oauth
