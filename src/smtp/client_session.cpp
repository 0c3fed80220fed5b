#include "smtp/client_session.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "core/base64.hpp"

namespace oauthmail::smtp {

using core::failure_class;

// ---------------------------------------------------------------------------------------------
// string_body

string_body::string_body(std::string content) : content_(std::move(content)) {
  // One pass: 8-bit octets and the longest line (CR LF, bare LF and bare CR all end a line, as
  // the data encoder treats them).
  std::size_t line = 0;
  for (const char c : content_) {
    if (static_cast<unsigned char>(c) >= 0x80) eight_bit_ = true;
    if (c == '\n' || c == '\r') {
      longest_line_ = std::max(longest_line_, line);
      line = 0;
    } else {
      ++line;
    }
  }
  longest_line_ = std::max(longest_line_, line);
}

core::result<std::size_t> string_body::read(char* out, std::size_t capacity) {
  const std::size_t n = std::min(capacity, content_.size() - offset_);
  std::memcpy(out, content_.data() + offset_, n);
  offset_ += n;
  return n;
}

std::size_t message_result::accepted_count() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(recipients.begin(), recipients.end(), [](const recipient_result& r) { return r.accepted; }));
}

// ---------------------------------------------------------------------------------------------
// client_session::impl

namespace {

core::error session_error(session_errc code, std::string message, failure_class cls) {
  return {make_error_code(code), std::move(message), cls};
}

// "cause Server said: 535 5.7.3 ... fix"
std::string explain(const diagnosis& d, const reply& r) {
  std::string text = d.cause;
  if (text.find(r.to_string()) == std::string::npos) text += " The server said: \"" + r.to_string() + "\".";
  if (!d.fix.empty()) text += " " + d.fix;
  return text;
}

constexpr std::size_t max_sasl_rounds = 8;

}  // namespace

struct client_session::impl {
  enum class phase {
    implicit_tls,  // waiting for the driver to do the implicit TLS handshake
    greeting,
    ehlo,
    helo,
    starttls,
    tls_handshake,
    auth,
    auth_abort,  // sent "*" after an undecodable challenge; waiting for the server's answer
    idle,
    transaction,   // MAIL / RCPT / DATA replies outstanding
    data_content,  // streaming the message content
    data_end,
    rset,
    quit,
    closing,  // QUIT sent after a fatal error; waiting for its reply, then closed
    closed,
  };

  explicit impl(client_options o) : opts(std::move(o)), parser(opts.reply_limits) {
    phase_ = opts.tls == tls_mode::implicit ? phase::implicit_tls : phase::greeting;
    if (phase_ == phase::greeting) expect(stage::greeting);
  }

  client_options opts;
  reply_parser parser;
  phase phase_ = phase::greeting;

  // Output waiting to be written, and whether next() has already handed it to the driver.
  std::string out;
  std::string out_transcript;
  bool out_handed = false;
  bool out_has_secret = false;  // `out` holds an AUTH payload: wipe it once written

  // Input received but not yet parsed (a read may bring several pipelined replies).
  std::string in;
  std::size_t in_offset = 0;

  // Replies we wait for, in order (pipelining queues several).
  std::deque<stage> awaiting;
  // The last reply of each stage (indexed by stage), for diagnostics.
  std::array<std::optional<reply>, static_cast<std::size_t>(stage::quit) + 1> last_replies;

  capabilities caps;
  bool tls = false;
  bool authed = false;
  bool helo_fallback = false;
  std::optional<core::error> final_error;
  std::optional<core::error> pending_error;  // fatal error to report once QUIT is answered

  // AUTH
  std::unique_ptr<sasl::client_mechanism> mech;
  std::optional<sasl::mechanism> mech_kind;
  bool auth_sent_initial = false;
  bool auth_retried_without_initial = false;
  std::size_t sasl_rounds = 0;
  bool auth_error_acknowledged = false;

  // Current transaction
  std::optional<outgoing_message> msg;
  message_result result;
  std::size_t rcpt_index = 0;  // next RCPT reply belongs to msg->env.rcpt_to[rcpt_index]
  bool txn_pipelined = false;
  bool txn_failed = false;            // the transaction will not deliver; RSET before idle
  bool data_refused_pending = false;  // 354 arrived but no recipient was accepted
  data_encoder encoder;
  std::string read_buffer;
  std::optional<message_result> finished;

  // -- helpers ---------------------------------------------------------------------------------

  void expect(stage s) { awaiting.push_back(s); }

  void write(std::string_view bytes, std::string_view transcript) {
    out += bytes;
    if (!out_transcript.empty() && !transcript.empty()) out_transcript += '\n';
    out_transcript += transcript;
  }

  void write_command(std::string line) {
    std::string shown = line;
    while (!shown.empty() && (shown.back() == '\n' || shown.back() == '\r')) shown.pop_back();
    write(line, shown);
  }

  std::chrono::milliseconds timeout_for(stage s) const {
    switch (s) {
      case stage::greeting:
        return opts.limits.greeting;
      case stage::mail:
        return opts.limits.mail;
      case stage::rcpt:
        return opts.limits.rcpt;
      case stage::data:
        return opts.limits.data_init;
      case stage::data_end:
        return opts.limits.data_end;
      default:
        return opts.limits.command;
    }
  }

  stage current_stage() const {
    if (!awaiting.empty()) return awaiting.front();
    switch (phase_) {
      case phase::implicit_tls:
      case phase::tls_handshake:
        return stage::tls_handshake;
      case phase::data_content:
        return stage::data_end;
      default:
        return stage::connect;
    }
  }

  // Ends the session. With `polite`, QUIT is sent first (the connection is still in sync).
  void fail(core::error e, bool polite) {
    if (phase_ == phase::closed) return;
    if (phase_ == phase::closing) {
      if (polite) return;  // already saying goodbye
      // The goodbye failed as well: close now and keep the error that started it.
      final_error = pending_error ? std::move(*pending_error) : std::move(e);
      pending_error.reset();
      phase_ = phase::closed;
      awaiting.clear();
      discard_output();
      return;
    }
    if (msg && !result.failure) result.failure = e;
    finish_message_if_any();
    awaiting.clear();
    if (polite) {
      pending_error = std::move(e);
      phase_ = phase::closing;
      write_command(command::quit());
      expect(stage::quit);
    } else {
      final_error = std::move(e);
      phase_ = phase::closed;
      discard_output();
    }
  }

  void close_clean() {
    phase_ = phase::closed;
    if (pending_error) final_error = std::move(pending_error);
  }

  void finish_message_if_any() {
    if (!msg) return;
    finished = std::move(result);
    result = {};
    msg.reset();
  }

  core::error from_reply(session_errc code, const reply& r, stage s, std::string_view context) {
    const bool oauth = mech_kind && sasl::is_oauth(*mech_kind);
    const diagnosis d = classify_reply(r, s, oauth);
    std::string text(context);
    if (!text.empty()) text += ": ";
    text += explain(d, r);
    return session_error(code, std::move(text), d.klass);
  }

  // -- connection set-up -----------------------------------------------------------------------

  void send_ehlo() {
    auto line = command::ehlo(opts.ehlo_domain);
    if (!line) {
      fail(session_error(session_errc::bad_message,
                         "The EHLO name \"" + opts.ehlo_domain + "\" cannot be used: " + line.error().message(),
                         failure_class::needs_human),
           false);
      return;
    }
    write_command(std::move(*line));
    expect(stage::ehlo);
    phase_ = phase::ehlo;
  }

  void on_greeting(const reply& r) {
    if (r.code != 220) {
      fail(from_reply(session_errc::rejected, r, stage::greeting, "The server refused the connection"), false);
      return;
    }
    send_ehlo();
  }

  void on_ehlo(const reply& r) {
    if (r.code == 250) {
      caps = capabilities::parse(r);
      after_hello();
      return;
    }
    const bool not_understood = r.code == 500 || r.code == 502;
    if (not_understood && !tls && opts.tls == tls_mode::starttls) {
      fail(session_error(session_errc::tls_required,
                         "The server does not understand EHLO (\"" + r.to_string() +
                             "\"), so it cannot offer STARTTLS; oauthmail will not continue without TLS. Use "
                             "--tls implicit if the server expects TLS from the first byte.",
                         failure_class::needs_human),
           true);
      return;
    }
    if (not_understood) {
      auto line = command::helo(opts.ehlo_domain);
      if (!line) {
        fail(session_error(session_errc::bad_message, line.error().message(), failure_class::needs_human), false);
        return;
      }
      helo_fallback = true;
      write_command(std::move(*line));
      expect(stage::ehlo);
      phase_ = phase::helo;
      return;
    }
    fail(from_reply(session_errc::rejected, r, stage::ehlo, "The server refused EHLO"), r.code != 421);
  }

  void on_helo(const reply& r) {
    if (r.code != 250) {
      fail(from_reply(session_errc::rejected, r, stage::ehlo, "The server refused HELO"), r.code != 421);
      return;
    }
    caps = capabilities{};
    after_hello();
  }

  void after_hello() {
    if (!tls && opts.tls == tls_mode::starttls) {
      if (!caps.starttls) {
        fail(session_error(session_errc::tls_required,
                           "The server does not offer STARTTLS, and TLS is required (--tls starttls): oauthmail "
                           "never falls back to an unencrypted connection. Check the host and port (587 for "
                           "STARTTLS, 465 for --tls implicit).",
                           failure_class::needs_human),
             true);
        return;
      }
      write_command(command::starttls());
      expect(stage::starttls);
      phase_ = phase::starttls;
      return;
    }
    start_auth();
  }

  void on_starttls(const reply& r) {
    if (r.code != 220) {
      fail(from_reply(session_errc::tls_required, r, stage::starttls,
                      "The server refused STARTTLS; oauthmail will not continue without TLS"),
           r.code != 421);
      return;
    }
    // RFC 3207 §4.2: anything received before the handshake is discarded (it could be injected).
    discard_input();
    phase_ = phase::tls_handshake;
  }

  void discard_input() {
    in.clear();
    in_offset = 0;
    parser.reset();
  }

  void start_auth() {
    if (!opts.credentials) {
      phase_ = phase::idle;
      return;
    }
    if (!tls && !opts.allow_plaintext_auth) {
      fail(session_error(session_errc::tls_required,
                         "Refusing to send credentials over an unencrypted connection. Use --tls starttls or "
                         "--tls implicit (allowing plaintext AUTH is unsafe and only for test servers).",
                         failure_class::needs_human),
           true);
      return;
    }
    if (caps.auth.empty()) {
      fail(session_error(session_errc::auth_not_offered,
                         std::string("The server offers no authentication (no AUTH in its EHLO reply") +
                             (tls ? "" : " before TLS") +
                             "). Check the host and port: submission servers offer AUTH on 587 after STARTTLS "
                             "or on 465.",
                         failure_class::needs_human),
           true);
      return;
    }
    auto chosen = sasl::choose(caps.auth, opts.credential_kind, opts.mechanism);
    if (!chosen) {
      fail(session_error(session_errc::auth_not_offered, chosen.error().message(), failure_class::needs_human), true);
      return;
    }
    mech_kind = *chosen;
    mech = sasl::make_client(*chosen, *opts.credentials);
    send_auth_command(opts.auth_initial_response);
  }

  void send_auth_command(bool with_initial) {
    auto initial = mech->start();
    if (!initial) {
      fail(session_error(session_errc::auth_failed, initial.error().message(), failure_class::needs_human), true);
      return;
    }
    std::optional<std::string> b64;
    if (*initial && with_initial) b64 = core::base64_encode((*initial)->bytes.expose());
    auto line = command::auth(mech->name(), b64 ? std::optional<std::string_view>(*b64) : std::nullopt);
    if (!line) {
      fail(session_error(session_errc::auth_failed, line.error().message(), failure_class::needs_human), true);
      return;
    }
    auth_sent_initial = b64.has_value();
    // The initial response was computed but not sent: the mechanism expects to send it after 334.
    pending_initial.reset();
    if (*initial && !with_initial) pending_initial = std::move(**initial);
    std::string shown = "AUTH " + std::string(mech->name()) + (b64 ? " <redacted>" : "");
    if (b64) {
      core::secure_wipe(b64->data(), b64->size());
    }
    write(*line, shown);
    out_has_secret = true;
    core::secure_wipe(line->data(), line->size());
    expect(stage::auth);
    phase_ = phase::auth;
  }
  std::optional<sasl::response> pending_initial;

  void send_sasl_response(const sasl::response& resp) {
    std::string b64 = core::base64_encode(resp.bytes.expose());
    auto line = command::sasl_response(b64);
    core::secure_wipe(b64.data(), b64.size());
    if (!line) {
      fail(session_error(session_errc::auth_failed, line.error().message(), failure_class::bug), false);
      return;
    }
    auth_error_acknowledged = auth_error_acknowledged || resp.acknowledges_error;
    write(*line, resp.acknowledges_error ? "<error acknowledgement>" : "<redacted>");
    out_has_secret = true;
    core::secure_wipe(line->data(), line->size());
    expect(stage::auth);
  }

  void on_auth(const reply& r) {
    if (r.code == 235) {
      authed = true;
      phase_ = phase::idle;
      return;
    }
    if (r.code == 334) {
      if (++sasl_rounds > max_sasl_rounds) {
        fail(session_error(session_errc::protocol_violation, "The server sent too many AUTH challenges.",
                           failure_class::protocol),
             false);
        return;
      }
      if (pending_initial) {
        // We sent AUTH without the initial response; this 334 asks for it (its text is empty).
        sasl::response resp = std::move(*pending_initial);
        pending_initial.reset();
        send_sasl_response(resp);
        return;
      }
      const std::string text = r.lines.empty() ? std::string() : r.lines.front();
      auto decoded = core::base64_decode_lenient(text);
      if (!decoded) {
        abort_auth("The server's AUTH challenge is not valid base64.");
        return;
      }
      auto resp = mech->step(*decoded);
      if (!resp) {
        abort_auth(resp.error().message());
        return;
      }
      send_sasl_response(*resp);
      return;
    }
    // A server that refuses the long AUTH line with the initial response: try once without it.
    const bool line_too_long = r.code == 500 || (r.code == 501 && r.text().find("long") != std::string::npos);
    if (auth_sent_initial && line_too_long && !auth_retried_without_initial) {
      auth_retried_without_initial = true;
      mech = sasl::make_client(*mech_kind, *opts.credentials);
      send_auth_command(false);
      return;
    }
    std::string context = "Authentication with " + std::string(mech->name());
    if (!opts.credentials->user.empty()) context += " as " + opts.credentials->user;
    context += " failed";
    core::error e = from_reply(session_errc::auth_failed, r, stage::auth, context);
    if (const auto& challenge = mech->server_error()) {
      std::string extra = " (the server's error challenge said: status " + challenge->status;
      if (!challenge->scope.empty()) extra += ", scope " + challenge->scope;
      extra += ")";
      e = core::error(e.code(), e.message() + extra, e.classification());
    }
    fail(std::move(e), r.code != 421);
  }

  void abort_auth(const std::string& why) {
    pending_error = session_error(session_errc::protocol_violation, "AUTH aborted: " + why, failure_class::protocol);
    write("*\r\n", "*");
    expect(stage::auth);
    phase_ = phase::auth_abort;
  }

  // -- transactions ----------------------------------------------------------------------------

  void submit(outgoing_message m) {
    result = {};
    finished.reset();
    txn_failed = false;
    data_refused_pending = false;
    rcpt_index = 0;
    for (const auto& rcpt : m.env.rcpt_to) result.recipients.push_back({rcpt, {}, false});

    auto refuse = [&](session_errc code, std::string why, failure_class cls) {
      result.failure = session_error(code, std::move(why), cls);
      finished = std::move(result);
      result = {};
    };

    if (m.env.rcpt_to.empty()) {
      refuse(session_errc::no_recipients, "The message has no recipients.", failure_class::permanent);
      return;
    }
    if (!m.body) {
      refuse(session_errc::bad_message, "The message has no content.", failure_class::bug);
      return;
    }
    bool utf8 = needs_smtputf8(m.env.mail_from);
    for (const auto& rcpt : m.env.rcpt_to) utf8 = utf8 || needs_smtputf8(rcpt);
    if (utf8 && !caps.smtputf8) {
      refuse(session_errc::smtputf8_required,
             "An address contains non-ASCII characters, but the server does not offer SMTPUTF8 (RFC 6531). "
             "Use an ASCII address.",
             failure_class::permanent);
      return;
    }
    if (m.env.smtputf8 && !caps.smtputf8) {
      refuse(session_errc::smtputf8_required,
             "The message has UTF-8 headers (RFC 6532: an address in a header has non-ASCII characters before "
             "the @), but the server does not offer SMTPUTF8 (RFC 6531). Use ASCII addresses.",
             failure_class::permanent);
      return;
    }
    utf8 = utf8 || m.env.smtputf8;
    const auto size = m.body->size_hint();
    if (size && caps.size && *caps.size > 0 && *size > *caps.size) {
      refuse(session_errc::message_too_big,
             "The message is " + std::to_string(*size) + " octets, larger than the " + std::to_string(*caps.size) +
                 " octets the server accepts (SIZE). Make it smaller (e.g. send large files as links).",
             failure_class::permanent);
      return;
    }
    if (const auto longest = m.body->longest_line(); longest && *longest > 998) {
      refuse(session_errc::bad_message,
             "The message has a line of " + std::to_string(*longest) +
                 " octets; SMTP allows at most 998 (RFC 5321 §4.5.3.1.6). Encode the content with "
                 "quoted-printable or base64.",
             failure_class::permanent);
      return;
    }

    mail_parameters mp;
    if (caps.size && size) mp.size = *size;
    if (caps.eightbitmime && m.body->eight_bit().value_or(false)) mp.body = body_type::eight_bit_mime;
    mp.smtputf8 = utf8;
    rcpt_parameters rp;
    if (caps.dsn) {
      mp.ret = m.env.dsn_ret;
      mp.envid = m.env.dsn_envid;
      rp.notify = m.env.dsn_notify;
    }
    auto mail = command::mail_from(m.env.mail_from, mp);
    if (!mail) {
      refuse(session_errc::bad_message, "The sender address cannot be used: " + mail.error().message(),
             failure_class::permanent);
      return;
    }
    std::vector<std::string> rcpts;
    for (const auto& addr : m.env.rcpt_to) {
      auto line = command::rcpt_to(addr, rp);
      if (!line) {
        refuse(session_errc::bad_message, "The recipient address cannot be used: " + line.error().message(),
               failure_class::permanent);
        return;
      }
      rcpts.push_back(std::move(*line));
    }

    msg = std::move(m);
    encoder = data_encoder();
    phase_ = phase::transaction;
    txn_pipelined = opts.pipelining && caps.pipelining;
    write_command(std::move(*mail));
    expect(stage::mail);
    if (txn_pipelined) {
      // RFC 2920 §3.1: MAIL, every RCPT and DATA as one group; DATA is last.
      for (auto& line : rcpts) {
        write_command(std::move(line));
        expect(stage::rcpt);
      }
      write_command(command::data());
      expect(stage::data);
    } else {
      pending_rcpts = std::move(rcpts);
    }
  }
  std::vector<std::string> pending_rcpts;  // non-pipelined: RCPT lines not yet sent

  void on_mail(const reply& r) {
    result.mail_reply = r;
    if (r.code == 421) {
      fail(from_reply(session_errc::server_closed, r, stage::mail, "The server is closing the connection"), false);
      return;
    }
    if (!r.positive_completion()) {
      txn_failed = true;
      result.failure = from_reply(session_errc::rejected, r, stage::mail, "The server refused the sender");
      if (!txn_pipelined) {
        end_transaction();
      }
      return;
    }
    if (!txn_pipelined) send_next_rcpt();
  }

  void send_next_rcpt() {
    if (rcpt_index < pending_rcpts.size()) {
      write_command(std::move(pending_rcpts[rcpt_index]));
      expect(stage::rcpt);
      return;
    }
    // All RCPT replies are in.
    if (result.accepted_count() == 0) {
      txn_failed = true;
      set_no_recipients_failure();
      end_transaction();
      return;
    }
    write_command(command::data());
    expect(stage::data);
  }

  void set_no_recipients_failure() {
    if (result.failure) return;
    // Use the first refusal as the reason; its class decides retry (a 4xx means "later").
    for (const auto& rr : result.recipients) {
      if (rr.server_reply.code != 0) {
        core::error e = from_reply(session_errc::no_recipients, rr.server_reply, stage::rcpt,
                                   "The server refused every recipient (first: " + rr.address + ")");
        result.failure = std::move(e);
        return;
      }
    }
    result.failure = session_error(session_errc::no_recipients, "No recipient was accepted.", failure_class::permanent);
  }

  void on_rcpt(const reply& r) {
    if (rcpt_index < result.recipients.size()) {
      auto& rr = result.recipients[rcpt_index];
      rr.server_reply = r;
      rr.accepted = r.positive_completion();
    }
    ++rcpt_index;
    if (r.code == 421) {
      fail(from_reply(session_errc::server_closed, r, stage::rcpt, "The server is closing the connection"), false);
      return;
    }
    if (!txn_pipelined && !txn_failed) send_next_rcpt();
  }

  void on_data(const reply& r) {
    result.data_reply = r;
    if (r.code == 354) {
      if (txn_failed || result.accepted_count() == 0) {
        // RFC 2920 §3.1: the server said go ahead although nothing can be delivered; end the
        // (empty) content at once so that the server rejects it.
        txn_failed = true;
        if (!result.failure) set_no_recipients_failure();
        write(".\r\n", ".");
        expect(stage::data_end);
        phase_ = phase::data_end;
        return;
      }
      phase_ = phase::data_content;
      return;
    }
    if (r.code == 421) {
      fail(from_reply(session_errc::server_closed, r, stage::data, "The server is closing the connection"), false);
      return;
    }
    txn_failed = true;
    if (!result.failure) {
      if (result.accepted_count() == 0) {
        set_no_recipients_failure();
      } else {
        result.failure = from_reply(session_errc::rejected, r, stage::data, "The server refused DATA");
      }
    }
    end_transaction();
  }

  // Produces the next chunk of content; after the last, the terminator.
  // Produces the next write of content: chunks are read until about write_chunk_octets are
  // ready; at the end of the message the terminator joins the last chunk, so that a small message
  // goes out in one write.
  void produce_content() {
    const std::size_t chunk = std::max<std::size_t>(opts.write_chunk_octets, 512);
    if (read_buffer.size() != chunk) read_buffer.resize(chunk);
    while (out.size() < chunk) {
      auto n = msg->body->read(read_buffer.data(), read_buffer.size());
      if (!n) {
        // The content cannot be completed: close without the terminator, so the server discards
        // the partial message (never deliver a truncated message).
        fail(session_error(session_errc::bad_message, "Reading the message failed: " + n.error().message(),
                           n.error().classification()),
             false);
        return;
      }
      if (*n == 0) {
        encoder.finish(out);
        if (!out_transcript.empty()) out_transcript += '\n';
        out_transcript += "<message content: " + std::to_string(encoder.octets_in()) + " octets>";
        out_transcript += "\n.";
        expect(stage::data_end);
        phase_ = phase::data_end;
        return;
      }
      auto ok = encoder.encode(std::string_view(read_buffer.data(), *n), out);
      if (!ok) {
        fail(session_error(session_errc::bad_message,
                           "The message cannot be sent: " + ok.error().message() +
                               " The connection was closed without ending the content, so nothing was delivered.",
                           failure_class::permanent),
             false);
        return;
      }
    }
  }

  void on_data_end(const reply& r) {
    result.final_reply = r;
    if (!r.positive_completion() && !result.failure) {
      result.failure = from_reply(session_errc::rejected, r, stage::data_end, "The server refused the message");
    }
    if (r.code == 421) {
      fail(*result.failure, false);
      return;
    }
    // The transaction is over either way (RFC 5321 §4.1.1.4); no RSET needed.
    txn_failed = false;
    end_transaction();
  }

  // After all outstanding replies of a transaction: RSET if it was left half-open, else idle.
  void end_transaction() {
    if (!awaiting.empty()) return;  // pipelined replies still to come
    pending_rcpts.clear();
    if (txn_failed) {
      txn_failed = false;
      write_command(command::rset());
      expect(stage::rset);
      phase_ = phase::rset;
      return;
    }
    finish_message_if_any();
    phase_ = phase::idle;
  }

  void on_rset(const reply& r) {
    if (!r.positive_completion()) {
      finish_message_if_any();
      fail(from_reply(session_errc::rejected, r, stage::rset, "The server refused RSET"), r.code != 421);
      return;
    }
    finish_message_if_any();
    phase_ = phase::idle;
  }

  // -- dispatch --------------------------------------------------------------------------------

  void handle(const reply& r) {
    const stage s = awaiting.front();
    awaiting.pop_front();
    last_replies[static_cast<std::size_t>(s)] = r;
    switch (phase_) {
      case phase::greeting:
        on_greeting(r);
        return;
      case phase::ehlo:
        on_ehlo(r);
        return;
      case phase::helo:
        on_helo(r);
        return;
      case phase::starttls:
        on_starttls(r);
        return;
      case phase::auth:
        on_auth(r);
        return;
      case phase::auth_abort:
        fail(std::move(*pending_error), false);
        return;
      case phase::transaction:
        if (s == stage::mail)
          on_mail(r);
        else if (s == stage::rcpt)
          on_rcpt(r);
        else if (s == stage::data)
          on_data(r);
        if (txn_pipelined && phase_ == phase::transaction && awaiting.empty() && txn_failed) end_transaction();
        return;
      case phase::data_end:
        on_data_end(r);
        return;
      case phase::rset:
        on_rset(r);
        return;
      case phase::quit:
      case phase::closing:
        close_clean();
        return;
      case phase::implicit_tls:
      case phase::tls_handshake:
      case phase::idle:
      case phase::data_content:
      case phase::closed:
        break;
    }
    fail(session_error(session_errc::protocol_violation, "The server sent an unexpected reply (" + r.to_string() + ").",
                       failure_class::protocol),
         false);
  }

  // Parses buffered input. Returns true if a reply was handled.
  bool handle_buffered() {
    if (in_offset >= in.size()) return false;
    auto step = parser.feed(std::string_view(in).substr(in_offset));
    if (!step) {
      fail(session_error(session_errc::protocol_violation,
                         "The server's reply cannot be parsed: " + step.error().message(), failure_class::protocol),
           false);
      return true;
    }
    in_offset += step->consumed;
    if (in_offset >= in.size()) {
      in.clear();
      in_offset = 0;
    }
    if (!step->parsed) return false;
    handle(*step->parsed);
    return true;
  }

  action next() {
    for (;;) {
      if (phase_ == phase::closed) return {action::kind::closed, {}, {}, {}};
      if (!out.empty()) {
        out_handed = true;
        const bool content = phase_ == phase::data_content || phase_ == phase::data_end;
        return {action::kind::write, out, out_transcript, content ? opts.limits.data_block : opts.limits.command};
      }
      if (phase_ == phase::implicit_tls || phase_ == phase::tls_handshake) {
        return {action::kind::start_tls, {}, {}, opts.limits.command};
      }
      if (!awaiting.empty()) {
        if (handle_buffered()) continue;
        return {action::kind::read, {}, {}, timeout_for(awaiting.front())};
      }
      if (phase_ == phase::data_content) {
        produce_content();
        continue;
      }
      if (phase_ == phase::idle) return {action::kind::idle, {}, {}, {}};
      // A state without output or outstanding replies that is not idle is a bug.
      fail(session_error(session_errc::protocol_violation, "internal: session stalled", failure_class::bug), false);
    }
  }

  void on_written() { discard_output(); }

  void discard_output() {
    if (out_has_secret) core::secure_wipe(out.data(), out.size());
    out_has_secret = false;
    out.clear();
    out_transcript.clear();
    out_handed = false;
  }

  void on_bytes(std::string_view bytes) {
    if (phase_ == phase::closed) return;
    if (awaiting.empty()) {
      // Unsolicited input (RFC 5321 allows none): keep it; it will be parsed as the next reply,
      // which then will not match what we expect.
    }
    in.append(bytes.data(), bytes.size());
  }

  void on_timeout() {
    const stage s = current_stage();
    std::string text = "No reply from the server within " +
                       std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout_for(s)).count()) +
                       " s at " + std::string(to_string(s)) + ".";
    if (s == stage::data_end) text += " The server may have accepted the message anyway.";
    if (phase_ == phase::closing || phase_ == phase::quit) {
      close_clean();
      return;
    }
    fail(session_error(session_errc::timeout, text + " Retry later.", failure_class::transient), false);
  }

  void on_eof() {
    if (phase_ == phase::quit || phase_ == phase::closing) {
      close_clean();
      return;
    }
    const stage s = current_stage();
    std::string text = "The server closed the connection at " + std::string(to_string(s)) + ".";
    if (s == stage::data_end) text += " The server may have accepted the message anyway.";
    fail(session_error(session_errc::server_closed, text + " Retry later.", failure_class::transient), false);
  }

  void on_tls_established() {
    tls = true;
    discard_input();
    if (phase_ == phase::implicit_tls) {
      phase_ = phase::greeting;
      expect(stage::greeting);
      return;
    }
    if (phase_ == phase::tls_handshake) {
      caps = capabilities{};  // RFC 3207 §4.2: forget everything learned before TLS
      send_ehlo();
    }
  }

  void on_tls_failed(const core::error& why) {
    fail(session_error(session_errc::tls_failed, why.message(), why.classification()), false);
  }

  void quit() {
    if (phase_ != phase::idle) return;
    write_command(command::quit());
    expect(stage::quit);
    phase_ = phase::quit;
  }
};

// ---------------------------------------------------------------------------------------------

client_session::client_session(client_options options) : impl_(std::make_unique<impl>(std::move(options))) {}
client_session::~client_session() = default;

action client_session::next() { return impl_->next(); }
void client_session::on_written() { impl_->on_written(); }
void client_session::on_bytes(std::string_view bytes) { impl_->on_bytes(bytes); }
void client_session::on_timeout() { impl_->on_timeout(); }
void client_session::on_eof() { impl_->on_eof(); }
void client_session::on_tls_established() { impl_->on_tls_established(); }
void client_session::on_tls_failed(core::error why) { impl_->on_tls_failed(std::move(why)); }

void client_session::submit(outgoing_message message) {
  if (impl_->phase_ != impl::phase::idle) {
    message_result r;
    r.failure = core::error(make_error_code(session_errc::protocol_violation),
                            "internal: submit() while the session is not idle", failure_class::bug);
    impl_->finished = std::move(r);
    return;
  }
  impl_->submit(std::move(message));
}
void client_session::quit() { impl_->quit(); }

std::optional<message_result> client_session::take_result() {
  auto r = std::move(impl_->finished);
  impl_->finished.reset();
  return r;
}

const std::optional<core::error>& client_session::final_error() const noexcept { return impl_->final_error; }
const capabilities& client_session::server_capabilities() const noexcept { return impl_->caps; }
bool client_session::ready() const noexcept {
  return impl_->phase_ == impl::phase::idle && impl_->out.empty() && impl_->awaiting.empty();
}
bool client_session::closed() const noexcept { return impl_->phase_ == impl::phase::closed; }
bool client_session::tls_active() const noexcept { return impl_->tls; }
bool client_session::authenticated() const noexcept { return impl_->authed; }
std::optional<sasl::mechanism> client_session::auth_mechanism() const noexcept { return impl_->mech_kind; }
std::optional<sasl::error_challenge> client_session::auth_error_challenge() const {
  if (!impl_->mech) return std::nullopt;
  return impl_->mech->server_error();
}
smtp::stage client_session::current_stage() const noexcept { return impl_->current_stage(); }
std::optional<reply> client_session::last_reply(smtp::stage s) const {
  const auto i = static_cast<std::size_t>(s);
  return i < impl_->last_replies.size() ? impl_->last_replies[i] : std::nullopt;
}

}  // namespace oauthmail::smtp
