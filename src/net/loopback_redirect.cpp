#include "net/loopback_redirect.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <optional>
#include <vector>

namespace oauthmail::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

core::error listener_error(std::string message, core::failure_class cls) {
  return {core::make_error_code(core::errc::io_failure), std::move(message), cls};
}

constexpr const char* page =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>oauthmail</title></head><body>"
    "<p>oauthmail received the sign-in. You can close this window and return to the terminal.</p></body></html>";

constexpr auto request_time_limit = std::chrono::seconds(10);  // per connection
constexpr int port_attempts = 10;                              // for a port free on both 127.0.0.1 and ::1

// One browser connection: read the request, answer, close.
struct connection {
  explicit connection(tcp::socket s) : stream(std::move(s)) { parser.header_limit(8192); }
  beast::tcp_stream stream;
  beast::flat_buffer buffer{8192};
  http::request_parser<http::empty_body> parser;
  http::response<http::string_body> response;
};

}  // namespace

struct loopback_redirect_listener::impl {
  asio::io_context io;
  std::vector<tcp::acceptor> acceptors;  // 127.0.0.1, and ::1 for "localhost"
  std::uint16_t port = 0;
  std::string host;                  // as in the redirect URI, for wait()'s answer
  std::optional<std::string> found;  // the redirected URL

  // Binds `address` on `port` (0: the system picks) and listens.
  boost::system::error_code listen_on(const asio::ip::address& address, std::uint16_t on_port) {
    tcp::acceptor a(io);
    const tcp::endpoint ep(address, on_port);
    boost::system::error_code ec;
    a.open(ep.protocol(), ec);
    if (!ec && address.is_v6()) a.set_option(asio::ip::v6_only(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(4, ec);
    if (!ec) acceptors.push_back(std::move(a));
    return ec;
  }

  void accept_on(tcp::acceptor& a) {
    a.async_accept([this, &a](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;  // closed, or stopped
      serve(std::make_shared<connection>(std::move(socket)));
      accept_on(a);
    });
  }

  void serve(const std::shared_ptr<connection>& c) {
    c->stream.expires_after(request_time_limit);  // a connection that says nothing is dropped
    http::async_read(c->stream, c->buffer, c->parser, [this, c](boost::system::error_code ec, std::size_t) {
      if (ec) return;
      const std::string target(c->parser.get().target());
      const bool is_redirect = target.find("code=") != std::string::npos || target.find("error=") != std::string::npos;
      c->response = http::response<http::string_body>{is_redirect ? http::status::ok : http::status::not_found, 11};
      c->response.set(http::field::content_type, "text/html; charset=utf-8");
      c->response.set(http::field::connection, "close");
      c->response.body() = is_redirect ? page : "not found";
      c->response.prepare_payload();
      http::async_write(c->stream, c->response, [this, c, is_redirect, target](boost::system::error_code, std::size_t) {
        boost::system::error_code ignored;
        c->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        if (is_redirect && !found) {
          found = "http://" + host + ":" + std::to_string(port) + target;
          io.stop();
        }
      });  // anything else (e.g. /favicon.ico) leaves the listener waiting
    });
  }
};

loopback_redirect_listener::loopback_redirect_listener(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
loopback_redirect_listener::loopback_redirect_listener(loopback_redirect_listener&&) noexcept = default;
loopback_redirect_listener& loopback_redirect_listener::operator=(loopback_redirect_listener&&) noexcept = default;
loopback_redirect_listener::~loopback_redirect_listener() = default;

core::result<loopback_redirect_listener> loopback_redirect_listener::open() { return open("127.0.0.1"); }

core::result<loopback_redirect_listener> loopback_redirect_listener::open(std::string_view host) {
  const auto v4 = asio::ip::make_address_v4("127.0.0.1");
  const auto v6 = asio::ip::make_address_v6("::1");
  if (host == "::1" || host == "[::1]") {
    auto p = std::make_unique<impl>();
    if (auto ec = p->listen_on(v6, 0)) {
      return listener_error("Cannot listen on [::1] for the sign-in redirect: " + ec.message(),
                            core::failure_class::transient);
    }
    p->port = p->acceptors.front().local_endpoint().port();
    return loopback_redirect_listener(std::move(p));
  }
  const bool both = host == "localhost";
  for (int attempt = 0; attempt < port_attempts; ++attempt) {
    auto p = std::make_unique<impl>();
    if (auto ec = p->listen_on(v4, 0)) {
      return listener_error("Cannot listen on 127.0.0.1 for the sign-in redirect: " + ec.message(),
                            core::failure_class::transient);
    }
    p->port = p->acceptors.front().local_endpoint().port();
    if (both) {
      // "localhost" may reach the browser as ::1 first: listen there too, on the same port.
      if (auto ec = p->listen_on(v6, p->port)) {
        if (ec == asio::error::address_in_use) continue;  // taken on ::1 only: another port
        spdlog::debug("the sign-in redirect listener uses 127.0.0.1 only ([::1]:{}: {})", p->port, ec.message());
      }
    }
    return loopback_redirect_listener(std::move(p));
  }
  return listener_error("Cannot find a port free on both 127.0.0.1 and [::1] for the sign-in redirect.",
                        core::failure_class::transient);
}

std::uint16_t loopback_redirect_listener::port() const noexcept { return impl_->port; }

bool loopback_redirect_listener::listens_on_ipv6() const noexcept {
  for (const auto& a : impl_->acceptors) {
    boost::system::error_code ec;
    if (a.local_endpoint(ec).address().is_v6() && !ec) return true;
  }
  return false;
}

core::result<std::string> loopback_redirect_listener::wait(const std::string& host, std::chrono::milliseconds timeout) {
  impl_->host = host;
  impl_->found.reset();
  impl_->io.restart();
  for (auto& a : impl_->acceptors) impl_->accept_on(a);
  impl_->io.run_for(timeout);
  // Nothing more is accepted; connections still open are dropped with the io_context.
  for (auto& a : impl_->acceptors) {
    boost::system::error_code ignored;
    a.close(ignored);
  }
  if (!impl_->found) {
    return listener_error("No sign-in arrived within " +
                              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
                              " s. Run the login again (or use --paste on a machine without a browser).",
                          core::failure_class::needs_human);
  }
  return *impl_->found;
}

}  // namespace oauthmail::net
