// Fuzz target: the SMTP server session fed arbitrary client bytes, in chunks of a fuzzer-chosen
// size, with an owner that accepts everything (or, by a flag, refuses AUTH with a Gmail-style
// error challenge). Byte 0 chooses the chunk size, byte 1 the options (TLS, limits, policy).
// Invariants: no crash; the session always ends (close) within a number of steps proportional
// to the input; it never holds more than its limits allow (buffered_octets); a handed-over
// message is within max_message_octets and has at least one recipient; a write is never empty.
#include "smtp/server_session.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace oauthmail;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t chunk = data[0] < 128 ? std::size_t{1} + data[0] : std::size_t{64} * (data[0] - 127u);
  const std::uint8_t flags = data[1];
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

  smtp::server_options o;
  o.implicit_tls = (flags & 1) != 0;
  o.starttls_available = (flags & 2) != 0;
  o.require_auth = (flags & 4) != 0;
  o.bare_line_ends = (flags & 8) != 0 ? smtp::bare_line_end_policy::normalize : smtp::bare_line_end_policy::reject;
  const bool refuse_auth = (flags & 16) != 0;
  if ((flags & 32) != 0) {
    o.max_command_octets = 64;
    o.max_auth_line_octets = 256;
    o.max_message_octets = 512;
    o.max_recipients = 2;
    o.max_errors = 5;
  } else {
    o.max_message_octets = 4096;
  }
  o.pipelining = (flags & 64) == 0;
  const bool timeout_at_end = (flags & 128) != 0;
  o.auth_mechanisms = {sasl::mechanism::xoauth2, sasl::mechanism::oauthbearer, sasl::mechanism::plain,
                       sasl::mechanism::login};
  o.dsn = true;

  const std::size_t bound = 3 * 65536 + 2 * (o.max_auth_line_octets + o.max_command_octets) +
                            2 * static_cast<std::size_t>(o.max_message_octets) + chunk;
  const std::size_t max_steps = 64 + 16 * size;

  smtp::server_session s(o);
  for (std::size_t step = 0; step < max_steps; ++step) {
    check(s.buffered_octets() <= bound);
    const smtp::server_action a = s.next();
    switch (a.what) {
      case smtp::server_action::kind::write:
        check(!a.bytes.empty());
        s.on_written();
        break;
      case smtp::server_action::kind::read:
        if (input.empty()) {
          if (timeout_at_end) {
            s.on_timeout();
          } else {
            s.on_eof();
          }
        } else {
          const std::size_t n = chunk < input.size() ? chunk : input.size();
          s.on_bytes(input.substr(0, n));
          input.remove_prefix(n);
        }
        break;
      case smtp::server_action::kind::start_tls:
        if ((flags & 6) == 6 && input.size() % 7 == 0) {
          s.on_tls_failed();
        } else {
          s.on_tls_established();
          check(s.tls_active());
          check(!s.authenticated());
        }
        break;
      case smtp::server_action::kind::decide: {
        check(a.request != nullptr);
        const smtp::server_request& q = *a.request;
        if (q.what == smtp::server_request::kind::authenticate) {
          check(q.credentials.has_value());
          if (refuse_auth) {
            auto d = smtp::server_decision::refuse(smtp::server_reply::make(535, "5.7.8", "not accepted"));
            d.error_challenge_json = R"({"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"})";
            s.decide(std::move(d));
            check(!s.authenticated());
            break;
          }
        }
        if (q.what == smtp::server_request::kind::message) {
          const smtp::received_message m = s.take_message();
          check(m.content.size() <= o.max_message_octets);
          check(!m.rcpt_to.empty() && m.rcpt_to.size() <= o.max_recipients);
          check(!m.auth || m.auth->secret.empty());
          check(!o.require_auth || m.auth.has_value());
        }
        s.decide(smtp::server_decision::ok());
        break;
      }
      case smtp::server_action::kind::close:
        check(s.closed());
        return 0;
    }
  }
  std::abort();  // the session never ended
}
