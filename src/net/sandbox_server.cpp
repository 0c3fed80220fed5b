#include "net/sandbox_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <map>

#include "sandbox/capture_store.hpp"
#include "sandbox/control_api.hpp"
#include "sandbox/identity_provider.hpp"
#include "sandbox/pki.hpp"
#include "sandbox/smtp_policy.hpp"
#include "sandbox/state.hpp"
#include "sandbox/tokens.hpp"
#include "smtp/server_session.hpp"

namespace oauthmail::net {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Ends one connection's coroutine: a bug in handling one client (an exception) closes that
// connection and is logged; it never stops the sandbox for everyone else.
void log_connection_failure(std::exception_ptr failure) {
  if (!failure) return;
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    spdlog::error("sandbox: a connection ended with an internal error: {}", e.what());
  } catch (...) {
    spdlog::error("sandbox: a connection ended with an unknown internal error");
  }
}

core::error start_error(std::string message) {
  return {core::make_error_code(core::errc::io_failure), std::move(message), core::failure_class::needs_human};
}

// Binds a listener; the message says what to do when the port is taken or the address is wrong.
core::result<void> listen(tcp::acceptor& acceptor, const std::string& address, std::uint16_t port,
                          std::string_view what) {
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) return start_error(fmt::format("{}: \"{}\" is not an IP address (example: 127.0.0.1)", what, address));
  const tcp::endpoint ep(ip, port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(64, ec);
  if (ec) {
    return start_error(fmt::format("{}: cannot listen on {}:{}: {}{}", what, address, port, ec.message(),
                                   ec == asio::error::address_in_use ? " (another program uses the port; choose "
                                                                       "another one, or 0 for a free port)"
                                                                     : ""));
  }
  return {};
}

std::string endpoint_text(const tcp::acceptor& a) {
  const auto ep = a.local_endpoint();
  const auto addr = ep.address().to_string();
  return (ep.address().is_v6() ? "[" + addr + "]" : addr) + ":" + std::to_string(ep.port());
}

bool is_loopback(const std::string& address) {
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  return !ec && ip.is_loopback();
}

sandbox::smtp_step step_of(const smtp::server_request& r) {
  using k = smtp::server_request::kind;
  switch (r.what) {
    case k::connect:
      return sandbox::smtp_step::connect;
    case k::helo:
      return sandbox::smtp_step::ehlo;
    case k::authenticate:
      return sandbox::smtp_step::auth;
    case k::mail:
      return sandbox::smtp_step::mail;
    case k::rcpt:
      return sandbox::smtp_step::rcpt;
    case k::data:
      return sandbox::smtp_step::data;
    case k::message:
      return sandbox::smtp_step::data_end;
  }
  return sandbox::smtp_step::connect;
}

}  // namespace

struct sandbox_server::impl {
  sandbox_settings settings;
  sandbox_info info;
  asio::io_context io{1};
  ssl::context tls{ssl::context::tls_server};
  tcp::acceptor smtp_acceptor{io};
  tcp::acceptor smtps_acceptor{io};
  tcp::acceptor http_acceptor{io};
  std::optional<sandbox::prepared_state> state;
  std::optional<sandbox::token_authority> tokens;
  sandbox::fault_registry faults;
  std::optional<sandbox::capture_store> store;
  std::unique_ptr<sandbox::identity_provider> idp;
  std::unique_ptr<sandbox::smtp_policy> policy;
  std::unique_ptr<sandbox::control_api> api;
  std::uint64_t next_connection = 1;

  core::result<void> prepare() {
    auto& s = settings;
    if (s.state_dir.empty()) return start_error("the sandbox needs a state folder: --state DIR");
    for (const auto* addr : {&s.smtp_address, &s.http_address}) {
      if (!is_loopback(*addr)) {
        spdlog::warn("the sandbox listens on {}, which is not a loopback address: other machines can reach it", *addr);
      }
    }
    if (auto ok = listen(smtp_acceptor, s.smtp_address, s.smtp_port, "SMTP (STARTTLS)"); !ok) return ok;
    const bool want_smtps = s.smtps_port.has_value() || s.profile == sandbox::profile_kind::google;
    if (want_smtps) {
      if (auto ok = listen(smtps_acceptor, s.smtp_address, s.smtps_port.value_or(0), "SMTP (implicit TLS)"); !ok) {
        return ok;
      }
    }
    if (auto ok = listen(http_acceptor, s.http_address, s.http_port, "HTTP"); !ok) return ok;

    auto prepared = sandbox::prepare_state(s.state_dir, s.profile);
    if (!prepared) return prepared.error();
    state = std::move(*prepared);
    auto pki = sandbox::ensure_pki(s.state_dir, {});
    if (!pki) return pki.error();

    boost::system::error_code ec;
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression);
    tls.use_certificate_chain_file(pki->server_certificate, ec);
    if (!ec) tls.use_private_key_file(pki->server_key, ssl::context::pem, ec);
    if (ec) return start_error("cannot load the sandbox's server certificate: " + ec.message());

    const std::string http_base = "http://" + endpoint_text(http_acceptor);
    const auto& dir = state->identities;
    const std::string issuer =
        s.profile == sandbox::profile_kind::microsoft ? http_base + "/" + dir.tenant_id + "/v2.0" : http_base;
    auto authority = sandbox::token_authority::open((std::filesystem::path(s.state_dir) / "signing-key.pem").string(),
                                                    issuer, s.profile, dir.tenant_id);
    if (!authority) return authority.error();
    tokens = std::move(*authority);

    auto opened = sandbox::capture_store::open((std::filesystem::path(s.state_dir) / "messages.sqlite3").string());
    if (!opened) return opened.error();
    store = std::move(*opened);
    if (s.faults) faults.replace(*s.faults);

    sandbox::idp_settings idp_settings;
    idp_settings.base_url = http_base;
    idp_settings.access_token_lifetime = s.access_token_lifetime;
    idp_settings.device_poll_interval = s.device_poll_interval;
    idp = std::make_unique<sandbox::identity_provider>(idp_settings, dir, *tokens, faults);

    auto profile = sandbox::make_profile(s.profile);
    profile.refuse_tokens_expiring_within = s.refuse_tokens_expiring_within;
    policy = std::make_unique<sandbox::smtp_policy>(
        std::move(profile), dir, *tokens, faults,
        [this](const smtp::received_message& m, const sandbox::captured_envelope& env) {
          return store->add(m, env, std::chrono::system_clock::now());
        });
    api = std::make_unique<sandbox::control_api>(faults, *store, *idp, *policy);

    sandbox::sandbox_description desc;
    desc.profile = s.profile;
    auto endpoint_of = [](const tcp::acceptor& a, bool implicit) {
      const auto ep = a.local_endpoint();
      return sandbox::smtp_endpoint{ep.address().to_string(), ep.port(), implicit};
    };
    desc.smtp.push_back(endpoint_of(smtp_acceptor, false));
    if (smtps_acceptor.is_open()) desc.smtp.push_back(endpoint_of(smtps_acceptor, true));
    desc.http_base = http_base;
    desc.ca_file = pki->ca_certificate;
    desc.idp = idp->endpoints();
    auto written = sandbox::write_descriptions(*state, desc);
    if (!written) return written.error();

    info.smtp_endpoint = endpoint_text(smtp_acceptor);
    info.smtps_endpoint = smtps_acceptor.is_open() ? endpoint_text(smtps_acceptor) : std::string();
    info.http_base = http_base;
    info.ca_file = pki->ca_certificate;
    info.state_file = written->sandbox_json;
    info.config_file = written->config_toml;
    return {};
  }

  // --- SMTP ---

  asio::awaitable<void> accept_smtp(tcp::acceptor& acceptor, bool implicit_tls) {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        continue;  // e.g. too many open files: keep serving the others
      }
      asio::co_spawn(io, serve_smtp(std::move(socket), implicit_tls), log_connection_failure);
    }
  }

  asio::awaitable<void> serve_smtp(tcp::socket socket, bool implicit_tls) {
    const std::uint64_t id = next_connection++;
    boost::system::error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    const std::string peer_address = ec ? std::string("unknown") : peer.address().to_string();
    ssl::stream<tcp::socket> stream(std::move(socket), tls);
    bool tls_on = false;
    asio::steady_timer timer(io);
    std::array<char, 16384> buffer{};

    auto session_options = policy->session_options(implicit_tls, true, peer_address);
    smtp::server_session session(std::move(session_options));
    auto connection = policy->open();
    spdlog::debug("sandbox smtp #{}: connection from {}", id, peer_address);

    if (implicit_tls) {
      timer.expires_after(std::chrono::seconds(30));
      auto r = co_await (stream.async_handshake(ssl::stream_base::server, use_tuple) || timer.async_wait(use_tuple));
      if (r.index() != 0 || std::get<0>(std::get<0>(r))) {
        spdlog::debug("sandbox smtp #{}: TLS handshake failed", id);
        co_return;
      }
      tls_on = true;
    }

    auto write_all = [&](std::string_view bytes) -> asio::awaitable<boost::system::error_code> {
      if (tls_on) {
        auto [wec, n] = co_await asio::async_write(stream, asio::buffer(bytes), use_tuple);
        co_return wec;
      }
      auto [wec, n] = co_await asio::async_write(stream.next_layer(), asio::buffer(bytes), use_tuple);
      co_return wec;
    };

    for (;;) {
      const auto a = session.next();
      using k = smtp::server_action::kind;
      if (a.what == k::write) {
        if (!a.transcript.empty()) spdlog::debug("sandbox smtp #{} S: {}", id, a.transcript);
        if (co_await write_all(a.bytes)) break;
        session.on_written();
      } else if (a.what == k::read) {
        timer.expires_after(a.timeout);
        std::size_t n = 0;
        boost::system::error_code rec;
        if (tls_on) {
          auto r = co_await (stream.async_read_some(asio::buffer(buffer), use_tuple) || timer.async_wait(use_tuple));
          if (r.index() == 1) {
            session.on_timeout();
            continue;
          }
          std::tie(rec, n) = std::get<0>(r);
        } else {
          auto r = co_await (stream.next_layer().async_read_some(asio::buffer(buffer), use_tuple) ||
                             timer.async_wait(use_tuple));
          if (r.index() == 1) {
            session.on_timeout();
            continue;
          }
          std::tie(rec, n) = std::get<0>(r);
        }
        if (rec) {
          session.on_eof();
          continue;
        }
        session.on_bytes(std::string_view(buffer.data(), n));
      } else if (a.what == k::start_tls) {
        if (auto fault = connection->fault_at(sandbox::smtp_step::starttls);
            fault && fault->what == sandbox::smtp_fault::action::drop) {
          break;
        }
        timer.expires_after(std::chrono::seconds(30));
        auto r = co_await (stream.async_handshake(ssl::stream_base::server, use_tuple) || timer.async_wait(use_tuple));
        if (r.index() == 0 && !std::get<0>(std::get<0>(r))) {
          tls_on = true;
          session.on_tls_established();
        } else {
          spdlog::debug("sandbox smtp #{}: STARTTLS handshake failed", id);
          session.on_tls_failed();
        }
      } else if (a.what == k::decide) {
        const auto& request = *a.request;
        auto answer = connection->decide(request, session, sandbox::wall_clock::now());
        if (answer.delay.count() > 0) {
          timer.expires_after(answer.delay);
          co_await timer.async_wait(use_tuple);
        }
        if (answer.drop) {
          spdlog::debug("sandbox smtp #{}: dropped at {} (fault)", id, sandbox::to_string(step_of(request)));
          break;
        }
        session.decide(std::move(answer.decision));
      } else {  // close
        break;
      }
    }
    boost::system::error_code ignored;
    if (tls_on) {
      timer.expires_after(std::chrono::seconds(2));
      co_await (stream.async_shutdown(use_tuple) || timer.async_wait(use_tuple));
    }
    stream.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream.next_layer().close(ignored);
    spdlog::debug("sandbox smtp #{}: closed", id);
  }

  // --- HTTP ---

  asio::awaitable<void> accept_http() {
    for (;;) {
      auto [ec, socket] = co_await http_acceptor.async_accept(use_tuple);
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        continue;
      }
      asio::co_spawn(io, serve_http(std::move(socket)), log_connection_failure);
    }
  }

  sandbox::http_response route(const sandbox::http_request& request) {
    const auto now = sandbox::wall_clock::now();
    if (auto r = api->handle(request, now)) return std::move(*r);
    if (auto r = idp->handle(request, now)) return std::move(*r);
    return sandbox::http_response::not_found();
  }

  asio::awaitable<void> serve_http(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer(16384);
    boost::system::error_code ec;
    const auto peer = stream.socket().remote_endpoint(ec);
    const std::string peer_address = ec ? std::string() : peer.address().to_string();
    asio::steady_timer delay_timer(io);
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(16 * 1024);
      parser.body_limit(1024 * 1024);
      stream.expires_after(std::chrono::seconds(30));
      auto [rec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
      if (rec) break;
      auto& req = parser.get();
      sandbox::http_request request;
      request.method = std::string(req.method_string());
      request.target = std::string(req.target());
      for (const auto& field : req) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        request.headers[name] = std::string(field.value());
      }
      request.body = std::move(req.body());
      request.peer_address = peer_address;
      auto response = route(request);
      spdlog::debug("sandbox http {} {} -> {}", request.method, request.path(), response.status);
      if (response.delay.count() > 0) {
        delay_timer.expires_after(response.delay);
        co_await delay_timer.async_wait(use_tuple);
      }
      http::response<http::string_body> res{static_cast<http::status>(response.status), req.version()};
      res.set(http::field::server, "oauthmail-sandbox");
      res.set(http::field::content_type, response.content_type);
      res.set(http::field::cache_control, "no-store");
      for (const auto& [name, value] : response.headers) res.set(name, value);
      res.keep_alive(req.keep_alive());
      res.body() = std::move(response.body);
      res.prepare_payload();
      stream.expires_after(std::chrono::seconds(30));
      auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
      if (wec || !res.keep_alive()) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }
};

core::result<std::unique_ptr<sandbox_server>> sandbox_server::start(sandbox_settings settings) {
  std::unique_ptr<sandbox_server> server(new sandbox_server());
  server->impl_ = std::make_unique<impl>();
  server->impl_->settings = std::move(settings);
  if (auto ok = server->impl_->prepare(); !ok) return ok.error();
  auto& p = *server->impl_;
  asio::co_spawn(p.io, p.accept_smtp(p.smtp_acceptor, false), asio::detached);
  if (p.smtps_acceptor.is_open()) asio::co_spawn(p.io, p.accept_smtp(p.smtps_acceptor, true), asio::detached);
  asio::co_spawn(p.io, p.accept_http(), asio::detached);
  return server;
}

sandbox_server::~sandbox_server() = default;

const sandbox_info& sandbox_server::info() const noexcept { return impl_->info; }

void sandbox_server::run(bool handle_signals) {
  std::optional<asio::signal_set> signals;
  if (handle_signals) {
    signals.emplace(impl_->io, SIGINT, SIGTERM);
    signals->async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) impl_->io.stop();
    });
  }
  impl_->io.run();
}

void sandbox_server::stop() {
  asio::post(impl_->io, [this] { impl_->io.stop(); });
}

}  // namespace oauthmail::net
