// `oauthmail sandbox` and `oauthmail sandbox messages`: parse options, start net::sandbox_server,
// print what a user needs to point a client at it; list captured messages from the SQLite store.
#include "cli/sandbox.hpp"

#include <fmt/format.h>
#include <sysexits.h>

#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "net/sandbox_server.hpp"
#include "sandbox/capture_store.hpp"

namespace oauthmail::cli {
namespace {

// "ADDR:PORT", "[::1]:PORT" or ":PORT" (loopback).
bool split_endpoint(const std::string& text, std::string& address, std::uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (!host.empty()) address = host;
  const std::string p = text.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || end != p.data() + p.size() || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

std::string local_time(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace

sandbox_command::sandbox_command(CLI::App& app) {
  cmd_ = app.add_subcommand(
      "sandbox", "Run a local stand-in for Microsoft 365 or Gmail (identity provider + SMTP server) for tests");
  cmd_->add_option("--profile", profile_, "provider to imitate: microsoft, google or generic")
      ->check(CLI::IsMember({"microsoft", "google", "generic"}))
      ->capture_default_str();
  cmd_->add_option("--state", state_dir_, "state folder (identities, keys, CA, captured messages); created if missing");
  cmd_->add_option("--smtp", smtp_, "SMTP (STARTTLS) listener ADDR:PORT (default 127.0.0.1 and a free port)");
  cmd_->add_option("--smtps", smtps_, "implicit-TLS SMTP listener ADDR:PORT (google: a free port by default)");
  cmd_->add_option("--http", http_,
                   "HTTP listener for the identity provider and the API (default 127.0.0.1, free port)");
  cmd_->add_option("--token-lifetime", token_lifetime_, "access token lifetime in seconds (down to 1, to see renewal)")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd_->add_option("--device-interval", device_interval_, "device flow polling interval in seconds")
      ->check(CLI::Range(1, 60))
      ->capture_default_str();
  cmd_->add_option("--refuse-expiring-within", refuse_expiring_,
                   "SMTP refuses tokens expiring within this many seconds (Exchange's high-volume endpoint)")
      ->check(CLI::Range(0, 3600));
  cmd_->add_option("--faults", faults_file_, "JSON file with faults to inject from the start (see docs/sandbox.md)");
  cmd_->footer(
      "The sandbox writes DIR/sandbox.json (endpoints, CA file, test clients and mailboxes) and DIR/oauthmail.toml\n"
      "(a ready-made oauthmail configuration). Captured messages: `oauthmail sandbox messages --state DIR`.\n"
      "Control API (faults, messages, device approval): see docs/sandbox.md.");

  messages_ = cmd_->add_subcommand("messages", "List the messages a sandbox captured");
  messages_->add_option("--state", messages_state_dir_, "the sandbox's state folder")->required();
  messages_->add_flag("--json", json_, "print JSON (envelope, headers; with --id also the raw message)");
  messages_->add_option("--id", message_id_, "show one message, with its raw text");
}

int sandbox_command::run() { return messages_->parsed() ? run_messages() : run_server(); }

int sandbox_command::run_server() {
  if (state_dir_.empty()) {
    std::fprintf(stderr, "oauthmail sandbox: --state DIR is required (example: --state /tmp/oauthmail-sandbox)\n");
    return EX_USAGE;
  }
  net::sandbox_settings s;
  s.profile = *sandbox::parse_profile(profile_);
  s.state_dir = std::filesystem::absolute(state_dir_).string();
  if (!smtp_.empty() && !split_endpoint(smtp_, s.smtp_address, s.smtp_port)) {
    std::fprintf(stderr, "oauthmail sandbox: --smtp %s: give ADDR:PORT, e.g. 127.0.0.1:2587\n", smtp_.c_str());
    return EX_USAGE;
  }
  if (!smtps_.empty()) {
    std::uint16_t port = 0;
    std::string address = s.smtp_address;
    if (!split_endpoint(smtps_, address, port)) {
      std::fprintf(stderr, "oauthmail sandbox: --smtps %s: give ADDR:PORT, e.g. 127.0.0.1:2465\n", smtps_.c_str());
      return EX_USAGE;
    }
    s.smtps_port = port;
  }
  if (!http_.empty() && !split_endpoint(http_, s.http_address, s.http_port)) {
    std::fprintf(stderr, "oauthmail sandbox: --http %s: give ADDR:PORT, e.g. 127.0.0.1:8080\n", http_.c_str());
    return EX_USAGE;
  }
  s.access_token_lifetime = std::chrono::seconds(token_lifetime_);
  s.device_poll_interval = std::chrono::seconds(device_interval_);
  s.refuse_tokens_expiring_within = std::chrono::seconds(refuse_expiring_);
  if (!faults_file_.empty()) {
    std::ifstream in(faults_file_);
    std::ostringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    auto v = in ? boost::json::parse(text.str(), ec) : boost::json::value();
    if (!in || ec) {
      std::fprintf(stderr, "oauthmail sandbox: --faults %s: %s\n", faults_file_.c_str(),
                   !in ? "cannot be read" : "is not JSON");
      return EX_CONFIG;
    }
    auto plan = sandbox::parse_fault_plan(v);
    if (!plan) {
      std::fprintf(stderr, "oauthmail sandbox: --faults %s: %s\n", faults_file_.c_str(),
                   plan.error().message().c_str());
      return EX_CONFIG;
    }
    s.faults = std::move(*plan);
  }

  auto server = net::sandbox_server::start(std::move(s));
  if (!server) {
    std::fprintf(stderr, "oauthmail sandbox: %s\n", server.error().message().c_str());
    return EX_CONFIG;
  }
  const auto& info = (*server)->info();
  std::printf("oauthmail sandbox (%s profile) is running. Stop it with Ctrl-C.\n", profile_.c_str());
  std::printf("  SMTP (STARTTLS)     %s\n", info.smtp_endpoint.c_str());
  if (!info.smtps_endpoint.empty()) std::printf("  SMTP (implicit TLS) %s\n", info.smtps_endpoint.c_str());
  std::printf("  HTTP                %s   (identity provider, /api/ control API)\n", info.http_base.c_str());
  std::printf("  CA certificate      %s\n", info.ca_file.c_str());
  std::printf("  Description         %s\n", info.state_file.c_str());
  std::printf("  oauthmail config    %s\n", info.config_file.c_str());
  // The first ready-made account, so that a user can copy it; the file has one per flow.
  std::ifstream config(info.config_file);
  std::ostringstream text;
  text << config.rdbuf();
  const std::string all = text.str();
  const auto account = all.find("[[account]]");
  const auto first = account == std::string::npos ? account : all.rfind("\n# ", account);
  const auto second = first == std::string::npos ? first : all.find("\n# ", account);
  if (first != std::string::npos) {
    std::printf("\nReady-made oauthmail account (all flows: %s):\n%s\n", info.config_file.c_str(),
                all.substr(first + 1, second == std::string::npos ? std::string::npos : second - first).c_str());
  }
  std::printf("Try: OAUTHMAIL_CONFIG=%s oauthmail send --account sandbox --from sender@... --to someone@example.test\n",
              info.config_file.c_str());
  std::fflush(stdout);
  (*server)->run(true);
  std::printf("oauthmail sandbox stopped.\n");
  return 0;
}

int sandbox_command::run_messages() {
  const auto path = (std::filesystem::path(messages_state_dir_) / "messages.sqlite3").string();
  if (!std::filesystem::exists(path)) {
    std::fprintf(stderr, "oauthmail sandbox messages: no captured messages in %s (is it a sandbox's --state folder?)\n",
                 messages_state_dir_.c_str());
    return EX_NOINPUT;
  }
  auto store = sandbox::capture_store::open(path);
  if (!store) {
    std::fprintf(stderr, "oauthmail sandbox messages: %s\n", store.error().message().c_str());
    return EX_IOERR;
  }
  if (message_id_) {
    auto m = store->get(*message_id_);
    if (!m) {
      std::fprintf(stderr, "oauthmail sandbox messages: %s\n", m.error().message().c_str());
      return EX_IOERR;
    }
    if (!*m) {
      std::fprintf(stderr, "oauthmail sandbox messages: no message with id %lld\n", *message_id_);
      return EX_NOINPUT;
    }
    if (json_) {
      std::printf("%s\n", boost::json::serialize(to_json(**m, true)).c_str());
    } else {
      std::fwrite((*m)->raw.data(), 1, (*m)->raw.size(), stdout);
    }
    return 0;
  }
  auto list = store->list(1000, false);
  if (!list) {
    std::fprintf(stderr, "oauthmail sandbox messages: %s\n", list.error().message().c_str());
    return EX_IOERR;
  }
  if (json_) {
    boost::json::array out;
    for (const auto& m : *list) out.push_back(to_json(m, false));
    std::printf("%s\n", boost::json::serialize(boost::json::object{{"messages", std::move(out)}}).c_str());
    return 0;
  }
  if (list->empty()) {
    std::printf("No messages captured yet.\n");
    return 0;
  }
  for (const auto& m : *list) {
    std::string to;
    for (const auto& r : m.rcpt_to) to += (to.empty() ? "" : ", ") + r;
    std::printf("#%lld  %s  %s -> %s  \"%s\"  (%llu bytes, %s as %s)\n", static_cast<long long>(m.id),
                local_time(m.received_at).c_str(), m.mail_from.c_str(), to.c_str(), m.subject.c_str(),
                static_cast<unsigned long long>(m.size), m.envelope.mechanism.c_str(), m.envelope.mailbox.c_str());
  }
  return 0;
}

}  // namespace oauthmail::cli
