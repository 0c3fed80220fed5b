// SMTP throughput of oauthmail's transport: sends N messages of S octets (realistic text) to one
// recipient over ONE connection, or spread over -c concurrent connections in one thread
// (net::smtp_connection, no TLS, no AUTH), and prints messages/s.
// Meant for a local sink such as Postfix's smtp-sink (see smtp_throughput.sh).
//
//   tool_send_throughput HOST:PORT [-n MESSAGES] [-s OCTETS] [-c CONNECTIONS] [--no-pipelining]
//                        [--from ADDR] [--to ADDR] [--timeout SECONDS]
//
// Exit status: 0 when every message was delivered, 1 otherwise, 64 for bad arguments.
// g++ 12 reports a false -Wmismatched-new-delete when it inlines Asio's awaitable frame allocator
// (operator new and aligned_delete of boost/asio/detail/memory.hpp) into the caller of co_spawn.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/smtp_connection.hpp"
#include "smtp/client_session.hpp"

namespace {

using namespace oauthmail;
using clock_type = std::chrono::steady_clock;

struct settings {
  std::string host;
  std::uint16_t port = 0;
  std::size_t messages = 5000;
  std::size_t size = 5 * 1024;
  std::size_t connections = 1;
  bool pipelining = true;
  std::string from = "bench-sender@oauthmail.test";
  std::string to = "bench-rcpt@oauthmail.test";
  int timeout_seconds = 60;  // per SMTP step
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "tool_send_throughput: %s\n"
               "usage: tool_send_throughput HOST:PORT [-n MESSAGES] [-s OCTETS] [-c CONNECTIONS] [--no-pipelining]\n"
               "                            [--from ADDR] [--to ADDR] [--timeout SECONDS]\n",
               why);
  std::exit(64);
}

template <class T>
T parse_number(std::string_view text, const char* what) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) usage(what);
  return value;
}

settings parse(int argc, char** argv) {
  settings s;
  std::optional<std::string> endpoint;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) usage("an option needs a value");
      return argv[++i];
    };
    if (a == "-n" || a == "--messages")
      s.messages = parse_number<std::size_t>(value(), "bad message count");
    else if (a == "-s" || a == "--size")
      s.size = parse_number<std::size_t>(value(), "bad message size");
    else if (a == "-c" || a == "--connections")
      s.connections = parse_number<std::size_t>(value(), "bad connection count");
    else if (a == "--no-pipelining")
      s.pipelining = false;
    else if (a == "--from")
      s.from = value();
    else if (a == "--to")
      s.to = value();
    else if (a == "--timeout")
      s.timeout_seconds = parse_number<int>(value(), "bad timeout");
    else if (a == "-h" || a == "--help")
      usage("help");
    else if (!a.empty() && a[0] != '-' && !endpoint)
      endpoint = std::string(a);
    else
      usage("unknown argument");
  }
  if (!endpoint) usage("HOST:PORT missing");
  const auto colon = endpoint->rfind(':');
  if (colon == std::string::npos || colon == 0) usage("HOST:PORT expected");
  s.host = endpoint->substr(0, colon);
  s.port = parse_number<std::uint16_t>(std::string_view(*endpoint).substr(colon + 1), "bad port");
  if (s.messages == 0) usage("at least one message");
  if (s.connections == 0 || s.connections > 1000) usage("1 to 1000 connections");
  if (s.size < 400) usage("messages of at least 400 octets");
  return s;
}

// Plain text like a real notification mail, lines of at most 76 octets, CR LF line ends.
std::string body_text(std::size_t octets) {
  static constexpr std::string_view words[] = {
      "the",     "nightly", "backup", "of",     "the",     "file",   "server",  "completed", "without", "errors",
      "and",     "the",     "report", "for",    "last",    "week",   "is",      "attached",  "below",   "please",
      "check",   "disk",    "usage",  "on",     "volume",  "two",    "before",  "friday",    "invoice", "number",
      "printer", "toner",   "low",    "in",     "room",    "four",   "meeting", "moved",     "to",      "thursday",
      "thanks",  "regards", "status", "update", "project", "budget", "review",  "scan",      "from",    "multifunction",
      "device",  "job",     "queued", "at",     "noon"};
  std::string out;
  out.reserve(octets + 80);
  std::string line;
  std::size_t w = 0;
  while (out.size() + line.size() < octets) {
    const std::string_view word = words[w++ % std::size(words)];
    if (line.size() + word.size() + 1 > 76) {
      out += line;
      out += "\r\n";
      line.clear();
      if (w % 9 == 0) out += "\r\n";  // paragraphs
    }
    if (!line.empty()) line += ' ';
    line += word;
  }
  out += line;
  out += "\r\n";
  return out;
}

std::string message_text(const settings& s, std::size_t index, const std::string& body) {
  std::string m;
  m.reserve(body.size() + 400);
  m += "From: Throughput Bench <" + s.from + ">\r\n";
  m += "To: <" + s.to + ">\r\n";
  m += "Subject: Throughput test message " + std::to_string(index) + "\r\n";
  m += "Date: Mon, 02 Jun 2025 10:00:00 +0000\r\n";
  m += "Message-ID: <bench-" + std::to_string(index) + "@oauthmail.test>\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n";
  m += "Content-Transfer-Encoding: 7bit\r\n";
  m += "\r\n";
  // Trim the body so the whole message is about `size` octets.
  const std::size_t want = s.size > m.size() ? s.size - m.size() : 0;
  std::string_view b(body);
  if (b.size() > want) {
    b = b.substr(0, want);
    const auto last_end = b.rfind("\r\n");
    b = last_end == std::string_view::npos ? std::string_view() : b.substr(0, last_end + 2);
  }
  m += b;
  return m;
}

struct outcome {
  std::optional<std::string> open_error;
  std::size_t delivered = 0;
  std::size_t failed = 0;
  std::optional<std::string> first_failure;
  bool server_pipelining = false;
  clock_type::time_point opened;
  clock_type::time_point sent;
  clock_type::time_point closed;
};

boost::asio::awaitable<void> run(boost::asio::any_io_executor ex, settings s, std::size_t first, std::size_t count,
                                 std::shared_ptr<outcome> out) {
  net::connection_options o;
  o.host = s.host;
  o.port = s.port;
  o.session.tls = smtp::tls_mode::none;
  o.session.pipelining = s.pipelining;
  o.session.ehlo_domain = "bench.oauthmail.test";
  const std::chrono::milliseconds limit = std::chrono::seconds(s.timeout_seconds);
  o.connect_timeout = limit;
  o.session.limits = {limit, limit, limit, limit, limit, limit, limit};

  auto opened = co_await net::smtp_connection::open(ex, std::move(o));
  if (!opened) {
    out->open_error = opened.error().message();
    co_return;
  }
  auto conn = std::move(opened).value();
  out->server_pipelining = conn->session().server_capabilities().pipelining;
  const std::string body = body_text(s.size + 200);
  out->opened = clock_type::now();
  for (std::size_t i = first; i < first + count; ++i) {
    smtp::outgoing_message m;
    m.env.mail_from = s.from;
    m.env.rcpt_to = {s.to};
    m.body = std::make_unique<smtp::string_body>(message_text(s, i, body));
    auto r = co_await conn->send(std::move(m));
    if (r.delivered()) {
      ++out->delivered;
    } else {
      ++out->failed;
      if (!out->first_failure)
        out->first_failure = r.failure ? r.failure->message() : std::string("not delivered (no failure given)");
      if (!conn->usable()) break;
    }
  }
  out->sent = clock_type::now();
  co_await conn->quit();
  out->closed = clock_type::now();
}

}  // namespace

int main(int argc, char** argv) {
  const settings s = parse(argc, argv);
  boost::asio::io_context io;
  std::vector<std::shared_ptr<outcome>> outs;
  std::exception_ptr failure;
  const auto start = clock_type::now();
  for (std::size_t c = 0; c < s.connections; ++c) {
    const std::size_t first = s.messages * c / s.connections;
    const std::size_t last = s.messages * (c + 1) / s.connections;
    outs.push_back(std::make_shared<outcome>());
    boost::asio::co_spawn(io, run(io.get_executor(), s, first, last - first, outs.back()), [&](std::exception_ptr e) {
      if (e) failure = e;
    });
  }
  io.run();
  // One outcome for all connections: sending spans the first open to the last finish.
  auto out = std::make_shared<outcome>();
  out->opened = clock_type::time_point::max();
  out->server_pipelining = true;
  for (const auto& o : outs) {
    if (o->open_error && !out->open_error) out->open_error = o->open_error;
    out->delivered += o->delivered;
    out->failed += o->failed;
    if (o->first_failure && !out->first_failure) out->first_failure = o->first_failure;
    out->server_pipelining = out->server_pipelining && o->server_pipelining;
    out->opened = std::min(out->opened, o->opened);
    out->sent = std::max(out->sent, o->sent);
    out->closed = std::max(out->closed, o->closed);
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "tool_send_throughput: exception: %s\n", e.what());
    }
    return 1;
  }
  if (out->open_error) {
    std::fprintf(stderr, "tool_send_throughput: cannot open %s:%u: %s\n", s.host.c_str(), s.port,
                 out->open_error->c_str());
    return 1;
  }
  const double sending = std::chrono::duration<double>(out->sent - out->opened).count();
  const double total = std::chrono::duration<double>(out->closed - start).count();
  const double rate = sending > 0 ? static_cast<double>(out->delivered) / sending : 0.0;
  std::printf(
      "messages=%zu connections=%zu delivered=%zu failed=%zu size=%zu pipelining=%s (server offers: %s) "
      "elapsed=%.3f s total=%.3f s rate=%.1f msg/s throughput=%.2f MB/s\n",
      s.messages, s.connections, out->delivered, out->failed, s.size, s.pipelining ? "on" : "off",
      out->server_pipelining ? "yes" : "no", sending, total, rate,
      sending > 0 ? static_cast<double>(out->delivered * s.size) / sending / 1e6 : 0.0);
  if (out->first_failure) std::fprintf(stderr, "first failure: %s\n", out->first_failure->c_str());
  return out->failed == 0 && out->delivered == s.messages ? 0 : 1;
}
