// The configuration's plain parts: names of the enumerations, problem formatting, sender matching,
// the search order and reading the file (validation is in load.cpp).
#include "config/config.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "config/syntax.hpp"

namespace oauthmail::config {

std::string_view to_string(provider_kind p) noexcept {
  switch (p) {
    case provider_kind::microsoft:
      return "microsoft";
    case provider_kind::outlook:
      return "outlook";
    case provider_kind::google:
      return "google";
    case provider_kind::generic:
      return "generic";
  }
  return "generic";
}

std::string_view to_string(flow_kind f) noexcept {
  switch (f) {
    case flow_kind::client_credentials:
      return "client_credentials";
    case flow_kind::device_code:
      return "device_code";
    case flow_kind::authorization_code:
      return "authorization_code";
    case flow_kind::service_account:
      return "service_account";
  }
  return "client_credentials";
}

std::string_view to_string(microsoft_cloud c) noexcept {
  switch (c) {
    case microsoft_cloud::global:
      return "global";
    case microsoft_cloud::us_government:
      return "usgov";
    case microsoft_cloud::china:
      return "china";
  }
  return "global";
}

std::string_view to_string(tls_setting t) noexcept {
  switch (t) {
    case tls_setting::starttls:
      return "starttls";
    case tls_setting::implicit:
      return "implicit";
    case tls_setting::none:
      return "none";
  }
  return "starttls";
}

std::string_view to_string(mechanism_setting m) noexcept {
  switch (m) {
    case mechanism_setting::automatic:
      return "auto";
    case mechanism_setting::xoauth2:
      return "xoauth2";
    case mechanism_setting::oauthbearer:
      return "oauthbearer";
  }
  return "auto";
}

std::string problem::to_string() const {
  std::string out = where.file;
  if (where.line > 0) out += fmt::format(":{}:{}", where.line, where.column);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  if (!example.empty()) out += fmt::format(" (example: {})", example);
  return out;
}

// ---- senders ------------------------------------------------------------------------------------

namespace {

bool matches(std::string_view pattern, const syntax::mailbox_parts& address) {
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*@") return syntax::iequals(pattern.substr(2), address.domain);
  const auto p = syntax::split_mailbox(pattern);
  return !p.local.empty() && p.local == address.local && syntax::iequals(p.domain, address.domain);
}

}  // namespace

bool account::may_send_as(std::string_view address) const {
  const auto parts = syntax::split_mailbox(address);
  if (parts.local.empty() || parts.domain.empty()) return false;
  if (!user.empty() && matches(user, parts)) return true;
  for (const auto& pattern : allowed_senders) {
    if (matches(pattern, parts)) return true;
  }
  return false;
}

const source_location& account::location_of(std::string_view key) const {
  const auto it = locations.find(key);
  return it == locations.end() ? where : it->second;
}

const account* configuration::find(std::string_view name) const {
  for (const auto& a : accounts) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

const account* configuration::for_sender(std::string_view address) const {
  for (const auto& a : accounts) {
    if (a.may_send_as(address)) return &a;
  }
  return nullptr;
}

// ---- where the file is --------------------------------------------------------------------------

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read at start-up
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

}  // namespace

std::vector<std::string> search_paths(const std::optional<std::string>& from_command_line) {
  if (from_command_line) return {*from_command_line};
  if (auto p = env("OAUTHMAIL_CONFIG")) return {*p};
  std::vector<std::string> out;
  // XDG Base Directory: a relative $XDG_CONFIG_HOME is invalid and must be ignored.
  if (auto xdg = env("XDG_CONFIG_HOME"); xdg && xdg->front() == '/') {
    out.push_back(*xdg + "/oauthmail/config.toml");
  } else if (auto home = env("HOME")) {
    out.push_back(*home + "/.config/oauthmail/config.toml");
  }
  out.emplace_back("/etc/oauthmail/config.toml");
  return out;
}

std::string resolve_path(const std::optional<std::string>& from_command_line) {
  const auto candidates = search_paths(from_command_line);
  if (candidates.size() == 1) return candidates.front();
  for (const auto& c : candidates) {
    std::error_code ec;
    if (std::filesystem::exists(c, ec)) return c;
  }
  return candidates.front();
}

// ---- reading the file ---------------------------------------------------------------------------

namespace {

load_result file_problem(const std::string& path, std::string message) {
  load_result out;
  out.problems.push_back(problem{source_location{path, 0, 0}, "", std::move(message), ""});
  return out;
}

class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

std::string errno_text(int err) { return std::strerror(err); }  // NOLINT(concurrency-mt-unsafe): messages only

}  // namespace

load_result load_file(const std::string& path) {
  const fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));  // NOLINT(*-vararg)
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return file_problem(path,
                          "the configuration file does not exist; create it (see docs/configuration.md) or name "
                          "another one with --config FILE or $OAUTHMAIL_CONFIG");
    }
    if (err == EACCES || err == EPERM) {
      return file_problem(path,
                          "the configuration file cannot be read: permission denied; run oauthmail as the user "
                          "that owns it");
    }
    return file_problem(path, "the configuration file cannot be opened: " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return file_problem(path, "the configuration file cannot be examined: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return file_problem(path, "this is not a regular file; name the configuration file");
  if (st.st_size < 0 || static_cast<std::uintmax_t>(st.st_size) > max_file_size) {
    return file_problem(path, fmt::format("the configuration file is {} bytes; at most {} are read (is it the right "
                                          "file?)",
                                          static_cast<long long>(st.st_size), max_file_size));
  }
  // It may hold inline secrets: one buffer, wiped after validation whichever way it ends.
  std::string text;
  text.resize(static_cast<std::size_t>(st.st_size) + 1);
  std::size_t used = 0;
  while (used < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + used, text.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      core::secure_wipe(text.data(), text.size());
      return file_problem(path, "the configuration file cannot be read: " + errno_text(err));
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used == text.size()) {
    core::secure_wipe(text.data(), text.size());
    return file_problem(path, "the configuration file changed while it was read; try again");
  }
  load_result out = load_text(std::string_view(text.data(), used), path, static_cast<unsigned>(st.st_mode & 07777));
  core::secure_wipe(text.data(), text.size());
  return out;
}

}  // namespace oauthmail::config
