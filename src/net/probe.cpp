#include "net/probe.hpp"

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <ctime>
#include <memory>

#include "net/tls_client.hpp"

namespace oauthmail::net {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using core::failure_class;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
using steady = std::chrono::steady_clock;

std::chrono::microseconds since(steady::time_point t0) {
  return std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0);
}

core::error session_error(smtp::session_errc code, std::string message, failure_class cls) {
  return {smtp::make_error_code(code), std::move(message), cls};
}

// What crossed the wire, at debug level, as a send logs it (the session redacts AUTH payloads).
void log_lines(std::string_view prefix, std::string_view text) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    spdlog::debug("smtp {} {}", prefix, line.substr(0, 512));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

doctor::certificate_problem problem_of(long code) {
  switch (code) {
    case X509_V_OK:
      return doctor::certificate_problem::none;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return doctor::certificate_problem::expired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return doctor::certificate_problem::not_yet_valid;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return doctor::certificate_problem::unknown_ca;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return doctor::certificate_problem::wrong_host;
    default:
      return doctor::certificate_problem::other;
  }
}

// RFC 2253 text of a name (escaped by OpenSSL, bounded).
std::string name_text(const X509_NAME* name) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "?";
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  std::string out(data, static_cast<std::size_t>(n > 0 ? n : 0));
  if (out.size() > 256) out = out.substr(0, 256) + "...";
  return out;
}

oauth::wall_clock::time_point asn1_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return oauth::wall_clock::from_time_t(timegm(&tm));
}

// Printable ASCII only (a certificate is the peer's text).
std::string printable(const unsigned char* data, int length) {
  std::string out;
  for (int i = 0; i < length && out.size() < 253; ++i) {
    const unsigned char c = data[i];
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  return out;
}

doctor::certificate_facts describe_certificate(X509* cert) {
  doctor::certificate_facts f;
  f.subject = name_text(X509_get_subject_name(cert));
  f.issuer = name_text(X509_get_issuer_name(cert));
  f.not_before = asn1_time(X509_get0_notBefore(cert));
  f.not_after = asn1_time(X509_get0_notAfter(cert));
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    const int count = sk_GENERAL_NAME_num(names);
    for (int i = 0; i < count && f.names.size() < 20; ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      if (n->type == GEN_DNS) {
        f.names.push_back("DNS:" + printable(ASN1_STRING_get0_data(n->d.dNSName), ASN1_STRING_length(n->d.dNSName)));
      } else if (n->type == GEN_IPADD) {
        const int len = ASN1_STRING_length(n->d.iPAddress);
        const unsigned char* p = ASN1_STRING_get0_data(n->d.iPAddress);
        if (len == 4) {
          asio::ip::address_v4::bytes_type b{};
          std::copy(p, p + 4, b.begin());
          f.names.push_back("IP:" + asio::ip::address_v4(b).to_string());
        } else if (len == 16) {
          asio::ip::address_v6::bytes_type b{};
          std::copy(p, p + 16, b.begin());
          f.names.push_back("IP:" + asio::ip::address_v6(b).to_string());
        }
      }
    }
    GENERAL_NAMES_free(names);
  }
  return f;
}

class prober {
 public:
  prober(asio::any_io_executor ex, probe_options& o, doctor::probe_report& r)
      : ex_(std::move(ex)), o_(o), r_(r), ctx_(ssl::context::tls_client), timer_(ex_), session_(o_.session) {}

  asio::awaitable<void> run() {
    const std::string peer = o_.tls.server_name.value_or(o_.host);
    r_.tls.implicit = o_.session.tls == smtp::tls_mode::implicit;
    r_.tls.verification_enabled = !o_.tls.skip_verify;
    r_.tls.ca_file = o_.tls.ca_file;
    r_.tls.server_name = peer;
    if (o_.session.tls != smtp::tls_mode::none) {
      if (auto ok = configure_client_context(ctx_, o_.tls); !ok) r_.tls.setup_error = ok.error().message();
    }

    auto endpoints = co_await resolve();
    if (endpoints.empty()) co_return;
    auto socket = co_await connect(endpoints);
    if (!socket) co_return;

    stream_ = std::make_unique<ssl::stream<tcp::socket>>(std::move(*socket), ctx_);
    if (o_.session.tls != smtp::tls_mode::none && !r_.tls.setup_error) {
      if (auto ok = prepare_client_connection(stream_->native_handle(), peer, o_.tls.skip_verify); !ok) {
        r_.tls.setup_error = ok.error().message();
      }
      // Keeps OpenSSL's decision; only notes the server's own certificate, which a failed
      // handshake would otherwise not tell.
      stream_->set_verify_callback([this](bool preverified, ssl::verify_context& vc) {
        // The verification may stop above the leaf (an untrusted CA in the chain): take the
        // certificate being verified, not the current one.
        if (!leaf_) {
          if (X509* cert = X509_STORE_CTX_get0_cert(vc.native_handle())) leaf_ = describe_certificate(cert);
        }
        return preverified;
      });
    }
    co_await drive();
  }

 private:
  // Arms the time limit of one operation; `on_expiry` cancels it. Returns nothing; expired_ tells.
  template <class F>
  void arm(std::chrono::milliseconds limit, F on_expiry) {
    const auto generation = ++generation_;
    expired_ = false;
    timer_.expires_after(limit);
    timer_.async_wait([this, generation, on_expiry](const boost::system::error_code& ec) {
      if (ec || generation != generation_) return;
      expired_ = true;
      on_expiry();
    });
  }
  void disarm() {
    ++generation_;
    timer_.cancel();
  }
  void cancel_socket() {
    boost::system::error_code ignored;
    stream_->next_layer().cancel(ignored);
  }

  asio::awaitable<std::vector<tcp::endpoint>> resolve() {
    std::vector<tcp::endpoint> out;
    r_.dns.host = o_.host;
    r_.tcp.port = o_.port;
    boost::system::error_code aec;
    const auto address = asio::ip::make_address(o_.host, aec);
    if (!aec) {
      r_.dns.literal = true;
      r_.dns.addresses.push_back(address.to_string());
      out.emplace_back(address, o_.port);
      co_return out;
    }
    tcp::resolver resolver(ex_);
    arm(o_.timeout, [&resolver] { resolver.cancel(); });
    const auto t0 = steady::now();
    auto [ec, results] = co_await resolver.async_resolve(o_.host, std::to_string(o_.port), use_tuple);
    disarm();
    r_.dns.took = since(t0);
    if (expired_) {
      r_.dns.timed_out = true;
      r_.dns.error = "no answer from the resolver";
      co_return out;
    }
    if (ec) {
      r_.dns.error = ec.message();
      r_.dns.definite = ec == asio::error::host_not_found || ec == asio::error::no_data;
      co_return out;
    }
    for (const auto& e : results) {
      out.push_back(e.endpoint());
      r_.dns.addresses.push_back(e.endpoint().address().to_string());
    }
    co_return out;
  }

  asio::awaitable<std::optional<tcp::socket>> connect(const std::vector<tcp::endpoint>& endpoints) {
    for (const auto& ep : endpoints) {
      tcp::socket socket(ex_);
      doctor::connect_attempt attempt;
      attempt.endpoint = endpoint_text(ep);
      arm(o_.timeout, [&socket] {
        boost::system::error_code ignored;
        socket.cancel(ignored);
      });
      const auto t0 = steady::now();
      auto [ec] = co_await socket.async_connect(ep, use_tuple);
      disarm();
      attempt.took = since(t0);
      if (expired_) {
        attempt.outcome = doctor::connect_outcome::timed_out;
        attempt.error = "no answer";
      } else if (!ec) {
        attempt.outcome = doctor::connect_outcome::connected;
      } else if (ec == asio::error::connection_refused) {
        attempt.outcome = doctor::connect_outcome::refused;
        attempt.error = ec.message();
      } else if (ec == asio::error::network_unreachable || ec == asio::error::host_unreachable) {
        attempt.outcome = doctor::connect_outcome::unreachable;
        attempt.error = ec.message();
      } else {
        attempt.outcome = doctor::connect_outcome::failed;
        attempt.error = ec.message();
      }
      spdlog::debug("probe: TCP {} {} ({} us)", attempt.endpoint, doctor::to_string(attempt.outcome),
                    attempt.took.count());
      const bool connected = attempt.outcome == doctor::connect_outcome::connected;
      r_.tcp.attempts.push_back(std::move(attempt));
      if (connected) {
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        co_return std::optional<tcp::socket>(std::move(socket));
      }
    }
    co_return std::nullopt;
  }

  asio::awaitable<void> handshake() {
    r_.tls.attempted = true;
    arm(o_.timeout, [this] { cancel_socket(); });
    auto [ec] = co_await stream_->async_handshake(ssl::stream_base::client, use_tuple);
    disarm();
    SSL* s = stream_->native_handle();
    const long verify = SSL_get_verify_result(s);
    if (verify != X509_V_OK) {
      r_.tls.verify_code = verify;
      r_.tls.problem = problem_of(verify);
      r_.tls.verify_text = X509_verify_cert_error_string(verify);
    }
    if (X509* cert = SSL_get1_peer_certificate(s)) {
      r_.tls.certificate = describe_certificate(cert);
      X509_free(cert);
    } else if (leaf_) {
      r_.tls.certificate = leaf_;
    }
    const std::string where = o_.host + ":" + std::to_string(o_.port);
    if (expired_) {
      r_.tls.timed_out = true;
      session_.on_tls_failed(session_error(
          smtp::session_errc::timeout, "The TLS handshake with " + where + " timed out.", failure_class::transient));
      co_return;
    }
    if (ec) {
      std::string text = "TLS with " + where + " failed: ";
      if (verify != X509_V_OK && r_.tls.verification_enabled) {
        text += describe_verify_failure(verify, r_.tls.server_name);
      } else {
        r_.tls.handshake_error = ec.message();
        text += ec.message() + ".";
      }
      session_.on_tls_failed(session_error(smtp::session_errc::tls_failed, text, failure_class::needs_human));
      co_return;
    }
    r_.tls.established = true;
    r_.tls.protocol = SSL_get_version(s);
    r_.tls.cipher = SSL_get_cipher_name(s);
    if (!r_.tls.verification_enabled) {
      // verify_none: the chain was still checked; keep what a verification would have said.
      r_.tls.problem = doctor::certificate_problem::none;
    }
    spdlog::debug("smtp TLS established: {} {}", r_.tls.protocol, r_.tls.cipher);
    tls_on_ = true;
    session_.on_tls_established();
  }

  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some() {
    if (tls_on_) co_return co_await stream_->async_read_some(asio::buffer(buffer_), use_tuple);
    co_return co_await stream_->next_layer().async_read_some(asio::buffer(buffer_), use_tuple);
  }

  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write_all(std::string_view bytes) {
    if (tls_on_) co_return co_await asio::async_write(*stream_, asio::buffer(bytes), use_tuple);
    co_return co_await asio::async_write(stream_->next_layer(), asio::buffer(bytes), use_tuple);
  }

  // The EHLO answer was just handled: keep the capabilities, before or after TLS.
  void note_ehlo(bool over_tls) {
    const auto reply = session_.last_reply(smtp::stage::ehlo);
    if (!reply || !reply->positive_completion()) return;
    if (over_tls) {
      r_.ehlo.after_tls = session_.server_capabilities();
    } else {
      r_.ehlo.before_tls = session_.server_capabilities();
    }
  }

  void snapshot() {
    auto& s = r_.session;
    s.greeting = session_.last_reply(smtp::stage::greeting);
    s.ehlo = session_.last_reply(smtp::stage::ehlo);
    s.starttls = session_.last_reply(smtp::stage::starttls);
    s.auth = session_.last_reply(smtp::stage::auth);
    s.mechanism = session_.auth_mechanism();
    s.authenticated = session_.authenticated();
    s.error_challenge = session_.auth_error_challenge();
    if (session_.final_error() && !s.failure) {
      s.failure = session_.final_error();
      s.failed_at = last_stage_;
      s.tls_active_at_failure = tls_at_last_stage_;
    }
  }

  asio::awaitable<void> drive() {
    bool submitted = false;
    bool ehlo_pending = false;
    bool ehlo_over_tls = false;
    for (;;) {
      smtp::action a = session_.next();
      if (ehlo_pending && (session_.current_stage() != smtp::stage::ehlo || a.what != smtp::action::kind::read)) {
        ehlo_pending = false;
        note_ehlo(ehlo_over_tls);
      }
      switch (a.what) {
        case smtp::action::kind::write: {
          log_lines("C:", a.transcript);
          arm(a.timeout, [this] { cancel_socket(); });
          auto [ec, n] = co_await write_all(a.bytes);
          disarm();
          if (expired_) {
            session_.on_timeout();
          } else if (ec) {
            session_.on_eof();
          } else {
            session_.on_written();
          }
          break;
        }
        case smtp::action::kind::read: {
          const smtp::stage st = session_.current_stage();
          if (st != smtp::stage::quit) {
            last_stage_ = st;
            tls_at_last_stage_ = session_.tls_active();
          }
          if (st == smtp::stage::ehlo) {
            ehlo_pending = true;
            ehlo_over_tls = session_.tls_active();
          }
          arm(a.timeout, [this] { cancel_socket(); });
          auto [ec, n] = co_await read_some();
          disarm();
          if (expired_) {
            session_.on_timeout();
          } else if (ec) {
            session_.on_eof();
          } else {
            const std::string_view got(buffer_.data(), n);
            log_lines("S:", got);
            session_.on_bytes(got);
          }
          break;
        }
        case smtp::action::kind::start_tls: {
          last_stage_ = smtp::stage::tls_handshake;
          tls_at_last_stage_ = false;
          if (r_.tls.setup_error) {
            session_.on_tls_failed(
                session_error(smtp::session_errc::tls_failed, *r_.tls.setup_error, failure_class::needs_human));
            break;
          }
          co_await handshake();
          break;
        }
        case smtp::action::kind::idle: {
          r_.session.ready = true;
          if (o_.message && !submitted) {
            submitted = true;
            session_.submit(std::move(*o_.message));
            o_.message.reset();
            break;
          }
          if (submitted && !r_.message) r_.message = session_.take_result();
          snapshot();
          session_.quit();
          break;
        }
        case smtp::action::kind::closed: {
          if (submitted && !r_.message) r_.message = session_.take_result();
          snapshot();
          boost::system::error_code ignored;
          stream_->next_layer().shutdown(tcp::socket::shutdown_both, ignored);
          stream_->next_layer().close(ignored);
          co_return;
        }
      }
    }
  }

  asio::any_io_executor ex_;
  probe_options& o_;
  doctor::probe_report& r_;
  ssl::context ctx_;
  asio::steady_timer timer_;
  std::uint64_t generation_ = 0;
  bool expired_ = false;
  std::unique_ptr<ssl::stream<tcp::socket>> stream_;
  std::optional<doctor::certificate_facts> leaf_;
  smtp::client_session session_;
  bool tls_on_ = false;
  smtp::stage last_stage_ = smtp::stage::connect;
  bool tls_at_last_stage_ = false;
  std::array<char, std::size_t{64} * 1024> buffer_{};
};

}  // namespace

doctor::probe_report run_probe(probe_options options) {
  doctor::probe_report report;
  asio::io_context io;
  prober p(io.get_executor(), options, report);
  asio::co_spawn(io, p.run(), asio::detached);
  io.run();
  return report;
}

}  // namespace oauthmail::net
