#include "integration/support/harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <utility>

extern char** environ;

namespace oauthmail::testing {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

// PIDs of the children this process started and has not reaped yet.
std::mutex registry_mutex;
std::vector<pid_t>& registry() {
  static std::vector<pid_t> pids;
  return pids;
}
void register_child(pid_t pid) {
  std::lock_guard lock(registry_mutex);
  registry().push_back(pid);
}
void unregister_child(pid_t pid) {
  std::lock_guard lock(registry_mutex);
  auto& r = registry();
  r.erase(std::remove(r.begin(), r.end(), pid), r.end());
}

std::vector<std::string> build_environment(const spawn_options& o) {
  auto overridden = [&](std::string_view entry) {
    const auto eq = entry.find('=');
    const std::string_view name = entry.substr(0, eq);
    for (const auto& r : o.remove_env)
      if (name == r) return true;
    for (const auto& e : o.extra_env)
      if (e.substr(0, e.find('=')) == name) return true;
    return false;
  };
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e)
    if (!overridden(*e)) env.emplace_back(*e);
  for (const auto& e : o.extra_env) env.push_back(e);
  return env;
}

std::atomic<unsigned> file_counter{0};

}  // namespace

// ---- files -------------------------------------------------------------------------------------

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return {};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, std::string_view content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + p.string());
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

std::string tail_of_file(const fs::path& p, std::size_t max_octets) {
  std::string text = read_file(p);
  if (text.size() > max_octets) text = "[...]" + text.substr(text.size() - max_octets);
  return text;
}

std::size_t count_occurrences(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return 0;
  std::size_t n = 0;
  for (auto pos = haystack.find(needle); pos != std::string_view::npos; pos = haystack.find(needle, pos + 1)) ++n;
  return n;
}

// ---- temporary directory -----------------------------------------------------------------------

temp_dir::temp_dir(std::string_view prefix) {
  std::string pattern = (fs::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp(" + pattern + "): " + errno_text(errno));
  path_ = pattern;
}

temp_dir::~temp_dir() {
  if (const char* keep = std::getenv("OAUTHMAIL_KEEP_TEST_DIRS"); keep && std::string_view(keep) == "1") {
    std::fprintf(stderr, "[harness] keeping %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

// ---- ports -------------------------------------------------------------------------------------

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + errno_text(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    ::close(fd);
    throw std::runtime_error("bind 127.0.0.1:0: " + errno_text(e));
  }
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int e = errno;
    ::close(fd);
    throw std::runtime_error("getsockname: " + errno_text(e));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool port_accepts(std::uint16_t port, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    ok = true;
  } else if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
      int err = 0;
      socklen_t len = sizeof err;
      ok = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
  }
  ::close(fd);
  return ok;
}

// ---- child processes ---------------------------------------------------------------------------

int exit_code_of(int wait_status) noexcept {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

child_process child_process::start(spawn_options options) {
  if (options.argv.empty()) throw std::runtime_error("child_process::start: empty argv");
  if (options.stdout_path.empty()) throw std::runtime_error("child_process::start: no stdout path");

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string in = options.stdin_path ? options.stdin_path->string() : std::string("/dev/null");
  const std::string out = options.stdout_path.string();
  const std::string err = options.stderr_path ? options.stderr_path->string() : std::string();
  posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (options.stderr_path)
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  else
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // no inherited sockets or files
#endif

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);  // own process group: stop() signals exactly this tree
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  for (auto& a : options.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = build_environment(options);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("posix_spawn " + options.argv[0] + ": " + errno_text(rc));
  register_child(pid);

  child_process c;
  c.pid_ = pid;
  c.options_ = std::move(options);
  return c;
}

child_process::child_process(child_process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), status_(other.status_), options_(std::move(other.options_)) {}

child_process& child_process::operator=(child_process&& other) noexcept {
  if (this != &other) {
    stop();
    pid_ = std::exchange(other.pid_, -1);
    status_ = other.status_;
    options_ = std::move(other.options_);
  }
  return *this;
}

child_process::~child_process() { stop(); }

std::string child_process::name() const {
  return options_.argv.empty() ? std::string("?") : fs::path(options_.argv[0]).filename().string();
}

bool child_process::running() {
  if (pid_ < 0 || status_) return false;
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    unregister_child(pid_);
    return false;
  }
  return r == 0;
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
  return status_ ? std::optional<int>(exit_code_of(*status_)) : std::nullopt;
}

void child_process::reap_blocking_with_kill() {
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  status_ = st;
  unregister_child(pid_);
}

int child_process::stop(std::chrono::milliseconds grace) {
  if (pid_ < 0) return -1;
  if (running()) {
    // The child leads its own process group (setpgroup 0): signal the group, then the PID.
    if (::kill(-pid_, SIGTERM) != 0) ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    if (!status_) reap_blocking_with_kill();
  }
  return status_ ? exit_code_of(*status_) : -1;
}

void child_process::fail(std::string_view what) {
  std::ostringstream msg;
  msg << name() << " (pid " << pid_ << "): " << what;
  if (status_) msg << " [exited with code " << exit_code_of(*status_) << "]";
  msg << "\n--- " << log_path().string() << " ---\n" << tail_of_file(log_path());
  if (options_.stderr_path)
    msg << "\n--- " << options_.stderr_path->string() << " ---\n" << tail_of_file(*options_.stderr_path);
  throw std::runtime_error(msg.str());
}

void child_process::wait_for_port(std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (!running()) fail("exited before accepting connections on port " + std::to_string(port));
    if (port_accepts(port)) return;
    if (std::chrono::steady_clock::now() >= deadline)
      fail("not accepting connections on port " + std::to_string(port) + " after " + std::to_string(timeout.count()) +
           " ms");
    std::this_thread::sleep_for(20ms);
  }
}

void child_process::wait_for_log_text(std::string_view needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (log().find(needle) != std::string::npos) return;
    if (!running()) fail("exited before logging \"" + std::string(needle) + "\"");
    if (std::chrono::steady_clock::now() >= deadline)
      fail("did not log \"" + std::string(needle) + "\" within " + std::to_string(timeout.count()) + " ms");
    std::this_thread::sleep_for(20ms);
  }
}

void child_process::wait_for_file(const fs::path& file, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::error_code ec;
    if (fs::exists(file, ec)) return;
    if (!running()) fail("exited before writing " + file.string());
    if (std::chrono::steady_clock::now() >= deadline)
      fail("did not write " + file.string() + " within " + std::to_string(timeout.count()) + " ms");
    std::this_thread::sleep_for(20ms);
  }
}

run_result run_program(std::vector<std::string> argv, const fs::path& dir, std::optional<fs::path> stdin_path,
                       std::chrono::milliseconds timeout, std::vector<std::string> extra_env) {
  const unsigned n = file_counter.fetch_add(1);
  const std::string base = fs::path(argv.empty() ? "prog" : argv[0]).filename().string() + "-" + std::to_string(n);
  spawn_options o;
  o.argv = std::move(argv);
  o.stdout_path = dir / (base + ".out");
  o.stderr_path = dir / (base + ".err");
  o.stdin_path = std::move(stdin_path);
  o.extra_env = std::move(extra_env);
  auto child = child_process::start(std::move(o));
  run_result r;
  if (auto code = child.wait_exit(timeout)) {
    r.exit_code = *code;
  } else {
    r.timed_out = true;
    child.stop(1s);
  }
  r.out = read_file(dir / (base + ".out"));
  r.err = read_file(dir / (base + ".err"));
  return r;
}

void stop_all_children_now() noexcept {
  std::vector<pid_t> pids;
  {
    std::lock_guard lock(registry_mutex);
    pids = registry();
  }
  for (pid_t pid : pids) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    int st = 0;
    ::waitpid(pid, &st, 0);
  }
}

// ---- watchdog ----------------------------------------------------------------------------------

struct test_deadline::state {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
};

test_deadline::test_deadline(std::chrono::seconds limit, std::string what) : state_(new state) {
  thread_ = std::thread([s = state_, limit, what = std::move(what)] {
    std::unique_lock lock(s->m);
    if (!s->cv.wait_for(lock, limit, [s] { return s->done; })) {
      std::fprintf(stderr, "\n[watchdog] %s still running after %lld s: stopping its child processes and exiting\n",
                   what.c_str(), static_cast<long long>(limit.count()));
      std::fflush(stderr);
      stop_all_children_now();
      std::_Exit(124);
    }
  });
}

test_deadline::~test_deadline() {
  {
    std::lock_guard lock(state_->m);
    state_->done = true;
  }
  state_->cv.notify_all();
  thread_.join();
  delete state_;
}

// ---- test PKI ----------------------------------------------------------------------------------

namespace {

constexpr const char* openssl_config = R"([req]
distinguished_name = dn
prompt = no

[dn]
CN = oauthmail test

[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[wrong_name_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[self_signed_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
)";

struct pki_holder {
  temp_dir dir{"oauthmail-pki"};
  test_pki paths;

  void openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    auto r = run_program(args, dir.path(), std::nullopt, 30s);
    if (r.timed_out || r.exit_code != 0) {
      std::string cmd;
      for (const auto& a : args) cmd += a + " ";
      throw std::runtime_error("test PKI: `" + cmd + "` failed (exit " + std::to_string(r.exit_code) + "):\n" + r.err);
    }
  }

  std::vector<std::string> new_key(const fs::path& key) {
    return {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key.string()};
  }

  void leaf(const fs::path& cert, const fs::path& key, const std::string& cn, const std::string& ext,
            const std::string& serial, const fs::path& cnf) {
    const fs::path csr = dir / (cn + ".csr");
    auto req =
        std::vector<std::string>{"req", "-new", "-config", cnf.string(), "-subj", "/CN=" + cn, "-out", csr.string()};
    for (auto& a : new_key(key)) req.push_back(a);
    openssl(req);
    openssl({"x509", "-req", "-in", csr.string(), "-CA", paths.ca_cert.string(), "-CAkey", (dir / "ca.key").string(),
             "-set_serial", serial, "-days", "2", "-sha256", "-extfile", cnf.string(), "-extensions", ext, "-out",
             cert.string()});
  }

  pki_holder() {
    const fs::path cnf = dir / "openssl.cnf";
    write_file(cnf, openssl_config);
    paths.ca_cert = dir / "ca.pem";
    auto ca = std::vector<std::string>{
        "req",   "-x509", "-new",    "-config",     cnf.string(), "-subj", "/CN=oauthmail test CA",
        "-days", "2",     "-sha256", "-extensions", "ca_ext",     "-out",  paths.ca_cert.string()};
    for (auto& a : new_key(dir / "ca.key")) ca.push_back(a);
    openssl(ca);

    paths.server_cert = dir / "server.pem";
    paths.server_key = dir / "server.key";
    leaf(paths.server_cert, paths.server_key, "localhost", "server_ext", "1001", cnf);

    paths.wrong_name_cert = dir / "wrong-name.pem";
    paths.wrong_name_key = dir / "wrong-name.key";
    leaf(paths.wrong_name_cert, paths.wrong_name_key, "wrong.example", "wrong_name_ext", "1002", cnf);

    paths.unknown_ca_cert = dir / "unknown-ca.pem";
    paths.unknown_ca_key = dir / "unknown-ca.key";
    auto self = std::vector<std::string>{
        "req",   "-x509", "-new",    "-config",     cnf.string(),      "-subj", "/CN=127.0.0.1",
        "-days", "2",     "-sha256", "-extensions", "self_signed_ext", "-out",  paths.unknown_ca_cert.string()};
    for (auto& a : new_key(paths.unknown_ca_key)) self.push_back(a);
    openssl(self);

    // Expired: `openssl ca` can set dates in the past (x509 -days cannot); it needs a database.
    paths.expired_cert = dir / "expired.pem";
    paths.expired_key = dir / "expired.key";
    write_file(dir / "index.txt", "");
    write_file(dir / "serial.txt", "1003\n");
    const fs::path ca_cnf = dir / "openssl-ca.cnf";
    write_file(ca_cnf, std::string(openssl_config) + "\n[expired_ca]\ndatabase = " + (dir / "index.txt").string() +
                           "\nnew_certs_dir = " + dir.path().string() + "\nserial = " + (dir / "serial.txt").string() +
                           "\ndefault_md = sha256\npolicy = any_policy\nunique_subject = no\n\n[any_policy]\n"
                           "commonName = supplied\n");
    const fs::path csr = dir / "expired.csr";
    auto req = std::vector<std::string>{"req",   "-new",          "-config", cnf.string(),
                                        "-subj", "/CN=localhost", "-out",    csr.string()};
    for (auto& a : new_key(paths.expired_key)) req.push_back(a);
    openssl(req);
    openssl({"ca",          "-batch",
             "-config",     ca_cnf.string(),
             "-name",       "expired_ca",
             "-cert",       paths.ca_cert.string(),
             "-keyfile",    (dir / "ca.key").string(),
             "-in",         csr.string(),
             "-out",        paths.expired_cert.string(),
             "-startdate",  "20200101000000Z",
             "-enddate",    "20200102000000Z",
             "-extfile",    cnf.string(),
             "-extensions", "server_ext",
             "-notext"});
  }
};

}  // namespace

const test_pki& pki() {
  static pki_holder holder;
  return holder.paths;
}

}  // namespace oauthmail::testing
