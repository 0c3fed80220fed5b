#include "sandbox/state.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace oauthmail::sandbox {
namespace {

namespace fs = std::filesystem;

core::error state_error(std::string message) {
  return core::error(std::make_error_code(std::errc::io_error), std::move(message), core::failure_class::needs_human);
}

// Writes `text` to `path` atomically (temporary file, fsync, rename) with `mode`.
core::result<void> write_file(const std::string& path, std::string_view text, mode_t mode) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return state_error("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::fchmod(fd, mode) == 0;
  std::size_t done = 0;
  while (ok && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ok = false;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return state_error("cannot write " + path + ": " + std::strerror(ok ? errno : saved));
  }
  return {};
}

core::result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return state_error("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string client_kind_name(client_kind k) {
  switch (k) {
    case client_kind::secret:
      return "client_secret";
    case client_kind::certificate:
      return "certificate";
    case client_kind::public_client:
      return "public";
    case client_kind::service_account:
      return "service_account";
  }
  return "unknown";
}

std::string first_mailbox(const directory& d, const client& c) {
  if (!c.mailbox_permissions.empty()) return c.mailbox_permissions.front();
  return "sender@" + d.domain;
}

}  // namespace

const client_files* prepared_state::files_of(std::string_view client_name) const {
  for (const auto& f : files) {
    if (f.name == client_name) return &f;
  }
  return nullptr;
}

core::result<prepared_state> prepare_state(const std::string& dir, profile_kind profile) {
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "clients", ec);
  if (ec) return state_error("cannot create the state folder " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  ::chmod((fs::path(dir) / "clients").c_str(), 0700);

  prepared_state st;
  st.dir = dir;
  const std::string dir_json = (fs::path(dir) / "directory.json").string();
  std::vector<std::pair<std::string, std::string>> new_keys;
  if (fs::exists(dir_json)) {
    auto text = read_file(dir_json);
    if (!text) return text.error();
    boost::system::error_code jec;
    auto v = boost::json::parse(*text, jec);
    if (jec) return state_error(dir_json + " is not valid JSON; delete the state folder to start afresh");
    auto d = directory_from_json(v);
    if (!d) return state_error(dir_json + ": " + d.error().message() + "; delete the state folder to start afresh");
    if (d->profile != profile) {
      return state_error(
          fmt::format("the state folder {} belongs to a sandbox with profile {}, not {}; use another "
                      "--state folder for each profile",
                      dir, to_string(d->profile), to_string(profile)));
    }
    st.identities = std::move(*d);
  } else {
    auto made = make_default_directory(profile);
    if (!made) return made.error();
    st.identities = std::move(made->dir);
    new_keys = std::move(made->private_keys);
    if (auto ok = write_file(dir_json, boost::json::serialize(to_json(st.identities)), 0600); !ok) return ok.error();
  }

  for (const auto& c : st.identities.clients) {
    client_files f;
    f.name = c.name;
    const auto base = (fs::path(dir) / "clients" / c.name).string();
    if (!c.secret.empty()) {
      f.secret = base + ".secret";
      if (!fs::exists(f.secret)) {
        if (auto ok = write_file(f.secret, c.secret + "\n", 0600); !ok) return ok.error();
      }
    }
    if (!c.certificate_pem.empty()) {
      f.certificate = base + ".pem";
      if (auto ok = write_file(f.certificate, c.certificate_pem, 0600); !ok) return ok.error();
      f.private_key = base + ".key.pem";
    }
    for (const auto& [name, pem] : new_keys) {
      if (name == c.name) {
        if (auto ok = write_file(f.private_key, pem, 0600); !ok) return ok.error();
      }
    }
    if (!f.private_key.empty() && !fs::exists(f.private_key)) {
      return state_error("the private key " + f.private_key + " of client " + c.name +
                         " is missing; delete the state folder to start afresh");
    }
    // clients/service-account.json, clients/service-account-nodwd.json, ...
    if (c.kind == client_kind::service_account) f.service_account = base + ".json";
    st.files.push_back(std::move(f));
  }
  return st;
}

boost::json::object describe(const prepared_state& state, const sandbox_description& desc) {
  const auto& d = state.identities;
  boost::json::array smtp;
  for (const auto& e : desc.smtp) {
    smtp.push_back({{"host", e.host},
                    {"port", e.port},
                    {"tls", e.implicit_tls ? "implicit" : "starttls"},
                    {"endpoint", e.host + ":" + std::to_string(e.port)}});
  }
  boost::json::array clients;
  for (const auto& c : d.clients) {
    boost::json::object o{{"name", c.name}, {"client_id", c.client_id}, {"kind", client_kind_name(c.kind)}};
    if (const auto* f = state.files_of(c.name)) {
      if (!f->secret.empty()) o["client_secret"] = "file:" + f->secret;
      if (!f->certificate.empty()) o["client_certificate"] = "file:" + f->certificate;
      if (!f->private_key.empty()) o["client_private_key"] = "file:" + f->private_key;
      if (!f->service_account.empty()) o["service_account_key"] = "file:" + f->service_account;
    }
    if (!c.service_account_email.empty()) o["service_account_email"] = c.service_account_email;
    boost::json::array perms;
    for (const auto& m : c.mailbox_permissions) perms.emplace_back(m);
    o["mailbox_permissions"] = std::move(perms);
    clients.push_back(std::move(o));
  }
  boost::json::array mailboxes;
  for (const auto& m : d.mailboxes) {
    boost::json::array send_as;
    for (const auto& a : m.send_as) send_as.emplace_back(a);
    mailboxes.push_back({{"address", m.address},
                         {"display_name", m.display_name},
                         {"smtp_auth_enabled", m.smtp_auth_enabled},
                         {"send_as", std::move(send_as)}});
  }
  const auto& e = desc.idp;
  return {{"profile", to_string(desc.profile)},
          {"tenant_id", d.tenant_id},
          {"domain", d.domain},
          {"smtp", std::move(smtp)},
          {"http", desc.http_base},
          {"ca_file", desc.ca_file},
          {"identity_provider",
           {{"issuer", e.issuer},
            {"discovery", e.discovery},
            {"token_endpoint", e.token},
            {"device_authorization_endpoint", e.device_authorization},
            {"authorization_endpoint", e.authorization},
            {"revocation_endpoint", e.revocation},
            {"introspection_endpoint", e.introspection},
            {"jwks_uri", e.jwks},
            {"device_page", e.device_page}}},
          {"api", desc.http_base + "/api/"},
          {"clients", std::move(clients)},
          {"mailboxes", std::move(mailboxes)},
          {"config_file", (fs::path(state.dir) / "oauthmail.toml").string()}};
}

std::string account_configuration(const prepared_state& state, const sandbox_description& desc) {
  const auto& d = state.identities;
  const auto& e = desc.idp;
  const smtp_endpoint* starttls = nullptr;
  for (const auto& s : desc.smtp) {
    if (!s.implicit_tls && starttls == nullptr) starttls = &s;
  }
  if (starttls == nullptr && !desc.smtp.empty()) starttls = &desc.smtp.front();
  std::string out = fmt::format(
      "# oauthmail configuration for the sandbox in {0} (profile {1}).\n"
      "# Written by `oauthmail sandbox`. Use it with --config {2} (oauthmail send --config ...)\n"
      "# or OAUTHMAIL_CONFIG={2}.\n"
      "# Secrets are file references to the sandbox's state folder; nothing here is secret.\n\n"
      "default_account = \"sandbox\"\n\n"
      "[token_cache]\npath = {3}\n",
      state.dir, to_string(desc.profile), (fs::path(state.dir) / "oauthmail.toml").string(),
      toml_string((fs::path(state.dir) / "token-cache").string()));

  const std::string provider = desc.profile == profile_kind::microsoft ? "microsoft"
                               : desc.profile == profile_kind::google  ? "google"
                                                                       : "generic";
  auto smtp_block = [&] {
    if (starttls == nullptr) return std::string();
    return fmt::format("\n[account.smtp]\nhost = {}\nport = {}\nca_file = {}\n", toml_string(starttls->host),
                       starttls->port, toml_string(desc.ca_file));
  };
  auto endpoints = [&](bool device, bool authorize) {
    std::string s;
    if (desc.profile == profile_kind::generic) {
      // A standards-only provider has no default scope: the sandbox's SMTP server accepts "smtp".
      return fmt::format("issuer = {}\nscopes = {}\n", toml_string(e.issuer),
                         device || authorize ? R"(["smtp", "offline_access"])" : R"(["smtp"])");
    }
    s += fmt::format("token_endpoint = {}\n", toml_string(e.token));
    if (device && !e.device_authorization.empty()) {
      s += fmt::format("device_authorization_endpoint = {}\n", toml_string(e.device_authorization));
    }
    if (authorize && !e.authorization.empty()) {
      s += fmt::format("authorization_endpoint = {}\n", toml_string(e.authorization));
    }
    if (!e.revocation.empty() && (device || authorize)) {
      s += fmt::format("revocation_endpoint = {}\n", toml_string(e.revocation));
    }
    return s;
  };
  auto head = [&](std::string_view name, std::string_view comment, std::string_view flow, const client& c,
                  std::string_view user) {
    std::string s = fmt::format("\n# {}\n[[account]]\nname = \"{}\"\nprovider = \"{}\"\n", comment, name, provider);
    if (desc.profile == profile_kind::microsoft) s += fmt::format("tenant = \"{}\"\n", d.tenant_id);
    s += fmt::format("flow = \"{}\"\nclient_id = \"{}\"\nuser = \"{}\"\n", flow, c.client_id, user);
    return s;
  };

  const std::string sender = "sender@" + d.domain;
  for (const auto& c : d.clients) {
    const auto* f = state.files_of(c.name);
    if (f == nullptr) continue;
    std::string block;
    const std::string user = c.kind == client_kind::public_client ? sender : first_mailbox(d, c);
    // Google has no client-credentials grant for Gmail: its machine accounts are service accounts.
    const bool app_only = c.kind == client_kind::secret || c.kind == client_kind::certificate;
    if (app_only && desc.profile == profile_kind::google) continue;
    switch (c.kind) {
      case client_kind::secret:
        if (c.name != "app-secret") continue;  // app-noperm is for failure tests, not for a ready-made account
        block = head("sandbox", "App-only (client credentials) with a client secret", "client_credentials", c, user);
        block += fmt::format("client_secret = \"file:{}\"\n", f->secret);
        block += endpoints(false, false);
        break;
      case client_kind::certificate:
        block = head("sandbox-cert", "App-only with a certificate (private_key_jwt)", "client_credentials", c, user);
        block += fmt::format("client_certificate = \"file:{}\"\nclient_private_key = \"file:{}\"\n", f->certificate,
                             f->private_key);
        block += endpoints(false, false);
        break;
      case client_kind::public_client:
        if (desc.profile != profile_kind::google) {
          block = head("sandbox-device", "Delegated, device code sign-in (oauthmail account login sandbox-device)",
                       "device_code", c, user);
          block += endpoints(true, false);
          block += smtp_block();
        }
        block +=
            head("sandbox-browser", "Delegated, browser sign-in with PKCE (oauthmail account login sandbox-browser)",
                 "authorization_code", c, user);
        if (!f->secret.empty()) block += fmt::format("client_secret = \"file:{}\"\n", f->secret);
        block += endpoints(false, true);
        break;
      case client_kind::service_account:
        if (c.name != "service-account") continue;  // service-account-nodwd is for failure tests
        block = head("sandbox", "Service account with domain-wide delegation", "service_account", c, sender);
        block += fmt::format("service_account_key = \"file:{}\"\n", f->service_account);
        block += endpoints(false, false);
        break;
    }
    out += block + smtp_block();
  }
  return out;
}

core::result<written_files> write_descriptions(const prepared_state& state, const sandbox_description& desc) {
  const auto& d = state.identities;
  for (const auto& c : d.clients) {
    if (c.kind != client_kind::service_account) continue;
    const auto* f = state.files_of(c.name);
    if (f == nullptr) continue;
    auto key = read_file(f->private_key);
    if (!key) return key.error();
    // The file Google's console lets you download, pointing at the sandbox's token endpoint.
    boost::json::object sa{{"type", "service_account"},
                           {"project_id", "oauthmail-sandbox"},
                           {"private_key_id", c.key_id},
                           {"private_key", *key},
                           {"client_email", c.service_account_email},
                           {"client_id", c.client_id},
                           {"auth_uri", desc.idp.authorization},
                           {"token_uri", desc.idp.token}};
    if (auto ok = write_file(f->service_account, boost::json::serialize(sa), 0600); !ok) return ok.error();
  }
  written_files w;
  w.sandbox_json = (fs::path(state.dir) / "sandbox.json").string();
  w.config_toml = (fs::path(state.dir) / "oauthmail.toml").string();
  if (auto ok = write_file(w.sandbox_json, boost::json::serialize(describe(state, desc)) + "\n", 0644); !ok) {
    return ok.error();
  }
  if (auto ok = write_file(w.config_toml, account_configuration(state, desc), 0600); !ok) return ok.error();
  return w;
}

}  // namespace oauthmail::sandbox
