#include "integration/support/sandbox.hpp"

#include <algorithm>
#include <stdexcept>

#include "core/base64.hpp"
#include "net/http_client.hpp"
#include "oauth/form.hpp"

namespace oauthmail::testing {

sandbox_process::sandbox_process(const temp_dir& dir, options opts) : opts_(std::move(opts)) {
  state_ = dir / ("sandbox-" + opts_.profile);
  std::vector<std::string> argv = {OAUTHMAIL_BINARY,
                                   "sandbox",
                                   "--profile",
                                   opts_.profile,
                                   "--state",
                                   state_.string(),
                                   "--smtp",
                                   "127.0.0.1:0",
                                   "--http",
                                   "127.0.0.1:0",
                                   "--token-lifetime",
                                   std::to_string(opts_.token_lifetime),
                                   "--device-interval",
                                   std::to_string(opts_.device_interval)};
  if (opts_.refuse_expiring_within > 0) {
    argv.insert(argv.end(), {"--refuse-expiring-within", std::to_string(opts_.refuse_expiring_within)});
  }
  if (opts_.faults_json) {
    const auto faults = dir / ("faults-" + opts_.profile + ".json");
    write_file(faults, *opts_.faults_json);
    argv.insert(argv.end(), {"--faults", faults.string()});
  }
  argv.insert(argv.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  spawn_options so;
  so.argv = std::move(argv);
  so.stdout_path = dir / ("sandbox-" + opts_.profile + ".log");
  child_.emplace(child_process::start(std::move(so)));
  child_->wait_for_log_text("is running", 30s);

  boost::system::error_code ec;
  auto v = boost::json::parse(read_file(state_ / "sandbox.json"), ec);
  if (ec || !v.is_object()) throw std::runtime_error("sandbox.json is not a JSON object:\n" + child_->log());
  description_ = v.as_object();
  for (const auto& e : description_.at("smtp").as_array()) {
    const auto& o = e.as_object();
    const auto port = static_cast<std::uint16_t>(o.at("port").to_number<int>());
    if (o.at("tls").as_string() == "implicit") {
      smtps_port_ = port;
    } else {
      smtp_port_ = port;
    }
  }
  http_base_ = std::string(description_.at("http").as_string());
}

std::string sandbox_process::ca_file() const { return std::string(description_.at("ca_file").as_string()); }
std::string sandbox_process::config_file() const { return std::string(description_.at("config_file").as_string()); }
std::string sandbox_process::token_endpoint() const {
  return std::string(description_.at("identity_provider").at("token_endpoint").as_string());
}
std::string sandbox_process::domain() const { return std::string(description_.at("domain").as_string()); }
std::string sandbox_process::tenant_id() const { return std::string(description_.at("tenant_id").as_string()); }

const boost::json::object& sandbox_process::client(std::string_view name) const {
  for (const auto& c : description_.at("clients").as_array()) {
    if (c.at("name").as_string() == name) return c.as_object();
  }
  throw std::runtime_error("sandbox.json has no client named " + std::string(name));
}

std::string sandbox_process::client_id(std::string_view name) const {
  return std::string(client(name).at("client_id").as_string());
}

std::string sandbox_process::client_secret(std::string_view name) const {
  std::string ref(client(name).at("client_secret").as_string());
  if (ref.rfind("file:", 0) != 0) throw std::runtime_error("client secret is not a file reference: " + ref);
  std::string secret = read_file(ref.substr(5));
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  return secret;
}

boost::json::value sandbox_process::http_result::json() const {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec) throw std::runtime_error("not JSON (HTTP " + std::to_string(status) + "): " + body.substr(0, 500));
  return v;
}

sandbox_process::http_result sandbox_process::http(const std::string& method, const std::string& path,
                                                   const std::string& body, const std::string& content_type) const {
  oauth::http_request req;
  req.method = method;
  req.url = http_base_ + path;
  if (!body.empty()) req.headers.emplace_back("Content-Type", content_type);
  req.body = core::secret<std::string>(body);
  auto r = net::perform(req);
  if (!r) throw std::runtime_error(method + " " + path + ": " + r.error().message());
  return {r->status, r->body};
}

sandbox_process::http_result sandbox_process::token_request(
    const std::vector<std::pair<std::string, std::string>>& form) const {
  std::string body;
  for (const auto& [k, v] : form) {
    body += (body.empty() ? "" : "&") + oauth::form_encode(k) + "=" + oauth::form_encode(v);
  }
  const std::string path = token_endpoint().substr(http_base_.size());
  return http("POST", path, body, "application/x-www-form-urlencoded");
}

std::string sandbox_process::app_token(const std::string& scope, std::string_view name) const {
  auto r = token_request({{"grant_type", "client_credentials"},
                          {"client_id", client_id(name)},
                          {"client_secret", client_secret(name)},
                          {"scope", scope}});
  if (r.status != 200)
    throw std::runtime_error("token request failed: HTTP " + std::to_string(r.status) + " " + r.body);
  return std::string(r.json().at("access_token").as_string());
}

void sandbox_process::set_faults(const std::string& json) const {
  auto r = http("PUT", "/api/faults", json);
  if (r.status != 200) throw std::runtime_error("PUT /api/faults: " + std::to_string(r.status) + " " + r.body);
}

void sandbox_process::clear_faults() const { http("DELETE", "/api/faults"); }

void sandbox_process::settings(const std::string& json) const {
  auto r = http("PUT", "/api/settings", json);
  if (r.status != 200) throw std::runtime_error("PUT /api/settings: " + std::to_string(r.status) + " " + r.body);
}

boost::json::array sandbox_process::messages(bool with_raw) const {
  auto r = http("GET", with_raw ? "/api/messages?raw=1" : "/api/messages");
  if (r.status != 200) throw std::runtime_error("GET /api/messages: " + std::to_string(r.status) + " " + r.body);
  return r.json().at("messages").as_array();
}

boost::json::array sandbox_process::captured(bool with_raw) const {
  auto list = messages(with_raw);
  std::reverse(list.begin(), list.end());  // the API lists the newest first
  return list;
}

boost::json::object sandbox_process::counters() const {
  auto r = http("GET", "/api/counters");
  if (r.status != 200) throw std::runtime_error("GET /api/counters: " + std::to_string(r.status) + " " + r.body);
  return r.json().as_object();
}

std::int64_t sandbox_process::token_requests() const {
  const auto all = counters();  // kept alive for the loop (a temporary in the range would not be)
  std::int64_t total = 0;
  for (const auto& [grant, n] : all.at("token_endpoint").at("token_requests").as_object()) {
    total += n.at("requests").to_number<std::int64_t>();
  }
  return total;
}

fs::path sandbox_process::config_with(const fs::path& path,
                                      const std::vector<std::pair<std::string, std::string>>& account_lines) const {
  std::string text = read_file(config_file());
  for (const auto& [account, lines] : account_lines) {
    const auto at = text.find("\nname = \"" + account + "\"\n");
    if (at == std::string::npos) throw std::runtime_error("no account " + account + " in " + config_file());
    text.insert(text.find('\n', at + 1) + 1, lines);
  }
  write_file(path, text);
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  return path;
}

std::string captured_raw(const boost::json::value& message) {
  const auto& m = message.as_object();
  if (const auto* raw = m.if_contains("raw")) return std::string(raw->as_string());
  auto decoded = core::base64_decode(m.at("raw_base64").as_string());
  if (!decoded) throw std::runtime_error("raw_base64 does not decode: " + decoded.error().message());
  return *decoded;
}

std::string captured_mail_from(const boost::json::value& message) {
  return std::string(message.at("envelope").at("mail_from").as_string());
}

std::vector<std::string> captured_rcpt_to(const boost::json::value& message) {
  std::vector<std::string> out;
  for (const auto& r : message.at("envelope").at("rcpt_to").as_array()) out.emplace_back(r.as_string());
  return out;
}

}  // namespace oauthmail::testing
