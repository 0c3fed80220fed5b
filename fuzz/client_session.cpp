// Fuzz target: the SMTP client session fed arbitrary server bytes (split at a fuzzer-chosen point
// each time) through a full set-up and one message. Invariants: no crash, the session always
// settles (idle or closed), and a message is never reported delivered unless the server said 2xx
// after the content.
#include "smtp/client_session.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace oauthmail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const bool implicit = (data[1] & 1) != 0;
  std::string_view server(reinterpret_cast<const char*>(data + 2), size - 2);

  smtp::client_options o;
  o.tls = implicit ? smtp::tls_mode::implicit : smtp::tls_mode::starttls;
  sasl::credentials c;
  c.user = "user@example.com";
  c.secret = core::secret<std::string>("token");
  o.credentials = std::move(c);
  smtp::client_session s(o);

  bool submitted = false;
  for (int guard = 0; guard < 100000; ++guard) {
    const smtp::action a = s.next();
    switch (a.what) {
      case smtp::action::kind::write:
        s.on_written();
        break;
      case smtp::action::kind::read:
        if (server.empty()) {
          s.on_eof();
        } else {
          const std::size_t n = chunk < server.size() ? chunk : server.size();
          s.on_bytes(server.substr(0, n));
          server.remove_prefix(n);
        }
        break;
      case smtp::action::kind::start_tls:
        s.on_tls_established();
        break;
      case smtp::action::kind::idle:
        if (!submitted) {
          submitted = true;
          smtp::outgoing_message m;
          m.env.mail_from = "a@example.com";
          m.env.rcpt_to = {"b@example.net", "c@example.net"};
          m.body = std::make_unique<smtp::string_body>("Subject: x\r\n\r\n.body\r\n");
          s.submit(std::move(m));
          if (auto r = s.take_result()) {
            if (r->delivered()) std::abort();  // refused before sending cannot be delivered
          }
        } else {
          if (auto r = s.take_result(); r && r->delivered()) {
            if (!r->final_reply || !r->final_reply->positive_completion()) std::abort();
          }
          s.quit();
          if (!s.ready() && s.closed()) return 0;
        }
        break;
      case smtp::action::kind::closed:
        return 0;
    }
  }
  std::abort();  // the session never settled
}
