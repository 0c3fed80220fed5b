// The SMTP server session (see smtp/server_session.hpp for the rules it enforces).
//
// Input is kept in one buffer `in` (consumed from `pos`). In command mode a complete line is
// taken as soon as its LF is there; a line that cannot fit the limit is skipped to its LF without
// buffering it. In DATA mode every read is consumed at once: the content is scanned with memchr
// for CR and LF, a whole CRLF-terminated line is appended in one piece, and nothing beyond
// max_message_octets is kept.
//
// Choices the header leaves open (documented here and in the tests):
//  - DATA lines longer than 998 octets (RFC 5321 §4.5.3.1.6) are accepted; only the message size
//    limit applies to the content.
//  - A bare CR is refused under both policies; `normalize` only turns a bare LF into CRLF. After a
//    bare LF the next line has no line-start meaning: a dot there is content, never end of data.
//  - The first write after a connection or after STARTTLS is not delayed by pipelined input;
//    replies are batched until no complete command is left, a synchronisation point (354, 334,
//    220 to STARTTLS, closing) is reached, or 64 KiB of replies are waiting.
//  - Timeouts are per read (the driver arms one timer per read action): idle_timeout while a
//    command or an AUTH response is awaited, data_timeout while content is read.
//  - A refused connection (decide(connect) with !accept) is closed after its reply.
//  - max_errors = 0 means no limit; max_recipients = 0 means no limit; max_command_octets is
//    taken as at least 16 (so that an AUTH line is always recognised).
//  - HELO (not EHLO) switches enhanced status codes off for the rest of the session (nothing was
//    offered); before any EHLO/HELO they are written when enabled, as Postfix and Exchange do.
#include "smtp/server_session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

#include "core/base64.hpp"
#include "core/secret.hpp"

namespace oauthmail::smtp {

// ---------------------------------------------------------------------------------------------
// server_reply

namespace {

void append_sanitized(std::string& out, std::string_view text) {
  for (const char c : text) out.push_back((c == '\r' || c == '\n' || c == '\0') ? ' ' : c);
}

}  // namespace

std::string server_reply::encode(bool with_enhanced) const {
  const int klass = code / 100;
  const bool enh = with_enhanced && !enhanced.empty() && (klass == 2 || klass == 4 || klass == 5);
  const std::string code_text = fmt::format("{:03d}", code);
  std::string out;
  const std::size_t n = lines.empty() ? 1 : lines.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view text = lines.empty() ? std::string_view() : std::string_view(lines[i]);
    const bool last = i + 1 == n;
    out += code_text;
    if (enh || !text.empty()) {
      out.push_back(last ? ' ' : '-');
      if (enh) {
        append_sanitized(out, enhanced);
        if (!text.empty()) out.push_back(' ');
      }
      append_sanitized(out, text);
    } else if (!last) {
      out.push_back('-');
    }
    out += "\r\n";
  }
  return out;
}

server_reply server_reply::make(int code, std::string enhanced, std::string text) {
  server_reply r;
  r.code = code;
  r.enhanced = std::move(enhanced);
  r.lines.push_back(std::move(text));
  return r;
}

// ---------------------------------------------------------------------------------------------
// helpers

namespace {

constexpr std::size_t max_batched_reply_octets = std::size_t{64} * 1024;
constexpr std::size_t max_transcript_line = 512;

char ascii_upper(char c) noexcept { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_upper(x) == ascii_upper(y); });
}

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = ascii_upper(c);
  return out;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_control(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

bool has_8bit(std::string_view s) noexcept {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// A client line for the transcript: control octets as '?', bounded.
std::string shown(std::string_view line) {
  std::string out;
  const std::size_t n = std::min(line.size(), max_transcript_line);
  out.reserve(n + 3);
  for (std::size_t i = 0; i < n; ++i) out.push_back(is_control(line[i]) ? '?' : line[i]);
  if (line.size() > n) out += "...";
  return out;
}

// "<path> params" of MAIL FROM: / RCPT TO: after the colon.
struct parsed_path {
  std::string address;                                      // without angle brackets and source route; "" = null path
  std::vector<std::pair<std::string, std::string>> params;  // upper-case keyword, value ("" = none)
  std::vector<bool> has_value;
};

// RFC 5321 §4.1.2 Path = "<" [ A-d-l ":" ] Mailbox ">", the Mailbox with a possibly quoted local
// part. Lenient: spaces after the colon. Returns nullopt on a syntax error.
std::optional<parsed_path> parse_path(std::string_view s, bool allow_empty) {
  s = trim(s);
  if (s.empty() || s.front() != '<') return std::nullopt;
  std::size_t i = 1;
  bool quoted = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '\\' && i + 1 < s.size()) {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
    } else if (c == '>') {
      break;
    } else if (c == '<' || c == ' ' || c == '\t') {
      return std::nullopt;
    }
  }
  if (i >= s.size()) return std::nullopt;  // no closing '>'
  std::string_view inner = s.substr(1, i - 1);
  std::string_view rest = s.substr(i + 1);
  if (std::any_of(inner.begin(), inner.end(), is_control)) return std::nullopt;
  // A source route (@a,@b:) is obsolete; RFC 5321 §4.1.2 says to accept and ignore it.
  if (!inner.empty() && inner.front() == '@') {
    const std::size_t colon = inner.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    inner.remove_prefix(colon + 1);
  }
  parsed_path p;
  if (inner.empty()) {
    if (!allow_empty) return std::nullopt;
  } else {
    const std::size_t at = inner.rfind('@');
    const bool postmaster = iequals(inner, "postmaster");
    if (!postmaster && (at == std::string_view::npos || at == 0 || at + 1 == inner.size())) return std::nullopt;
    if (!postmaster && inner.substr(at + 1).find_first_of("\"\\") != std::string_view::npos) return std::nullopt;
  }
  p.address = std::string(inner);
  // Parameters: SP esmtp-param *(SP esmtp-param), esmtp-keyword ["=" esmtp-value].
  if (!rest.empty() && rest.front() != ' ') return std::nullopt;
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    const std::size_t end = std::min(rest.find(' '), rest.size());
    const std::string_view param = rest.substr(0, end);
    rest.remove_prefix(end);
    const std::size_t eq = param.find('=');
    const std::string_view key = param.substr(0, eq);
    if (key.empty() || !std::all_of(key.begin(), key.end(), [](char c) {
          return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        })) {
      return std::nullopt;
    }
    std::string value;
    if (eq != std::string_view::npos) {
      const std::string_view v = param.substr(eq + 1);
      if (v.empty() || v.find('=') != std::string_view::npos) return std::nullopt;
      value = std::string(v);
    }
    p.params.emplace_back(upper(key), std::move(value));
    p.has_value.push_back(eq != std::string_view::npos);
  }
  return p;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// server_session::impl

struct server_session::impl {
  enum class mode {
    connect,        // waiting for decide(connect)
    command,        // reading command lines
    auth_response,  // reading an AUTH response line (after a 334)
    data,           // reading message content
    tls_pending,    // 220 to STARTTLS written (or being written); then the handshake
    closing,        // write what is left, then close
    closed,
  };
  enum class hello_kind { none, helo, ehlo };
  // DATA scanner: where in a line the next octet falls.
  enum class data_state { line_start, dot, dot_cr, in_line, cr };

  explicit impl(server_options o) : opts(std::move(o)) {
    tls = opts.implicit_tls;
    ask(server_request::kind::connect);
  }

  server_options opts;
  mode mode_ = mode::connect;

  // Input: bytes received, consumed up to `pos`.
  std::string in;
  std::size_t pos = 0;
  bool skipping = false;       // skipping an over-long line to its LF
  bool skipping_auth = false;  // ... and it is an AUTH command line
  std::size_t skipped = 0;

  // Output: replies waiting to be written; `flush` forces a write before more input is processed.
  std::string out;
  bool flush = false;
  std::string log;          // transcript lines not yet handed out
  std::string handed_log;   // transcript of the write in progress
  bool out_handed = false;  // next() returned `out`; on_written() pending
  bool reading = false;     // the last action was a read

  // The question for the owner.
  bool pending = false;
  server_request request;

  // Session state.
  bool tls = false;
  hello_kind hello = hello_kind::none;
  std::string helo_argument;
  bool pending_is_ehlo = false;
  bool authed = false;
  std::string auth_user;
  std::optional<sasl::server_credentials> auth_identity;  // secret empty
  server_session_stats stats_;

  // AUTH exchange.
  std::unique_ptr<sasl::server_mechanism> mech;
  std::optional<server_reply> auth_refusal;  // the owner's reply, sent after the error challenge
  bool auth_refusal_close = false;

  // Transaction.
  bool in_txn = false;
  bool txn_smtputf8 = false;
  std::string mail_from;
  std::vector<std::string> mail_params;
  std::vector<std::string> rcpts;

  // DATA.
  data_state ds = data_state::line_start;
  std::string content;
  std::uint64_t content_octets = 0;  // content kept (after unstuffing, with CRLF)
  std::uint64_t raw_octets = 0;      // octets received in DATA
  bool bare_seen = false;
  bool too_big = false;
  received_message message;

  // -- output ----------------------------------------------------------------------------------

  bool enhanced_on() const noexcept { return opts.enhanced_status_codes && hello != hello_kind::helo; }

  void note(std::string_view prefix, std::string_view text) {
    log += prefix;
    log += text;
    log += '\n';
  }

  void write_raw(std::string_view bytes) {
    out += bytes;
    std::string_view rest = bytes;
    while (!rest.empty()) {
      std::size_t end = rest.find("\r\n");
      if (end == std::string_view::npos) end = rest.size();
      note("S: ", rest.substr(0, end));
      rest.remove_prefix(std::min(rest.size(), end + 2));
    }
    if (out.size() >= max_batched_reply_octets) flush = true;
  }

  void reply(const server_reply& r) { write_raw(r.encode(enhanced_on())); }

  // A reply to a client error: counts towards max_errors.
  void error_reply(const server_reply& r) {
    reply(r);
    ++stats_.errors;
    if (opts.max_errors != 0 && stats_.errors >= opts.max_errors) {
      reply(opts.texts.too_many_errors);
      close_after_write();
    }
  }

  void close_after_write() {
    mode_ = mode::closing;
    flush = true;
    drop_input();
  }

  void drop_input() {
    if (!in.empty()) core::secure_wipe(in.data(), in.size());
    in.clear();
    pos = 0;
    skipping = false;
    skipped = 0;
  }

  // Removes the consumed prefix. The vacated tail is wiped (it may have held an AUTH line).
  void compact() {
    if (pos == 0) return;
    const std::size_t rest = in.size() - pos;
    if (rest > 0) std::memmove(in.data(), in.data() + pos, rest);
    core::secure_wipe(in.data() + rest, in.size() - rest);
    in.resize(rest);
    pos = 0;
  }

  // -- requests --------------------------------------------------------------------------------

  void ask(server_request::kind k) {
    request = server_request{};
    request.what = k;
    pending = true;
  }

  // -- transaction -----------------------------------------------------------------------------

  void reset_transaction() {
    in_txn = false;
    txn_smtputf8 = false;
    mail_from.clear();
    mail_params.clear();
    rcpts.clear();
    content.clear();
    content.shrink_to_fit();
    content_octets = 0;
    raw_octets = 0;
    bare_seen = false;
    too_big = false;
  }

  // -- commands --------------------------------------------------------------------------------

  std::size_t command_limit() const noexcept { return std::max<std::size_t>(opts.max_command_octets, 16); }
  std::size_t auth_limit() const noexcept { return std::max(command_limit(), opts.max_auth_line_octets); }

  // The limit for the line starting at `pos` (an AUTH command may be as long as an AUTH response).
  std::size_t line_limit(std::string_view line_start) const noexcept {
    if (mode_ == mode::auth_response) return auth_limit();
    if (istarts_with(line_start, "AUTH ")) return auth_limit();
    return command_limit();
  }

  // Processes one unit of input. Returns false when nothing more can be done without input.
  bool process_one() {
    if (pos >= in.size()) {
      in.clear();
      pos = 0;
      return false;
    }
    if (mode_ == mode::data) {
      consume_data();
      return true;
    }
    const char* begin = in.data() + pos;
    const std::size_t avail = in.size() - pos;
    const auto* lf = static_cast<const char*>(std::memchr(begin, '\n', avail));
    if (skipping) {
      if (lf == nullptr) {
        skipped += avail;
        core::secure_wipe(in.data() + pos, avail);
        pos = in.size();
        return false;
      }
      const std::size_t n = static_cast<std::size_t>(lf - begin) + 1;
      skipped += n;
      core::secure_wipe(in.data() + pos, n);
      pos += n;
      skipping = false;
      line_too_long(skipped, skipping_auth);
      return true;
    }
    const std::string_view view(begin, avail);
    const std::size_t limit = line_limit(view);
    if (lf == nullptr) {
      if (avail >= limit) {
        // The line cannot fit, whatever follows: skip it to its end without keeping it.
        skipping = true;
        skipping_auth = istarts_with(view, "AUTH ");
        skipped = avail;
        core::secure_wipe(in.data() + pos, avail);
        pos = in.size();
      }
      return false;
    }
    const std::size_t n = static_cast<std::size_t>(lf - begin) + 1;
    const bool secret = mode_ == mode::auth_response || istarts_with(view, "AUTH ");
    if (n > limit) {
      core::secure_wipe(in.data() + pos, n);  // (`view` reads zeros from here on)
      pos += n;
      line_too_long(n, secret);
      return true;
    }
    const std::string_view line(begin, n - 1);  // without the LF
    const std::size_t line_pos = pos;
    pos += n;
    // A handler may drop the input (QUIT, too many errors): it must not use `line` after that.
    if (mode_ == mode::auth_response) {
      auth_response_line(line);
    } else {
      command_line(line);
    }
    if (secret && in.size() >= line_pos + n) core::secure_wipe(in.data() + line_pos, n);
    return true;
  }

  void line_too_long(std::size_t octets, bool auth_command) {
    note("C: ", fmt::format("<line of {} octets skipped>", octets));
    if (mode_ == mode::auth_response) {
      end_auth();
      error_reply(opts.texts.auth_line_too_long);
      return;
    }
    error_reply(auth_command ? opts.texts.auth_line_too_long : opts.texts.line_too_long);
  }

  void command_line(std::string_view raw) {
    const bool crlf = !raw.empty() && raw.back() == '\r';
    const std::string_view line = crlf ? raw.substr(0, raw.size() - 1) : raw;
    const std::size_t space = line.find(' ');
    const std::string_view verb = line.substr(0, space);
    const std::string_view args = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    if (iequals(verb, "AUTH")) {
      // Never log the initial response.
      const std::string_view a = trim(args);
      const std::size_t sp = a.find(' ');
      note("C: ",
           "AUTH " + shown(a.substr(0, std::min<std::size_t>(sp, 32))) + (sp == std::string_view::npos ? "" : " ***"));
    } else {
      note("C: ", shown(line));
    }
    if (!crlf) return error_reply(opts.texts.syntax_error);  // bare LF
    if (line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos) {
      error_reply(opts.texts.syntax_error);  // bare CR or NUL
      return;
    }
    if (iequals(verb, "EHLO") || iequals(verb, "HELO")) return cmd_hello(iequals(verb, "EHLO"), args);
    if (iequals(verb, "MAIL")) return cmd_mail(args);
    if (iequals(verb, "RCPT")) return cmd_rcpt(args);
    if (iequals(verb, "DATA")) return cmd_data(args);
    if (iequals(verb, "AUTH")) return cmd_auth(args);
    if (iequals(verb, "STARTTLS")) return cmd_starttls(args);
    if (iequals(verb, "RSET")) {
      if (!trim(args).empty()) return error_reply(opts.texts.no_arguments);
      reset_transaction();
      return reply(opts.texts.ok);
    }
    if (iequals(verb, "NOOP")) return reply(opts.texts.ok);
    if (iequals(verb, "QUIT")) {
      reply(opts.texts.closing);
      close_after_write();
      return;
    }
    if (iequals(verb, "VRFY")) {
      if (trim(args).empty()) return error_reply(opts.texts.argument_syntax);
      return reply(opts.texts.vrfy);
    }
    if (iequals(verb, "HELP") || iequals(verb, "EXPN")) return reply(opts.texts.not_implemented);
    error_reply(opts.texts.unknown_command);
  }

  std::vector<std::string> ehlo_lines() const {
    std::vector<std::string> lines;
    std::string first = opts.hostname + " " + opts.texts.ehlo_greeting;
    if (!opts.client_address.empty()) first += " [" + opts.client_address + "]";
    lines.push_back(std::move(first));
    if (opts.max_message_octets > 0) lines.push_back(fmt::format("SIZE {}", opts.max_message_octets));
    if (opts.pipelining) lines.emplace_back("PIPELINING");
    if (opts.dsn) lines.emplace_back("DSN");
    if (opts.enhanced_status_codes) lines.emplace_back("ENHANCEDSTATUSCODES");
    if (opts.starttls_available && !tls) lines.emplace_back("STARTTLS");
    if (auth_offered()) {
      std::string auth = "AUTH";
      for (const auto m : opts.auth_mechanisms) {
        auth += ' ';
        auth += sasl::to_string(m);
      }
      lines.push_back(std::move(auth));
    }
    if (opts.eight_bit_mime) lines.emplace_back("8BITMIME");
    if (opts.smtputf8) lines.emplace_back("SMTPUTF8");
    return lines;
  }

  bool auth_offered() const noexcept { return !opts.auth_mechanisms.empty() && (tls || !opts.require_tls_for_auth); }

  void cmd_hello(bool ehlo, std::string_view args) {
    const std::string_view domain = trim(args);
    if (domain.empty()) return error_reply(opts.texts.helo_syntax);
    ask(server_request::kind::helo);
    request.argument = std::string(domain);
    pending_is_ehlo = ehlo;
  }

  void cmd_starttls(std::string_view args) {
    if (!trim(args).empty()) return error_reply(opts.texts.no_arguments);
    if (tls) return error_reply(opts.texts.tls_already_active);
    if (!opts.starttls_available) return error_reply(opts.texts.unknown_command);
    if (hello == hello_kind::none) return error_reply(opts.texts.ehlo_first);
    if (in_txn) return error_reply(opts.texts.bad_sequence);
    reply(opts.texts.starttls_ready);
    // RFC 3207 §4.2: whatever the client sent after STARTTLS, before the handshake, is discarded
    // (once the 220 is written, and again at the handshake). `pos` is already past this line.
    const std::size_t after = in.size() - pos;
    if (after > 0) note("C: ", fmt::format("<{} octets after STARTTLS discarded>", after));
    mode_ = mode::tls_pending;
    flush = true;
  }

  void cmd_auth(std::string_view args) {
    const std::string_view a = trim(args);
    if (a.empty()) return error_reply(opts.texts.auth_syntax);
    if (hello == hello_kind::none) return error_reply(opts.texts.ehlo_first);
    if (opts.auth_mechanisms.empty()) return error_reply(opts.texts.auth_not_enabled);
    if (!tls && opts.require_tls_for_auth) return error_reply(opts.texts.auth_needs_tls);
    if (authed) return error_reply(opts.texts.already_authenticated);
    if (in_txn) return error_reply(opts.texts.auth_in_transaction);
    const std::size_t sp = a.find(' ');
    const std::string_view name = a.substr(0, sp);
    std::optional<std::string_view> initial;
    if (sp != std::string_view::npos) {
      initial = trim(a.substr(sp + 1));
      if (initial->empty() || initial->find(' ') != std::string_view::npos) return error_reply(opts.texts.auth_syntax);
    }
    const auto m = sasl::parse_mechanism(name);
    if (!m || std::find(opts.auth_mechanisms.begin(), opts.auth_mechanisms.end(), *m) == opts.auth_mechanisms.end()) {
      return error_reply(opts.texts.auth_unsupported);
    }
    std::string decoded;
    if (initial && *initial != "=") {
      auto d = core::base64_decode(*initial);
      if (!d) return error_reply(opts.texts.auth_malformed);
      decoded = std::move(*d);
    }
    mech = sasl::make_server(*m);
    auto step = mech->start(initial ? std::optional<std::string_view>(decoded) : std::nullopt);
    if (!decoded.empty()) core::secure_wipe(decoded.data(), decoded.size());
    on_sasl_step(std::move(step));
  }

  void auth_response_line(std::string_view raw) {
    const bool crlf = !raw.empty() && raw.back() == '\r';
    const std::string_view line = crlf ? raw.substr(0, raw.size() - 1) : raw;
    note("C: ", line == "*" ? "*" : "***");
    if (!crlf) {
      end_auth();
      return error_reply(opts.texts.syntax_error);
    }
    if (line == "*") {
      end_auth();
      return error_reply(opts.texts.auth_cancelled);
    }
    std::string decoded;
    if (!line.empty()) {
      auto d = core::base64_decode(line);
      if (!d) {
        end_auth();
        return error_reply(opts.texts.auth_malformed);
      }
      decoded = std::move(*d);
    }
    auto step = mech->step(decoded);
    if (!decoded.empty()) core::secure_wipe(decoded.data(), decoded.size());
    on_sasl_step(std::move(step));
  }

  void end_auth() {
    mech.reset();
    auth_refusal.reset();
    auth_refusal_close = false;
    if (mode_ == mode::auth_response) mode_ = mode::command;
  }

  void on_sasl_step(sasl::server_step step) {
    using k = sasl::server_step::kind;
    switch (step.what) {
      case k::challenge: {
        std::string line = "334";
        if (!step.challenge.empty() || !opts.texts.bare_empty_challenge) line += ' ';
        line += core::base64_encode(step.challenge);
        line += "\r\n";
        write_raw(line);
        mode_ = mode::auth_response;
        flush = true;
        return;
      }
      case k::verify:
        ask(server_request::kind::authenticate);
        request.credentials = std::move(step.credentials);
        return;
      case k::accepted:
        end_auth();
        reply(opts.texts.auth_ok);
        return;
      case k::rejected: {
        const server_reply r = auth_refusal ? *auth_refusal : opts.texts.auth_failed;
        const bool close = auth_refusal_close;
        end_auth();
        error_reply(r);
        if (close) close_after_write();
        return;
      }
      case k::malformed:
        end_auth();
        error_reply(opts.texts.auth_malformed);
        return;
    }
  }

  // Checks MAIL parameters; returns the reply to refuse with, if any. `too_big` tells a SIZE
  // beyond the limit (a refusal, not a client error) from the rest.
  std::optional<server_reply> check_mail_params(const parsed_path& p, std::vector<std::string>& out_params,
                                                bool& too_big) {
    std::vector<std::string> seen;
    for (std::size_t i = 0; i < p.params.size(); ++i) {
      const auto& [key, value] = p.params[i];
      const bool has_value = p.has_value[i];
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) return opts.texts.mail_syntax;
      seen.push_back(key);
      std::string shown_value = value;
      if (key == "SIZE") {
        if (!has_value || value.size() > 20 ||
            !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
          return opts.texts.mail_syntax;
        }
        std::uint64_t n = 0;
        const auto r = std::from_chars(value.data(), value.data() + value.size(), n);
        const bool overflow = r.ec == std::errc::result_out_of_range;
        if (opts.max_message_octets > 0 && (overflow || n > opts.max_message_octets)) {
          too_big = true;
          return opts.texts.message_too_big;
        }
      } else if (key == "BODY") {
        shown_value = upper(value);
        if (!has_value) return opts.texts.mail_syntax;
        if (shown_value != "7BIT" && !(shown_value == "8BITMIME" && opts.eight_bit_mime)) {
          return opts.texts.unsupported_parameter;
        }
      } else if (key == "SMTPUTF8") {
        if (!opts.smtputf8) return opts.texts.unsupported_parameter;
        if (has_value) return opts.texts.mail_syntax;
      } else if (key == "RET") {
        if (!opts.dsn) return opts.texts.unsupported_parameter;
        shown_value = upper(value);
        if (shown_value != "FULL" && shown_value != "HDRS") return opts.texts.mail_syntax;
      } else if (key == "ENVID") {
        if (!opts.dsn) return opts.texts.unsupported_parameter;
        if (!has_value || value.size() > 100) return opts.texts.mail_syntax;
      } else if (key == "AUTH") {
        // RFC 4954 §5: the submitter's identity; passed to the owner as is.
        if (opts.auth_mechanisms.empty()) return opts.texts.unsupported_parameter;
        if (!has_value) return opts.texts.mail_syntax;
      } else {
        return opts.texts.unsupported_parameter;
      }
      out_params.push_back(has_value ? key + "=" + shown_value : key);
    }
    return std::nullopt;
  }

  std::optional<server_reply> check_rcpt_params(const parsed_path& p, std::vector<std::string>& out_params) {
    std::vector<std::string> seen;
    for (std::size_t i = 0; i < p.params.size(); ++i) {
      const auto& [key, value] = p.params[i];
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) return opts.texts.rcpt_syntax;
      seen.push_back(key);
      if (key != "NOTIFY" && key != "ORCPT") return opts.texts.unsupported_parameter;
      if (!opts.dsn) return opts.texts.unsupported_parameter;
      if (!p.has_value[i]) return opts.texts.rcpt_syntax;
      std::string v = key == "NOTIFY" ? upper(value) : value;
      if (key == "NOTIFY") {
        bool never = false;
        std::size_t count = 0;
        std::string_view rest = v;
        while (!rest.empty()) {
          const std::size_t comma = std::min(rest.find(','), rest.size());
          const std::string_view item = rest.substr(0, comma);
          rest.remove_prefix(std::min(rest.size(), comma + 1));
          if (item == "NEVER") {
            never = true;
          } else if (item != "SUCCESS" && item != "FAILURE" && item != "DELAY") {
            return opts.texts.rcpt_syntax;
          }
          ++count;
        }
        if (count == 0 || (never && count > 1)) return opts.texts.rcpt_syntax;
      } else if (v.find(';') == std::string::npos) {
        return opts.texts.rcpt_syntax;  // ORCPT=addr-type;xtext
      }
      out_params.push_back(key + "=" + v);
    }
    return std::nullopt;
  }

  void cmd_mail(std::string_view args) {
    if (hello == hello_kind::none) return error_reply(opts.texts.ehlo_first);
    if (opts.require_auth && !authed) return error_reply(opts.texts.not_authenticated);
    if (in_txn) return error_reply(opts.texts.nested_mail);
    if (!istarts_with(args, "FROM:")) return error_reply(opts.texts.mail_syntax);
    auto p = parse_path(args.substr(5), /*allow_empty=*/true);
    if (!p) return error_reply(opts.texts.mail_syntax);
    std::vector<std::string> params;
    bool too_big = false;
    if (auto refusal = check_mail_params(*p, params, too_big)) {
      if (too_big) return reply(*refusal);
      return error_reply(*refusal);
    }
    const bool utf8 = std::find(params.begin(), params.end(), "SMTPUTF8") != params.end();
    if (has_8bit(p->address) && !utf8) return error_reply(opts.texts.needs_smtputf8);
    ask(server_request::kind::mail);
    request.address = std::move(p->address);
    request.parameters = std::move(params);
  }

  void cmd_rcpt(std::string_view args) {
    if (hello == hello_kind::none) return error_reply(opts.texts.ehlo_first);
    if (!in_txn) return error_reply(opts.texts.need_mail);
    if (!istarts_with(args, "TO:")) return error_reply(opts.texts.rcpt_syntax);
    auto p = parse_path(args.substr(3), /*allow_empty=*/false);
    if (!p) return error_reply(opts.texts.rcpt_syntax);
    std::vector<std::string> params;
    if (auto refusal = check_rcpt_params(*p, params)) return error_reply(*refusal);
    if (has_8bit(p->address) && !txn_smtputf8) return error_reply(opts.texts.needs_smtputf8);
    if (opts.max_recipients != 0 && rcpts.size() >= opts.max_recipients) {
      return reply(opts.texts.too_many_recipients);
    }
    ask(server_request::kind::rcpt);
    request.address = std::move(p->address);
    request.parameters = std::move(params);
  }

  void cmd_data(std::string_view args) {
    if (!trim(args).empty()) return error_reply(opts.texts.no_arguments);
    if (hello == hello_kind::none) return error_reply(opts.texts.ehlo_first);
    if (!in_txn) return error_reply(opts.texts.need_mail);
    if (rcpts.empty()) return error_reply(opts.texts.no_recipients);
    ask(server_request::kind::data);
  }

  // -- DATA ------------------------------------------------------------------------------------

  void keep(const char* p, std::size_t n) {
    if (n == 0 || bare_seen || too_big) return;
    content_octets += n;
    if (opts.max_message_octets > 0 && content_octets > opts.max_message_octets) {
      too_big = true;
      content.clear();
      content.shrink_to_fit();
      return;
    }
    content.append(p, n);
  }

  void bare_lf() {
    if (opts.bare_line_ends == bare_line_end_policy::normalize) {
      keep("\r\n", 2);
    } else {
      refuse_bare();
    }
  }

  // A bare CR (either policy) or a bare LF (policy reject): the message will be refused after its
  // end of data; nothing more is kept.
  void refuse_bare() {
    if (bare_seen) return;
    bare_seen = true;
    content.clear();
    content.shrink_to_fit();
  }

  // Consumes the content in `in` from `pos`, up to the end of data or of the input.
  void consume_data() {
    const char* const start = in.data() + pos;
    const char* p = start;
    const char* const end = in.data() + in.size();
    bool finished = false;
    while (p < end && !finished) {
      switch (ds) {
        case data_state::line_start:
          if (*p == '.') {
            ds = data_state::dot;
            ++p;
          } else {
            ds = data_state::in_line;
          }
          break;
        case data_state::dot:
          if (*p == '\r') {
            ds = data_state::dot_cr;
            ++p;
          } else if (*p == '\n') {
            keep(".", 1);  // a lone dot ended by a bare LF is content, never the end
            bare_lf();
            ds = data_state::in_line;
            ++p;
          } else {
            ds = data_state::in_line;  // dot-stuffing: the first dot is dropped
          }
          break;
        case data_state::dot_cr:
          if (*p == '\n') {
            ++p;
            finished = true;  // CR LF . CR LF
          } else {
            refuse_bare();
            ds = data_state::in_line;
          }
          break;
        case data_state::in_line: {
          const auto n = static_cast<std::size_t>(end - p);
          const auto* lf = static_cast<const char*>(std::memchr(p, '\n', n));
          const char* limit = lf != nullptr ? lf : end;
          const auto* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(limit - p)));
          if (cr != nullptr && cr + 1 == lf) {
            keep(p, static_cast<std::size_t>(lf + 1 - p));  // the whole line with its CRLF
            p = lf + 1;
            ds = data_state::line_start;
            break;
          }
          const char* stop = cr != nullptr ? cr : limit;
          keep(p, static_cast<std::size_t>(stop - p));
          p = stop;
          if (p == end) break;
          if (*p == '\r') {
            ds = data_state::cr;
          } else {
            bare_lf();
          }
          ++p;
          break;
        }
        case data_state::cr:
          if (*p == '\n') {
            keep("\r\n", 2);
            ds = data_state::line_start;
            ++p;
          } else {
            refuse_bare();
            ds = data_state::in_line;
          }
          break;
      }
    }
    const auto consumed = static_cast<std::size_t>(p - start);
    raw_octets += consumed;
    pos += consumed;
    if (finished) end_of_data();
  }

  void end_of_data() {
    // The content as received, without the final ".\r\n".
    note("C: ", fmt::format("<message content: {} octets>", raw_octets >= 3 ? raw_octets - 3 : 0));
    note("C: ", ".");
    mode_ = mode::command;
    if (bare_seen) {
      ++stats_.messages_refused;
      reset_transaction();
      return reply(opts.texts.bare_line_end);
    }
    if (too_big) {
      ++stats_.messages_refused;
      reset_transaction();
      return reply(opts.texts.message_too_big);
    }
    message = received_message{};
    message.mail_from = mail_from;
    message.mail_parameters = mail_params;
    message.rcpt_to = rcpts;
    message.content = std::move(content);
    content = std::string();
    message.helo = helo_argument;
    message.auth = auth_identity;
    message.tls = tls;
    ask(server_request::kind::message);
  }

  // -- decisions -------------------------------------------------------------------------------

  const server_reply& refusal(const server_decision& d, const server_reply& fallback) const {
    return d.reply ? *d.reply : fallback;
  }

  void decide(server_decision d) {
    if (!pending) return;
    pending = false;
    const server_request::kind k = request.what;
    bool close = d.close_after;
    switch (k) {
      case server_request::kind::connect:
        if (d.accept) {
          reply(d.reply ? *d.reply : server_reply::make(220, "", opts.hostname + " " + opts.texts.greeting));
          mode_ = mode::command;
        } else {
          server_reply r = refusal(d, opts.texts.service_unavailable);
          reply(r);
          close_after_write();
        }
        break;
      case server_request::kind::helo:
        if (d.accept) {
          hello = pending_is_ehlo ? hello_kind::ehlo : hello_kind::helo;
          helo_argument = request.argument;
          reset_transaction();  // RFC 5321 §4.1.4: EHLO/HELO clears the transaction
          if (d.reply) {
            reply(*d.reply);
          } else if (pending_is_ehlo) {
            server_reply r;
            r.code = 250;
            r.lines = ehlo_lines();
            reply(r);
          } else {
            reply(server_reply::make(250, "", opts.hostname));
          }
        } else {
          reply(refusal(d, opts.texts.refused));
        }
        break;
      case server_request::kind::authenticate:
        decide_auth(d);
        if (mode_ == mode::auth_response) close = false;  // after the error challenge's answer
        break;
      case server_request::kind::mail:
        if (d.accept) {
          in_txn = true;
          mail_from = std::move(request.address);
          mail_params = std::move(request.parameters);
          txn_smtputf8 = std::find(mail_params.begin(), mail_params.end(), "SMTPUTF8") != mail_params.end();
          rcpts.clear();
          reply(d.reply ? *d.reply : opts.texts.mail_ok);
        } else {
          reply(refusal(d, opts.texts.refused));
        }
        break;
      case server_request::kind::rcpt:
        if (d.accept) {
          rcpts.push_back(std::move(request.address));
          reply(d.reply ? *d.reply : opts.texts.rcpt_ok);
        } else {
          reply(refusal(d, opts.texts.refused));
        }
        break;
      case server_request::kind::data:
        if (d.accept) {
          reply(d.reply ? *d.reply : opts.texts.data_go_ahead);
          mode_ = mode::data;
          ds = data_state::line_start;
          content.clear();
          content_octets = 0;
          raw_octets = 0;
          bare_seen = false;
          too_big = false;
          flush = true;
        } else {
          reply(refusal(d, opts.texts.refused));
        }
        break;
      case server_request::kind::message:
        if (d.accept) {
          ++stats_.messages_accepted;
          reply(d.reply ? *d.reply : opts.texts.queued);
        } else {
          ++stats_.messages_refused;
          reply(refusal(d, opts.texts.message_refused));
        }
        message = received_message{};
        reset_transaction();
        break;
    }
    request = server_request{};
    if (close && mode_ != mode::closed) close_after_write();
  }

  void decide_auth(const server_decision& d) {
    if (!mech) return;
    if (d.accept) {
      const sasl::server_step step = mech->accept();
      if (step.what == sasl::server_step::kind::accepted && request.credentials) {
        authed = true;
        auth_user = request.credentials->user;
        sasl::server_credentials id;
        id.kind = request.credentials->kind;
        id.user = request.credentials->user;
        id.authzid = request.credentials->authzid;
        id.host = request.credentials->host;
        id.port = request.credentials->port;
        auth_identity = std::move(id);
      }
      end_auth();
      reply(d.reply ? *d.reply : opts.texts.auth_ok);
      return;
    }
    auth_refusal = d.reply ? *d.reply : opts.texts.auth_failed;
    auth_refusal_close = d.close_after;
    std::optional<std::string> json;
    if (d.error_challenge_json && sasl::is_oauth(mech->kind())) json = *d.error_challenge_json;
    on_sasl_step(mech->reject(std::move(json)));
  }

  // -- driver interface ------------------------------------------------------------------------

  server_action make_write() {
    if (!out_handed) {
      handed_log = std::move(log);
      log.clear();
      if (!handed_log.empty() && handed_log.back() == '\n') handed_log.pop_back();
      out_handed = true;
    }
    server_action a;
    a.what = server_action::kind::write;
    a.bytes = out;
    a.transcript = handed_log;
    a.timeout = opts.idle_timeout;
    return a;
  }

  server_action next() {
    reading = false;
    for (;;) {
      if (mode_ == mode::closed) return server_action{};
      if (!out.empty() && (flush || out_handed || mode_ == mode::closing || mode_ == mode::tls_pending)) {
        return make_write();
      }
      if (pending) {
        server_action a;
        a.what = server_action::kind::decide;
        a.request = &request;
        return a;
      }
      if (mode_ == mode::closing) {
        mode_ = mode::closed;
        continue;
      }
      if (mode_ == mode::tls_pending) {
        server_action a;
        a.what = server_action::kind::start_tls;
        a.timeout = opts.idle_timeout;
        return a;
      }
      if (process_one()) continue;
      if (!out.empty()) return make_write();
      server_action a;
      a.what = server_action::kind::read;
      a.timeout = mode_ == mode::data ? opts.data_timeout : opts.idle_timeout;
      if (!log.empty()) {
        a.transcript = std::move(log);
        log.clear();
        if (a.transcript.back() == '\n') a.transcript.pop_back();
      }
      reading = true;
      return a;
    }
  }

  void on_written() {
    out.clear();
    if (out.capacity() > max_batched_reply_octets * 2) out.shrink_to_fit();
    handed_log.clear();
    out_handed = false;
    flush = false;
    if (mode_ == mode::tls_pending) drop_input();  // RFC 3207 §4.2
  }

  void on_bytes(std::string_view bytes) {
    if (mode_ == mode::closed || mode_ == mode::closing || mode_ == mode::tls_pending) return;
    compact();
    in.append(bytes.data(), bytes.size());
  }

  void on_timeout() {
    if (mode_ == mode::closed) return;
    const bool was_reading = reading;
    reading = false;
    if (!was_reading || mode_ == mode::closing || mode_ == mode::tls_pending || mode_ == mode::connect) {
      close_now();
      return;
    }
    note("C: ", "<timeout>");
    end_auth();
    out.clear();
    out_handed = false;
    reply(opts.texts.timeout);
    close_after_write();
  }

  void close_now() {
    mode_ = mode::closed;
    pending = false;
    request = server_request{};
    mech.reset();
    drop_input();
    out.clear();
    out_handed = false;
    content.clear();
  }

  void on_tls_established() {
    if (mode_ != mode::tls_pending) return;
    tls = true;
    // RFC 3207 §4.2: forget everything learned before TLS.
    hello = hello_kind::none;
    helo_argument.clear();
    authed = false;
    auth_user.clear();
    auth_identity.reset();
    mech.reset();
    reset_transaction();
    drop_input();
    mode_ = mode::command;
  }

  std::size_t buffered() const noexcept { return in.size() + out.size() + content.size() + message.content.size(); }
};

// ---------------------------------------------------------------------------------------------

server_session::server_session(server_options options) : impl_(std::make_unique<impl>(std::move(options))) {}
server_session::~server_session() = default;

server_action server_session::next() { return impl_->next(); }
void server_session::on_written() { impl_->on_written(); }
void server_session::on_bytes(std::string_view bytes) { impl_->on_bytes(bytes); }
void server_session::on_timeout() { impl_->on_timeout(); }
void server_session::on_eof() { impl_->close_now(); }
void server_session::on_tls_established() { impl_->on_tls_established(); }
void server_session::on_tls_failed() { impl_->close_now(); }
void server_session::decide(server_decision decision) { impl_->decide(std::move(decision)); }

received_message server_session::take_message() {
  if (!impl_->pending || impl_->request.what != server_request::kind::message) return {};
  return std::exchange(impl_->message, received_message{});
}

bool server_session::tls_active() const noexcept { return impl_->tls; }
bool server_session::authenticated() const noexcept { return impl_->authed; }
const std::string& server_session::authenticated_user() const noexcept { return impl_->auth_user; }
const server_session_stats& server_session::stats() const noexcept { return impl_->stats_; }
bool server_session::closed() const noexcept { return impl_->mode_ == impl::mode::closed; }
std::size_t server_session::buffered_octets() const noexcept { return impl_->buffered(); }

}  // namespace oauthmail::smtp
