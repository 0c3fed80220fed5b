#include "oauth/responses.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "oauth/detail/secure_json.hpp"
#include "oauth/errors.hpp"
#include "oauth/form.hpp"
#include "oauth/jwt.hpp"

namespace oauthmail::oauth {

namespace {

using core::failure_class;
using namespace std::chrono_literals;

constexpr auto max_retry_after = std::chrono::seconds(24 * 3600);
constexpr auto default_lifetime = std::chrono::seconds(3600);
constexpr std::int64_t max_expires_in = 10LL * 365 * 24 * 3600;

// Fix texts may say {account}; it becomes the account name.
constexpr std::string_view login_fix = "run `oauthmail account login {account}` to sign in again";

constexpr std::array<aadsts_entry, 33> aadsts = {{
    {50076, failure_class::needs_human,
     "multi-factor authentication is now required (a Conditional Access policy, or a sign-in from a new "
     "location), so the saved sign-in cannot be renewed without the user",
     "run `oauthmail account login {account}` and complete the MFA prompt; for unattended sending use app-only "
     "access (flow = \"client_credentials\")"},
    {50079, failure_class::needs_human, "the user must register for multi-factor authentication first",
     "sign in once in a browser to register MFA, then run `oauthmail account login {account}`"},
    {50126, failure_class::needs_human, "the user name or password was refused",
     "check the account's user; then run `oauthmail account login {account}`"},
    {50173, failure_class::needs_human,
     "the refresh token was revoked (the password was reset, or an administrator revoked the user's sessions)",
     login_fix},
    {53003, failure_class::needs_human,
     "the sign-in was blocked by Conditional Access: a tenant policy does not allow it (device, location or app)",
     "ask the tenant administrator to allow this app or location (Entra sign-in logs name the policy), or use "
     "app-only access"},
    {530035, failure_class::needs_human, "the sign-in was blocked by the tenant's security defaults",
     "ask the tenant administrator; use an interactive flow (`oauthmail account login {account}`) or app-only "
     "access"},
    {65001, failure_class::needs_human,
     "consent is missing: neither the user nor an administrator has consented to the app's permissions "
     "(DelegationDoesNotExist)",
     "run `oauthmail account login {account}` to consent, or have an administrator grant admin consent (app "
     "registration -> API permissions -> Grant admin consent)"},
    {70008, failure_class::needs_human, "the refresh token has expired", login_fix},
    {700082, failure_class::needs_human,
     "the refresh token expired because it was not used for too long (90 days of inactivity)",
     "run `oauthmail account login {account}`; then set keep_alive = true and run `oauthmail token keep-alive` "
     "daily (a systemd timer or cron job) so that idle tokens are renewed in time"},
    {70011, failure_class::needs_human,
     "a requested scope is not valid: a typo, the wrong resource, or /.default mixed with named scopes",
     "request \"https://outlook.office.com/SMTP.Send offline_access\" (delegated) or "
     "\"https://outlook.office365.com/.default\" (app-only); `oauthmail config check` lists scope mistakes"},
    {70016, failure_class::transient, "the user has not finished signing in yet (device flow pending)", ""},
    {70018, failure_class::needs_human, "the device code entered at the sign-in page was wrong",
     "run `oauthmail account login {account}` again and enter the code exactly as shown"},
    {70019, failure_class::needs_human, "the device code expired before the sign-in was completed",
     "run `oauthmail account login {account}` again and finish signing in within the time shown"},
    {700016, failure_class::needs_human,
     "the application (client_id) was not found in this tenant: the client_id or tenant is wrong, or the app is "
     "not consented in this tenant",
     "check client_id (the Application (client) ID of the app registration) and tenant; a multi-tenant app needs "
     "an administrator of this tenant to consent"},
    {700024, failure_class::needs_human,
     "the client assertion is outside its valid time range: this machine's clock is wrong, or the assertion "
     "expired",
     "synchronise the clock (NTP, e.g. `timedatectl set-ntp true`)"},
    {700025, failure_class::needs_human,
     "the app is registered as a public client, which must not send a client secret or assertion",
     "remove client_secret / client_certificate from this account (device and authorization code flows of a "
     "public client need none), or register a confidential (Web) application"},
    {7000215, failure_class::needs_human,
     "the client secret is wrong: commonly the secret ID was used instead of its value",
     "in the app registration -> Certificates & secrets, create a new client secret and configure its Value (not "
     "the Secret ID)"},
    {7000218, failure_class::needs_human,
     "the app is a confidential client but the request carried no client_secret or client_assertion",
     "configure client_secret (or client_certificate and client_private_key), or for the device flow enable "
     "'Allow public client flows' in the app registration -> Authentication"},
    {7000222, failure_class::needs_human, "the client secret has expired",
     "create a new client secret in the app registration -> Certificates & secrets and update the secret "
     "reference (a certificate is the more durable choice)"},
    {700027, failure_class::needs_human,
     "the client assertion's signature was refused: the certificate in the app registration does not match the "
     "private key, or it was removed",
     "upload the certificate (public part) under Certificates & secrets and make sure client_certificate and "
     "client_private_key belong together"},
    {28000, failure_class::needs_human,
     "the scopes span more than one resource (e.g. Graph and Outlook); a token is issued for one resource only",
     "request only https://outlook.office.com/ scopes (plus offline_access) for SMTP"},
    {500011, failure_class::needs_human,
     "the resource in the scope (the part before /.default or the permission name) does not exist in this tenant: "
     "a typo in the resource URL, or a resource that is not Exchange Online",
     "request \"https://outlook.office365.com/.default\" (app-only) or \"https://outlook.office.com/SMTP.Send "
     "offline_access\" (delegated), or remove `scopes` to use the provider's default"},
    {1002012, failure_class::needs_human,
     "client credentials need a scope ending in /.default (named scopes are for delegated flows)",
     "use scope \"https://outlook.office365.com/.default\" for app-only SMTP"},
    {90002, failure_class::needs_human, "the tenant was not found",
     "check `tenant` (the directory (tenant) ID or a verified domain) and `cloud`"},
    {900144, failure_class::needs_human, "a required request parameter is missing",
     "check client_id, the scopes and the flow's settings; if they are right, please report this as an oauthmail "
     "bug"},
    {9002313, failure_class::needs_human,
     "the request was malformed, e.g. a truncated or garbled authorization code or refresh token", login_fix},
    {54005, failure_class::needs_human, "the authorization code was already redeemed (codes work once)", login_fix},
    {50020, failure_class::needs_human,
     "the account is not allowed by this app or tenant (e.g. a personal account against /organizations, or a "
     "guest from another tenant)",
     "use provider = \"outlook\" for personal accounts, the right `tenant`, or change the app's supported account "
     "types"},
    {500208, failure_class::needs_human, "the account's domain is not valid for this type of account",
     "use provider = \"outlook\" for personal accounts and provider = \"microsoft\" for work accounts"},
    {9001023, failure_class::needs_human, "this grant is not supported on the /common or /consumers endpoint",
     "set `tenant` to the directory (tenant) ID or a verified domain"},
    {90124, failure_class::needs_human, "the resource is not supported on the /common or /consumers endpoint",
     "set `tenant` to the directory (tenant) ID or a verified domain"},
    {90130, failure_class::needs_human, "the application is not supported on the /common endpoint",
     "set `tenant` to the directory (tenant) ID or \"organizations\""},
    {501481, failure_class::needs_human, "the PKCE code verifier did not match the code challenge",
     "run `oauthmail account login {account}` again; if it repeats, please report an oauthmail bug"},
}};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string with_account(std::string_view text, const diagnosis_context& ctx) {
  std::string out(text);
  const std::string name = ctx.account.empty() ? "NAME" : ctx.account;
  for (std::size_t pos = out.find("{account}"); pos != std::string::npos; pos = out.find("{account}", pos)) {
    out.replace(pos, 9, name);
    pos += name.size();
  }
  return out;
}

bool is_token_char(unsigned char c) {
  return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~' || c == '+' || c == '/' || c == '=';
}

void redact_token_like(std::string& s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    if (!is_token_char(static_cast<unsigned char>(s[i]))) {
      out.push_back(s[i++]);
      continue;
    }
    std::size_t j = i;
    bool letter = false, digit = false;
    while (j < s.size() && is_token_char(static_cast<unsigned char>(s[j]))) {
      letter = letter || std::isalpha(static_cast<unsigned char>(s[j])) != 0;
      digit = digit || std::isdigit(static_cast<unsigned char>(s[j])) != 0;
      ++j;
    }
    const std::string_view run(s.data() + i, j - i);
    if (run.size() >= 40 && letter && digit && !contains(run, "//")) {
      out += "***";
    } else {
      out.append(run);
    }
    i = j;
  }
  core::secure_wipe(s.data(), s.size());
  s.swap(out);
}

void replace_all(std::string& s, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (std::size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos)) {
    s.replace(pos, what.size(), with);
    pos += with.size();
  }
}

std::optional<std::int64_t> json_seconds(const boost::json::value& v) {
  if (const auto* i = v.if_int64()) return *i;
  if (const auto* u = v.if_uint64()) {
    if (*u > static_cast<std::uint64_t>(max_expires_in)) return std::nullopt;
    return static_cast<std::int64_t>(*u);
  }
  if (const auto* d = v.if_double()) {
    if (!std::isfinite(*d) || *d < -1.0 || *d > static_cast<double>(max_expires_in)) return std::nullopt;
    return static_cast<std::int64_t>(*d);
  }
  if (const auto* s = v.if_string()) {
    std::int64_t out = 0;
    const auto* first = s->data();
    const auto* last = s->data() + s->size();
    const auto r = std::from_chars(first, last, out);
    if (r.ec != std::errc() || r.ptr != last) return std::nullopt;
    return out;
  }
  return std::nullopt;
}

std::string json_text(const boost::json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key)) {
    if (const auto* s = v->if_string()) return std::string(*s);
  }
  return {};
}

oauth_diagnosis make_diag(failure_class k, std::string cause, std::string fix) {
  return oauth_diagnosis{k, std::move(cause), std::move(fix)};
}

oauth_diagnosis protocol_failure(std::string cause) {
  return make_diag(failure_class::protocol, std::move(cause),
                   "check the token endpoint URL; if it is right, the provider (or a proxy in between) is "
                   "misbehaving: try again later");
}

bool google_like(const diagnosis_context& ctx) { return ctx.provider == config::provider_kind::google; }

std::optional<oauth_diagnosis> diagnose_google(const oauth_error& e, const diagnosis_context& ctx) {
  const std::string& d = e.description;
  if (contains(d, "Token has been expired or revoked")) {
    return make_diag(failure_class::needs_human,
                     "Google refused the refresh token: it expired or was revoked (the user removed the app's "
                     "access, changed the password, the token was unused for 6 months, or more than 100 tokens "
                     "were issued for this client). An app whose OAuth consent screen is in \"Testing\" gets "
                     "refresh tokens that expire after 7 days",
                     with_account("run `oauthmail account login {account}`; if it happens every week, publish the "
                                  "app (Google Cloud console -> OAuth consent screen -> Publishing status: In "
                                  "production)",
                                  ctx));
  }
  if (contains(d, "Invalid JWT Signature")) {
    return make_diag(failure_class::needs_human,
                     "Google refused the service account's signature: the key in the JSON key file was deleted, "
                     "rotated or belongs to another service account",
                     "create a new key for the service account (Google Cloud console -> IAM & Admin -> Service "
                     "accounts -> Keys) and point service_account_key at the new JSON file");
  }
  if (contains(d, "Invalid email or User ID")) {
    return make_diag(failure_class::needs_human,
                     "Google does not know the user to impersonate (`sub`, the account's user): it is not a user "
                     "of the Workspace domain, or is misspelt",
                     "set `user` to an existing mailbox of the Workspace domain that delegated access");
  }
  if (contains(d, "Token must be a short-lived token") || contains(d, "Check your iat and exp values")) {
    return make_diag(failure_class::needs_human,
                     "Google refused the JWT's time range (iat/exp): this machine's clock is wrong",
                     "synchronise the clock (NTP, e.g. `timedatectl set-ntp true`)");
  }
  if (e.error == "unauthorized_client" &&
      (ctx.flow == config::flow_kind::service_account ||
       contains(d, "Client is unauthorized to retrieve access tokens using this method"))) {
    return make_diag(failure_class::needs_human,
                     "domain-wide delegation is not set up for this service account, or not for the scope "
                     "https://mail.google.com/",
                     "in the Google Admin console -> Security -> Access and data control -> API controls -> "
                     "Domain-wide delegation, add the service account's client ID (the numeric one) with the "
                     "scope https://mail.google.com/ (changes can take some minutes to apply)");
  }
  if (e.error == "invalid_client" && contains(d, "client was not found")) {
    return make_diag(failure_class::needs_human, "Google does not know this OAuth client (client_id is wrong)",
                     "copy the client ID from Google Cloud console -> APIs & Services -> Credentials");
  }
  if (e.error == "invalid_client" && google_like(ctx)) {
    return make_diag(failure_class::needs_human,
                     "Google refused the client credentials: the client secret is wrong or belongs to another "
                     "client",
                     "copy the client secret of this OAuth client from Google Cloud console -> APIs & Services -> "
                     "Credentials");
  }
  if (e.error == "admin_policy_enforced") {
    return make_diag(failure_class::needs_human,
                     "a Google Workspace administrator's policy blocks this app or the Gmail scope",
                     "ask the administrator to trust the app (Admin console -> Security -> API controls -> App "
                     "access control)");
  }
  if (e.error == "org_internal") {
    return make_diag(failure_class::needs_human,
                     "the OAuth app is limited to users of its own Google Workspace organization",
                     "sign in with a user of that organization, or make the app external (OAuth consent screen -> "
                     "User type)");
  }
  if (e.error == "invalid_scope" && google_like(ctx) && ctx.flow == config::flow_kind::device_code) {
    return make_diag(failure_class::needs_human,
                     "Google's device flow does not allow the Gmail scope https://mail.google.com/",
                     "use flow = \"authorization_code\" (you can paste the redirected URL on a remote machine) or "
                     "a service account");
  }
  return std::nullopt;
}

oauth_diagnosis diagnose_by_error(const oauth_error& e, const diagnosis_context& ctx) {
  const std::string& c = e.error;
  const bool delegated =
      ctx.flow == config::flow_kind::device_code || ctx.flow == config::flow_kind::authorization_code;
  const std::string login = with_account(login_fix, ctx);
  if (c == "invalid_grant") {
    if (ctx.flow == config::flow_kind::service_account) {
      return make_diag(failure_class::needs_human,
                       "the provider refused the service account's JWT (key, user or clock)",
                       "check service_account_key, `user` and the clock");
    }
    if (ctx.flow == config::flow_kind::client_credentials) {
      return make_diag(failure_class::needs_human, "the provider refused the grant (invalid_grant)",
                       "check the account's credentials and scopes");
    }
    return make_diag(failure_class::needs_human,
                     "the provider refused the refresh token or authorization code: it expired, was revoked or was "
                     "already used",
                     login);
  }
  if (c == "invalid_client") {
    return make_diag(failure_class::needs_human,
                     "client authentication failed: the client_id, client secret or certificate is wrong, expired "
                     "or not registered",
                     "check client_id and the credentials configured for this account");
  }
  if (c == "unauthorized_client") {
    return make_diag(failure_class::needs_human, "the client is not allowed to use this grant type",
                     delegated ? "enable the flow in the app registration (for Microsoft's device flow: "
                                 "Authentication -> Allow public client flows)"
                               : "allow this grant for the client at the provider");
  }
  if (c == "consent_required") {
    return make_diag(failure_class::needs_human, "the user or an administrator has not consented to the permissions",
                     with_account("run `oauthmail account login {account}` to consent, or ask an administrator for "
                                  "admin consent",
                                  ctx));
  }
  if (c == "interaction_required" || c == "login_required") {
    return make_diag(failure_class::needs_human, "the provider requires the user to sign in interactively", login);
  }
  if (c == "invalid_scope") {
    return make_diag(failure_class::needs_human, "the provider refused the requested scope",
                     "check `scopes` (`oauthmail config check` lists common mistakes), or remove the setting to "
                     "use the provider's default");
  }
  if (c == "access_denied") {
    return make_diag(failure_class::needs_human, "access was denied (by the user, an administrator or a policy)",
                     with_account("run `oauthmail account login {account}` and accept the request, or ask the "
                                  "administrator",
                                  ctx));
  }
  if (c == "authorization_declined") {
    return make_diag(failure_class::needs_human, "the sign-in was declined", login);
  }
  if (c == "expired_token") {
    return make_diag(failure_class::needs_human, "the device code expired before the sign-in was completed",
                     with_account("run `oauthmail account login {account}` again and finish signing in in time", ctx));
  }
  if (c == "bad_verification_code") {
    return make_diag(failure_class::needs_human, "the device code was not recognised",
                     with_account("run `oauthmail account login {account}` again", ctx));
  }
  if (c == "unsupported_grant_type") {
    return make_diag(failure_class::needs_human, "the provider does not support this grant type",
                     "choose another flow for this account, or check the token endpoint");
  }
  if (c == "invalid_request") {
    return make_diag(failure_class::needs_human, "the provider says the request is malformed or incomplete",
                     "check the account's settings (client_id, tenant, scopes, endpoints); if they are right, "
                     "please report an oauthmail bug");
  }
  if (c == "server_error" || c == "temporarily_unavailable") {
    return make_diag(failure_class::transient, "the provider reported a temporary failure", "");
  }
  if (c == "authorization_pending" || c == "slow_down") {
    return make_diag(failure_class::transient, "the sign-in is still pending", "");
  }
  if (!c.empty()) {
    return make_diag(failure_class::needs_human, "the provider refused the request", "read the provider's message");
  }
  // No "error" member: decide by status.
  if (e.http_status == 401 || e.http_status == 403) {
    return make_diag(failure_class::needs_human,
                     "the token endpoint refused the client (HTTP " + std::to_string(e.http_status) + ")",
                     "check client_id and the credentials");
  }
  if (e.http_status == 404 || e.http_status == 405 || (e.http_status >= 300 && e.http_status < 400)) {
    return make_diag(failure_class::needs_human,
                     "the token endpoint URL looks wrong (HTTP " + std::to_string(e.http_status) + ")",
                     "check token_endpoint / tenant / issuer");
  }
  if (e.http_status == 408) {
    return make_diag(failure_class::transient, "the token endpoint timed out (HTTP 408)", "");
  }
  return make_diag(failure_class::needs_human,
                   "the token endpoint answered HTTP " + std::to_string(e.http_status) + " without an OAuth error",
                   "check the token endpoint URL; a proxy may be in the way");
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<wall_clock::time_point> parse_imf_fixdate(std::string_view s) {
  static constexpr std::array<std::string_view, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s.substr(25) != " GMT") return std::nullopt;
  const auto num = [&](std::size_t pos, std::size_t len) -> std::optional<int> {
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const auto day = num(5, 2);
  const auto year = num(12, 4);
  const auto hh = num(17, 2);
  const auto mm = num(20, 2);
  const auto ss = num(23, 2);
  if (!day || !year || !hh || !mm || !ss || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[19] != ':' ||
      s[22] != ':') {
    return std::nullopt;
  }
  const auto mon = std::find(months.begin(), months.end(), s.substr(8, 3));
  if (mon == months.end()) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{*year},
                                        std::chrono::month{static_cast<unsigned>(mon - months.begin() + 1)},
                                        std::chrono::day{static_cast<unsigned>(*day)}};
  if (!ymd.ok() || *hh > 23 || *mm > 59 || *ss > 60) return std::nullopt;
  return std::chrono::time_point_cast<wall_clock::duration>(std::chrono::sys_days(ymd) + std::chrono::hours(*hh) +
                                                            std::chrono::minutes(*mm) + std::chrono::seconds(*ss));
}

}  // namespace

std::span<const aadsts_entry> aadsts_table() noexcept { return aadsts; }

const aadsts_entry* find_aadsts(long code) noexcept {
  const auto it = std::find_if(aadsts.begin(), aadsts.end(), [&](const aadsts_entry& e) { return e.code == code; });
  return it == aadsts.end() ? nullptr : &*it;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view v, wall_clock::time_point now) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 9) return max_retry_after;
    std::int64_t n = 0;
    std::from_chars(v.data(), v.data() + v.size(), n);
    return std::min(std::chrono::seconds(n), max_retry_after);
  }
  const auto when = parse_imf_fixdate(v);
  if (!when) return std::nullopt;
  if (*when <= now) return 0s;
  return std::min(std::chrono::ceil<std::chrono::seconds>(*when - now), max_retry_after);
}

std::string sanitize_provider_text(std::string_view text, const diagnosis_context& ctx, std::size_t max_chars) {
  // Microsoft appends "\r\nTrace ID: ...\r\nCorrelation ID: ...\r\nTimestamp: ..."; the ids are kept apart.
  if (const auto cut = text.find("\r\nTrace ID:"); cut != std::string_view::npos) text = text.substr(0, cut);
  if (text.size() > 4096) text = text.substr(0, 4096);
  std::string s;
  s.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const char out = (c < 0x20 || c == 0x7F) ? ' ' : ch;
    if (out == ' ' && (s.empty() || s.back() == ' ')) continue;
    s.push_back(out);
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  for (const auto* secret : ctx.sent_secrets) {
    if (secret == nullptr || secret->expose().size() < 4) continue;
    replace_all(s, secret->expose(), "***");
    replace_all(s, form_encode(secret->expose()), "***");
  }
  redact_token_like(s);
  if (s.size() > max_chars) {
    std::size_t n = max_chars;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // UTF-8 boundary
    s.resize(n);
    s += "...";
  }
  return s;
}

std::optional<oauth_error> parse_error_response(const http_response& r, wall_clock::time_point now) {
  const bool success_status = r.status >= 200 && r.status <= 299;
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(r.body, ec, detail::secure_storage());
  const boost::json::object* o = (!ec && doc.is_object()) ? &doc.get_object() : nullptr;
  if (success_status) {
    if (o == nullptr || o->contains("access_token") || !o->contains("error")) return std::nullopt;
  }
  oauth_error e;
  e.http_status = r.status;
  if (o != nullptr) {
    e.error = json_text(*o, "error");
    e.description = json_text(*o, "error_description");
    if (const auto* codes = o->if_contains("error_codes")) {
      if (const auto* arr = codes->if_array()) {
        for (const auto& v : *arr) {
          if (const auto* i = v.if_int64()) {
            e.error_codes.push_back(static_cast<long>(*i));
          } else if (const auto* u = v.if_uint64()) {
            if (*u <= static_cast<std::uint64_t>(std::numeric_limits<long>::max())) {
              e.error_codes.push_back(static_cast<long>(*u));
            }
          }
          if (e.error_codes.size() >= 16) break;
        }
      }
    }
    e.correlation_id = json_text(*o, "correlation_id");
    e.trace_id = json_text(*o, "trace_id");
  }
  if (e.error_codes.empty() && e.description.rfind("AADSTS", 0) == 0) {
    // "AADSTS70011: ..." without error_codes (older endpoints): take the number from the text.
    long code = 0;
    const auto* first = e.description.data() + 6;
    const auto* last = e.description.data() + e.description.size();
    const auto res = std::from_chars(first, last, code);
    if (res.ec == std::errc() && res.ptr != first) e.error_codes.push_back(code);
  }
  if (const auto* ra = r.header("retry-after")) e.retry_after = parse_retry_after(*ra, now);
  return e;
}

std::string provider_detail(const oauth_error& e, const diagnosis_context& ctx) {
  std::string out;
  const std::string code = sanitize_provider_text(e.error, ctx, 64);
  out += code.empty() ? "HTTP " + std::to_string(e.http_status) : code;
  const std::string desc = sanitize_provider_text(e.description, ctx, 300);
  if (!desc.empty()) out += ": " + desc;
  std::string extra;
  if (!e.error_codes.empty()) extra += "AADSTS" + std::to_string(e.error_codes.front());
  const std::string corr = sanitize_provider_text(e.correlation_id, ctx, 64);
  if (!corr.empty()) extra += (extra.empty() ? "" : ", ") + std::string("correlation id ") + corr;
  if (e.retry_after)
    extra += (extra.empty() ? "" : ", ") + std::string("retry after ") + std::to_string(e.retry_after->count()) + " s";
  if (!extra.empty()) out += " (" + extra + ")";
  return out;
}

oauth_diagnosis diagnose(const oauth_error& e, const diagnosis_context& ctx) {
  if (e.http_status == 429) {
    std::string cause = "the provider is rate-limiting token requests (HTTP 429)";
    if (e.retry_after) cause += "; it asks to wait " + std::to_string(e.retry_after->count()) + " s";
    return make_diag(failure_class::transient, std::move(cause), "");
  }
  if (e.http_status >= 500 && e.http_status <= 599) {
    return make_diag(failure_class::transient,
                     "the provider's token endpoint failed (HTTP " + std::to_string(e.http_status) + ")", "");
  }
  for (const long code : e.error_codes) {
    if (const auto* entry = find_aadsts(code)) {
      return make_diag(entry->klass, "Microsoft: " + std::string(entry->cause), with_account(entry->fix, ctx));
    }
  }
  if (auto g = diagnose_google(e, ctx)) return *g;
  return diagnose_by_error(e, ctx);
}

core::error grant_outcome::to_error() const {
  std::string msg = diagnosis.cause.empty() ? "the token request failed" : diagnosis.cause;
  if (!diagnosis.fix.empty()) msg += ". Fix: " + diagnosis.fix;
  if (error) msg += ". Provider said: " + provider_detail(*error);
  const auto code = error ? oauth_errc::token_endpoint_error : oauth_errc::malformed_response;
  const auto klass = diagnosis.klass == failure_class::none ? failure_class::bug : diagnosis.klass;
  return make_error(code, std::move(msg), klass);
}

grant_outcome error_outcome(oauth_error e, const diagnosis_context& ctx) {
  grant_outcome out;
  out.diagnosis = diagnose(e, ctx);
  // Sanitize once here so that callers who print error fields directly see no echoed secret.
  e.description = sanitize_provider_text(e.description, ctx, 300);
  e.error = sanitize_provider_text(e.error, ctx, 64);
  e.correlation_id = sanitize_provider_text(e.correlation_id, ctx, 64);
  e.trace_id = sanitize_provider_text(e.trace_id, ctx, 64);
  out.error = std::move(e);
  return out;
}

grant_outcome evaluate_token_response(const http_response& r, wall_clock::time_point now,
                                      std::span<const std::string> requested_scopes, const diagnosis_context& ctx) {
  grant_outcome out;
  if (auto err = parse_error_response(r, now)) return error_outcome(std::move(*err), ctx);
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(r.body, ec, detail::secure_storage());
  if (ec || !doc.is_object()) {
    out.diagnosis = protocol_failure("the token endpoint answered HTTP " + std::to_string(r.status) +
                                     " with a body that is not a JSON object (a proxy or captive portal?)");
    return out;
  }
  const auto& o = doc.get_object();
  const auto* at = o.if_contains("access_token");
  if (at == nullptr || !at->is_string() || at->get_string().empty()) {
    out.diagnosis = protocol_failure("the token endpoint's answer has no access_token");
    return out;
  }
  token_set t;
  t.access_token = core::secret<std::string>(std::string(at->get_string()));
  if (const auto* tt = o.if_contains("token_type")) {
    if (!tt->is_string()) {
      out.diagnosis = protocol_failure("the token endpoint's token_type is not a string");
      return out;
    }
    const std::string type = lower(tt->get_string());
    if (type != "bearer") {
      out.diagnosis =
          protocol_failure("the token endpoint issued a \"" + sanitize_provider_text(tt->get_string(), ctx, 32) +
                           "\" token; SMTP XOAUTH2/OAUTHBEARER need a Bearer token");
      return out;
    }
  }
  t.token_type = "Bearer";
  if (const auto* rt = o.if_contains("refresh_token")) {
    if (const auto* s = rt->if_string(); s != nullptr && !s->empty()) {
      t.refresh_token = core::secret<std::string>(std::string(*s));
    }
  }
  std::chrono::seconds lifetime = default_lifetime;
  if (const auto* ei = o.if_contains("expires_in"); ei != nullptr && !ei->is_null()) {
    const auto secs = json_seconds(*ei);
    if (!secs || *secs < 0 || *secs > max_expires_in) {
      out.diagnosis = protocol_failure("the token endpoint's expires_in is not a usable number of seconds");
      return out;
    }
    lifetime = std::chrono::seconds(*secs);
  } else {
    const token_facts facts = inspect_token(t.access_token.expose());
    if (facts.expires_at && *facts.expires_at > now) {
      lifetime = std::chrono::duration_cast<std::chrono::seconds>(*facts.expires_at - now);
    }
  }
  t.obtained_at = now;
  t.expires_at = now + lifetime;
  if (const auto* sc = o.if_contains("scope"); sc != nullptr && sc->is_string() && !sc->get_string().empty()) {
    t.scopes = split_scopes(sc->get_string());
  } else {
    t.scopes.assign(requested_scopes.begin(), requested_scopes.end());
  }
  out.tokens = std::move(t);
  return out;
}

core::result<token_set> parse_token_response(const http_response& r, wall_clock::time_point now,
                                             std::span<const std::string> requested_scopes,
                                             const diagnosis_context& ctx) {
  grant_outcome o = evaluate_token_response(r, now, requested_scopes, ctx);
  if (o.tokens) return std::move(*o.tokens);
  return o.to_error();
}

}  // namespace oauthmail::oauth
