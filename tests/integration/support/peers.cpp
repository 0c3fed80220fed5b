#include "integration/support/peers.hpp"

#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <stdexcept>

namespace oauthmail::testing {

namespace {

std::atomic<unsigned> instance_counter{0};

}  // namespace

// ---- smtp-sink ---------------------------------------------------------------------------------

smtp_sink::smtp_sink(const temp_dir& dir, options opts) {
  const unsigned n = instance_counter.fetch_add(1);
  std::string last_error;
  for (int attempt = 0; attempt < 5 && !child_; ++attempt) {
    const std::uint16_t port = free_port();
    dump_ = dir / ("smtp-sink-" + std::to_string(n) + "-" + std::to_string(attempt) + ".dump");
    spawn_options o;
    o.argv = {smtp_sink_path, "-c"};
    if (::geteuid() == 0) {
      // smtp-sink insists on -u when it runs with super-user privileges.
      const passwd* pw = ::getpwuid(0);
      o.argv.insert(o.argv.end(), {"-u", pw ? pw->pw_name : "root"});
    }
    if (!opts.pipelining) o.argv.push_back("-p");
    if (!opts.esmtp) o.argv.push_back("-e");
    for (const auto& a : opts.extra_args) o.argv.push_back(a);
    o.argv.insert(o.argv.end(), {"-D", dump_.string(), "127.0.0.1:" + std::to_string(port), "100"});
    o.stdout_path = dir / ("smtp-sink-" + std::to_string(n) + "-" + std::to_string(attempt) + ".log");
    auto child = child_process::start(std::move(o));
    try {
      child.wait_for_port(port, 15s);
    } catch (const std::runtime_error& e) {
      last_error = e.what();
      if (child.running()) throw;  // running but not listening: not a port clash
      continue;
    }
    port_ = port;
    child_.emplace(std::move(child));
  }
  if (!child_) throw std::runtime_error("could not start smtp-sink: " + last_error);
}

// Each record starts with "X-Client-Addr:", so "X-Mail-Args:" always follows a line end.
std::size_t smtp_sink::dumped_messages() const { return count_occurrences(dump(), "\nX-Mail-Args:"); }

smtp_sink::counters smtp_sink::last_counters() const {
  // -c prints "sess=N quit=N mesg=N" records separated by CR.
  const std::string text = child_->log();
  const auto pos = text.rfind("sess=");
  counters c;
  if (pos == std::string::npos) return c;
  unsigned long s = 0, q = 0, m = 0;
  if (std::sscanf(text.c_str() + pos, "sess=%lu quit=%lu mesg=%lu", &s, &q, &m) == 3) {
    c.sessions = s;
    c.quits = q;
    c.messages = m;
  }
  return c;
}

bool smtp_sink::wait_for(std::size_t messages, std::size_t quits, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto c = last_counters();
    if (c.messages >= messages && c.quits >= quits) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// ---- oauth_smtp_server.py ----------------------------------------------------------------------

oauth_smtp_server::oauth_smtp_server(const temp_dir& dir, options opts) : opts_(std::move(opts)) {
  const unsigned n = instance_counter.fetch_add(1);
  const std::string base = "oauth-smtp-server-" + std::to_string(n);
  const fs::path token_file = dir / (base + ".token");
  write_file(token_file, opts_.token + "\n");
  out_ = dir / (base + "-out");
  fs::create_directories(out_);

  std::string last_error;
  for (int attempt = 0; attempt < 5 && !child_; ++attempt) {
    const std::uint16_t port = free_port();
    const fs::path ready = dir / (base + "-" + std::to_string(attempt) + ".ready");
    spawn_options o;
    o.argv = {system_python,   std::string(OAUTHMAIL_PEERS_DIR) + "/oauth_smtp_server.py",
              "--host",        "127.0.0.1",
              "--port",        std::to_string(port),
              "--tls",         opts_.tls,
              "--mechanisms",  opts_.mechanisms,
              "--user",        opts_.user,
              "--token-file",  token_file.string(),
              "--error-style", opts_.error_style,
              "--out",         out_.string(),
              "--ready-file",  ready.string()};
    if (opts_.cert) o.argv.insert(o.argv.end(), {"--cert", opts_.cert->string()});
    if (opts_.key) o.argv.insert(o.argv.end(), {"--key", opts_.key->string()});
    if (opts_.require_auth) o.argv.push_back("--require-auth");
    if (opts_.pipelining) o.argv.push_back("--pipelining");
    o.argv.insert(o.argv.end(), {"--size-limit", std::to_string(opts_.size_limit)});
    for (const auto& r : opts_.reject_rcpt) o.argv.insert(o.argv.end(), {"--reject-rcpt", r});
    o.stdout_path = dir / (base + "-" + std::to_string(attempt) + ".log");
    // The system Python with python3-aiosmtpd, without a user's site packages or pyenv settings.
    o.extra_env = {"PYTHONNOUSERSITE=1", "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"};
    o.remove_env = {"PYTHONPATH", "PYTHONHOME"};
    auto child = child_process::start(std::move(o));
    try {
      child.wait_for_file(ready, 20s);
    } catch (const std::runtime_error& e) {
      last_error = e.what();
      if (child.running()) throw;
      if (child.log().find("Address already in use") == std::string::npos) throw;
      continue;
    }
    port_ = port;
    child_.emplace(std::move(child));
  }
  if (!child_) throw std::runtime_error("could not start oauth_smtp_server.py: " + last_error);
}

std::vector<oauth_smtp_server::stored_message> oauth_smtp_server::stored() const {
  std::vector<stored_message> out;
  for (unsigned i = 1;; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%03u", i);
    const fs::path json_path = out_ / (std::string(name) + ".json");
    std::error_code ec;
    if (!fs::exists(json_path, ec)) break;
    stored_message m;
    m.eml = read_file(out_ / (std::string(name) + ".eml"));
    const auto meta = boost::json::parse(read_file(json_path)).as_object();
    m.mail_from = std::string(meta.at("mail_from").as_string());
    for (const auto& r : meta.at("rcpt_tos").as_array()) m.rcpt_tos.emplace_back(r.as_string());
    if (const auto& u = meta.at("auth_user"); u.is_string()) m.auth_user = std::string(u.as_string());
    m.tls = meta.at("tls").as_string() == "yes";
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace oauthmail::testing
