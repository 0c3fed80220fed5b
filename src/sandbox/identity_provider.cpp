// The sandbox identity provider (identity_provider.hpp): every endpoint, grant and error of the
// three profiles. Error texts: Microsoft's are AADSTS messages as Entra sends them (providers.md
// §1.7/§1.8 and messages quoted in public issue trackers); where Entra's wording for a condition is
// not known, the code is the nearest documented one and the text says plainly what is wrong.
// Google's are the texts its token endpoint sends (providers.md §2.3-§2.5).
#include "sandbox/identity_provider.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <boost/url/parse.hpp>
#include <cctype>
#include <ctime>
#include <functional>
#include <mutex>
#include <set>
#include <variant>

#include "core/base64.hpp"
#include "oauth/form.hpp"
#include "oauth/grants.hpp"
#include "oauth/jwt.hpp"
#include "oauth/pkce.hpp"
#include "oauth/random.hpp"

namespace oauthmail::sandbox {

namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using form_pairs = std::vector<std::pair<std::string, std::string>>;
using time_point = wall_clock::time_point;

constexpr std::size_t max_body = 64 * 1024;
constexpr std::size_t max_pending = 1000;  // device codes, login requests, codes
constexpr std::size_t max_refresh_tokens = 20000;
constexpr std::chrono::seconds assertion_max_lifetime{3600};
constexpr std::chrono::seconds clock_skew{300};  // nbf / iat in the future: Entra's five minutes

// --- small helpers ---

std::int64_t unix_seconds(time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
time_point from_unix(std::int64_t s) { return time_point(std::chrono::seconds(s)); }

std::string utc(time_point t, const char* format) {
  const std::time_t tt = static_cast<std::time_t>(unix_seconds(t));
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}
std::string ms_timestamp(time_point t) { return utc(t, "%Y-%m-%d %H:%M:%SZ"); }        // 2016-01-09 02:02:12Z
std::string ms_instant(time_point t) { return utc(t, "%Y-%m-%dT%H:%M:%S.0000000Z"); }  // AADSTS700024 / 50173
std::string ms_cert_date(time_point t) { return utc(t, "%m/%d/%Y %H:%M:%S"); }         // AADSTS700027 key dates

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}
std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}
bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Constant time for equal lengths (secrets, PKCE challenges).
bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string random_chars(const oauth::random_source& random, std::string_view alphabet, std::size_t n) {
  const std::size_t limit = 256 - (256 % alphabet.size());
  std::string out;
  while (out.size() < n) {
    std::array<unsigned char, 32> buf{};
    random(buf);
    for (const unsigned char c : buf) {
      if (c < limit && out.size() < n) out.push_back(alphabet[c % alphabet.size()]);
    }
  }
  return out;
}
std::string random_b64(const oauth::random_source& random, std::size_t bytes) {
  return core::base64url_encode(oauth::random_bytes(random, bytes));
}

const std::string* find_param(const form_pairs& f, std::string_view name) {
  const std::string* found = nullptr;
  for (const auto& [k, v] : f) {
    if (k == name) found = &v;
  }
  return found;
}
// RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted".
std::optional<std::string> param(const form_pairs& f, std::string_view name) {
  const std::string* v = find_param(f, name);
  if (v == nullptr || v->empty()) return std::nullopt;
  return *v;
}
std::optional<std::string> duplicated_name(const form_pairs& f) {
  std::set<std::string_view> seen;
  for (const auto& [k, v] : f) {
    if (!seen.insert(k).second) return k;
  }
  return std::nullopt;
}

std::vector<std::string> split_scopes(std::string_view text) { return oauth::split_scopes(text); }
std::string join(const std::vector<std::string>& v, std::string_view sep = " ") {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}
bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string claim_string(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}
std::optional<std::int64_t> claim_time(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() < (1ULL << 62)) return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double() && v->get_double() > -1e15 && v->get_double() < 1e15)
    return static_cast<std::int64_t>(v->get_double());
  return std::nullopt;
}
std::vector<std::string> claim_strings(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  const auto* v = o.if_contains(key);
  if (v == nullptr) return out;
  if (v->is_string()) out.emplace_back(v->get_string());
  if (v->is_array()) {
    for (const auto& e : v->get_array()) {
      if (e.is_string()) out.emplace_back(e.get_string());
    }
  }
  return out;
}

std::string hex_upper(std::string_view bytes) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// "P.hh:mm:ss" as .NET prints a TimeSpan (AADSTS700082 "was inactive for 90.00:00:00").
std::string timespan(std::chrono::seconds s) {
  const auto total = std::max<std::int64_t>(s.count(), 0);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld.%02lld:%02lld:%02lld", static_cast<long long>(total / 86400),
                static_cast<long long>(total / 3600 % 24), static_cast<long long>(total / 60 % 60),
                static_cast<long long>(total % 60));
  return buf;
}

// RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E )
bool valid_scope_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
  });
}

// --- errors ---

// One token-endpoint error, before it is shaped for the profile.
struct token_error {
  token_error() = default;
  token_error(int s, std::string e, long c, std::string d)
      : status(s), error(std::move(e)), code(c), description(std::move(d)) {}

  int status = 400;
  std::string error;
  long code = 0;            // AADSTS number (microsoft)
  std::string description;  // microsoft: without "AADSTSnnn: " and the trace block
  std::vector<std::pair<std::string, std::string>> headers;
};

template <class T>
struct outcome {
  std::optional<T> value;
  std::optional<token_error> error;
  outcome(T v) : value(std::move(v)) {}            // NOLINT(google-explicit-constructor)
  outcome(token_error e) : error(std::move(e)) {}  // NOLINT(google-explicit-constructor)
  explicit operator bool() const { return value.has_value(); }
};

// --- Microsoft scopes (providers.md §1.4) ---

enum class ms_resource { exchange, graph };

struct ms_scope {
  std::string text;  // as requested
  bool oidc = false;
  ms_resource resource = ms_resource::graph;
  std::string resource_uri;  // "https://outlook.office.com"
  std::string permission;    // "SMTP.Send" or ".default"
};

constexpr std::array<std::string_view, 4> ms_oidc_scopes = {"openid", "profile", "email", "offline_access"};
constexpr std::array<std::string_view, 4> exchange_delegated = {"SMTP.Send", "IMAP.AccessAsUser.All",
                                                                "POP.AccessAsUser.All", "EWS.AccessAsUser.All"};
constexpr std::array<std::string_view, 8> graph_delegated = {"Mail.Send",
                                                             "Mail.Read",
                                                             "Mail.ReadWrite",
                                                             "User.Read",
                                                             "SMTP.Send",
                                                             "IMAP.AccessAsUser.All",
                                                             "POP.AccessAsUser.All",
                                                             "offline_access"};
// What the sandbox's app registrations have consented (".default" expands to these).
constexpr std::array<std::string_view, 3> exchange_consented = {"SMTP.Send", "IMAP.AccessAsUser.All",
                                                                "POP.AccessAsUser.All"};
constexpr std::array<std::string_view, 2> graph_consented = {"Mail.Send", "User.Read"};

std::optional<std::pair<ms_resource, std::string>> ms_known_resource(std::string_view uri) {
  const std::string u = lower(uri);
  if (u == "https://outlook.office.com" || u == "https://outlook.office365.com")
    return std::pair{ms_resource::exchange, u};
  if (u == "https://graph.microsoft.com") return std::pair{ms_resource::graph, u};
  return std::nullopt;
}

template <std::size_t N>
std::optional<std::string> canonical_permission(const std::array<std::string_view, N>& known, std::string_view p) {
  for (const auto k : known) {
    if (iequals(k, p)) return std::string(k);
  }
  return std::nullopt;
}

std::vector<std::string> ms_expand(const ms_scope& s) {
  std::vector<std::string> out;
  if (s.permission != ".default") {
    out.push_back(s.permission);
    return out;
  }
  if (s.resource == ms_resource::exchange) {
    for (auto p : exchange_consented) out.emplace_back(p);
  } else {
    for (auto p : graph_consented) out.emplace_back(p);
  }
  return out;
}

// --- Google scopes (providers.md §2.3) ---

constexpr std::array<std::string_view, 10> google_scopes = {"https://mail.google.com/",
                                                            "https://www.googleapis.com/auth/gmail.send",
                                                            "https://www.googleapis.com/auth/gmail.readonly",
                                                            "https://www.googleapis.com/auth/gmail.modify",
                                                            "https://www.googleapis.com/auth/gmail.compose",
                                                            "openid",
                                                            "email",
                                                            "profile",
                                                            "https://www.googleapis.com/auth/userinfo.email",
                                                            "https://www.googleapis.com/auth/userinfo.profile"};
// Google's device flow takes only a short list of scopes, and no Gmail scope (providers.md §2.4).
constexpr std::array<std::string_view, 5> google_device_scopes = {"openid", "email", "profile",
                                                                  "https://www.googleapis.com/auth/userinfo.email",
                                                                  "https://www.googleapis.com/auth/userinfo.profile"};

// What a token will carry, decided from the grant and the scopes.
struct token_plan {
  std::vector<std::string> audiences;
  std::vector<std::string> token_scopes;
  std::vector<std::string> roles;
  std::string response_scope;  // the response's "scope" ("" = omitted)
  bool refresh = false;        // issue a refresh token
};

// --- state kept by the provider ---

enum class rt_state { active, rotated, revoked };

struct refresh_record {
  std::string client_id;
  std::string user;
  std::vector<std::string> consent;  // scopes as agreed at sign-in
  std::string family;
  time_point issued_at{};
  time_point expires_at{};
  rt_state state = rt_state::active;
  std::string resource;  // generic: RFC 8707 resource of the grant
};

struct device_record {
  std::string device_code;
  std::string user_code;  // canonical: upper-case, no separators
  std::string display_code;
  std::string client_id;
  std::vector<std::string> scopes;
  time_point created{};
  time_point expires_at{};
  time_point last_poll{};
  std::chrono::seconds interval{5};
  enum class status { pending, approved, declined, redeemed } st = status::pending;
  std::string user;
};

struct code_record {
  std::string client_id;
  std::string user;
  std::string redirect_uri;
  std::string code_challenge;
  std::vector<std::string> scopes;
  std::string resource;
  bool offline = false;
  time_point expires_at{};
  bool redeemed = false;
  std::string family;  // the grant issued when it was redeemed (revoked when the code is replayed)
};

struct pending_login {
  std::string client_id;
  std::string redirect_uri;
  std::string state;
  std::string code_challenge;
  std::string login_hint;
  std::string resource;
  std::vector<std::string> scopes;
  bool offline = false;
  time_point expires_at{};
};

struct family_record {
  std::vector<std::pair<std::string, time_point>> access_tokens;  // minted JWTs, until they expire
  std::string client_id;
  std::string user;
};

struct counter {
  std::uint64_t requests = 0, issued = 0, errors = 0;
};

// The tenant segment of a Microsoft path.
enum class tenant_kind { own, organizations, common, consumers, unknown };

struct authenticated_client {
  const client* c = nullptr;
  bool used_basic = false;
};

std::string canonical_user_code(std::string_view s) {
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c)) out.push_back(static_cast<char>(std::toupper(c)));
  }
  return out;
}

}  // namespace

std::string idp_issuer(profile_kind profile, std::string_view base_url, std::string_view tenant_id) {
  if (profile == profile_kind::microsoft) return std::string(base_url) + "/" + std::string(tenant_id) + "/v2.0";
  return std::string(base_url);
}

struct identity_provider::impl {
  idp_settings settings;
  const directory& dir;
  token_authority& tokens;
  fault_registry& faults;
  oauth::random_source random = oauth::system_random();
  std::mutex mutex;
  time_point last_now{};

  std::map<std::string, refresh_record, std::less<>> refresh_tokens;
  std::map<std::string, family_record, std::less<>> families;
  std::map<std::string, device_record, std::less<>> devices;  // by device_code
  std::map<std::string, code_record, std::less<>> codes;
  std::map<std::string, pending_login, std::less<>> logins;  // by request id
  std::map<std::string, time_point, std::less<>> used_jtis;  // client_id + " " + jti -> exp
  std::map<std::string, counter, std::less<>> token_counters;
  counter device_counter;
  std::map<std::string, std::uint64_t, std::less<>> fault_counters;

  impl(idp_settings s, const directory& d, token_authority& t, fault_registry& f)
      : settings(std::move(s)), dir(d), tokens(t), faults(f) {}

  profile_kind profile() const { return dir.profile; }
  bool ms() const { return dir.profile == profile_kind::microsoft; }
  bool google() const { return dir.profile == profile_kind::google; }
  const std::string& base() const { return settings.base_url; }

  // ---------------------------------------------------------------- endpoints

  idp_endpoints endpoints() const {
    idp_endpoints e;
    e.issuer = tokens.issuer();
    const std::string& b = base();
    e.introspection = b + "/introspect";
    e.device_page = b + "/device";
    switch (profile()) {
      case profile_kind::microsoft: {
        const std::string t = b + "/" + dir.tenant_id;
        e.discovery = t + "/v2.0/.well-known/openid-configuration";
        e.token = t + "/oauth2/v2.0/token";
        e.device_authorization = t + "/oauth2/v2.0/devicecode";
        e.authorization = t + "/oauth2/v2.0/authorize";
        e.jwks = t + "/discovery/v2.0/keys";
        break;
      }
      case profile_kind::google:
        e.discovery = b + "/.well-known/openid-configuration";
        e.token = b + "/token";
        e.device_authorization = b + "/device/code";
        e.authorization = b + "/o/oauth2/v2/auth";
        e.revocation = b + "/revoke";
        e.jwks = b + "/oauth2/v3/certs";
        break;
      case profile_kind::generic:
        e.discovery = b + "/.well-known/oauth-authorization-server";
        e.token = b + "/token";
        e.device_authorization = b + "/device/code";
        e.authorization = b + "/authorize";
        e.revocation = b + "/revoke";
        e.jwks = b + "/jwks";
        break;
    }
    return e;
  }

  tenant_kind classify_tenant(std::string_view t) const {
    if (iequals(t, dir.tenant_id) || iequals(t, dir.domain)) return tenant_kind::own;
    if (iequals(t, "organizations")) return tenant_kind::organizations;
    if (iequals(t, "common")) return tenant_kind::common;
    if (iequals(t, "consumers")) return tenant_kind::consumers;
    return tenant_kind::unknown;
  }

  // ---------------------------------------------------------------- error shapes

  // Picks the error of the profile: Microsoft's, Google's or the RFC's.
  token_error pick(token_error microsoft, token_error google_e, token_error generic) const {
    switch (profile()) {
      case profile_kind::microsoft:
        return microsoft;
      case profile_kind::google:
        return google_e;
      case profile_kind::generic:
        break;
    }
    return generic;
  }

  http_response render(const token_error& e, const http_request& request, time_point now) const {
    json::object o;
    o["error"] = e.error;
    if (ms()) {
      const std::string trace = oauth::random_uuid(random);
      std::string correlation = request.header("client-request-id").value_or("");
      if (correlation.size() != 36 || !std::all_of(correlation.begin(), correlation.end(),
                                                   [](unsigned char c) { return std::isxdigit(c) || c == '-'; })) {
        correlation = oauth::random_uuid(random);
      }
      const std::string ts = ms_timestamp(now);
      o["error_description"] = "AADSTS" + std::to_string(e.code) + ": " + e.description + "\r\nTrace ID: " + trace +
                               "\r\nCorrelation ID: " + correlation + "\r\nTimestamp: " + ts;
      o["error_codes"] = json::array{e.code};
      o["timestamp"] = ts;
      o["trace_id"] = trace;
      o["correlation_id"] = correlation;
      o["error_uri"] = "https://login.microsoftonline.com/error?code=" + std::to_string(e.code);
    } else if (!e.description.empty()) {
      o["error_description"] = e.description;
    }
    auto r = http_response::json(e.status, json::serialize(o));
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back("Pragma", "no-cache");
    for (const auto& h : e.headers) r.headers.push_back(h);
    return r;
  }

  // ---------------------------------------------------------------- common errors

  token_error malformed_request(std::string_view what) const {
    return pick({400, "invalid_request", 9002313, "Invalid request. Request is malformed or invalid."},
                {400, "invalid_request", 0, std::string(what)}, {400, "invalid_request", 0, std::string(what)});
  }
  token_error missing_parameter(std::string_view name) const {
    return pick({400, "invalid_request", 900144,
                 "The request body must contain the following parameter: '" + std::string(name) + "'."},
                {400, "invalid_request", 0, "Missing required parameter: " + std::string(name)},
                {400, "invalid_request", 0, "The request is missing the parameter " + std::string(name) + "."});
  }
  token_error only_post(std::string_view method) const {
    auto e = pick({400, "invalid_request", 900561,
                   "The endpoint only accepts POST, OPTIONS requests. Received a " + std::string(method).substr(0, 16) +
                       " request."},
                  {405, "invalid_request", 0, "Invalid request method, must be POST."},
                  {405, "invalid_request", 0, "This endpoint takes POST requests only."});
    if (e.status == 405) e.headers.emplace_back("Allow", "POST");
    return e;
  }
  token_error only_get(std::string_view method) const {
    token_error e{
        405, "invalid_request", 900561,
        "The endpoint only accepts GET requests. Received a " + std::string(method).substr(0, 16) + " request."};
    e.headers.emplace_back("Allow", "GET, HEAD");
    return e;
  }
  token_error unknown_tenant(std::string_view t) const {
    return {400, "invalid_request", 90002,
            "Tenant '" + std::string(t).substr(0, 100) +
                "' not found. Check to make sure you have the correct tenant ID and are signing into the correct "
                "cloud. Check with your subscription administrator, this may happen if there are no active "
                "subscriptions for the tenant."};
  }
  token_error unknown_client(std::string_view id, tenant_kind t) const {
    const std::string dirname = t == tenant_kind::consumers ? "Microsoft Accounts" : dir.domain;
    return pick({400, "unauthorized_client", 700016,
                 "Application with identifier '" + std::string(id).substr(0, 100) +
                     "' was not found in the directory '" + dirname +
                     "'. This can happen if the application has not been installed by the administrator of the "
                     "tenant or consented to by any user in the tenant. You may have sent your authentication "
                     "request to the wrong tenant."},
                {401, "invalid_client", 0, "The OAuth client was not found."},
                {401, "invalid_client", 0, "Unknown client."});
  }
  token_error invalid_scope(std::string_view scope) const {
    return pick({400, "invalid_scope", 70011,
                 "The provided value for the input parameter 'scope' isn't valid. The scope " +
                     std::string(scope).substr(0, 300) + " isn't valid."},
                {400, "invalid_scope", 0,
                 "Some requested scopes were invalid. {invalid=[" + std::string(scope).substr(0, 300) + "]}"},
                {400, "invalid_scope", 0, "The scope " + std::string(scope).substr(0, 300) + " is not valid."});
  }
  token_error two_resources(std::string_view scope) const {
    return {400, "invalid_scope", 28000,
            "Provided value for the input parameter scope is not valid because it contains more than one resource. "
            "Scope " +
                std::string(scope).substr(0, 300) + " is not valid."};
  }
  token_error invalid_grant_generic(std::string_view generic_text) const {
    return pick({400, "invalid_grant", 70000, "Provided grant is invalid or malformed. " + std::string(generic_text)},
                {400, "invalid_grant", 0, "Bad Request"}, {400, "invalid_grant", 0, std::string(generic_text)});
  }
  token_error invalid_client_basic(bool basic) const {
    token_error e{401, "invalid_client", 0, "Client authentication failed."};
    if (basic) e.headers.emplace_back("WWW-Authenticate", "Basic realm=\"oauthmail-sandbox\"");
    return e;
  }

  // ---------------------------------------------------------------- client authentication

  // RFC 6749 §2.3: client_secret_basic (id and secret form-encoded before base64, §2.3.1),
  // client_secret_post, private_key_jwt (RFC 7523 §2.2), or none for public clients.
  // `credentials_required`: Google public clients must send their secret for this request.
  outcome<authenticated_client> authenticate(const form_pairs& f, const http_request& request, time_point now,
                                             tenant_kind tenant) {
    std::optional<std::string> basic_id, basic_secret;
    if (auto h = request.header("authorization")) {
      const std::string_view v = *h;
      if (v.size() > 6 && iequals(v.substr(0, 6), "basic ")) {
        auto decoded = core::base64_decode_lenient(v.substr(6));
        const auto colon = decoded ? decoded->find(':') : std::string::npos;
        if (!decoded || colon == std::string::npos) return malformed_request("Malformed Authorization header.");
        auto pairs = parse_form_strict(decoded->substr(0, colon) + "=" + decoded->substr(colon + 1));
        core::secure_wipe(decoded->data(), decoded->size());
        if (!pairs || pairs->size() != 1) return malformed_request("Malformed Authorization header.");
        basic_id = std::move(pairs->front().first);
        basic_secret = std::move(pairs->front().second);
      }
    }
    const auto body_id = param(f, "client_id");
    const auto body_secret = param(f, "client_secret");
    const auto assertion = param(f, "client_assertion");
    const auto assertion_type = param(f, "client_assertion_type");
    if (basic_id && (body_secret || assertion)) {
      return pick({400, "invalid_request", 9002313,
                   "Invalid request. Request is malformed or invalid. More than one client authentication method "
                   "was used."},
                  {400, "invalid_request", 0, "Client authentication via multiple methods is not allowed."},
                  {400, "invalid_request", 0, "The client used more than one authentication method (RFC 6749 §2.3)."});
    }
    if (basic_id && body_id && *basic_id != *body_id) {
      return malformed_request("The client_id differs from the one in the Authorization header.");
    }
    std::string client_id = basic_id ? *basic_id : body_id.value_or("");
    if (client_id.empty() && assertion) {  // RFC 7521 §4.2: client_id may be left out with an assertion
      if (auto d = oauth::decode_unverified(*assertion)) client_id = claim_string(d->claims, "sub");
    }
    if (client_id.empty()) {
      return pick(
          {400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."},
          {400, "invalid_request", 0, "Could not determine client ID from request."},
          {401, "invalid_client", 0, "The request names no client (client_id)."});
    }
    const client* c = dir.find_client_by_id(client_id);
    if (c == nullptr || c->kind == client_kind::service_account) return unknown_client(client_id, tenant);
    if (ms() && tenant == tenant_kind::consumers) return unknown_client(client_id, tenant);
    const std::optional<std::string>& secret = basic_id ? basic_secret : body_secret;
    const bool has_secret = secret && !secret->empty();

    if (c->kind == client_kind::public_client && !google()) {
      if (has_secret || assertion) {
        return pick({401, "invalid_client", 700025,
                     "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."},
                    {}, {401, "invalid_client", 0, "A public client must not present a secret or an assertion."});
      }
      return authenticated_client{c, false};
    }
    if (assertion) {
      if (auto e = check_client_assertion(*c, *assertion, assertion_type, request, now)) return *e;
      return authenticated_client{c, false};
    }
    if (!has_secret) {
      return pick({401, "invalid_client", 7000218,
                   "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."},
                  {400, "invalid_request", 0, "client_secret is missing."},
                  {401, "invalid_client", 0, "Client authentication is required for this client."});
    }
    if (c->secret.empty() || !same_secret(*secret, c->secret)) {
      token_error generic = invalid_client_basic(basic_id.has_value());
      generic.description = "Client authentication failed: the client secret is wrong.";
      return pick({401, "invalid_client", 7000215,
                   "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                   "value, not the client secret ID, for a secret added to app '" +
                       c->client_id + "'."},
                  {401, "invalid_client", 0, "Unauthorized"}, generic);
    }
    return authenticated_client{c, basic_id.has_value()};
  }

  // The token endpoint URLs an assertion may name as `aud`: the URL the request came to and the
  // canonical token endpoint (and, generic only, the issuer: RFC 7523 §3).
  bool audience_ok(const std::vector<std::string>& aud, const http_request& request) const {
    std::vector<std::string> accepted = {base() + std::string(request.path()), endpoints().token};
    if (profile() == profile_kind::generic) accepted.push_back(tokens.issuer());
    return std::any_of(aud.begin(), aud.end(), [&](const std::string& a) { return contains(accepted, a); });
  }

  std::optional<token_error> check_client_assertion(const client& c, const std::string& assertion,
                                                    const std::optional<std::string>& type, const http_request& request,
                                                    time_point now) {
    if (!type) {
      return pick({400, "invalid_request", 90014,
                   "The required field 'client_assertion_type' is missing from the credential. Ensure that you have "
                   "all the necessary parameters for the login request."},
                  {400, "invalid_request", 0, "Missing required parameter: client_assertion_type"},
                  {400, "invalid_request", 0, "client_assertion_type is missing."});
    }
    if (*type != oauth::assertion_type_jwt_bearer) {
      return pick({400, "invalid_request", 9002313,
                   "Invalid request. Request is malformed or invalid. Unsupported client_assertion_type."},
                  {400, "invalid_request", 0, "Invalid client_assertion_type"},
                  {400, "invalid_request", 0,
                   "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer."});
    }
    const token_error malformed = pick({401, "invalid_client", 50027, "JWT token is invalid or malformed."},
                                       {401, "invalid_client", 0, "Unauthorized"},
                                       {401, "invalid_client", 0, "The client assertion is not a valid JWT."});
    auto decoded = oauth::decode_unverified(assertion);
    if (!decoded) return malformed;
    const auto& header = decoded->header;
    const auto& claims = decoded->claims;
    const std::string alg = claim_string(header, "alg");

    std::optional<oauth::certificate_info> cert;
    if (!c.certificate_pem.empty()) {
      if (auto ci = oauth::read_certificate(c.certificate_pem)) cert = std::move(*ci);
    }
    // Which key the client says it used.
    const std::string x5t = claim_string(header, "x5t");
    const std::string x5t256 = claim_string(header, "x5t#S256");
    const std::string kid = claim_string(header, "kid");
    std::string thumbprint_shown;  // as Entra prints it: upper-case hex
    if (!x5t.empty() || !x5t256.empty()) {
      auto raw = core::base64url_decode(!x5t.empty() ? x5t : x5t256);
      thumbprint_shown = raw ? hex_upper(*raw) : (!x5t.empty() ? x5t : x5t256);
    } else {
      thumbprint_shown = kid;
    }
    if (ms() && x5t.empty() && x5t256.empty()) {
      return token_error{401, "invalid_client", 50027,
                         "Invalid JWT token. No certificate thumbprint specified in token header."};
    }
    bool key_found = cert.has_value();
    if (cert) {
      if (!x5t.empty() && x5t != cert->x5t) key_found = false;
      if (x5t.empty() && !x5t256.empty() && x5t256 != cert->x5t_s256) key_found = false;
      if (x5t.empty() && x5t256.empty() && !kid.empty() && kid != cert->x5t && kid != cert->x5t_s256 &&
          kid != c.key_id) {
        key_found = false;
      }
    }
    if (!key_found) {
      return pick({401, "invalid_client", 700027,
                   "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of "
                   "key used by client: '" +
                       thumbprint_shown.substr(0, 100) +
                       "', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured "
                       "keys for app Id '" +
                       c.client_id + "'.]"},
                  {401, "invalid_client", 0, "Unauthorized"},
                  {401, "invalid_client", 0, "The client has no key matching the client assertion's header."});
    }
    if ((alg != "RS256" && alg != "PS256") || !oauth::verify_signature(assertion, c.certificate_pem)) {
      return pick({401, "invalid_client", 700027,
                   "Client assertion contains an invalid signature. [Reason - Key was found, but use of the key to "
                   "verify the signature failed., Thumbprint of key used by client: '" +
                       thumbprint_shown.substr(0, 100) + "', Found key 'Start=" + ms_cert_date(cert->not_before) +
                       ", End=" + ms_cert_date(cert->not_after) + "']"},
                  {401, "invalid_client", 0, "Unauthorized"},
                  {401, "invalid_client", 0, "The client assertion's signature does not verify."});
    }
    if (claim_string(claims, "iss") != c.client_id || claim_string(claims, "sub") != c.client_id) {
      return pick({401, "invalid_client", 700021,
                   "Client assertion application identifier doesn't match 'client_id' parameter."},
                  {401, "invalid_client", 0, "Unauthorized"},
                  {401, "invalid_client", 0, "The client assertion's iss and sub must both be the client_id."});
    }
    if (!audience_ok(claim_strings(claims, "aud"), request)) {
      return pick({401, "invalid_client", 50012, "Client assertion audience claim does not match Realm issuer."},
                  {401, "invalid_client", 0, "Unauthorized"},
                  {401, "invalid_client", 0, "The client assertion's aud must be the token endpoint URL."});
    }
    const auto exp = claim_time(claims, "exp");
    const auto nbf = claim_time(claims, "nbf");
    const auto t = unix_seconds(now);
    if (!exp || *exp <= t || *exp > t + assertion_max_lifetime.count() || (nbf && *nbf > t + clock_skew.count())) {
      const std::string from = nbf ? ms_instant(from_unix(*nbf)) : std::string("(none)");
      const std::string to = exp ? ms_instant(from_unix(*exp)) : std::string("(none)");
      return pick({401, "invalid_client", 700024,
                   "Client assertion is not within its valid time range. Current time: " + ms_instant(now) +
                       ", assertion valid from " + from + ", expiry time of assertion " + to +
                       ". Review the documentation at "
                       "https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."},
                  {401, "invalid_client", 0, "Unauthorized"},
                  {401, "invalid_client", 0,
                   "The client assertion has expired, is not valid yet, or is valid for more than one hour."});
    }
    const std::string jti = claim_string(claims, "jti");
    if (jti.empty() && ms()) return malformed;
    if (!jti.empty()) {
      std::erase_if(used_jtis, [t](const auto& e) { return unix_seconds(e.second) <= t; });
      if (!used_jtis.emplace(c.client_id + " " + jti, from_unix(*exp)).second) {
        return pick({401, "invalid_client", 50013,
                     "Assertion is invalid because of various reasons. The assertion's jti was used before: a client "
                     "assertion is good for one request."},
                    {401, "invalid_client", 0, "Unauthorized"},
                    {401, "invalid_client", 0, "The client assertion was used before (its jti is not new)."});
      }
    }
    return std::nullopt;
  }

  // ---------------------------------------------------------------- scopes

  // Microsoft delegated scopes: validates each and splits them into OIDC and resource scopes.
  outcome<std::vector<ms_scope>> ms_parse(const std::vector<std::string>& scopes) const {
    std::vector<ms_scope> out;
    for (const auto& s : scopes) {
      ms_scope m;
      m.text = s;
      if (std::any_of(ms_oidc_scopes.begin(), ms_oidc_scopes.end(), [&](auto o) { return iequals(o, s); })) {
        m.oidc = true;
        m.permission = lower(s);
        out.push_back(std::move(m));
        continue;
      }
      const auto slash = s.rfind('/');
      if (slash == std::string::npos) {  // a bare permission is a Microsoft Graph one
        auto p = canonical_permission(graph_delegated, s);
        if (!p) return invalid_scope(s);
        m.resource = ms_resource::graph;
        m.resource_uri = "https://graph.microsoft.com";
        m.permission = *p;
        out.push_back(std::move(m));
        continue;
      }
      auto res = ms_known_resource(std::string_view(s).substr(0, slash));
      const std::string_view perm = std::string_view(s).substr(slash + 1);
      if (!res) return invalid_scope(s);
      m.resource = res->first;
      m.resource_uri = res->second;
      if (perm == ".default") {
        m.permission = ".default";
      } else {
        auto p = res->first == ms_resource::exchange ? canonical_permission(exchange_delegated, perm)
                                                     : canonical_permission(graph_delegated, perm);
        if (!p) return invalid_scope(s);
        m.permission = *p;
      }
      out.push_back(std::move(m));
    }
    return out;
  }

  // One resource per token; ".default" not mixed with named scopes of the same resource.
  std::optional<token_error> ms_check_one_resource(const std::vector<ms_scope>& parsed, const std::string& text) const {
    std::optional<ms_resource> first;
    bool has_default = false, has_named = false;
    for (const auto& m : parsed) {
      if (m.oidc) continue;
      if (first && *first != m.resource) return two_resources(text);
      first = m.resource;
      (m.permission == ".default" ? has_default : has_named) = true;
    }
    if (has_default && has_named) return invalid_scope(text);
    return std::nullopt;
  }

  // A Microsoft delegated token for the first resource of `requested` (or of the consent).
  outcome<token_plan> ms_delegated_plan(const std::vector<std::string>& consent,
                                        const std::vector<std::string>& requested, const client& c) const {
    auto granted = ms_parse(consent);
    if (!granted) return *granted.error;
    const std::vector<std::string>& use = requested.empty() ? consent : requested;
    auto wanted = ms_parse(use);
    if (!wanted) return *wanted.error;
    if (!requested.empty()) {
      if (auto e = ms_check_one_resource(*wanted.value, join(requested))) return *e;
      // Every requested permission must have been consented to at sign-in.
      for (const auto& w : *wanted.value) {
        if (w.oidc) {
          continue;
        }
        for (const auto& p : ms_expand(w)) {
          const bool ok = std::any_of(granted.value->begin(), granted.value->end(), [&](const ms_scope& g) {
            if (g.oidc || g.resource != w.resource) return false;
            return contains(ms_expand(g), p);
          });
          if (!ok) {
            return token_error{400, "invalid_grant", 65001,
                               "The user or administrator has not consented to use the application with ID '" +
                                   c.client_id + "' named '" + c.name +
                                   "'. Send an interactive authorization request for this user and resource."};
          }
        }
      }
    }
    token_plan plan;
    const ms_scope* first = nullptr;
    for (const auto& w : *wanted.value) {
      if (!w.oidc) {
        first = &w;
        break;
      }
    }
    std::vector<std::string> full;
    if (first == nullptr) {  // only OpenID scopes: Entra gives a Microsoft Graph token for the profile
      plan.audiences = {"https://graph.microsoft.com"};
      plan.token_scopes = {"User.Read"};
      for (const auto& w : *wanted.value) {
        if (w.permission != "offline_access") plan.token_scopes.push_back(w.permission);
      }
      full.push_back("https://graph.microsoft.com/User.Read");
    } else {
      plan.audiences = {first->resource_uri};
      for (const auto& w : *wanted.value) {
        if (w.oidc || w.resource != first->resource) continue;
        for (auto& p : ms_expand(w)) {
          if (!contains(plan.token_scopes, p)) {
            full.push_back(first->resource_uri + "/" + p);
            plan.token_scopes.push_back(std::move(p));
          }
        }
      }
    }
    plan.response_scope = join(full);
    plan.refresh = std::any_of(granted.value->begin(), granted.value->end(),
                               [](const ms_scope& g) { return g.oidc && g.permission == "offline_access"; });
    return plan;
  }

  // Client credentials at Microsoft: "<resource>/.default", one resource.
  outcome<token_plan> ms_app_plan(const std::vector<std::string>& scopes, const client& c) const {
    if (scopes.empty()) return missing_parameter("scope");
    std::optional<std::pair<ms_resource, std::string>> resource;
    for (const auto& s : scopes) {
      const auto slash = s.rfind('/');
      if (slash == std::string::npos || std::string_view(s).substr(slash + 1) != ".default") {
        return token_error{400, "invalid_scope", 1002012,
                           "The provided value for scope " + s.substr(0, 300) +
                               " is not valid. Client credential flows must have a scope value with /.default "
                               "suffixed to the resource identifier (application ID URI)."};
      }
      auto r = ms_known_resource(std::string_view(s).substr(0, slash));
      if (!r) {
        return token_error{400, "invalid_resource", 500011,
                           "The resource principal named " + s.substr(0, slash).substr(0, 300) +
                               " was not found in the tenant named " + dir.domain +
                               ". This can happen if the application has not been installed by the administrator of "
                               "the tenant or consented to by any user in the tenant. You might have sent your "
                               "authentication request to the wrong tenant."};
      }
      if (resource && resource->first != r->first) return two_resources(join(scopes));
      if (!resource) resource = r;
    }
    token_plan plan;
    plan.audiences = {resource->second};
    // SMTP.SendAsApp is an application permission of Exchange Online; Exchange honours it only for a
    // registered service principal (New-ServicePrincipal), which the sandbox models by leaving the
    // role out: the token is issued, and SMTP answers 5.7.3 as in real life.
    if (resource->first == ms_resource::exchange && c.service_principal) plan.roles = {"SMTP.SendAsApp"};
    return plan;
  }

  outcome<std::vector<std::string>> google_check(const std::vector<std::string>& scopes, bool device) const {
    if (scopes.empty()) return missing_parameter("scope");
    std::vector<std::string> invalid;
    for (const auto& s : scopes) {
      if (std::none_of(google_scopes.begin(), google_scopes.end(), [&](auto g) { return g == s; }))
        invalid.push_back(s);
    }
    if (!invalid.empty()) {
      std::vector<std::string> valid;
      for (const auto& s : scopes) {
        if (!contains(invalid, s)) valid.push_back(s);
      }
      return token_error{400, "invalid_scope", 0,
                         "Some requested scopes were invalid. {valid=[" + join(valid, ", ").substr(0, 300) +
                             "], invalid=[" + join(invalid, ", ").substr(0, 300) + "]}"};
    }
    if (device) {
      for (const auto& s : scopes) {
        if (std::none_of(google_device_scopes.begin(), google_device_scopes.end(), [&](auto g) { return g == s; })) {
          return token_error{400, "invalid_scope", 0, "Invalid device flow scope: " + s};
        }
      }
    }
    return scopes;
  }

  outcome<std::vector<std::string>> generic_check(const std::vector<std::string>& scopes) const {
    for (const auto& s : scopes) {
      if (!valid_scope_token(s)) return invalid_scope(s);
    }
    return scopes;
  }

  // Validates the scopes of a delegated request (authorize, device authorization) for the profile.
  outcome<std::vector<std::string>> check_delegated_scopes(const std::vector<std::string>& scopes, bool device) const {
    switch (profile()) {
      case profile_kind::microsoft: {
        if (scopes.empty()) return missing_parameter("scope");
        auto parsed = ms_parse(scopes);
        if (!parsed) return *parsed.error;
        // Sign-in may span resources, but ".default" is not combined with named scopes of its resource.
        for (const auto& a : *parsed.value) {
          for (const auto& b : *parsed.value) {
            if (!a.oidc && !b.oidc && a.resource == b.resource && a.permission == ".default" &&
                b.permission != ".default") {
              return invalid_scope(join(scopes));
            }
          }
        }
        return scopes;
      }
      case profile_kind::google:
        return google_check(scopes, device);
      case profile_kind::generic:
        break;
    }
    return generic_check(scopes);
  }

  // The plan of a delegated token from a consent (and the scopes a refresh asks for).
  outcome<token_plan> delegated_plan(const std::vector<std::string>& consent, const std::vector<std::string>& requested,
                                     const client& c, bool offline, const std::string& resource) const {
    if (ms()) return ms_delegated_plan(consent, requested, c);
    const std::vector<std::string>& use = requested.empty() ? consent : requested;
    for (const auto& s : use) {
      if (!contains(consent, s)) {
        return pick({}, {400, "invalid_scope", 0, "Bad Request"},
                    {400, "invalid_scope", 0, "The scope " + s.substr(0, 300) + " was not granted."});
      }
    }
    token_plan plan;
    if (google()) {
      plan.audiences = {c.client_id};
      plan.token_scopes = use;
      plan.response_scope = join(use);
      plan.refresh = offline;
      return plan;
    }
    plan.audiences = {resource.empty() ? base() : resource};
    for (const auto& s : use) {
      if (s != "offline_access") plan.token_scopes.push_back(s);
    }
    plan.response_scope = join(use);
    plan.refresh = true;
    return plan;
  }

  // ---------------------------------------------------------------- issuing

  struct issued {
    std::string access_token;
    std::optional<std::string> refresh_token;
  };

  std::string new_refresh_token_value() {
    switch (profile()) {
      case profile_kind::microsoft:
        return "0.A" + random_b64(random, 96);
      case profile_kind::google:
        return "1//0" + random_b64(random, 72);
      case profile_kind::generic:
        break;
    }
    return random_b64(random, 32);
  }

  void prune(time_point now) {
    std::erase_if(devices, [&](const auto& e) { return e.second.expires_at + 1h < now; });
    std::erase_if(codes, [&](const auto& e) { return e.second.expires_at + 1h < now; });
    std::erase_if(logins, [&](const auto& e) { return e.second.expires_at < now; });
    std::erase_if(refresh_tokens, [&](const auto& e) { return e.second.expires_at < now; });
    for (auto& [id, f] : families) {
      std::erase_if(f.access_tokens, [&](const auto& at) { return at.second <= now; });
    }
    std::erase_if(families, [&](const auto& e) {
      if (!e.second.access_tokens.empty()) return false;
      return std::none_of(refresh_tokens.begin(), refresh_tokens.end(),
                          [&](const auto& rt) { return rt.second.family == e.first; });
    });
  }

  std::string mint(const token_plan& plan, const std::string& client_id, std::optional<std::string> user,
                   time_point now, const std::string& family) {
    token_grant g;
    g.client_id = client_id;
    g.user = std::move(user);
    g.audiences = plan.audiences;
    g.scopes = plan.token_scopes;
    g.roles = plan.roles;
    g.lifetime = settings.access_token_lifetime;
    std::string jwt = tokens.mint(g, now).expose();
    if (!family.empty()) {
      auto& f = families[family];
      f.client_id = client_id;
      f.user = g.user.value_or("");
      f.access_tokens.emplace_back(jwt, now + settings.access_token_lifetime);
    }
    return jwt;
  }

  std::string new_refresh_token(const std::string& client_id, const std::string& user,
                                const std::vector<std::string>& consent, const std::string& family,
                                const std::string& resource, time_point now) {
    if (refresh_tokens.size() >= max_refresh_tokens) {
      auto oldest = std::min_element(refresh_tokens.begin(), refresh_tokens.end(), [](const auto& a, const auto& b) {
        return a.second.issued_at < b.second.issued_at;
      });
      refresh_tokens.erase(oldest);
    }
    std::string value = new_refresh_token_value();
    refresh_tokens[value] = refresh_record{
        client_id, user, consent, family, now, now + settings.refresh_token_lifetime, rt_state::active, resource};
    return value;
  }

  http_response token_response(const token_plan& plan, const std::string& access_token,
                               const std::optional<std::string>& refresh_token) const {
    json::object o;
    const auto lifetime = settings.access_token_lifetime.count();
    switch (profile()) {
      case profile_kind::microsoft:
        o["token_type"] = "Bearer";
        if (!plan.response_scope.empty()) o["scope"] = plan.response_scope;
        o["expires_in"] = lifetime;
        o["ext_expires_in"] = lifetime;
        o["access_token"] = access_token;
        if (refresh_token) o["refresh_token"] = *refresh_token;
        break;
      case profile_kind::google:
        o["access_token"] = access_token;
        o["expires_in"] = lifetime;
        if (refresh_token) o["refresh_token"] = *refresh_token;
        if (!plan.response_scope.empty()) o["scope"] = plan.response_scope;
        o["token_type"] = "Bearer";
        break;
      case profile_kind::generic:
        o["access_token"] = access_token;
        o["token_type"] = "Bearer";
        o["expires_in"] = lifetime;
        if (refresh_token) o["refresh_token"] = *refresh_token;
        if (!plan.response_scope.empty()) o["scope"] = plan.response_scope;
        break;
    }
    auto r = http_response::json(200, json::serialize(o));
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back("Pragma", "no-cache");
    return r;
  }

  // A delegated grant's first tokens (device code, authorization code): a new grant family.
  http_response issue_delegated(const token_plan& plan, const client& c, const std::string& user,
                                const std::vector<std::string>& consent, const std::string& resource, time_point now,
                                std::string* family_out = nullptr) {
    const std::string family = oauth::random_uuid(random);
    if (family_out != nullptr) *family_out = family;
    const std::string at = mint(plan, c.client_id, user, now, family);
    std::optional<std::string> rt;
    if (plan.refresh) rt = new_refresh_token(c.client_id, user, consent, family, resource, now);
    return token_response(plan, at, rt);
  }

  // Revokes every token of a grant family (RFC 7009 §2.1: revoking a refresh token revokes its
  // access tokens; a replayed authorization code revokes what it gave, RFC 6749 §4.1.2).
  void revoke_family(const std::string& family, time_point now) {
    for (auto& [value, rt] : refresh_tokens) {
      if (rt.family == family) rt.state = rt_state::revoked;
    }
    if (auto it = families.find(family); it != families.end()) {
      for (const auto& at : it->second.access_tokens) tokens.revoke(at.first, now);
      it->second.access_tokens.clear();
    }
  }

  // ---------------------------------------------------------------- token endpoint

  http_response handle_token(const http_request& request, time_point now, tenant_kind tenant) {
    if (request.method != "POST") return render(only_post(request.method), request, now);

    // Faults come first: a failing or slow endpoint fails whatever is asked.
    std::chrono::milliseconds delay{0};
    if (auto fault = faults.fire_token()) {
      switch (fault->what) {
        case token_fault::kind::server_error: {
          ++fault_counters["server_error"];
          auto e = pick(
              {500, "server_error", 50000, "There was an error issuing a token or an issue with our sign-in service."},
              {500, "internal_failure", 0, "Backend Error"},
              {500, "server_error", 0, "The authorization server had an internal error."});
          return render(e, request, now);
        }
        case token_fault::kind::throttled: {
          ++fault_counters["throttled"];
          auto e = pick({429, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again."},
                        {429, "rate_limit_exceeded", 0, "Rate Limit Exceeded"},
                        {429, "temporarily_unavailable", 0, "Too many requests; retry later."});
          e.headers.emplace_back("Retry-After", std::to_string(std::max<std::int64_t>(fault->retry_after.count(), 0)));
          return render(e, request, now);
        }
        case token_fault::kind::invalid_grant:
          ++fault_counters["invalid_grant"];
          return render(pick({400, "invalid_grant", 70000, "Provided grant is invalid or malformed."},
                             {400, "invalid_grant", 0, "Token has been expired or revoked."},
                             {400, "invalid_grant", 0, "The grant is invalid."}),
                        request, now);
        case token_fault::kind::slow:
          ++fault_counters["slow"];
          delay = fault->delay;
          break;
      }
    }
    auto r = handle_token_request(request, now, tenant);
    r.delay = delay;
    return r;
  }

  http_response handle_token_request(const http_request& request, time_point now, tenant_kind tenant) {
    const auto fail = [&](const token_error& e, std::string_view grant) {
      if (!grant.empty()) ++token_counters[std::string(grant)].errors;
      return render(e, request, now);
    };
    const std::string content_type = lower(request.header("content-type").value_or(""));
    if (!starts_with(content_type, "application/x-www-form-urlencoded")) {
      return fail(malformed_request("The token endpoint takes application/x-www-form-urlencoded bodies."), "");
    }
    if (request.body.size() > max_body) return fail(malformed_request("The request body is too large."), "");
    auto parsed = parse_form_strict(request.body);
    if (!parsed) return fail(malformed_request("The request body is not valid form encoding."), "");
    const form_pairs& f = *parsed;
    if (auto dup = duplicated_name(f)) {
      return fail(malformed_request("The parameter " + dup->substr(0, 64) + " appears more than once."), "");
    }
    const auto grant = param(f, "grant_type");
    if (!grant) {
      return fail(pick(missing_parameter("grant_type"), {400, "unsupported_grant_type", 0, "Invalid grant_type: "},
                       missing_parameter("grant_type")),
                  "");
    }
    const bool known = *grant == oauth::grant_client_credentials || *grant == oauth::grant_refresh_token ||
                       *grant == oauth::grant_device_code || *grant == oauth::grant_authorization_code ||
                       (google() && *grant == oauth::grant_jwt_bearer);
    const std::string counter_name = known ? *grant : std::string("other");
    ++token_counters[counter_name].requests;
    if (!known || (google() && *grant == oauth::grant_client_credentials)) {
      return fail(
          pick({400, "unsupported_grant_type", 70003,
                "The app requested an unsupported grant type '" + grant->substr(0, 100) + "'."},
               {400, "unsupported_grant_type", 0, "Invalid grant_type: " + grant->substr(0, 100)},
               {400, "unsupported_grant_type", 0, "The grant type " + grant->substr(0, 100) + " is not supported."}),
          counter_name);
    }
    if (ms() && tenant == tenant_kind::common) {
      // Single-tenant applications (all of the sandbox's) cannot use /common.
      const auto id = param(f, "client_id").value_or("");
      const client* c = dir.find_client_by_id(id);
      return fail(token_error{400, "invalid_request", 50194,
                              "Application '" + id.substr(0, 100) + "'(" + (c ? c->name : std::string("unknown")) +
                                  ") is not configured as a multi-tenant application. Usage of the /common endpoint "
                                  "is not supported for such applications created after '10/15/2018'. Use a "
                                  "tenant-specific endpoint or configure the application to be multi-tenant."},
                  counter_name);
    }

    std::optional<http_response> out;
    if (*grant == oauth::grant_jwt_bearer) {
      out = jwt_bearer(f, request, now);
    } else {
      auto auth = authenticate(f, request, now, tenant);
      if (!auth) return fail(*auth.error, counter_name);
      const client& c = *auth.value->c;
      if (*grant == oauth::grant_client_credentials) {
        out = client_credentials(f, request, now, tenant, c);
      } else if (*grant == oauth::grant_refresh_token) {
        out = refresh(f, request, now, c);
      } else if (*grant == oauth::grant_device_code) {
        out = device_poll(f, request, now, c);
      } else {
        out = authorization_code(f, request, now, c);
      }
    }
    auto& cnt = token_counters[counter_name];
    if (out->status == 200) {
      ++cnt.issued;
    } else {
      ++cnt.errors;
    }
    return std::move(*out);
  }

  http_response client_credentials(const form_pairs& f, const http_request& request, time_point now, tenant_kind tenant,
                                   const client& c) {
    if (c.kind == client_kind::public_client) {
      return render(
          pick({401, "invalid_client", 7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'."},
               {}, {400, "unauthorized_client", 0, "A public client cannot use the client credentials grant."}),
          request, now);
    }
    if (ms() && tenant != tenant_kind::own) {
      return render(token_error{400, "invalid_request", 50059,
                                "No tenant-identifying information found in either the request or implied by any "
                                "provided credentials."},
                    request, now);
    }
    const auto scopes = split_scopes(param(f, "scope").value_or(""));
    token_plan plan;
    if (ms()) {
      auto p = ms_app_plan(scopes, c);
      if (!p) return render(*p.error, request, now);
      plan = std::move(*p.value);
    } else {
      auto checked = generic_check(scopes);
      if (!checked) return render(*checked.error, request, now);
      plan.audiences = {param(f, "resource").value_or(base())};
      plan.token_scopes = scopes;
      plan.response_scope = join(scopes);
    }
    const std::string at = mint(plan, c.client_id, std::nullopt, now, "");
    return token_response(plan, at, std::nullopt);
  }

  http_response refresh(const form_pairs& f, const http_request& request, time_point now, const client& c) {
    const auto value = param(f, "refresh_token");
    if (!value) return render(missing_parameter("refresh_token"), request, now);
    auto it = refresh_tokens.find(*value);
    if (it == refresh_tokens.end()) {
      return render(
          pick({400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."},
               {400, "invalid_grant", 0, "Bad Request"}, {400, "invalid_grant", 0, "The refresh token is not valid."}),
          request, now);
    }
    refresh_record& rec = it->second;
    if (rec.client_id != c.client_id) {
      return render(pick({400, "invalid_grant", 70000,
                          "Provided grant is invalid or malformed. The refresh token was issued to another client."},
                         {400, "unauthorized_client", 0, "Unauthorized"},
                         {400, "invalid_grant", 0, "The refresh token was issued to another client."}),
                    request, now);
    }
    const token_error expired_or_revoked_google{400, "invalid_grant", 0, "Token has been expired or revoked."};
    if (rec.state == rt_state::revoked) {
      return render(pick({400, "invalid_grant", 50173,
                          "The provided grant has expired due to it being revoked, a fresh auth token is needed. The "
                          "user might have changed or reset their password. The grant was issued on '" +
                              ms_instant(rec.issued_at) +
                              "' and the TokensValidFrom date (before which tokens are not valid) for this user is '" +
                              ms_instant(std::max(last_now, rec.issued_at)) + "'."},
                         expired_or_revoked_google, {400, "invalid_grant", 0, "The refresh token has been revoked."}),
                    request, now);
    }
    if (rec.state == rt_state::rotated) {
      return render(
          pick({400, "invalid_grant", 70000,
                "Provided grant is invalid or malformed. The refresh token was replaced when it was last "
                "used; use the newest one."},
               expired_or_revoked_google,
               {400, "invalid_grant", 0, "The refresh token was replaced when it was last used; use the newest one."}),
          request, now);
    }
    if (now >= rec.expires_at) {
      return render(pick({400, "invalid_grant", 700082,
                          "The refresh token has expired due to inactivity. The token was issued on " +
                              ms_instant(rec.issued_at) + " and was inactive for " +
                              timespan(std::chrono::duration_cast<std::chrono::seconds>(now - rec.issued_at)) + "."},
                         expired_or_revoked_google, {400, "invalid_grant", 0, "The refresh token has expired."}),
                    request, now);
    }
    const auto requested = split_scopes(param(f, "scope").value_or(""));
    auto plan = delegated_plan(rec.consent, requested, c, true, rec.resource);
    if (!plan) return render(*plan.error, request, now);
    const std::string at = mint(*plan.value, c.client_id, rec.user, now, rec.family);
    if (google()) return token_response(*plan.value, at, std::nullopt);  // Google keeps its refresh tokens
    // Rotation (Microsoft, generic): the old token dies now that the new one exists.
    rec.state = rt_state::rotated;
    const refresh_record copy = rec;
    const std::string next =
        new_refresh_token(copy.client_id, copy.user, copy.consent, copy.family, copy.resource, now);
    return token_response(*plan.value, at, next);
  }

  http_response device_poll(const form_pairs& f, const http_request& request, time_point now, const client& c) {
    const auto code = param(f, "device_code");
    if (!code) return render(missing_parameter("device_code"), request, now);
    auto it = devices.find(*code);
    if (it == devices.end()) {
      return render(pick({400, "bad_verification_code", 70018,
                          "Invalid verification code. The device_code sent to the token endpoint wasn't recognized."},
                         {400, "invalid_grant", 0, "Malformed auth code."},
                         {400, "invalid_grant", 0, "The device code is not valid."}),
                    request, now);
    }
    device_record& d = it->second;
    if (d.client_id != c.client_id) {
      return render(invalid_grant_generic("The device code was issued to another client."), request, now);
    }
    if (now >= d.expires_at) {
      return render(
          pick({400, "expired_token", 70019, "Verification code expired."}, {400, "expired_token", 0, "Expired"},
               {400, "expired_token", 0, "The device code has expired; start a new sign-in."}),
          request, now);
    }
    switch (d.st) {
      case device_record::status::redeemed:
        return render(invalid_grant_generic("The device code was already redeemed."), request, now);
      case device_record::status::declined:
        return render(pick({400, "authorization_declined", 65004, "User declined to consent to access the app."},
                           {403, "access_denied", 0, "Forbidden"},
                           {400, "access_denied", 0, "The user declined the authorization request."}),
                      request, now);
      case device_record::status::approved: {
        auto plan = delegated_plan(d.scopes, {}, c, true, "");
        if (!plan) return render(*plan.error, request, now);
        d.st = device_record::status::redeemed;
        return issue_delegated(*plan.value, c, d.user, d.scopes, "", now);
      }
      case device_record::status::pending:
        break;
    }
    // RFC 8628 §3.5 slow_down: polling faster than the interval adds 5 s to it for good. Entra
    // documents no slow_down (providers.md §1.7) and keeps answering authorization_pending.
    const bool too_fast = now - d.last_poll < d.interval;
    d.last_poll = now;
    if (too_fast && !ms()) {
      d.interval += 5s;
      return render(pick({}, {403, "slow_down", 0, "Forbidden"},
                         {400, "slow_down", 0,
                          "Polling too fast; wait at least the interval (now " + std::to_string(d.interval.count()) +
                              " s) between requests."}),
                    request, now);
    }
    return render(pick({400, "authorization_pending", 70016,
                        "OAuth 2.0 device flow error. Authorization is pending. Continue polling."},
                       {428, "authorization_pending", 0, "Precondition Required"},
                       {400, "authorization_pending", 0, "The user has not yet completed the authorization."}),
                  request, now);
  }

  http_response authorization_code(const form_pairs& f, const http_request& request, time_point now, const client& c) {
    const auto code = param(f, "code");
    if (!code) return render(missing_parameter("code"), request, now);
    const auto redirect_uri = param(f, "redirect_uri");
    const auto verifier = param(f, "code_verifier");
    auto it = codes.find(*code);
    if (it == codes.end()) {
      return render(pick({400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."},
                         {400, "invalid_grant", 0, "Malformed auth code."},
                         {400, "invalid_grant", 0, "The authorization code is not valid."}),
                    request, now);
    }
    code_record& rec = it->second;
    if (rec.redeemed) {
      revoke_family(rec.family, now);  // RFC 6749 §4.1.2: a replayed code revokes what it gave
      return render(pick({400, "invalid_grant", 54005,
                          "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use "
                          "an existing refresh token."},
                         {400, "invalid_grant", 0, "Bad Request"},
                         {400, "invalid_grant", 0, "The authorization code was already used."}),
                    request, now);
    }
    if (now >= rec.expires_at) {
      return render(pick({400, "invalid_grant", 70008,
                          "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                          "interactive authorization request for this user and resource."},
                         {400, "invalid_grant", 0, "Bad Request"},
                         {400, "invalid_grant", 0, "The authorization code has expired."}),
                    request, now);
    }
    if (rec.client_id != c.client_id) {
      return render(invalid_grant_generic("The authorization code was issued to another client."), request, now);
    }
    if (!redirect_uri || *redirect_uri != rec.redirect_uri) {
      return render(pick({400, "invalid_grant", 70000,
                          "Provided grant is invalid or malformed. The redirect_uri differs from the one of the "
                          "authorization request."},
                         {400, "redirect_uri_mismatch", 0, "Bad Request"},
                         {400, "invalid_grant", 0,
                          "redirect_uri must be the one of the authorization request (RFC 6749 §4.1.3)."}),
                    request, now);
    }
    const token_error pkce_error =
        pick({400, "invalid_grant", 501481,
              "The Code_Verifier does not match the code_challenge supplied in the authorization request."},
             {400, "invalid_grant", 0, verifier ? "Invalid code verifier." : "Missing code verifier."},
             {400, "invalid_grant", 0, "The PKCE code_verifier does not match the code_challenge (RFC 7636 §4.6)."});
    if (!rec.code_challenge.empty()) {
      if (!verifier || !oauth::valid_verifier(*verifier) ||
          !same_secret(oauth::s256_challenge(*verifier), rec.code_challenge)) {
        return render(pkce_error, request, now);
      }
    } else if (verifier) {  // RFC 9700 §2.1.1: no challenge was sent, so a verifier is a downgrade attempt
      return render(pkce_error, request, now);
    }
    auto plan = delegated_plan(rec.scopes, {}, c, rec.offline, rec.resource);
    if (!plan) return render(*plan.error, request, now);
    rec.redeemed = true;
    return issue_delegated(*plan.value, c, rec.user, rec.scopes, rec.resource, now, &rec.family);
  }

  // Google service accounts (RFC 7523 §2.1, providers.md §2.5).
  http_response jwt_bearer(const form_pairs& f, const http_request& request, time_point now) {
    const auto assertion = param(f, "assertion");
    if (!assertion) return render(missing_parameter("assertion"), request, now);
    const token_error bad_signature{400, "invalid_grant", 0, "Invalid JWT Signature."};
    auto decoded = oauth::decode_unverified(*assertion);
    if (!decoded) return render(bad_signature, request, now);
    const auto& claims = decoded->claims;
    const client* sa = dir.find_service_account(claim_string(claims, "iss"));
    if (sa == nullptr) return render({400, "invalid_grant", 0, "Invalid grant: account not found"}, request, now);
    const std::string kid = claim_string(decoded->header, "kid");
    if (claim_string(decoded->header, "alg") != "RS256" || (!kid.empty() && kid != sa->key_id) ||
        !oauth::verify_signature(*assertion, sa->certificate_pem)) {
      return render(bad_signature, request, now);
    }
    if (!audience_ok(claim_strings(claims, "aud"), request)) {
      return render(
          {400, "invalid_grant", 0, "Invalid JWT: Failed audience check. The right audience is " + endpoints().token},
          request, now);
    }
    const auto iat = claim_time(claims, "iat");
    const auto exp = claim_time(claims, "exp");
    const auto t = unix_seconds(now);
    if (!iat || !exp || *exp <= t || *exp - *iat > 3600 || *exp <= *iat || *iat > t + clock_skew.count()) {
      return render({400, "invalid_grant", 0,
                     "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                     "Check your iat and exp values and use a clock with skew to account for differences in time."},
                    request, now);
    }
    const auto scopes = split_scopes(claim_string(claims, "scope"));
    const bool scopes_ok = !scopes.empty() && std::all_of(scopes.begin(), scopes.end(), [](const std::string& s) {
      return std::any_of(google_scopes.begin(), google_scopes.end(), [&](auto g) { return g == s; });
    });
    if (!scopes_ok) {
      return render({400, "invalid_scope", 0, "Invalid OAuth scope or ID token audience provided."}, request, now);
    }
    std::string user = sa->service_account_email;
    const std::string sub = claim_string(claims, "sub");
    if (!sub.empty()) {
      if (!sa->domain_wide_delegation) {
        return render({401, "unauthorized_client", 0,
                       "Client is unauthorized to retrieve access tokens using this method, or client not authorized "
                       "for any of the scopes requested."},
                      request, now);
      }
      const mailbox* m = dir.find_mailbox(sub);
      if (m == nullptr) return render({400, "invalid_grant", 0, "Invalid email or User ID"}, request, now);
      user = m->address;
    }
    token_plan plan;
    plan.audiences = {sa->client_id};
    plan.token_scopes = scopes;
    const std::string at = mint(plan, sa->client_id, user, now, "");
    return token_response(plan, at, std::nullopt);
  }

  // ---------------------------------------------------------------- device authorization

  http_response handle_device_authorization(const http_request& request, time_point now, tenant_kind tenant) {
    ++device_counter.requests;
    const auto fail = [&](const token_error& e) {
      ++device_counter.errors;
      return render(e, request, now);
    };
    if (request.method != "POST") return fail(only_post(request.method));
    if (!starts_with(lower(request.header("content-type").value_or("")), "application/x-www-form-urlencoded")) {
      return fail(malformed_request("The device authorization endpoint takes form-encoded bodies."));
    }
    if (request.body.size() > max_body) return fail(malformed_request("The request body is too large."));
    auto parsed = parse_form_strict(request.body);
    if (!parsed) return fail(malformed_request("The request body is not valid form encoding."));
    if (auto dup = duplicated_name(*parsed)) {
      return fail(malformed_request("The parameter " + dup->substr(0, 64) + " appears more than once."));
    }
    const auto client_id = param(*parsed, "client_id");
    if (!client_id) {
      return fail(pick(missing_parameter("client_id"),
                       {400, "invalid_request", 0, "Missing required parameter: client_id"},
                       missing_parameter("client_id")));
    }
    const client* c = dir.find_client_by_id(*client_id);
    if (c == nullptr || c->kind == client_kind::service_account || (ms() && tenant == tenant_kind::consumers)) {
      return fail(unknown_client(*client_id, tenant));
    }
    if (ms() && tenant == tenant_kind::common) {
      return fail(token_error{400, "invalid_request", 50194,
                              "Application '" + c->client_id + "'(" + c->name +
                                  ") is not configured as a multi-tenant application. Usage of the /common endpoint "
                                  "is not supported for such applications created after '10/15/2018'. Use a "
                                  "tenant-specific endpoint or configure the application to be multi-tenant."});
    }
    const auto scopes = split_scopes(param(*parsed, "scope").value_or(""));
    auto checked = check_delegated_scopes(scopes, true);
    if (!checked) return fail(*checked.error);
    prune(now);
    if (devices.size() >= max_pending) {
      return fail(pick({429, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again."},
                       {429, "rate_limit_exceeded", 0, "Rate Limit Exceeded"},
                       {429, "temporarily_unavailable", 0, "Too many pending device authorizations."}));
    }

    device_record d;
    switch (profile()) {
      case profile_kind::microsoft:
        d.device_code = "DAQABIQEAAAD" + random_b64(random, 96);
        d.display_code = random_chars(random, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789", 9);
        break;
      case profile_kind::google: {
        d.device_code = "AH-1Ng" + random_b64(random, 64);
        const std::string s = random_chars(random, "BCDFGHJKLMNPQRSTVWXZ", 8);
        d.display_code = s.substr(0, 4) + "-" + s.substr(4);
        break;
      }
      case profile_kind::generic: {
        d.device_code = random_b64(random, 32);
        const std::string s = random_chars(random, "BCDFGHJKLMNPQRSTVWXZ", 8);  // RFC 8628 §6.1
        d.display_code = s.substr(0, 4) + "-" + s.substr(4);
        break;
      }
    }
    d.user_code = canonical_user_code(d.display_code);
    d.client_id = c->client_id;
    d.scopes = scopes;
    d.created = now;
    d.last_poll = now;  // the first poll is due one interval after this answer
    d.expires_at = now + settings.device_code_lifetime;
    d.interval = settings.device_poll_interval;

    const std::string page = base() + "/device";
    json::object o;
    o["device_code"] = d.device_code;
    o["user_code"] = d.display_code;
    switch (profile()) {
      case profile_kind::microsoft:
        o["verification_uri"] = page;
        o["expires_in"] = settings.device_code_lifetime.count();
        o["interval"] = settings.device_poll_interval.count();
        o["message"] = "To sign in, use a web browser to open the page " + page + " and enter the code " +
                       d.display_code + " to authenticate.";
        break;
      case profile_kind::google:
        o["expires_in"] = settings.device_code_lifetime.count();
        o["interval"] = settings.device_poll_interval.count();
        o["verification_url"] = page;
        break;
      case profile_kind::generic:
        o["verification_uri"] = page;
        o["verification_uri_complete"] = page + "?user_code=" + oauth::form_encode(d.display_code);
        o["expires_in"] = settings.device_code_lifetime.count();
        o["interval"] = settings.device_poll_interval.count();
        break;
    }
    devices.emplace(d.device_code, std::move(d));
    ++device_counter.issued;
    auto r = http_response::json(200, json::serialize(o));
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  }

  core::result<void> approve(std::string_view user_code, std::string_view mailbox_address, bool yes, time_point now) {
    const auto bad = [](std::string msg) {
      return core::error(core::make_error_code(core::errc::invalid_argument), std::move(msg),
                         core::failure_class::permanent);
    };
    const std::string canon = canonical_user_code(user_code);
    auto it = std::find_if(devices.begin(), devices.end(), [&](const auto& e) { return e.second.user_code == canon; });
    if (canon.empty() || it == devices.end()) {
      return bad("the code is not known; check it and enter it again, or start the sign-in again");
    }
    device_record& d = it->second;
    if (now >= d.expires_at) return bad("the code has expired; start the sign-in on the device again");
    if (d.st != device_record::status::pending) return bad("the code was already used");
    const mailbox* m = dir.find_mailbox(mailbox_address);
    if (yes && m == nullptr) return bad("there is no mailbox " + std::string(mailbox_address).substr(0, 100));
    if (yes) {
      d.st = device_record::status::approved;
      d.user = m->address;
    } else {
      d.st = device_record::status::declined;
    }
    return {};
  }

  // ---------------------------------------------------------------- pages

  static std::string page(std::string_view title, std::string_view body) {
    return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
           "</title><style>body{font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em}"
           "label,select,input,button{display:block;margin:.5em 0}button{padding:.4em 1.2em}"
           ".error{color:#a00}</style></head><body><h1>" +
           html_escape(title) + "</h1>\n" + std::string(body) + "\n</body></html>\n";
  }

  std::string mailbox_select(std::string_view preselect) const {
    std::string s = "<label for=\"mailbox\">Account</label><select id=\"mailbox\" name=\"mailbox\">";
    for (const auto& m : dir.mailboxes) {
      s += "<option value=\"" + html_escape(m.address) + "\"" + (iequals(m.address, preselect) ? " selected" : "") +
           ">" + html_escape(m.display_name) + " &lt;" + html_escape(m.address) + "&gt;</option>";
    }
    return s + "</select>";
  }

  std::string device_form(std::string_view user_code, std::string_view error) const {
    std::string body;
    if (!error.empty()) body += "<p class=\"error\">" + html_escape(error) + "</p>";
    body +=
        "<p>Enter the code shown on your device, choose the account to sign in with, and allow or deny the "
        "request.</p><form method=\"post\" action=\"/device\"><label for=\"user_code\">Code</label>"
        "<input id=\"user_code\" name=\"user_code\" autocomplete=\"off\" value=\"" +
        html_escape(user_code) + "\">" + mailbox_select("") +
        "<button type=\"submit\" name=\"action\" value=\"approve\">Allow</button>"
        "<button type=\"submit\" name=\"action\" value=\"decline\">Deny</button></form>";
    return page("Sign in on another device", body);
  }

  http_response handle_device_page(const http_request& request, time_point now) {
    if (request.method == "GET") {
      return http_response::html(200, device_form(request.query_parameter("user_code").value_or(""), ""));
    }
    if (request.method != "POST") {
      auto r = http_response::html(405, page("Method not allowed", "<p>Use the form.</p>"));
      r.headers.emplace_back("Allow", "GET, POST");
      return r;
    }
    const form_pairs f = request.body.size() <= max_body ? parse_form(request.body) : form_pairs{};
    const std::string code = param(f, "user_code").value_or("");
    const std::string mbox = param(f, "mailbox").value_or("");
    const std::string action = param(f, "action").value_or("");
    if (action != "approve" && action != "decline") {
      return http_response::html(400, device_form(code, "Choose Allow or Deny."));
    }
    const bool yes = action == "approve";
    auto it = std::find_if(devices.begin(), devices.end(),
                           [&](const auto& e) { return e.second.user_code == canonical_user_code(code); });
    const std::string app = it != devices.end() && dir.find_client_by_id(it->second.client_id) != nullptr
                                ? dir.find_client_by_id(it->second.client_id)->name
                                : std::string();
    if (auto r = approve(code, mbox, yes, now); !r) {
      return http_response::html(400, device_form(code, "That did not work: " + r.error().message() + "."));
    }
    if (!yes) {
      return http_response::html(
          200, page("Request denied",
                    "<p>You denied the sign-in request of " + html_escape(app) + ". You may close this window.</p>"));
    }
    return http_response::html(
        200, page("You're signed in", "<p>You have signed in to " + html_escape(app) + " as " +
                                          html_escape(lower(mbox)) + ". You may now close this window.</p>"));
  }

  // RFC 8252 §7.3 loopback redirect: http, 127.0.0.1 / localhost (any port), [::1] except at
  // Microsoft (Entra does not support it); no fragment, no user info.
  bool loopback_redirect_ok(std::string_view uri) const {
    auto u = boost::urls::parse_absolute_uri(uri);
    if (!u) return false;
    if (u->scheme() != "http" || u->has_userinfo() || u->has_fragment()) return false;
    const std::string host = lower(u->encoded_host());
    if (host == "127.0.0.1" || host == "localhost") return true;
    return host == "[::1]" && !ms();
  }

  token_error authorize_page_error(int status, long code, std::string ms_text, std::string other) const {
    return pick({status, "invalid_request", code, std::move(ms_text)}, {status, "invalid_request", 0, other},
                {status, "invalid_request", 0, other});
  }

  http_response error_page(const token_error& e) const {
    std::string text = ms() ? "AADSTS" + std::to_string(e.code) + ": " + e.description : e.description;
    return http_response::html(e.status, page("Sign-in failed", "<p class=\"error\">" + html_escape(text) + "</p>"));
  }

  // Redirects to the client with an error (RFC 6749 §4.1.2.1).
  http_response redirect_error(const std::string& redirect_uri, const std::string& state, const std::string& error,
                               const std::string& description) const {
    oauth::form_builder q;
    q.add("error", error);
    q.add("error_description", description);
    q.add("state", state);
    const char sep = redirect_uri.find('?') == std::string::npos ? '?' : '&';
    return http_response::redirect(redirect_uri + sep + q.text());
  }

  http_response handle_authorize(const http_request& request, time_point now, tenant_kind tenant) {
    if (request.method != "GET") {
      auto r = http_response::html(405, page("Method not allowed", "<p>The authorization endpoint takes GET.</p>"));
      r.headers.emplace_back("Allow", "GET");
      return r;
    }
    const std::string client_id = request.query_parameter("client_id").value_or("");
    const std::string redirect_uri = request.query_parameter("redirect_uri").value_or("");
    // Problems with the client or the redirect URI are shown to the person, never redirected.
    if (client_id.empty()) {
      return error_page(authorize_page_error(400, 900144,
                                             "The request body must contain the following parameter: 'client_id'.",
                                             "Missing required parameter: client_id"));
    }
    const client* c = dir.find_client_by_id(client_id);
    if (c == nullptr || c->kind == client_kind::service_account || (ms() && tenant == tenant_kind::consumers)) {
      return error_page(unknown_client(client_id, tenant));
    }
    if (ms() && tenant == tenant_kind::common) {
      return error_page(token_error{400, "invalid_request", 50194,
                                    "Application '" + c->client_id + "'(" + c->name +
                                        ") is not configured as a multi-tenant application. Usage of the /common "
                                        "endpoint is not supported for such applications created after "
                                        "'10/15/2018'. Use a tenant-specific endpoint or configure the application "
                                        "to be multi-tenant."});
    }
    if (!loopback_redirect_ok(redirect_uri)) {
      return error_page(pick({400, "invalid_request", 50011,
                              "The redirect URI '" + redirect_uri.substr(0, 200) +
                                  "' specified in the request does not match the redirect URIs configured for the "
                                  "application '" +
                                  c->client_id +
                                  "'. Make sure the redirect URI sent in the request matches one added to your "
                                  "application in the Azure portal."},
                             {400, "redirect_uri_mismatch", 0,
                              "Error 400: redirect_uri_mismatch. You can't sign in to this app because it doesn't "
                              "comply with Google's OAuth 2.0 policy."},
                             {400, "invalid_request", 0,
                              "The redirect_uri must be a loopback http URI (http://127.0.0.1:PORT/..., "
                              "http://localhost:PORT/... or http://[::1]:PORT/..., RFC 8252 §7.3)."}));
    }
    const std::string state = request.query_parameter("state").value_or("");
    const std::string response_type = request.query_parameter("response_type").value_or("");
    if (response_type != "code") {
      return redirect_error(redirect_uri, state, "unsupported_response_type", "Only response_type=code is supported.");
    }
    const std::string challenge = request.query_parameter("code_challenge").value_or("");
    const std::string method =
        request.query_parameter("code_challenge_method").value_or(challenge.empty() ? "" : "plain");
    if (!challenge.empty() && method != "S256") {
      return redirect_error(redirect_uri, state, "invalid_request",
                            "code_challenge_method must be S256; plain is not accepted (RFC 7636 §4.2).");
    }
    if (!challenge.empty() && (challenge.size() != 43 || !core::base64url_decode(challenge))) {
      return redirect_error(redirect_uri, state, "invalid_request", "code_challenge is not a S256 challenge.");
    }
    if (challenge.empty() && c->kind == client_kind::public_client) {
      return redirect_error(redirect_uri, state, "invalid_request",
                            "A public client must use PKCE: code_challenge and code_challenge_method=S256.");
    }
    const auto scopes = split_scopes(request.query_parameter("scope").value_or(""));
    auto checked = check_delegated_scopes(scopes, false);
    if (!checked) {
      const token_error& e = *checked.error;
      return redirect_error(redirect_uri, state, e.error == "invalid_request" ? "invalid_request" : "invalid_scope",
                            ms() ? "AADSTS" + std::to_string(e.code) + ": " + e.description : e.description);
    }
    prune(now);
    if (logins.size() >= max_pending) {
      return redirect_error(redirect_uri, state, "temporarily_unavailable", "Too many sign-ins in progress.");
    }
    pending_login p;
    p.client_id = c->client_id;
    p.redirect_uri = redirect_uri;
    p.state = state;
    p.code_challenge = challenge;
    p.login_hint = request.query_parameter("login_hint").value_or("");
    p.resource = request.query_parameter("resource").value_or("");
    p.scopes = scopes;
    p.offline = c->kind == client_kind::public_client || request.query_parameter("access_type") == "offline";
    p.expires_at = now + settings.authorization_code_lifetime;
    const std::string id = random_b64(random, 24);
    logins.emplace(id, p);

    std::string body = "<p><strong>" + html_escape(c->name) + "</strong> wants to:</p><ul>";
    for (const auto& s : scopes) body += "<li>" + html_escape(s) + "</li>";
    body += "</ul><form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"request\" value=\"" + id +
            "\">" + mailbox_select(p.login_hint) +
            "<button type=\"submit\" name=\"action\" value=\"accept\">Accept</button>"
            "<button type=\"submit\" name=\"action\" value=\"cancel\">Cancel</button></form>";
    return http_response::html(200, page("Sign in and consent", body));
  }

  http_response handle_login(const http_request& request, time_point now) {
    if (request.method != "POST") {
      auto r = http_response::html(405, page("Method not allowed", "<p>Start at the application.</p>"));
      r.headers.emplace_back("Allow", "POST");
      return r;
    }
    const form_pairs f = request.body.size() <= max_body ? parse_form(request.body) : form_pairs{};
    const std::string id = param(f, "request").value_or("");
    auto it = logins.find(id);
    if (id.empty() || it == logins.end() || now >= it->second.expires_at) {
      if (it != logins.end()) logins.erase(it);
      return http_response::html(400,
                                 page("Sign-in failed",
                                      "<p class=\"error\">This sign-in request is unknown or has expired. Start the "
                                      "sign-in again from the application.</p>"));
    }
    const pending_login p = it->second;
    const std::string action = param(f, "action").value_or("");
    if (action == "cancel") {
      logins.erase(it);
      return redirect_error(
          p.redirect_uri, p.state, "access_denied",
          ms() ? "AADSTS65004: User declined to consent to access the app." : "The user denied the request.");
    }
    const mailbox* m = dir.find_mailbox(param(f, "mailbox").value_or(""));
    if (action != "accept" || m == nullptr) {
      return http_response::html(400, page("Sign-in failed",
                                           "<p class=\"error\">Choose an account and Accept, or "
                                           "Cancel.</p>"));
    }
    logins.erase(it);
    if (codes.size() >= max_pending) prune(now);
    code_record rec;
    rec.client_id = p.client_id;
    rec.user = m->address;
    rec.redirect_uri = p.redirect_uri;
    rec.code_challenge = p.code_challenge;
    rec.scopes = p.scopes;
    rec.resource = p.resource;
    rec.offline = p.offline;
    rec.expires_at = now + settings.authorization_code_lifetime;
    std::string code;
    switch (profile()) {
      case profile_kind::microsoft:
        code = "1.A" + random_b64(random, 96);
        break;
      case profile_kind::google:
        code = "4/0A" + random_b64(random, 48);
        break;
      case profile_kind::generic:
        code = random_b64(random, 32);
        break;
    }
    codes.emplace(code, std::move(rec));
    oauth::form_builder q;
    q.add("code", code);
    q.add("state", p.state);
    const char sep = p.redirect_uri.find('?') == std::string::npos ? '?' : '&';
    return http_response::redirect(p.redirect_uri + sep + q.text());
  }

  // ---------------------------------------------------------------- discovery, keys

  http_response discovery(const http_request& request, time_point now, tenant_kind tenant,
                          std::string_view tenant_segment) const {
    if (request.method != "GET" && request.method != "HEAD") return render(only_get(request.method), request, now);
    const idp_endpoints e = endpoints();
    json::object o;
    std::string prefix = base();
    if (ms()) {
      prefix = base() + "/" + std::string(tenant_segment);
      // Entra's multi-tenant documents carry a template issuer.
      std::string issuer = tokens.issuer();
      if (tenant == tenant_kind::organizations || tenant == tenant_kind::common) {
        if (const auto pos = issuer.find(dir.tenant_id); pos != std::string::npos) {
          issuer.replace(pos, dir.tenant_id.size(), "{tenantid}");
        }
      }
      o["issuer"] = issuer;
      o["authorization_endpoint"] = prefix + "/oauth2/v2.0/authorize";
      o["token_endpoint"] = prefix + "/oauth2/v2.0/token";
      o["device_authorization_endpoint"] = prefix + "/oauth2/v2.0/devicecode";
      o["jwks_uri"] = prefix + "/discovery/v2.0/keys";
    } else {
      o["issuer"] = e.issuer;
      o["authorization_endpoint"] = e.authorization;
      o["token_endpoint"] = e.token;
      o["device_authorization_endpoint"] = e.device_authorization;
      o["revocation_endpoint"] = e.revocation;
      o["jwks_uri"] = e.jwks;
    }
    o["introspection_endpoint"] = e.introspection;
    o["response_types_supported"] = json::array{"code"};
    o["response_modes_supported"] = json::array{"query"};
    json::array grants{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"};
    if (!google()) grants.emplace_back("client_credentials");
    if (google()) grants.emplace_back("urn:ietf:params:oauth:grant-type:jwt-bearer");
    o["grant_types_supported"] = std::move(grants);
    o["code_challenge_methods_supported"] = json::array{"S256"};
    json::array auth_methods{"client_secret_post", "client_secret_basic"};
    if (!google()) auth_methods.emplace_back("private_key_jwt");
    o["token_endpoint_auth_methods_supported"] = auth_methods;
    if (!google()) o["token_endpoint_auth_signing_alg_values_supported"] = json::array{"RS256", "PS256"};
    o["introspection_endpoint_auth_methods_supported"] = auth_methods;
    if (!ms()) o["revocation_endpoint_auth_methods_supported"] = google() ? json::array{"none"} : auth_methods;
    switch (profile()) {
      case profile_kind::microsoft:
        o["scopes_supported"] = json::array{"openid", "profile", "email", "offline_access"};
        o["subject_types_supported"] = json::array{"pairwise"};
        o["id_token_signing_alg_values_supported"] = json::array{"RS256"};
        o["tenant_region_scope"] = nullptr;
        o["cloud_instance_name"] = "sandbox.oauthmail.test";
        break;
      case profile_kind::google:
        o["scopes_supported"] = json::array{"openid", "email", "profile", "https://mail.google.com/"};
        o["subject_types_supported"] = json::array{"public"};
        o["id_token_signing_alg_values_supported"] = json::array{"RS256"};
        break;
      case profile_kind::generic:
        o["scopes_supported"] = json::array{"offline_access", "smtp"};
        break;
    }
    auto r = http_response::json(200, json::serialize(o));
    if (request.method == "HEAD") r.body.clear();
    return r;
  }

  http_response jwks(const http_request& request, time_point now) const {
    if (request.method != "GET" && request.method != "HEAD") return render(only_get(request.method), request, now);
    auto r = http_response::json(200, json::serialize(tokens.jwks()));
    if (request.method == "HEAD") r.body.clear();
    return r;
  }

  // ---------------------------------------------------------------- introspection, revocation

  std::optional<form_pairs> read_form(const http_request& request) const {
    if (!starts_with(lower(request.header("content-type").value_or("")), "application/x-www-form-urlencoded")) {
      return std::nullopt;
    }
    if (request.body.size() > max_body) return std::nullopt;
    auto f = parse_form_strict(request.body);
    if (!f || duplicated_name(*f)) return std::nullopt;
    return f;
  }

  // RFC 7662: only authenticated confidential clients may ask.
  http_response handle_introspect(const http_request& request, time_point now, tenant_kind tenant) {
    if (request.method != "POST") return render(only_post(request.method), request, now);
    auto f = read_form(request);
    if (!f) return render(malformed_request("The request is not a valid form-encoded POST."), request, now);
    auto auth = authenticate(*f, request, now, tenant);
    if (!auth) return render(*auth.error, request, now);
    if (auth.value->c->kind == client_kind::public_client) {
      return render(invalid_client_basic(false), request, now);
    }
    const auto token = param(*f, "token");
    if (!token) return render(missing_parameter("token"), request, now);
    json::object o;
    o["active"] = false;
    if (auto it = refresh_tokens.find(*token);
        it != refresh_tokens.end() && it->second.state == rt_state::active && now < it->second.expires_at) {
      const auto& rt = it->second;
      o["active"] = true;
      o["client_id"] = rt.client_id;
      o["username"] = rt.user;
      o["sub"] = rt.user;
      o["scope"] = join(rt.consent);
      o["exp"] = unix_seconds(rt.expires_at);
      o["iat"] = unix_seconds(rt.issued_at);
      o["iss"] = tokens.issuer();
    } else if (auto v = tokens.validate(*token, now); v.token) {
      const auto& t = *v.token;
      o["active"] = true;
      o["token_type"] = "Bearer";
      o["client_id"] = t.client_id;
      if (t.user) o["username"] = *t.user;
      o["sub"] = t.user.value_or(t.client_id);
      json::array aud;
      for (const auto& a : t.audiences) aud.emplace_back(a);
      o["aud"] = std::move(aud);
      if (!t.scopes.empty()) o["scope"] = join(t.scopes);
      if (!t.roles.empty()) {
        json::array roles;
        for (const auto& r : t.roles) roles.emplace_back(r);
        o["roles"] = std::move(roles);
      }
      o["exp"] = unix_seconds(t.expires_at);
      o["iss"] = tokens.issuer();
    }
    auto r = http_response::json(200, json::serialize(o));
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  }

  // RFC 7009. Google: no client authentication, the token may come in the query, an unknown token
  // is a 400 invalid_token, and revoking either token revokes the whole grant.
  http_response handle_revoke(const http_request& request, time_point now) {
    if (request.method != "POST") return render(only_post(request.method), request, now);
    auto f = read_form(request);
    if (!f && !(google() && request.body.empty())) {
      return render(malformed_request("The request is not a valid form-encoded POST."), request, now);
    }
    const form_pairs form = f.value_or(form_pairs{});
    std::optional<std::string> token = param(form, "token");
    if (!token && google()) token = request.query_parameter("token");
    const client* caller = nullptr;
    if (!google()) {
      auto auth = authenticate(form, request, now, tenant_kind::own);
      if (!auth) return render(*auth.error, request, now);
      caller = auth.value->c;
    }
    if (!token) return render(missing_parameter("token"), request, now);

    bool found = false;
    std::string family;
    if (auto it = refresh_tokens.find(*token); it != refresh_tokens.end() && it->second.state != rt_state::revoked) {
      if (caller != nullptr && it->second.client_id != caller->client_id) {
        return render({400, "unauthorized_client", 0, "The token was issued to another client (RFC 7009 §2.1)."},
                      request, now);
      }
      found = true;
      family = it->second.family;
      revoke_family(family, now);
    } else if (auto v = tokens.validate(*token, now); v.token) {
      if (caller != nullptr && v.token->client_id != caller->client_id) {
        return render({400, "unauthorized_client", 0, "The token was issued to another client (RFC 7009 §2.1)."},
                      request, now);
      }
      found = true;
      tokens.revoke(*token, now);
      if (google()) {  // Google: revoking an access token revokes its grant
        for (const auto& [id, fam] : families) {
          if (std::any_of(fam.access_tokens.begin(), fam.access_tokens.end(),
                          [&](const auto& at) { return at.first == *token; })) {
            family = id;
          }
        }
        if (!family.empty()) revoke_family(family, now);
      }
    }
    if (!found && google()) {
      return render({400, "invalid_token", 0, "Token expired or revoked"}, request, now);
    }
    auto r = http_response::json(200, google() ? "{}" : "");
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  }

  // ---------------------------------------------------------------- routing

  std::optional<http_response> route(const http_request& request, time_point now) {
    last_now = std::max(last_now, now);
    const std::string_view path = request.path();
    if (path == "/introspect") return handle_introspect(request, now, tenant_kind::own);
    if (path == "/device") return handle_device_page(request, now);
    if (path == "/login") return handle_login(request, now);

    switch (profile()) {
      case profile_kind::microsoft:
        return route_microsoft(request, now, path);
      case profile_kind::google:
        if (path == "/.well-known/openid-configuration") return discovery(request, now, tenant_kind::own, "");
        if (path == "/token") return handle_token(request, now, tenant_kind::own);
        if (path == "/device/code") return handle_device_authorization(request, now, tenant_kind::own);
        if (path == "/o/oauth2/v2/auth") return handle_authorize(request, now, tenant_kind::own);
        if (path == "/revoke") return handle_revoke(request, now);
        if (path == "/oauth2/v3/certs") return jwks(request, now);
        return std::nullopt;
      case profile_kind::generic:
        if (path == "/.well-known/oauth-authorization-server") return discovery(request, now, tenant_kind::own, "");
        if (path == "/token") return handle_token(request, now, tenant_kind::own);
        if (path == "/device/code") return handle_device_authorization(request, now, tenant_kind::own);
        if (path == "/authorize") return handle_authorize(request, now, tenant_kind::own);
        if (path == "/revoke") return handle_revoke(request, now);
        if (path == "/jwks") return jwks(request, now);
        return std::nullopt;
    }
    return std::nullopt;
  }

  std::optional<http_response> route_microsoft(const http_request& request, time_point now, std::string_view path) {
    if (path.size() < 2 || path[0] != '/') return std::nullopt;
    const auto slash = path.find('/', 1);
    if (slash == std::string_view::npos) return std::nullopt;
    const std::string_view segment = path.substr(1, slash - 1);
    const std::string_view rest = path.substr(slash);
    enum class ep { discovery, token, device, authorize, keys };
    std::optional<ep> which;
    if (rest == "/v2.0/.well-known/openid-configuration") which = ep::discovery;
    if (rest == "/oauth2/v2.0/token") which = ep::token;
    if (rest == "/oauth2/v2.0/devicecode") which = ep::device;
    if (rest == "/oauth2/v2.0/authorize") which = ep::authorize;
    if (rest == "/discovery/v2.0/keys") which = ep::keys;
    if (!which) return std::nullopt;
    const tenant_kind t = classify_tenant(segment);
    if (t == tenant_kind::unknown) {
      if (*which == ep::authorize) return error_page(unknown_tenant(segment));
      return render(unknown_tenant(segment), request, now);
    }
    switch (*which) {
      case ep::discovery:
        return discovery(request, now, t, segment);
      case ep::token:
        return handle_token(request, now, t);
      case ep::device:
        return handle_device_authorization(request, now, t);
      case ep::authorize:
        return handle_authorize(request, now, t);
      case ep::keys:
        return jwks(request, now);
    }
    return std::nullopt;
  }
};

identity_provider::identity_provider(idp_settings settings, const directory& dir, token_authority& tokens,
                                     fault_registry& faults)
    : impl_(std::make_unique<impl>(std::move(settings), dir, tokens, faults)) {
  while (!impl_->settings.base_url.empty() && impl_->settings.base_url.back() == '/')
    impl_->settings.base_url.pop_back();
}

identity_provider::~identity_provider() = default;

idp_endpoints identity_provider::endpoints() const { return impl_->endpoints(); }

std::optional<http_response> identity_provider::handle(const http_request& request, wall_clock::time_point now) {
  std::lock_guard lock(impl_->mutex);
  return impl_->route(request, now);
}

core::result<void> identity_provider::approve_device(std::string_view user_code, std::string_view mailbox, bool approve,
                                                     wall_clock::time_point now) {
  std::lock_guard lock(impl_->mutex);
  impl_->last_now = std::max(impl_->last_now, now);
  return impl_->approve(user_code, mailbox, approve, now);
}

void identity_provider::revoke_user_sessions(std::string_view mailbox) {
  std::lock_guard lock(impl_->mutex);
  for (auto& [value, rt] : impl_->refresh_tokens) {
    if (iequals(rt.user, mailbox)) rt.state = rt_state::revoked;
  }
  // Codes and approvals not yet redeemed die with the sessions.
  std::erase_if(impl_->codes, [&](const auto& e) { return !e.second.redeemed && iequals(e.second.user, mailbox); });
  for (auto& [code, d] : impl_->devices) {
    if (d.st == device_record::status::approved && iequals(d.user, mailbox)) d.st = device_record::status::declined;
  }
}

boost::json::object identity_provider::counters() const {
  std::lock_guard lock(impl_->mutex);
  const auto to_json = [](const counter& c) {
    return json::object{{"requests", c.requests}, {"issued", c.issued}, {"errors", c.errors}};
  };
  json::object grants;
  for (const auto& [name, c] : impl_->token_counters) grants[name] = to_json(c);
  json::object faults;
  for (const auto& [name, n] : impl_->fault_counters) faults[name] = n;
  return json::object{{"token_requests", std::move(grants)},
                      {"device_authorizations", to_json(impl_->device_counter)},
                      {"token_faults", std::move(faults)}};
}

void identity_provider::set_access_token_lifetime(std::chrono::seconds lifetime) {
  std::lock_guard lock(impl_->mutex);
  impl_->settings.access_token_lifetime = std::max(lifetime, std::chrono::seconds(1));
}

}  // namespace oauthmail::sandbox
