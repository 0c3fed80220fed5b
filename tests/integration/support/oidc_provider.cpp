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

}  // namespace oauthmail::testing
