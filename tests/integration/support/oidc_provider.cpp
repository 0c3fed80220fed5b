#include "integration/support/oidc_provider.hpp"

#include <stdexcept>

namespace oauthmail::testing {

oidc_provider::oidc_provider(const temp_dir& dir, int access_ttl, std::optional<fs::path> client_jwks)
    : dir_(dir), access_ttl_(access_ttl), client_jwks_(std::move(client_jwks)) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    if (start_on_port()) return;
  }
  throw std::runtime_error("oidc-provider did not start");
}

void oidc_provider::restart() {
  child_.reset();
  if (!start_on_port()) throw std::runtime_error("oidc-provider did not restart on its port");
}

boost::json::object oidc_provider::counters() const {
  auto r = run_program({"curl", "-s", "--max-time", "10", issuer() + "/test/counters"}, dir_.path());
  return boost::json::parse(r.out).as_object();
}

std::int64_t oidc_provider::token_requests() const { return counters().at("token_requests").to_number<std::int64_t>(); }

std::int64_t oidc_provider::issued(const std::string& grant) const {
  const boost::json::object all = counters();
  const auto& issued = all.at("issued").as_object();
  const auto* v = issued.if_contains(grant);
  return v ? v->to_number<std::int64_t>() : 0;
}

bool oidc_provider::start_on_port() {
  const fs::path ready = dir_ / ("oidc-ready-" + std::to_string(port_) + "-" + std::to_string(++starts_));
  spawn_options o;
  o.argv = {"node",         std::string(OAUTHMAIL_PEERS_DIR) + "/oidc_provider.mjs",
            "--port",       std::to_string(port_),
            "--ready-file", ready.string(),
            "--access-ttl", std::to_string(access_ttl_)};
  if (client_jwks_) {
    o.argv.push_back("--client-jwks");
    o.argv.push_back(client_jwks_->string());
  }
  o.stdout_path = dir_ / ("oidc-" + std::to_string(port_) + "-" + std::to_string(starts_) + ".log");
  child_.emplace(child_process::start(std::move(o)));
  try {
    child_->wait_for_file(ready, 30s);
    return true;
  } catch (const std::exception&) {
    if (child_->running()) throw;
    child_.reset();  // port taken
    return false;
  }
}

// ---- test_account ------------------------------------------------------------------------------

test_account::test_account(const temp_dir& dir, const oidc_provider& op, options opts)
    : dir_(dir), op_(op), opts_(std::move(opts)) {
  const fs::path secret = dir_ / (opts_.name + "-client-secret");
  write_file(secret, test_client_secret);
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  config_ = dir_ / (opts_.name + "-config.toml");
  point_at(587);
  auto shown =
      run_program({OAUTHMAIL_BINARY, "token", "show", opts_.name, "--config", config_.string(), "--json", "--reveal"},
                  dir_.path(), std::nullopt, 60s);
  if (shown.exit_code != 0) throw std::runtime_error("oauthmail token show failed: " + shown.err);
  token_ = std::string(boost::json::parse(shown.out).as_object().at("access_token").as_string());
}

std::string test_account::text(const std::string& smtp_section) const {
  std::string senders;
  for (const auto& s : opts_.allowed_senders) senders += (senders.empty() ? "" : ", ") + ("\"" + s + "\"");
  return opts_.extra_toml + "\n[token_cache]\npath = \"" + (dir_ / (opts_.name + "-tokens")).string() +
         "\"\n\n[[account]]\nname = \"" + opts_.name +
         "\"\nprovider = \"generic\"\nflow = \"client_credentials\"\nissuer = \"" + op_.issuer() +
         "\"\nclient_id = \"oauthmail-cc-post\"\nclient_secret = \"file:" +
         (dir_ / (opts_.name + "-client-secret")).string() + "\"\nuser = \"" + opts_.user +
         "\"\nscopes = [\"SMTP.SendAsApp\"]\n" + (senders.empty() ? "" : "allowed_senders = [" + senders + "]\n") +
         "\n[account.smtp]\n" + smtp_section;
}

void test_account::point_at(std::uint16_t port, const std::string& tls) {
  std::string smtp = "host = \"127.0.0.1\"\nport = " + std::to_string(port) + "\ntls = \"" + tls + "\"\n";
  if (tls == "none") {
    smtp += "allow_plaintext_auth = true\n";
  } else {
    smtp += "ca_file = \"" + pki().ca_cert.string() + "\"\n";
  }
  write_file(config_, text(smtp));
  fs::permissions(config_, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}

}  // namespace oauthmail::testing
