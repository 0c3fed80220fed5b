#include "fake_smtp_server.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace oauthmail::smtp::testing {

namespace {
std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}
}  // namespace

std::optional<std::string> fake_smtp_server::take_fault() {
  const int step = steps++;
  const auto it = faults.find(step);
  if (it == faults.end()) return std::nullopt;
  switch (it->second.what) {
    case fault::kind::close:
      closed = true;
      return std::string();
    case fault::kind::timeout:
      timed_out = true;
      return std::string();
    case fault::kind::reply:
      return it->second.reply;
  }
  return std::nullopt;
}

std::string fake_smtp_server::start() {
  if (auto f = take_fault()) return *f;
  return greeting;
}

std::string fake_smtp_server::ehlo_reply(const std::string& verb) const {
  if (verb == "HELO") return "250 fake.example\r\n";
  const auto& lines = tls ? ehlo_after_tls : ehlo_before_tls;
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += "250";
    out += (i + 1 < lines.size()) ? "-" : " ";
    out += lines[i] + "\r\n";
  }
  return out;
}

std::string fake_smtp_server::feed(std::string_view bytes) {
  std::string out;
  if (closed || timed_out) return out;
  for (const char c : bytes) {
    line_buffer_.push_back(c);
    if (in_data_) {
      // Content ends at CR LF . CR LF (the CR LF before the dot belongs to the last line).
      if (line_buffer_.size() >= 3 && line_buffer_.compare(line_buffer_.size() - 3, 3, ".\r\n") == 0 &&
          (line_buffer_.size() == 3 ||
           (line_buffer_.size() >= 5 && line_buffer_.compare(line_buffer_.size() - 5, 2, "\r\n") == 0))) {
        messages.push_back(line_buffer_.substr(0, line_buffer_.size() - 3));
        line_buffer_.clear();
        in_data_ = false;
        if (auto f = take_fault()) {
          out += *f;
          if (closed || timed_out) return out;
        } else {
          out += final_reply;
        }
      }
      continue;
    }
    if (c != '\n') continue;
    std::string line = line_buffer_;
    line_buffer_.clear();
    if (line.size() >= 2 && line[line.size() - 2] == '\r') {
      line.resize(line.size() - 2);
    } else {
      line.pop_back();  // bare LF: keep going, the tests check the client never sends one
    }
    out += respond(line);
    if (closed || timed_out) return out;
  }
  return out;
}

std::string fake_smtp_server::respond(const std::string& line) {
  commands.push_back(line);
  if (auto f = take_fault()) {
    return *f;
  }
  if (in_auth_) {
    std::string r = auth(line);
    in_auth_ = r.rfind("334", 0) == 0;
    return r;
  }
  const std::string verb = upper(line.substr(0, line.find(' ')));
  if (verb == "EHLO" || verb == "HELO") return ehlo_reply(verb);
  if (verb == "STARTTLS") return "220 2.0.0 Ready to start TLS\r\n";
  if (verb == "AUTH") {
    std::string r = auth(line);
    in_auth_ = r.rfind("334", 0) == 0;
    return r;
  }
  if (verb == "MAIL") {
    accepted_rcpts_ = 0;
    return "250 2.1.0 Sender OK\r\n";
  }
  if (verb == "RCPT") {
    const auto lt = line.find('<');
    const auto gt = line.find('>');
    const std::string addr =
        (lt != std::string::npos && gt != std::string::npos) ? line.substr(lt + 1, gt - lt - 1) : "";
    const auto it = refuse_rcpt.find(addr);
    if (it != refuse_rcpt.end()) return it->second;
    ++accepted_rcpts_;
    return "250 2.1.5 Recipient OK\r\n";
  }
  if (verb == "DATA") {
    if (accepted_rcpts_ == 0 && !accept_data_without_recipients) return "554 5.5.1 Error: no valid recipients\r\n";
    in_data_ = true;
    return "354 Start mail input; end with <CRLF>.<CRLF>\r\n";
  }
  if (verb == "RSET") accepted_rcpts_ = 0;
  if (verb == "RSET") return "250 2.0.0 Resetting\r\n";
  if (verb == "NOOP") return "250 2.0.0 OK\r\n";
  if (verb == "QUIT") {
    closed = true;
    return "221 2.0.0 Bye\r\n";
  }
  return "500 5.5.1 Unrecognized command\r\n";
}

// ---------------------------------------------------------------------------------------------

session_harness::session_harness(client_options options, fake_smtp_server& server, std::size_t split)
    : session_(options), server_(server), split_(split) {
  // With implicit TLS the greeting comes after the handshake.
  if (options.tls != tls_mode::implicit) {
    pending_ = server_.start();
    greeted_ = true;
  }
}

action::kind session_harness::run() {
  for (int guard = 0; guard < 1'000'000; ++guard) {
    action a = session_.next();
    switch (a.what) {
      case action::kind::write:
        if (!a.transcript.empty()) transcript_.push_back("C: " + a.transcript);
        pending_ += server_.feed(a.bytes);
        session_.on_written();
        break;
      case action::kind::read: {
        if (pending_.empty()) {
          // Nothing more will come: either the fake closed the connection or it stalls.
          if (server_.closed && !server_.timed_out) {
            session_.on_eof();
          } else {
            session_.on_timeout();
          }
          break;
        }
        const std::size_t n = split_ == 0 ? pending_.size() : std::min(split_, pending_.size());
        const std::string chunk = pending_.substr(0, n);
        pending_.erase(0, n);
        transcript_.push_back("S: " + chunk);
        session_.on_bytes(chunk);
        break;
      }
      case action::kind::start_tls:
        if (fail_tls) {
          session_.on_tls_failed(core::error(make_error_code(session_errc::tls_failed), "fake TLS failure",
                                             core::failure_class::needs_human));
          break;
        }
        server_.tls = true;
        pending_.clear();  // a real handshake would consume or reject anything left over
        session_.on_tls_established();
        if (!greeted_) {
          greeted_ = true;
          pending_ = server_.start();
        }
        break;
      case action::kind::idle:
      case action::kind::closed:
        return a.what;
    }
  }
  throw std::runtime_error("session_harness: session did not settle");
}

message_result session_harness::send(envelope env, std::string content) {
  outgoing_message m;
  m.env = std::move(env);
  m.body = std::make_unique<string_body>(std::move(content));
  session_.submit(std::move(m));
  run();
  auto r = session_.take_result();
  if (!r) throw std::runtime_error("session_harness: no result");
  return std::move(*r);
}

void session_harness::quit() {
  session_.quit();
  run();
}

std::string session_harness::transcript_text() const {
  std::string out;
  for (const auto& l : transcript_) out += l + "\n";
  return out;
}

}  // namespace oauthmail::smtp::testing
