#include "cli/sendmail.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sysexits.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>

#include "cli/compose_options.hpp"
#include "cli/delivery.hpp"
#include "cli/exit_status.hpp"
#include "cli/session.hpp"
#include "mime/address.hpp"
#include "mime/errors.hpp"
#include "mime/header_block.hpp"
#include "mime/sendmail_options.hpp"
#include "mime/sendmail_rules.hpp"
#include "mime/spool.hpp"

namespace oauthmail::cli {

namespace {

constexpr std::size_t max_header_block = std::size_t{1024} * 1024;

int fail(int status, const std::string& text) {
  fmt::print(stderr, "oauthmail sendmail: error: {}\n", text);
  return status;
}

struct input {
  mime::header_block headers;
  std::shared_ptr<mime::spool> body;
};

// Reads stdin: the header block into memory, the body into the spool.
std::optional<int> read_input(bool dot_ends_message, input& out) {
  auto sp = mime::spool::create();
  if (!sp) return fail(EX_CANTCREAT, sp.error().message());
  out.body = *sp;
  const std::size_t max = compose_options::max_stdin_message;
  mime::message_reader reader(dot_ends_message, max_header_block, [&](std::string_view bytes) -> core::result<void> {
    if (out.body->stats().size() + bytes.size() > max) {
      return mime::mime_error(mime::errc::too_large, "The message is larger than " +
                                                         std::to_string(max / (1024 * 1024)) +
                                                         " MiB, more than any provider accepts.");
    }
    return out.body->append(bytes);
  });
  std::array<char, std::size_t{64} * 1024> buffer{};
  while (!reader.done()) {
    const ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(EX_IOERR, "Reading the message from stdin failed.");
    if (n == 0) break;
    if (auto r = reader.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n))); !r) {
      const auto code = static_cast<mime::errc>(r.error().code().value());
      return fail(code == mime::errc::io_failure ? EX_CANTCREAT : EX_DATAERR, r.error().message());
    }
  }
  if (auto r = reader.finish(); !r) return fail(EX_DATAERR, r.error().message());
  out.headers = mime::header_block::parse(reader.header_text());
  return std::nullopt;
}

const config::account* choose_account(const config::configuration& cfg, const std::optional<mime::mailbox>& sender,
                                      const std::optional<mime::mailbox>& header_from) {
  for (const auto* candidate : {&sender, &header_from}) {
    if (*candidate) {
      if (const auto* a = cfg.for_sender((*candidate)->address)) return a;
    }
  }
  if (cfg.default_account) {
    if (const auto* a = cfg.find(*cfg.default_account)) return a;
  }
  return cfg.accounts.empty() ? nullptr : &cfg.accounts.front();
}

}  // namespace

int run_sendmail(const std::vector<std::string>& args) {
  auto cl = mime::parse_sendmail_command_line(args);
  if (!cl) {
    fmt::print(stderr, "oauthmail sendmail: error: {}\n{}", cl.error().message(), mime::sendmail_usage());
    return EX_USAGE;
  }
  switch (cl->what) {
    case mime::sendmail_command_line::mode::help:
      fmt::print("{}", mime::sendmail_usage());
      return EX_OK;
    case mime::sendmail_command_line::mode::print_queue:
      fmt::print("Mail queue is empty (oauthmail sendmail delivers at once and keeps no queue).\n");
      return EX_OK;
    case mime::sendmail_command_line::mode::nothing_to_do:
      return EX_OK;
    case mime::sendmail_command_line::mode::deliver:
      break;
  }
  if (cl->verbose) spdlog::set_level(spdlog::level::debug);
  for (const auto& o : cl->ignored) spdlog::debug("sendmail option {} ignored", o);
  if (cl->full_name && mime::has_control_character(*cl->full_name)) {
    return fail(EX_USAGE, "-F " + mime::quote_text(*cl->full_name) +
                              " contains a control character (such as a line break); a name must be on one line.");
  }
  // Recipient arguments are checked before stdin is read.
  for (const auto& r : cl->recipients) {
    auto list = mime::parse_address_list(r, "The recipient");
    if (!list) {
      return fail(EX_NOUSER, list.error().message() +
                                 " oauthmail sends through a mail provider, which needs complete addresses: for cron, "
                                 "set MAILTO=you@example.com in the crontab.");
    }
  }
  // The envelope sender given with -f: "<>" (null sender) or an address; one that is not a complete
  // address (e.g. "-f www-data") is ignored in favour of the account's user.
  std::optional<mime::mailbox> sender;
  bool null_sender = false;
  if (cl->sender) {
    if (*cl->sender == "<>" || cl->sender->empty()) {
      null_sender = true;
    } else {
      auto m = mime::parse_mailbox(*cl->sender, "-f");
      if (m) {
        sender = std::move(*m);
      } else if (m.error().code() == mime::errc::header_injection) {
        return fail(EX_USAGE, m.error().message());
      } else {
        spdlog::info("-f {}: not a complete address; the account's user is the sender", *cl->sender);
      }
    }
  }

  auto cfg = load_configuration(cl->config);
  if (!cfg) return EX_CONFIG;
  if (cfg->accounts.empty()) return fail(EX_CONFIG, "The configuration " + cfg->path + " has no account.");

  input in;
  if (auto failed = read_input(!cl->ignore_dots, in)) return *failed;

  auto recipients = mime::sendmail_recipients(in.headers, cl->recipients, cl->extract_recipients);
  if (!recipients) return fail(EX_DATAERR, recipients.error().message());
  if (recipients->empty()) {
    return fail(EX_USAGE, cl->extract_recipients
                              ? "No recipient: the message has no To, Cc or Bcc header, and none was given as an "
                                "argument."
                              : "No recipient: give the recipients as arguments, or use -t to take them from the "
                                "To, Cc and Bcc headers.");
  }

  const auto header_from = mime::header_sender(in.headers);
  const config::account* account = choose_account(*cfg, sender, header_from);
  if (!account) return fail(EX_CONFIG, "No account in " + cfg->path + ".");
  spdlog::debug("sendmail: account {}", account->name);

  auto account_user = mime::parse_mailbox(account->user, "the account's user");
  if (!account_user) return fail(EX_CONFIG, "Account " + account->name + ": " + account_user.error().message());

  // Envelope sender: -f if the account may send as it, else the header's From, else the account's user.
  mime::mailbox envelope_sender = *account_user;
  if (sender && account->may_send_as(sender->address)) {
    envelope_sender = *sender;
  } else if (header_from && account->may_send_as(header_from->address)) {
    envelope_sender = *header_from;
  }
  if (sender && !account->may_send_as(sender->address)) {
    spdlog::info("account {} may not send as {}; the envelope sender is {}", account->name, sender->address,
                 envelope_sender.address);
  }

  // The From header: added when missing; replaced (keeping its name) when the account may not send as it.
  if (!in.headers.has("From")) {
    mime::mailbox from = envelope_sender;
    if (cl->full_name) from.name = *cl->full_name;
    in.headers.append("From", mime::format_mailbox(from, !from.needs_utf8()));
  } else if (!header_from || !account->may_send_as(header_from->address)) {
    mime::mailbox from = *account_user;
    if (header_from && !header_from->name.empty())
      from.name = header_from->name;
    else if (cl->full_name)
      from.name = *cl->full_name;
    const auto original = in.headers.values("From");
    spdlog::info("account {} may not send as {}; From is now {}", account->name,
                 original.empty() ? std::string("(empty)") : original.front(), account->user);
    in.headers.replace("From", mime::format_mailbox(from, !from.needs_utf8()));
  }
  mime::add_missing_headers(in.headers, envelope_sender, std::chrono::system_clock::now());

  smtp::envelope env;
  env.mail_from = null_sender ? std::string() : envelope_sender.envelope();
  for (const auto& r : *recipients) env.rcpt_to.push_back(r.envelope());
  env.dsn_notify = cl->dsn_notify;
  if (cl->dsn_ret) env.dsn_ret = *cl->dsn_ret == "full" ? smtp::dsn_return::full : smtp::dsn_return::headers;
  env.dsn_envid = cl->dsn_envid;
  const std::string prefix = in.headers.to_string() + "\n";

  auto options = account_connection(*account);
  if (!options) return fail(EX_CONFIG, options.error().message());
  if (options->session.tls == smtp::tls_mode::none && !options->session.allow_plaintext_auth) {
    return fail(EX_CONFIG, "Refusing to send the token without TLS (tls = \"none\"). Use starttls or implicit.");
  }

  auto outcome = send_with_account(*cfg, *account, *options, [&] {
    smtp::outgoing_message m;
    m.env = env;
    m.body = std::make_unique<mime::spooled_body>(prefix, in.body);
    std::vector<smtp::outgoing_message> batch;
    batch.push_back(std::move(m));
    return batch;
  });
  if (outcome.token_failure) {
    fail(0, outcome.results.error().message());
    return exit_status_for_token_failure(outcome.results.error());
  }
  if (!outcome.results) return fail(exit_status_for(outcome.results.error()), outcome.results.error().message());
  const smtp::message_result& r = outcome.results->front();
  const int status = exit_status_for(r);
  if (cl->verbose) print_recipient_lines(r);
  if (status != EX_OK) {
    for (const auto& rr : r.recipients) {
      if (!rr.accepted && rr.server_reply.code) {
        fmt::print(stderr, "oauthmail sendmail: {}: refused ({})\n", rr.address, rr.server_reply.to_string());
      }
    }
    if (r.failure) fail(status, r.failure->message());
  }
  return status;
}

}  // namespace oauthmail::cli
