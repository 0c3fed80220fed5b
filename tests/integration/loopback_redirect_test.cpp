// The loopback redirect listener of the authorization code flow (RFC 8252 §7.3) with curl as the
// browser: for a "localhost" redirect URI (Microsoft's presets) it listens on 127.0.0.1 and ::1 on
// one port, so a redirect delivered over either completes; a connection that says nothing and a
// request without a code hold nothing up; "127.0.0.1" listens on IPv4 only.
#include "net/loopback_redirect.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <future>
#include <thread>

#include "integration/support/harness.hpp"

namespace oauthmail::testing {
namespace {

// curl plays the browser that comes back with the code.
run_result browser_get(const std::string& url, const temp_dir& dir) {
  return run_program({"curl", "-g", "-s", "--max-time", "10", url}, dir.path(), std::nullopt, 20s);
}

// Whether a TCP connection to [address]:port is accepted.
bool accepts(const std::string& address, std::uint16_t port) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  boost::system::error_code ec;
  s.connect({boost::asio::ip::make_address(address), port}, ec);
  return !ec;
}

class LoopbackRedirectTest : public ::testing::Test {
 protected:
  test_deadline deadline_{std::chrono::seconds(60), "LoopbackRedirectTest"};
  temp_dir dir_;

  // Opens a listener for `host`, lets curl deliver the redirect to `address`, returns what wait()
  // handed over.
  std::string deliver(const std::string& host, const std::string& address, const std::string& query) {
    auto l = net::loopback_redirect_listener::open(host);
    EXPECT_TRUE(l) << l.error().message();
    if (!l) return {};
    const std::string url = "http://" + address + ":" + std::to_string(l->port()) + "/?" + query;
    auto browser = std::async(std::launch::async, [&] { return browser_get(url, dir_); });
    auto got = l->wait(host, 15s);
    const auto shown = browser.get();
    EXPECT_EQ(shown.exit_code, 0) << shown.err;
    EXPECT_NE(shown.out.find("return to the terminal"), std::string::npos) << shown.out;
    EXPECT_TRUE(got) << got.error().message();
    return got ? *got : std::string();
  }
};

TEST_F(LoopbackRedirectTest, LocalhostRedirectOverIpv6Completes) {
  const std::string got = deliver("localhost", "[::1]", "code=c6&state=s6");
  EXPECT_NE(got.find("http://localhost:"), std::string::npos) << got;
  EXPECT_NE(got.find("/?code=c6&state=s6"), std::string::npos) << got;
}

TEST_F(LoopbackRedirectTest, LocalhostRedirectOverIpv4Completes) {
  const std::string got = deliver("localhost", "127.0.0.1", "code=c4&state=s4");
  EXPECT_NE(got.find("http://localhost:"), std::string::npos) << got;
  EXPECT_NE(got.find("/?code=c4&state=s4"), std::string::npos) << got;
}

TEST_F(LoopbackRedirectTest, LocalhostListensOnBothFamiliesOnOnePort) {
  auto l = net::loopback_redirect_listener::open("localhost");
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_TRUE(l->listens_on_ipv6());
  EXPECT_TRUE(accepts("127.0.0.1", l->port()));
  EXPECT_TRUE(accepts("::1", l->port()));
}

TEST_F(LoopbackRedirectTest, AddressListensOnIpv4Only) {
  auto l = net::loopback_redirect_listener::open("127.0.0.1");
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_FALSE(l->listens_on_ipv6());
  EXPECT_TRUE(accepts("127.0.0.1", l->port()));
  EXPECT_FALSE(accepts("::1", l->port()));
  auto plain = net::loopback_redirect_listener::open();
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->listens_on_ipv6());
}

TEST_F(LoopbackRedirectTest, SilentConnectionAndFaviconDoNotHoldUpTheRedirect) {
  auto l = net::loopback_redirect_listener::open("localhost");
  ASSERT_TRUE(l) << l.error().message();
  const std::string port = std::to_string(l->port());
  auto browser = std::async(std::launch::async, [&] {
    // A browser's speculative connection that sends nothing, kept open during the redirect.
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket idle(io);
    idle.connect({boost::asio::ip::make_address("127.0.0.1"), l->port()});
    auto favicon = browser_get("http://[::1]:" + port + "/favicon.ico", dir_);
    auto redirect = browser_get("http://127.0.0.1:" + port + "/?error=access_denied&state=x", dir_);
    return std::make_pair(favicon, redirect);
  });
  auto got = l->wait("localhost", 15s);
  const auto [favicon, redirect] = browser.get();
  EXPECT_EQ(favicon.out, "not found");
  EXPECT_NE(redirect.out.find("return to the terminal"), std::string::npos) << redirect.out;
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, "http://localhost:" + port + "/?error=access_denied&state=x");
}

TEST_F(LoopbackRedirectTest, NothingArrivingIsAClearError) {
  auto l = net::loopback_redirect_listener::open("localhost");
  ASSERT_TRUE(l);
  auto got = l->wait("localhost", 300ms);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().classification(), core::failure_class::needs_human);
  EXPECT_NE(got.error().message().find("--paste"), std::string::npos);
}

}  // namespace
}  // namespace oauthmail::testing
