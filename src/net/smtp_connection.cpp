#include "net/smtp_connection.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <variant>

#include "net/tls_client.hpp"

namespace oauthmail::net {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using namespace boost::asio::experimental::awaitable_operators;
using core::failure_class;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

core::error net_error(smtp::session_errc code, std::string message, failure_class cls) {
  return {smtp::make_error_code(code), std::move(message), cls};
}

// Logs what crossed the wire, line by line, at debug level. Bounded, so a hostile server cannot
// flood the log; never called with AUTH payloads or message content (the session redacts those).
void log_lines(std::string_view prefix, std::string_view text) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  constexpr std::size_t max_line = 512;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_line) {
      spdlog::debug("smtp {} {}... ({} octets)", prefix, line.substr(0, max_line), line.size());
    } else {
      spdlog::debug("smtp {} {}", prefix, line);
    }
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

}  // namespace

struct smtp_connection::impl {
  impl(const asio::any_io_executor& ex, connection_options o)
      : executor(ex),
        opts(std::move(o)),
        tls_ctx(ssl::context::tls_client),
        timer(ex),
        connect_timer(ex),
        session(opts.session) {
    timer.expires_at(clock::time_point::max());
  }

  asio::any_io_executor executor;
  connection_options opts;
  ssl::context tls_ctx;
  // Created after tls_ctx is configured: OpenSSL copies the context's verify mode and protocol
  // bounds into each connection when it is created, so a stream made earlier would not verify.
  std::unique_ptr<ssl::stream<tcp::socket>> stream_ptr;
  // Step time limits: one watchdog timer per connection instead of a timer per operation, so a
  // step costs no timer system calls while steps follow each other (see watchdog()).
  using clock = std::chrono::steady_clock;
  asio::steady_timer timer;
  asio::steady_timer connect_timer;
  clock::time_point deadline = clock::time_point::max();
  bool step_active = false;
  bool step_timed_out = false;
  smtp::client_session session;
  bool tls_on = false;
  bool open = false;
  std::array<char, std::size_t{64} * 1024> read_buffer{};

  ssl::stream<tcp::socket>& stream() { return *stream_ptr; }

  std::string peer_name() const { return opts.tls.server_name.value_or(opts.host); }

  core::result<void> setup_tls() {
    if (auto ok = configure_client_context(tls_ctx, opts.tls); !ok) return ok.error();
    stream_ptr = std::make_unique<ssl::stream<tcp::socket>>(executor, tls_ctx);
    return prepare_client_connection(stream().native_handle(), peer_name(), opts.tls.skip_verify);
  }

  // Arms the time limit of one step (a read, a write, a handshake).
  void begin_step(std::chrono::milliseconds limit) {
    deadline = clock::now() + limit;
    step_active = true;
    step_timed_out = false;
    // Only when the watchdog would wake too late does the timer need resetting.
    if (timer.expiry() > deadline) timer.expires_at(deadline);
  }
  void end_step() { step_active = false; }

  // Cancels the socket's operations when a step outlives its deadline. Holds `self` so that the
  // connection outlives it; close() ends it.
  static asio::awaitable<void> watchdog(std::shared_ptr<impl> self) {
    while (self->open) {
      co_await self->timer.async_wait(use_tuple);
      if (!self->open) break;
      if (!self->step_active) {
        self->timer.expires_at(clock::time_point::max());  // idle: sleep until the next step
      } else if (clock::now() >= self->deadline) {
        self->step_timed_out = true;
        boost::system::error_code ignored;
        self->stream().next_layer().cancel(ignored);
        self->timer.expires_at(clock::time_point::max());
      } else {
        self->timer.expires_at(self->deadline);  // the deadline moved on
      }
    }
  }

  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some() {
    if (tls_on) co_return co_await stream().async_read_some(asio::buffer(read_buffer), use_tuple);
    co_return co_await stream().next_layer().async_read_some(asio::buffer(read_buffer), use_tuple);
  }

  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write_all(std::string_view bytes) {
    if (tls_on) co_return co_await asio::async_write(stream(), asio::buffer(bytes), use_tuple);
    co_return co_await asio::async_write(stream().next_layer(), asio::buffer(bytes), use_tuple);
  }

  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> handshake() {
    auto [ec] = co_await stream().async_handshake(ssl::stream_base::client, use_tuple);
    co_return std::tuple<boost::system::error_code, std::size_t>{ec, 0};
  }

  core::error tls_failure(const boost::system::error_code& ec) {
    const long verify = SSL_get_verify_result(stream().native_handle());
    std::string text = "TLS with " + opts.host + ":" + std::to_string(opts.port) + " failed: ";
    if (verify != X509_V_OK) {
      text += describe_verify_failure(verify, peer_name());
    } else {
      text += ec.message() + ". Check that the port speaks " +
              (opts.session.tls == smtp::tls_mode::implicit ? "implicit TLS (465)" : "STARTTLS (587)") + ".";
    }
    return net_error(smtp::session_errc::tls_failed, std::move(text), failure_class::needs_human);
  }

  // Runs the session until it is idle (ready for a message) or closed.
  asio::awaitable<void> drive() {
    for (;;) {
      smtp::action a = session.next();
      switch (a.what) {
        case smtp::action::kind::write: {
          log_lines("C:", a.transcript);
          begin_step(a.timeout);
          auto [ec, n] = co_await write_all(a.bytes);
          end_step();
          if (step_timed_out) {
            session.on_timeout();
          } else if (ec) {
            session.on_eof();
          } else {
            session.on_written();
          }
          break;
        }
        case smtp::action::kind::read: {
          begin_step(a.timeout);
          auto [ec, n] = co_await read_some();
          end_step();
          if (step_timed_out) {
            session.on_timeout();
            break;
          }
          if (ec) {
            session.on_eof();
            break;
          }
          const std::string_view got(read_buffer.data(), n);
          log_lines("S:", got);
          session.on_bytes(got);
          break;
        }
        case smtp::action::kind::start_tls: {
          begin_step(a.timeout);
          auto [ec, ignored] = co_await handshake();
          end_step();
          if (step_timed_out) {
            session.on_tls_failed(net_error(smtp::session_errc::timeout,
                                            "The TLS handshake with " + opts.host + " timed out.",
                                            failure_class::transient));
            break;
          }
          if (ec) {
            session.on_tls_failed(tls_failure(ec));
            break;
          }
          tls_on = true;
          spdlog::debug("smtp TLS established: {} {}", SSL_get_version(stream().native_handle()),
                        SSL_get_cipher_name(stream().native_handle()));
          session.on_tls_established();
          break;
        }
        case smtp::action::kind::idle:
          co_return;
        case smtp::action::kind::closed:
          close();
          co_return;
      }
    }
  }

  void close() {
    if (!open) return;
    open = false;
    boost::system::error_code ignored;
    stream().next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream().next_layer().close(ignored);
    timer.cancel();  // ends the watchdog
  }

  asio::awaitable<core::result<void>> connect() {
    tcp::resolver resolver(executor);
    connect_timer.expires_after(opts.connect_timeout);
    auto resolved = co_await (resolver.async_resolve(opts.host, std::to_string(opts.port), use_tuple) ||
                              connect_timer.async_wait(use_tuple));
    const std::string where = opts.host + ":" + std::to_string(opts.port);
    if (resolved.index() == 1) {
      co_return net_error(smtp::session_errc::connect_failed, "Looking up " + opts.host + " timed out.",
                          failure_class::transient);
    }
    auto [rec, endpoints] = std::get<0>(resolved);
    if (rec) {
      // "Host not found" is an answer (a typo will not fix itself); "try again" is not.
      const bool definite = rec == asio::error::host_not_found || rec == asio::error::no_data;
      co_return net_error(smtp::session_errc::connect_failed,
                          "Cannot resolve " + opts.host + ": " + rec.message() + ". Check the server name.",
                          definite ? failure_class::needs_human : failure_class::transient);
    }
    connect_timer.expires_after(opts.connect_timeout);
    auto connected = co_await (asio::async_connect(stream().next_layer(), endpoints, use_tuple) ||
                               connect_timer.async_wait(use_tuple));
    if (connected.index() == 1) {
      co_return net_error(
          smtp::session_errc::connect_failed,
          "Connecting to " + where + " timed out after " +
              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(opts.connect_timeout).count()) +
              " s. Check the host, the port and any firewall in between.",
          failure_class::transient);
    }
    if (auto [cec, ep] = std::get<0>(connected); cec) {
      co_return net_error(smtp::session_errc::connect_failed,
                          "Cannot connect to " + where + ": " + cec.message() + ". Check the host and the port.",
                          failure_class::transient);
    }
    open = true;
    boost::system::error_code ignored;
    stream().next_layer().set_option(tcp::no_delay(true), ignored);
    co_return core::result<void>{};
  }
};

smtp_connection::smtp_connection(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
smtp_connection::~smtp_connection() {
  if (impl_) impl_->close();
}

asio::awaitable<core::result<std::unique_ptr<smtp_connection>>> smtp_connection::open(asio::any_io_executor executor,
                                                                                      connection_options options) {
  if (options.session.credentials && options.session.tls == smtp::tls_mode::none &&
      !options.session.allow_plaintext_auth) {
    co_return net_error(smtp::session_errc::tls_required,
                        "Refusing to send credentials without TLS (--tls none). Use --tls starttls or --tls implicit.",
                        failure_class::needs_human);
  }
  auto p = std::make_shared<impl>(executor, std::move(options));
  if (auto ok = p->setup_tls(); !ok) co_return ok.error();
  if (auto ok = co_await p->connect(); !ok) co_return ok.error();
  asio::co_spawn(executor, impl::watchdog(p), asio::detached);
  co_await p->drive();
  if (p->session.final_error()) {
    p->close();
    co_return *p->session.final_error();
  }
  if (!p->open) {
    co_return net_error(smtp::session_errc::server_closed, "The connection closed before it was ready.",
                        failure_class::transient);
  }
  co_return std::unique_ptr<smtp_connection>(new smtp_connection(std::move(p)));
}

asio::awaitable<smtp::message_result> smtp_connection::send(smtp::outgoing_message message) {
  if (!usable()) {
    smtp::message_result r;
    r.failure =
        net_error(smtp::session_errc::server_closed, "The connection is no longer usable.", failure_class::transient);
    co_return r;
  }
  impl_->session.submit(std::move(message));
  co_await impl_->drive();
  if (auto r = impl_->session.take_result()) co_return std::move(*r);
  smtp::message_result r;
  r.failure = impl_->session.final_error().value_or(net_error(
      smtp::session_errc::server_closed, "The connection closed during the transaction.", failure_class::transient));
  co_return r;
}

asio::awaitable<void> smtp_connection::quit() {
  if (!usable()) co_return;
  impl_->session.quit();
  co_await impl_->drive();
  impl_->close();
}

bool smtp_connection::usable() const noexcept { return impl_->open && impl_->session.ready(); }

const smtp::client_session& smtp_connection::session() const noexcept { return impl_->session; }

core::result<std::vector<smtp::message_result>> send_messages(connection_options options,
                                                              std::vector<smtp::outgoing_message> messages) {
  asio::io_context io;
  std::optional<core::result<std::vector<smtp::message_result>>> outcome;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto conn = co_await smtp_connection::open(io.get_executor(), std::move(options));
        if (!conn) {
          outcome = conn.error();
          co_return;
        }
        std::vector<smtp::message_result> results;
        results.reserve(messages.size());
        for (auto& m : messages) results.push_back(co_await (*conn)->send(std::move(m)));
        co_await (*conn)->quit();
        outcome = std::move(results);
      },
      asio::detached);
  io.run();
  if (!outcome) {
    return net_error(smtp::session_errc::connect_failed, "internal: the connection task did not finish",
                     failure_class::bug);
  }
  return std::move(*outcome);
}

}  // namespace oauthmail::net
