#include "integration/support/client.hpp"

// g++ 12 reports a false -Wmismatched-new-delete when it inlines Asio's awaitable frame allocator
// (operator new and aligned_delete of boost/asio/detail/memory.hpp) into the caller of co_spawn.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace oauthmail::testing {

smtp::outgoing_message make_message(std::string from, std::vector<std::string> to, std::string content) {
  smtp::outgoing_message m;
  m.env.mail_from = std::move(from);
  m.env.rcpt_to = std::move(to);
  m.body = std::make_unique<smtp::string_body>(std::move(content));
  return m;
}

std::string sample_message(const std::string& from, const std::vector<std::string>& to, std::size_t index,
                           std::size_t body_octets) {
  static constexpr const char* words[] = {
      "the",    "quarterly", "report",  "attached", "please", "review", "before",  "friday",  "meeting",
      "budget", "numbers",   "changed", "since",    "last",   "week",   "invoice", "printer", "scanner",
      "backup", "completed", "without", "errors",   "disk",   "usage",  "server",  "room",    "at",
      "noon",   "thanks",    "regards", "schedule", "update", "team",   "project", "status",  "and",
      "a",      "of",        "to",      "in",       "for",    "on",     "with",    "this",    "that"};
  constexpr std::size_t nwords = sizeof words / sizeof words[0];
  std::string m;
  m += "From: Test Sender <" + from + ">\r\n";
  m += "To: ";
  for (std::size_t i = 0; i < to.size(); ++i) m += (i ? ", <" : "<") + to[i] + ">";
  m += "\r\n";
  m += "Subject: Integration test message " + std::to_string(index) + "\r\n";
  m += "Date: Mon, 02 Jun 2025 10:00:00 +0000\r\n";
  m += "Message-ID: <it-" + std::to_string(index) + "@oauthmail.test>\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n";
  m += "Content-Transfer-Encoding: 7bit\r\n";
  m += "\r\n";
  std::string body;
  std::string line;
  std::size_t w = index * 7;
  while (body.size() < body_octets) {
    const std::string_view word = words[w++ % nwords];
    if (line.size() + word.size() + 1 > 72) {
      body += line + "\r\n";
      line.clear();
    }
    if (!line.empty()) line += ' ';
    line += word;
  }
  body += line + "\r\n";
  return m + body;
}

net::connection_options loopback_options(std::uint16_t port, smtp::tls_mode mode, std::chrono::milliseconds limit) {
  net::connection_options o;
  o.host = "127.0.0.1";
  o.port = port;
  o.session.tls = mode;
  o.session.ehlo_domain = "client.oauthmail.test";
  o.connect_timeout = limit;
  o.session.limits.greeting = limit;
  o.session.limits.command = limit;
  o.session.limits.mail = limit;
  o.session.limits.rcpt = limit;
  o.session.limits.data_init = limit;
  o.session.limits.data_block = limit;
  o.session.limits.data_end = limit;
  return o;
}

sasl::credentials make_credentials(std::string user, std::string secret) {
  sasl::credentials c;
  c.user = std::move(user);
  c.secret = core::secret<std::string>(std::move(secret));
  return c;
}

namespace {

boost::asio::awaitable<void> drive(boost::asio::any_io_executor executor, net::connection_options options,
                                   std::vector<smtp::outgoing_message> messages, std::shared_ptr<connection_run> out) {
  auto opened = co_await net::smtp_connection::open(executor, std::move(options));
  if (!opened) {
    out->open_error = opened.error();
    co_return;
  }
  std::unique_ptr<net::smtp_connection> conn = std::move(opened).value();
  out->capabilities = conn->session().server_capabilities();
  out->tls_active = conn->session().tls_active();
  out->authenticated = conn->session().authenticated();
  out->mechanism = conn->session().auth_mechanism();
  for (auto& m : messages) {
    out->results.push_back(co_await conn->send(std::move(m)));
    if (!conn->usable()) break;
  }
  out->usable_at_end = conn->usable();
  co_await conn->quit();
}

}  // namespace

connection_run run_connection(net::connection_options options, std::vector<smtp::outgoing_message> messages,
                              std::chrono::seconds limit) {
  boost::asio::io_context io;
  auto out = std::make_shared<connection_run>();
  std::exception_ptr failure;
  bool finished = false;
  boost::asio::co_spawn(io, drive(io.get_executor(), std::move(options), std::move(messages), out),
                        [&](std::exception_ptr e) {
                          failure = e;
                          finished = true;
                        });
  io.run_for(limit);
  if (failure) std::rethrow_exception(failure);
  if (!finished)
    throw std::runtime_error("the connection did not finish within " + std::to_string(limit.count()) + " s");
  return std::move(*out);
}

std::string normalize_line_ends(std::string_view content) {
  std::string out;
  out.reserve(content.size() + content.size() / 32 + 2);
  for (std::size_t i = 0; i < content.size(); ++i) {
    const char c = content[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < content.size() && content[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  if (!out.empty() && (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0)) out += "\r\n";
  return out;
}

std::string describe(const core::error& e) {
  std::ostringstream s;
  s << "[" << e.code().category().name() << ":" << e.code().value() << " " << e.code().message() << "; class "
    << core::to_string(e.classification()) << "] " << e.message();
  return s.str();
}

std::string describe(const smtp::message_result& r) {
  std::ostringstream s;
  s << "delivered=" << r.delivered() << " accepted=" << r.accepted_count();
  if (r.mail_reply) s << " mail=" << r.mail_reply->to_string();
  for (const auto& rc : r.recipients) s << " rcpt(" << rc.address << ")=" << rc.server_reply.to_string();
  if (r.data_reply) s << " data=" << r.data_reply->to_string();
  if (r.final_reply) s << " final=" << r.final_reply->to_string();
  if (r.failure) s << " failure=" << describe(*r.failure);
  return s.str();
}

}  // namespace oauthmail::testing
