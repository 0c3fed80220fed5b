#include "sandbox/directory.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "core/base64.hpp"
#include "oauth/random.hpp"
#include "sandbox/pki.hpp"

namespace oauthmail::sandbox {

namespace {

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

core::error directory_error(std::string msg) {
  return core::error(core::make_error_code(core::errc::invalid_argument), std::move(msg),
                     core::failure_class::needs_human);
}

// `n` characters drawn uniformly from `alphabet` (rejection sampling, no modulo bias).
std::string random_chars(const oauth::random_source& random, std::string_view alphabet, std::size_t n) {
  const std::size_t limit = 256 - (256 % alphabet.size());
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    std::array<unsigned char, 64> buf{};
    random(buf);
    for (const unsigned char c : buf) {
      if (c < limit && out.size() < n) out.push_back(alphabet[c % alphabet.size()]);
    }
  }
  return out;
}

constexpr std::string_view digits = "0123456789";
constexpr std::string_view lower_alnum = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::string_view alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::string_view hex = "0123456789abcdef";

// Entra client secret values: 40 characters, "xxxNQ~" then 34 of [A-Za-z0-9_.~-] (so that "~" and
// "." always appear and clients must form-encode them correctly).
std::string entra_secret(const oauth::random_source& random) {
  return random_chars(random, alnum, 3) + random_chars(random, digits, 1) + "Q~" +
         random_chars(random, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-", 34);
}

std::string google_secret(const oauth::random_source& random) {
  return "GOCSPX-" + random_chars(random, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", 28);
}

std::string google_client_id(const oauth::random_source& random) {
  return random_chars(random, "123456789", 1) + random_chars(random, digits, 11) + "-" +
         random_chars(random, lower_alnum, 32) + ".apps.googleusercontent.com";
}

std::string_view to_string(client_kind k) noexcept {
  switch (k) {
    case client_kind::secret:
      return "secret";
    case client_kind::certificate:
      return "certificate";
    case client_kind::public_client:
      return "public";
    case client_kind::service_account:
      return "service_account";
  }
  return "secret";
}

std::optional<client_kind> parse_client_kind(std::string_view s) {
  for (const auto k :
       {client_kind::secret, client_kind::certificate, client_kind::public_client, client_kind::service_account}) {
    if (s == to_string(k)) return k;
  }
  return std::nullopt;
}

boost::json::array string_array(const std::vector<std::string>& v) {
  boost::json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

// --- reading directory.json with messages that name the key ---

struct reader {
  const boost::json::object& o;
  std::string where;  // "clients[2]"

  std::string path(std::string_view key) const {
    return where.empty() ? std::string(key) : where + "." + std::string(key);
  }

  core::result<std::string> str(std::string_view key, bool required = true) const {
    const auto* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) {
      if (required) return directory_error(path(key) + ": missing");
      return std::string();
    }
    if (!v->is_string()) return directory_error(path(key) + ": must be a string");
    return std::string(v->get_string());
  }
  core::result<bool> flag(std::string_view key, bool fallback) const {
    const auto* v = o.if_contains(key);
    if (v == nullptr) return fallback;
    if (!v->is_bool()) return directory_error(path(key) + ": must be true or false");
    return v->get_bool();
  }
  core::result<std::vector<std::string>> strings(std::string_view key) const {
    std::vector<std::string> out;
    const auto* v = o.if_contains(key);
    if (v == nullptr) return out;
    if (!v->is_array()) return directory_error(path(key) + ": must be an array of strings");
    for (const auto& item : v->get_array()) {
      if (!item.is_string()) return directory_error(path(key) + ": must be an array of strings");
      out.emplace_back(item.get_string());
    }
    return out;
  }
};

}  // namespace

std::string_view to_string(profile_kind p) noexcept {
  switch (p) {
    case profile_kind::microsoft:
      return "microsoft";
    case profile_kind::google:
      return "google";
    case profile_kind::generic:
      return "generic";
  }
  return "generic";
}

std::optional<profile_kind> parse_profile(std::string_view name) noexcept {
  for (const auto p : {profile_kind::microsoft, profile_kind::google, profile_kind::generic}) {
    if (iequals(name, to_string(p))) return p;
  }
  return std::nullopt;
}

const mailbox* directory::find_mailbox(std::string_view address) const {
  for (const auto& m : mailboxes) {
    if (iequals(m.address, address)) return &m;
  }
  return nullptr;
}

const client* directory::find_client_by_id(std::string_view client_id) const {
  if (client_id.empty()) return nullptr;
  for (const auto& c : clients) {
    if (c.client_id == client_id) return &c;
  }
  return nullptr;
}

const client* directory::find_client(std::string_view name) const {
  for (const auto& c : clients) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const client* directory::find_service_account(std::string_view email) const {
  if (email.empty()) return nullptr;
  for (const auto& c : clients) {
    if (c.kind == client_kind::service_account && iequals(c.service_account_email, email)) return &c;
  }
  return nullptr;
}

bool directory::may_send_as(std::string_view mailbox_address, std::string_view from) const {
  const mailbox* m = find_mailbox(mailbox_address);
  if (m == nullptr) return false;
  if (iequals(m->address, from)) return true;
  return std::any_of(m->send_as.begin(), m->send_as.end(), [&](const std::string& a) { return iequals(a, from); });
}

core::result<generated_directory> make_default_directory(profile_kind profile) {
  const oauth::random_source random = oauth::system_random();
  generated_directory out;
  directory& d = out.dir;
  d.profile = profile;
  d.domain = profile == profile_kind::microsoft ? "contoso.test" : "example.test";
  d.tenant_id =
      profile == profile_kind::google ? "C0" + random_chars(random, lower_alnum, 7) : oauth::random_uuid(random);

  const std::string at = "@" + d.domain;
  d.mailboxes.push_back({"sender" + at, "Sandbox Sender", true, {"shared" + at}});
  d.mailboxes.push_back({"shared" + at, "Shared Mailbox", true, {}});
  d.mailboxes.push_back({"disabled" + at, "SMTP AUTH Disabled", false, {}});
  d.mailboxes.push_back({"other" + at, "Other User", true, {}});

  const bool google = profile == profile_kind::google;
  const auto new_id = [&] { return google ? google_client_id(random) : oauth::random_uuid(random); };
  const auto new_secret = [&] {
    switch (profile) {
      case profile_kind::microsoft:
        return entra_secret(random);
      case profile_kind::google:
        return google_secret(random);
      case profile_kind::generic:
        break;
    }
    return core::base64url_encode(oauth::random_bytes(random, 32));
  };

  client app_secret;
  app_secret.name = "app-secret";
  app_secret.client_id = new_id();
  app_secret.kind = client_kind::secret;
  app_secret.secret = new_secret();
  if (!google) app_secret.mailbox_permissions = {"sender" + at, "disabled" + at};
  d.clients.push_back(std::move(app_secret));

  if (!google) {
    client app_cert;
    app_cert.name = "app-cert";
    app_cert.client_id = new_id();
    app_cert.kind = client_kind::certificate;
    auto kc = make_self_signed("oauthmail sandbox app-cert");
    if (!kc) return kc.error();
    app_cert.certificate_pem = kc->certificate_pem;
    app_cert.mailbox_permissions = {"sender" + at, "disabled" + at};
    out.private_keys.emplace_back(app_cert.name, std::move(kc->private_key_pem));
    d.clients.push_back(std::move(app_cert));

    client app_noperm;
    app_noperm.name = "app-noperm";
    app_noperm.client_id = new_id();
    app_noperm.kind = client_kind::secret;
    app_noperm.secret = new_secret();
    d.clients.push_back(std::move(app_noperm));
  }

  client pub;
  pub.name = "public";
  pub.client_id = new_id();
  pub.kind = client_kind::public_client;
  if (google) pub.secret = new_secret();  // Desktop app clients have one, and Google's token endpoint wants it
  d.clients.push_back(std::move(pub));

  if (google) {
    client sa;
    sa.name = "service-account";
    sa.client_id = random_chars(random, "123456789", 1) + random_chars(random, digits, 20);
    sa.kind = client_kind::service_account;
    sa.service_account_email = "sandbox-mailer@sandbox-" + random_chars(random, digits, 6) + ".iam.gserviceaccount.com";
    sa.key_id = random_chars(random, hex, 40);
    auto kc = make_self_signed(sa.service_account_email);
    if (!kc) return kc.error();
    sa.certificate_pem = kc->certificate_pem;
    sa.domain_wide_delegation = true;
    out.private_keys.emplace_back(sa.name, std::move(kc->private_key_pem));
    d.clients.push_back(std::move(sa));

    // The same without domain-wide delegation: Google answers unauthorized_client.
    client nodwd;
    nodwd.name = "service-account-nodwd";
    nodwd.client_id = random_chars(random, "123456789", 1) + random_chars(random, digits, 20);
    nodwd.kind = client_kind::service_account;
    nodwd.service_account_email =
        "sandbox-nodwd@sandbox-" + random_chars(random, digits, 6) + ".iam.gserviceaccount.com";
    nodwd.key_id = random_chars(random, hex, 40);
    auto kn = make_self_signed(nodwd.service_account_email);
    if (!kn) return kn.error();
    nodwd.certificate_pem = kn->certificate_pem;
    nodwd.domain_wide_delegation = false;
    out.private_keys.emplace_back(nodwd.name, std::move(kn->private_key_pem));
    d.clients.push_back(std::move(nodwd));
  }
  return out;
}

boost::json::object to_json(const directory& d) {
  boost::json::object o;
  o["version"] = 1;
  o["profile"] = to_string(d.profile);
  o["tenant_id"] = d.tenant_id;
  o["domain"] = d.domain;
  boost::json::array mailboxes;
  for (const auto& m : d.mailboxes) {
    boost::json::object j;
    j["address"] = m.address;
    j["display_name"] = m.display_name;
    j["smtp_auth_enabled"] = m.smtp_auth_enabled;
    j["send_as"] = string_array(m.send_as);
    mailboxes.emplace_back(std::move(j));
  }
  o["mailboxes"] = std::move(mailboxes);
  boost::json::array clients;
  for (const auto& c : d.clients) {
    boost::json::object j;
    j["name"] = c.name;
    j["client_id"] = c.client_id;
    j["kind"] = to_string(c.kind);
    if (!c.secret.empty()) j["secret"] = c.secret;
    if (!c.certificate_pem.empty()) j["certificate_pem"] = c.certificate_pem;
    if (!c.service_account_email.empty()) j["service_account_email"] = c.service_account_email;
    if (!c.key_id.empty()) j["key_id"] = c.key_id;
    j["service_principal"] = c.service_principal;
    j["mailbox_permissions"] = string_array(c.mailbox_permissions);
    j["domain_wide_delegation"] = c.domain_wide_delegation;
    clients.emplace_back(std::move(j));
  }
  o["clients"] = std::move(clients);
  return o;
}

core::result<directory> directory_from_json(const boost::json::value& v) {
  if (!v.is_object()) return directory_error("the directory must be a JSON object");
  const reader top{v.get_object(), ""};
  directory d;
  if (const auto* ver = top.o.if_contains("version"); ver != nullptr && !(ver->is_int64() && ver->get_int64() == 1)) {
    return directory_error("version: only version 1 is understood");
  }
  auto prof = top.str("profile");
  if (!prof) return prof.error();
  const auto p = parse_profile(*prof);
  if (!p) return directory_error("profile: must be microsoft, google or generic");
  d.profile = *p;
  auto tenant = top.str("tenant_id");
  if (!tenant) return tenant.error();
  d.tenant_id = *tenant;
  auto domain = top.str("domain");
  if (!domain) return domain.error();
  if (domain->empty()) return directory_error("domain: must not be empty");
  d.domain = lower(*domain);

  const auto* mbs = top.o.if_contains("mailboxes");
  if (mbs == nullptr || !mbs->is_array()) return directory_error("mailboxes: missing or not an array");
  std::size_t i = 0;
  for (const auto& item : mbs->get_array()) {
    const std::string where = "mailboxes[" + std::to_string(i++) + "]";
    if (!item.is_object()) return directory_error(where + ": must be an object");
    const reader r{item.get_object(), where};
    mailbox m;
    auto address = r.str("address");
    if (!address) return address.error();
    if (address->find('@') == std::string::npos) return directory_error(r.path("address") + ": not a mail address");
    m.address = lower(*address);
    auto name = r.str("display_name", false);
    if (!name) return name.error();
    m.display_name = *name;
    auto enabled = r.flag("smtp_auth_enabled", true);
    if (!enabled) return enabled.error();
    m.smtp_auth_enabled = *enabled;
    auto send_as = r.strings("send_as");
    if (!send_as) return send_as.error();
    for (auto& a : *send_as) m.send_as.push_back(lower(a));
    if (d.find_mailbox(m.address) != nullptr) return directory_error(r.path("address") + ": appears twice");
    d.mailboxes.push_back(std::move(m));
  }

  const auto* cls = top.o.if_contains("clients");
  if (cls == nullptr || !cls->is_array()) return directory_error("clients: missing or not an array");
  i = 0;
  for (const auto& item : cls->get_array()) {
    const std::string where = "clients[" + std::to_string(i++) + "]";
    if (!item.is_object()) return directory_error(where + ": must be an object");
    const reader r{item.get_object(), where};
    client c;
    auto name = r.str("name");
    if (!name) return name.error();
    c.name = *name;
    auto id = r.str("client_id");
    if (!id) return id.error();
    if (id->empty()) return directory_error(r.path("client_id") + ": must not be empty");
    c.client_id = *id;
    auto kind = r.str("kind");
    if (!kind) return kind.error();
    const auto k = parse_client_kind(*kind);
    if (!k) return directory_error(r.path("kind") + ": must be secret, certificate, public or service_account");
    c.kind = *k;
    for (auto [key, field] :
         {std::pair{"secret", &c.secret}, std::pair{"certificate_pem", &c.certificate_pem},
          std::pair{"service_account_email", &c.service_account_email}, std::pair{"key_id", &c.key_id}}) {
      auto s = r.str(key, false);
      if (!s) return s.error();
      *field = std::move(*s);
    }
    if (c.kind == client_kind::secret && c.secret.empty()) return directory_error(r.path("secret") + ": missing");
    if ((c.kind == client_kind::certificate || c.kind == client_kind::service_account) && c.certificate_pem.empty()) {
      return directory_error(r.path("certificate_pem") + ": missing");
    }
    if (c.kind == client_kind::service_account && c.service_account_email.empty()) {
      return directory_error(r.path("service_account_email") + ": missing");
    }
    auto sp = r.flag("service_principal", true);
    if (!sp) return sp.error();
    c.service_principal = *sp;
    auto dwd = r.flag("domain_wide_delegation", true);
    if (!dwd) return dwd.error();
    c.domain_wide_delegation = *dwd;
    auto perms = r.strings("mailbox_permissions");
    if (!perms) return perms.error();
    for (auto& a : *perms) c.mailbox_permissions.push_back(lower(a));
    if (d.find_client_by_id(c.client_id) != nullptr) return directory_error(r.path("client_id") + ": appears twice");
    if (d.find_client(c.name) != nullptr) return directory_error(r.path("name") + ": appears twice");
    d.clients.push_back(std::move(c));
  }
  return d;
}

}  // namespace oauthmail::sandbox
