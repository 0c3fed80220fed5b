#include "net/loopback_redirect.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace oauthmail::net {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace {
core::error listener_error(std::string message, core::failure_class cls) {
  return {core::make_error_code(core::errc::io_failure), std::move(message), cls};
}
constexpr const char* page =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>oauthmail</title></head><body>"
    "<p>oauthmail received the sign-in. You can close this window and return to the terminal.</p></body></html>";
}  // namespace

struct loopback_redirect_listener::impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
};

loopback_redirect_listener::loopback_redirect_listener(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
loopback_redirect_listener::loopback_redirect_listener(loopback_redirect_listener&&) noexcept = default;
loopback_redirect_listener& loopback_redirect_listener::operator=(loopback_redirect_listener&&) noexcept = default;
loopback_redirect_listener::~loopback_redirect_listener() = default;

core::result<loopback_redirect_listener> loopback_redirect_listener::open() {
  auto p = std::make_unique<impl>();
  boost::system::error_code ec;
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  p->acceptor.open(ep.protocol(), ec);
  if (!ec) p->acceptor.bind(ep, ec);
  if (!ec) p->acceptor.listen(4, ec);
  if (ec) {
    return listener_error("Cannot listen on 127.0.0.1 for the sign-in redirect: " + ec.message(),
                          core::failure_class::transient);
  }
  return loopback_redirect_listener(std::move(p));
}

std::uint16_t loopback_redirect_listener::port() const noexcept { return impl_->acceptor.local_endpoint().port(); }

core::result<std::string> loopback_redirect_listener::wait(const std::string& host, std::chrono::milliseconds timeout) {
  std::optional<std::string> found;
  std::function<void()> accept_one;
  accept_one = [&] {
    impl_->acceptor.async_accept([&](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;
      boost::beast::flat_buffer buffer(8192);
      http::request_parser<http::empty_body> parser;
      parser.header_limit(8192);
      boost::system::error_code rec;
      http::read(socket, buffer, parser, rec);  // the browser's request arrives at once
      if (!rec) {
        const auto target = std::string(parser.get().target());
        const bool is_redirect =
            target.find("code=") != std::string::npos || target.find("error=") != std::string::npos;
        http::response<http::string_body> res{is_redirect ? http::status::ok : http::status::not_found, 11};
        res.set(http::field::content_type, "text/html; charset=utf-8");
        res.set(http::field::connection, "close");
        res.body() = is_redirect ? page : "not found";
        res.prepare_payload();
        boost::system::error_code wec;
        http::write(socket, res, wec);
        if (is_redirect) {
          found = "http://" + host + ":" + std::to_string(port()) + target;
          return;
        }
      }
      accept_one();  // e.g. /favicon.ico: keep waiting
    });
  };
  accept_one();
  impl_->io.run_for(timeout);
  if (!found) {
    return listener_error("No sign-in arrived within " +
                              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
                              " s. Run the login again (or use --paste on a machine without a browser).",
                          core::failure_class::needs_human);
  }
  return *found;
}

}  // namespace oauthmail::net
