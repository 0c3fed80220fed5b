// net::perform (libcurl) against real servers on loopback: an HTTPS server with the test PKI
// (peers/http_test_server.py), the same server in plain http, a CONNECT proxy
// (peers/connect_proxy.py) and listen-only sockets that never answer. Covers: https with a CA
// file, unknown CA and wrong host name refused, plain http allowed to loopback and refused
// elsewhere before any traffic, response size caps, time limits, POST bodies and headers arriving
// intact, statuses as values, lower-case header names, HTTPS_PROXY / NO_PROXY, and that no
// request body appears in an error.
#include "net/http_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "integration/support/harness.hpp"

namespace oauthmail::testing {
namespace {

using net::http_errc;

constexpr const char* kSecret = "s3cr3t-client-secret-Zq81";

// A Python peer from tests/integration/peers on a free port; retried when the port was taken.
struct python_peer {
  std::uint16_t port = 0;
  std::optional<child_process> process;

  python_peer(const temp_dir& dir, const std::string& script, std::vector<std::string> args) {
    for (int attempt = 0;; ++attempt) {
      port = free_port();
      spawn_options o;
      o.argv = {system_python, std::string(OAUTHMAIL_PEERS_DIR) + "/" + script, "--port", std::to_string(port)};
      for (const auto& a : args) o.argv.push_back(a);
      o.stdout_path = dir / (script + "-" + std::to_string(port) + ".log");
      process.emplace(child_process::start(std::move(o)));
      try {
        process->wait_for_log_text("READY", std::chrono::seconds(15));
        process->wait_for_port(port);
        return;
      } catch (const std::runtime_error&) {
        if (attempt == 2) throw;
        process->stop();
      }
    }
  }
  std::string log() const { return process->log(); }
};

// A TCP socket on 127.0.0.1 that listens and never accepts: connections complete (backlog) and
// then nothing is ever answered.
class silent_listener {
 public:
  silent_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd_);
      throw std::runtime_error("silent listener");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~silent_listener() { ::close(fd_); }
  silent_listener(const silent_listener&) = delete;
  silent_listener& operator=(const silent_listener&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  // Whether a connection is waiting in the backlog (someone connected).
  bool has_pending_connection(std::chrono::milliseconds wait = std::chrono::milliseconds(0)) const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(wait.count())) == 1 && (p.revents & POLLIN) != 0;
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// Sets (or unsets) proxy variables for one scope and restores them afterwards.
class scoped_env {
 public:
  scoped_env(std::vector<std::pair<std::string, std::optional<std::string>>> changes) {
    for (auto& [name, value] : changes) {
      const char* old = std::getenv(name.c_str());
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      if (value)
        ::setenv(name.c_str(), value->c_str(), 1);
      else
        ::unsetenv(name.c_str());
    }
  }
  ~scoped_env() {
    for (auto& [name, value] : saved_) {
      if (value)
        ::setenv(name.c_str(), value->c_str(), 1);
      else
        ::unsetenv(name.c_str());
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Every proxy variable libcurl reads, unset; then the given ones set.
std::vector<std::pair<std::string, std::optional<std::string>>> proxy_env(
    std::vector<std::pair<std::string, std::optional<std::string>>> set = {}) {
  std::vector<std::pair<std::string, std::optional<std::string>>> v;
  for (const char* n :
       {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"})
    v.emplace_back(n, std::nullopt);
  for (auto& s : set) v.push_back(std::move(s));
  return v;
}

oauth::http_request get(const std::string& url) {
  oauth::http_request r;
  r.method = "GET";
  r.url = url;
  return r;
}

oauth::http_request post_form(const std::string& url, std::string body) {
  oauth::http_request r;
  r.method = "POST";
  r.url = url;
  r.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  r.body = core::secret<std::string>(std::move(body));
  return r;
}

class HttpClientTest : public ::testing::Test {
 protected:
  std::string https_url(std::uint16_t port, const std::string& path) {
    return "https://127.0.0.1:" + std::to_string(port) + path;
  }
  std::string http_url(std::uint16_t port, const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
  net::http_options trusting() {
    net::http_options o;
    o.ca_file = pki().ca_cert.string();
    o.timeout = std::chrono::seconds(10);
    return o;
  }
  python_peer https_server(const fs::path& cert, const fs::path& key) {
    return python_peer(dir_, "http_test_server.py", {"--cert", cert.string(), "--key", key.string()});
  }
  python_peer http_server() { return python_peer(dir_, "http_test_server.py", {}); }

  static void expect_error(const core::result<oauth::http_response>& r, http_errc code, core::failure_class cls) {
    ASSERT_FALSE(r.has_value()) << "status " << r->status;
    EXPECT_EQ(r.error().code(), net::make_error_code(code)) << r.error().message();
    EXPECT_EQ(r.error().classification(), cls) << r.error().message();
    EXPECT_EQ(r.error().message().find(kSecret), std::string::npos) << r.error().message();
  }

  test_deadline deadline_{std::chrono::seconds(120), "HttpClientTest"};
  scoped_env no_proxies_{proxy_env()};  // the tests must not depend on the machine's proxies
  temp_dir dir_;
};

// ---- TLS ----------------------------------------------------------------------------------------

TEST_F(HttpClientTest, HttpsWithCaFileGetsTheResponse) {
  auto server = https_server(pki().server_cert, pki().server_key);
  auto r = net::perform(get(https_url(server.port, "/hello")), trusting());
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  ASSERT_NE(r->header("x-test-header"), nullptr);
  EXPECT_EQ(*r->header("x-test-header"), "Mixed Case Value");
  ASSERT_NE(r->header("content-length"), nullptr);
  EXPECT_EQ(*r->header("content-length"), "5");
  for (const auto& [name, value] : r->headers) {
    for (char c : name) EXPECT_FALSE(std::isupper(static_cast<unsigned char>(c))) << name;
    EXPECT_TRUE(value.empty() || (value.back() != '\r' && value.back() != '\n' && value.front() != ' ')) << name;
  }
  EXPECT_NE(server.log().find("REQUEST GET /hello"), std::string::npos);
}

TEST_F(HttpClientTest, CertificateFromAnUnknownCaIsRefused) {
  auto server = https_server(pki().unknown_ca_cert, pki().unknown_ca_key);
  auto r =
      net::perform(post_form(https_url(server.port, "/echo"), std::string("client_secret=") + kSecret), trusting());
  expect_error(r, http_errc::tls_verification_failed, core::failure_class::needs_human);
  EXPECT_NE(r.error().message().find("127.0.0.1"), std::string::npos) << r.error().message();
  EXPECT_EQ(server.log().find("REQUEST"), std::string::npos) << "the request was sent: " << server.log();
}

TEST_F(HttpClientTest, TestCaIsNotTrustedWithoutCaFile) {
  auto server = https_server(pki().server_cert, pki().server_key);
  net::http_options o;  // the system store does not know the test CA
  auto r = net::perform(get(https_url(server.port, "/hello")), o);
  expect_error(r, http_errc::tls_verification_failed, core::failure_class::needs_human);
}

TEST_F(HttpClientTest, WrongHostNameIsRefused) {
  auto server = https_server(pki().wrong_name_cert, pki().wrong_name_key);
  auto r = net::perform(get(https_url(server.port, "/hello")), trusting());
  expect_error(r, http_errc::tls_verification_failed, core::failure_class::needs_human);
  EXPECT_EQ(server.log().find("REQUEST"), std::string::npos) << server.log();
}

TEST_F(HttpClientTest, MissingCaFileNeedsAHuman) {
  auto server = https_server(pki().server_cert, pki().server_key);
  auto o = trusting();
  o.ca_file = (dir_ / "no-such-ca.pem").string();
  auto r = net::perform(get(https_url(server.port, "/hello")), o);
  expect_error(r, http_errc::tls_verification_failed, core::failure_class::needs_human);
}

TEST_F(HttpClientTest, HttpsToAPlainHttpServerFails) {
  auto server = http_server();
  auto o = trusting();
  o.timeout = std::chrono::seconds(5);
  auto r = net::perform(get(https_url(server.port, "/hello")), o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().classification(), core::failure_class::transient) << r.error().message();
}

// ---- plain http -----------------------------------------------------------------------------------

TEST_F(HttpClientTest, PlainHttpToLoopbackIsAllowed) {
  auto server = http_server();
  auto r = net::perform(get(http_url(server.port, "/hello")));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  auto r2 = net::perform(get("http://localhost:" + std::to_string(server.port) + "/hello"));
  ASSERT_TRUE(r2.has_value()) << r2.error().message();
  EXPECT_EQ(r2->body, "hello");
}

TEST_F(HttpClientTest, PlainHttpElsewhereIsRefusedBeforeAnyTraffic) {
  // Every proxy variable points at a socket that only listens: had libcurl been asked to send
  // anything (even a DNS-free proxied request), a connection would be waiting there.
  silent_listener trap;
  const std::string proxy = "http://127.0.0.1:" + std::to_string(trap.port());
  scoped_env env(proxy_env({{"http_proxy", proxy}, {"HTTPS_PROXY", proxy}, {"ALL_PROXY", proxy}}));

  for (const std::string url :
       {"http://oauthmail-test.invalid/token", "http://10.1.2.3/token", "http://127.0.0.1.nip.io/token",
        "http://localhost.example/token", "http://[2001:db8::1]:8080/token", "HTTP://login.example.com/token",
        "http://127.0.0.1@login.example.com/token"}) {
    const auto start = std::chrono::steady_clock::now();
    auto r = net::perform(post_form(url, std::string("client_secret=") + kSecret));
    const auto took = std::chrono::steady_clock::now() - start;
    SCOPED_TRACE(url);
    expect_error(r, http_errc::plain_http_refused, core::failure_class::needs_human);
    EXPECT_NE(r.error().message().find("plain http refused"), std::string::npos) << r.error().message();
    EXPECT_LT(took, std::chrono::milliseconds(500));
  }
  EXPECT_FALSE(trap.has_pending_connection(std::chrono::milliseconds(200))) << "something was sent";

  // The control: an allowed URL does reach the trap (through http_proxy), so the check above can
  // see traffic.
  net::http_options quick;
  quick.timeout = std::chrono::milliseconds(300);
  auto r = net::perform(get("http://127.0.0.2:9/token"), quick);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(trap.has_pending_connection(std::chrono::milliseconds(500)));
}

TEST(HttpLoopback, OnlyLiteralLoopbackAddressesAndLocalhost) {
  for (const char* yes : {"127.0.0.1", "127.0.0.2", "127.255.255.254", "localhost", "LOCALHOST", "localhost.", "[::1]",
                          "::1", "[0:0:0:0:0:0:0:1]"})
    EXPECT_TRUE(net::is_loopback_host(yes)) << yes;
  for (const char* no :
       {"", "128.0.0.1", "10.0.0.1", "0.0.0.0", "localhost.example", "127.0.0.1.nip.io", "[::2]", "[::]",
        "[::ffff:8.8.8.8]", "example.com", "127.1", "0x7f000001", "[fe80::1%25eth0]", "my-localhost"})
    EXPECT_FALSE(net::is_loopback_host(no)) << no;
}

TEST_F(HttpClientTest, BadUrlsNeedAHuman) {
  for (const std::string url :
       {"ftp://127.0.0.1/x", "not a url", "https://", "127.0.0.1/token", "file:///etc/passwd", "gopher://127.0.0.1/"}) {
    SCOPED_TRACE(url);
    auto r = net::perform(get(url));
    expect_error(r, http_errc::bad_request, core::failure_class::needs_human);
  }
}

TEST_F(HttpClientTest, HeaderInjectionIsRefused) {
  auto server = http_server();
  auto req = get(http_url(server.port, "/hello"));
  req.headers = {{"X-Evil", "a\r\nHost: other"}};
  auto r = net::perform(req);
  expect_error(r, http_errc::bad_request, core::failure_class::bug);
  req.headers = {{"Bad Name", "x"}};
  expect_error(net::perform(req), http_errc::bad_request, core::failure_class::bug);
  EXPECT_EQ(server.log().find("REQUEST"), std::string::npos);
}

// ---- bounds -------------------------------------------------------------------------------------

TEST_F(HttpClientTest, ResponseBodyIsCapped) {
  auto server = https_server(pki().server_cert, pki().server_key);
  auto o = trusting();
  o.max_response_octets = 1000;
  auto at = net::perform(get(https_url(server.port, "/big?n=1000")), o);
  ASSERT_TRUE(at.has_value()) << at.error().message();
  EXPECT_EQ(at->body.size(), 1000u);

  auto over = net::perform(get(https_url(server.port, "/big?n=1001")), o);
  expect_error(over, http_errc::response_too_large, core::failure_class::needs_human);
  EXPECT_NE(over.error().message().find("127.0.0.1"), std::string::npos);

  // Without a Content-Length: stopped while receiving, long before the 64 MiB are sent.
  o.max_response_octets = 64 * 1024;
  const auto start = std::chrono::steady_clock::now();
  auto stream = net::perform(get(https_url(server.port, "/stream?n=67108864")), o);
  expect_error(stream, http_errc::response_too_large, core::failure_class::needs_human);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(HttpClientTest, ServerThatNeverAnswersTimesOut) {
  silent_listener silent;
  net::http_options o;
  o.timeout = std::chrono::milliseconds(400);
  const auto start = std::chrono::steady_clock::now();
  auto r = net::perform(post_form(http_url(silent.port(), "/token"), std::string("client_secret=") + kSecret), o);
  const auto took = std::chrono::steady_clock::now() - start;
  expect_error(r, http_errc::timed_out, core::failure_class::transient);
  EXPECT_NE(r.error().message().find("127.0.0.1:" + std::to_string(silent.port())), std::string::npos)
      << r.error().message();
  EXPECT_GE(took, std::chrono::milliseconds(350));
  EXPECT_LT(took, std::chrono::seconds(3));

  // The same over TLS: the handshake never completes.
  auto t = net::perform(get(https_url(silent.port(), "/token")), o);
  expect_error(t, http_errc::timed_out, core::failure_class::transient);
}

TEST_F(HttpClientTest, SlowResponseHitsTheTotalTimeLimit) {
  auto server = http_server();
  net::http_options o;
  o.timeout = std::chrono::milliseconds(300);
  auto r = net::perform(get(http_url(server.port, "/slow?ms=3000")), o);
  expect_error(r, http_errc::timed_out, core::failure_class::transient);
}

TEST_F(HttpClientTest, RefusedConnectionIsTransient) {
  const auto port = free_port();  // nothing listens there
  auto r = net::perform(get(http_url(port, "/token")));
  expect_error(r, http_errc::connect_failed, core::failure_class::transient);
  EXPECT_NE(r.error().message().find("127.0.0.1"), std::string::npos);
}

// ---- requests and responses ---------------------------------------------------------------------

TEST_F(HttpClientTest, PostFormBodyAndHeadersArriveIntact) {
  auto server = https_server(pki().server_cert, pki().server_key);
  const std::string body = std::string("grant_type=client_credentials&client_id=app%20one&client_secret=") + kSecret +
                           "%2B%26%3D&scope=https%3A%2F%2Foutlook.office365.com%2F.default";
  auto req = post_form(https_url(server.port, "/echo?x=1"), body);
  req.headers.emplace_back("Authorization", "Basic YXBwOnNlY3JldA==");
  req.headers_secret = true;
  auto r = net::perform(req, trusting());
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ASSERT_EQ(r->status, 200) << r->body;
  const auto echo = boost::json::parse(r->body).as_object();
  EXPECT_EQ(echo.at("method").as_string(), "POST");
  EXPECT_EQ(echo.at("path").as_string(), "/echo?x=1");
  EXPECT_EQ(echo.at("content_type").as_string(), "application/x-www-form-urlencoded");
  EXPECT_EQ(echo.at("authorization").as_string(), "Basic YXBwOnNlY3JldA==");
  EXPECT_TRUE(echo.at("expect").is_null()) << "no Expect: 100-continue";
  EXPECT_EQ(echo.at("body").as_string(), body);
  EXPECT_EQ(echo.at("length").as_int64(), static_cast<std::int64_t>(body.size()));

  // A large body with every octet value (a client assertion is a few KiB; this is 256 KiB).
  std::string big;
  for (int i = 0; i < 256 * 1024; ++i) big.push_back(static_cast<char>(i * 7 % 256));
  auto large = post_form(https_url(server.port, "/echo"), big);
  auto roomy = trusting();
  roomy.max_response_octets = 8u << 20;  // the echo escapes each octet as \u00XX
  auto r2 = net::perform(large, roomy);
  ASSERT_TRUE(r2.has_value()) << r2.error().message();
  const auto echo2 = boost::json::parse(r2->body).as_object();
  ASSERT_EQ(echo2.at("length").as_int64(), static_cast<std::int64_t>(big.size()));
  const auto& got = echo2.at("body").as_string();  // latin-1: one code point per octet
  std::string octets;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const auto c = static_cast<unsigned char>(got[i]);
    if (c < 0x80) {
      octets.push_back(static_cast<char>(c));
    } else {  // two-octet UTF-8 for U+0080..U+00FF
      octets.push_back(static_cast<char>(((c & 0x1f) << 6) | (static_cast<unsigned char>(got[++i]) & 0x3f)));
    }
  }
  EXPECT_TRUE(octets == big);

  // An empty POST (revocation without parameters would be one) sends Content-Length: 0.
  auto empty = net::perform(post_form(https_url(server.port, "/echo"), ""), trusting());
  ASSERT_TRUE(empty.has_value()) << empty.error().message();
  EXPECT_EQ(boost::json::parse(empty->body).as_object().at("length").as_int64(), 0);
}

TEST_F(HttpClientTest, ErrorStatusesAreResponses) {
  auto server = http_server();
  for (int code : {400, 401, 429, 503}) {
    auto r = net::perform(get(http_url(server.port, "/status/" + std::to_string(code))));
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(r->status, code);
    EXPECT_EQ(r->body, R"({"error":"test_error"})");
    ASSERT_NE(r->header("retry-after"), nullptr);
    EXPECT_EQ(*r->header("retry-after"), "7");
  }
}

TEST_F(HttpClientTest, ConcurrentRequestsFromManyThreads) {
  auto server = http_server();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto r = net::perform(get(http_url(server.port, "/hello")));
        if (r.has_value() && r->status == 200 && r->body == "hello") ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
}

// ---- proxies --------------------------------------------------------------------------------------

TEST_F(HttpClientTest, HttpsProxyAndNoProxyFromTheEnvironmentAreHonoured) {
  auto server = https_server(pki().server_cert, pki().server_key);
  python_peer proxy(dir_, "connect_proxy.py", {});
  const std::string proxy_url = "http://127.0.0.1:" + std::to_string(proxy.port);
  const std::string target = "CONNECT 127.0.0.1:" + std::to_string(server.port);
  {
    scoped_env env(proxy_env({{"HTTPS_PROXY", proxy_url}}));
    auto r = net::perform(get(https_url(server.port, "/hello")), trusting());
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello");
    EXPECT_EQ(r->header("connection"), nullptr) << "the proxy's CONNECT reply leaked into the headers";
    EXPECT_EQ(count_occurrences(proxy.log(), target), 1u) << proxy.log();
  }
  {
    scoped_env env(proxy_env({{"HTTPS_PROXY", proxy_url}, {"NO_PROXY", "example.org,127.0.0.1"}}));
    auto r = net::perform(get(https_url(server.port, "/hello")), trusting());
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(r->body, "hello");
    EXPECT_EQ(count_occurrences(proxy.log(), target), 1u) << "NO_PROXY was ignored: " << proxy.log();
  }
  {
    // The lower-case spelling wins over the upper-case one, as in every libcurl program.
    silent_listener trap;
    scoped_env env(
        proxy_env({{"https_proxy", proxy_url}, {"HTTPS_PROXY", "http://127.0.0.1:" + std::to_string(trap.port())}}));
    auto r = net::perform(get(https_url(server.port, "/hello")), trusting());
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(count_occurrences(proxy.log(), target), 2u) << proxy.log();
  }
  // Through the proxy the certificate is still checked end to end.
  {
    scoped_env env(proxy_env({{"HTTPS_PROXY", proxy_url}}));
    auto r = net::perform(get(https_url(server.port, "/hello")), net::http_options{});
    expect_error(r, http_errc::tls_verification_failed, core::failure_class::needs_human);
  }
}

}  // namespace
}  // namespace oauthmail::testing
