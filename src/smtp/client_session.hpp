// The SMTP client session as a sans-I/O state machine (RFC 5321, RFC 3207 STARTTLS, RFC 4954
// AUTH, RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 6531 SMTPUTF8). Bytes and a clock go in; actions
// come out (write these bytes, read a reply within this time, start TLS, idle, closed). One driver
// in src/net runs it over a real connection; tests run it on transcripts.
//
// Flow: greeting → EHLO (HELO if EHLO is not recognised) → STARTTLS → EHLO again (all pre-TLS state
// and buffered input discarded, RFC 3207 §4.2) → AUTH → idle. Then per message: MAIL, RCPT…, DATA
// (pipelined as one group when PIPELINING is offered, DATA last) → content → final reply → idle.
// Then the next message on the same connection (RSET first after a failed transaction), or QUIT.
//
// Security: credentials are sent only over TLS unless allow_plaintext_auth; a server that does not
// offer STARTTLS when TLS is required is an error, never a silent downgrade; the transcript text
// of every write redacts AUTH payloads.
// Must not: touch sockets, files, threads or the wall clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "sasl/mechanism.hpp"
#include "smtp/capabilities.hpp"
#include "smtp/classify.hpp"
#include "smtp/command.hpp"
#include "smtp/data_encoder.hpp"
#include "smtp/reply.hpp"

namespace oauthmail::smtp {

using clock = std::chrono::steady_clock;

enum class tls_mode {
  none,      // plain TCP (test servers only; AUTH needs allow_plaintext_auth)
  starttls,  // port 587 style: STARTTLS is required, never skipped
  implicit,  // port 465 style: TLS from the first byte (the driver does it before greeting)
};

// Per-stage time limits. Defaults are RFC 5321 §4.5.3.2's minimums.
struct timeouts {
  std::chrono::milliseconds greeting{std::chrono::minutes(5)};
  std::chrono::milliseconds command{std::chrono::minutes(5)};  // EHLO, STARTTLS, AUTH, RSET, QUIT
  std::chrono::milliseconds mail{std::chrono::minutes(5)};
  std::chrono::milliseconds rcpt{std::chrono::minutes(5)};
  std::chrono::milliseconds data_init{std::chrono::minutes(2)};
  std::chrono::milliseconds data_block{std::chrono::minutes(3)};
  std::chrono::milliseconds data_end{std::chrono::minutes(10)};
};

struct client_options {
  std::string ehlo_domain = "localhost";
  tls_mode tls = tls_mode::starttls;
  bool allow_plaintext_auth = false;  // UNSAFE: send credentials without TLS
  // When set, AUTH runs with these credentials; the mechanism is `mechanism` if set (never
  // substituted), else chosen from the server's list by `credential_kind`.
  std::optional<sasl::credentials> credentials;
  sasl::credential_kind credential_kind = sasl::credential_kind::bearer_token;
  std::optional<sasl::mechanism> mechanism;
  bool pipelining = true;             // use PIPELINING when offered
  bool auth_initial_response = true;  // send the SASL initial response with AUTH (RFC 4954 §4)
  timeouts limits;
  reply_parser_limits reply_limits;
  std::size_t write_chunk_octets = std::size_t{64} * 1024;  // DATA content is written in chunks of about this size
};

// Source of a message's content (RFC 5322 bytes, any line ends). An in-memory source is provided;
// callers may stream from elsewhere (sendmail's stdin) without holding the message in memory.
class body_source {
 public:
  virtual ~body_source() = default;
  // Copies up to `capacity` bytes into `out`; returns 0 at the end of the message.
  virtual core::result<std::size_t> read(char* out, std::size_t capacity) = 0;
  // Total size if known in advance (used for SIZE=), else nullopt.
  virtual std::optional<std::uint64_t> size_hint() const = 0;
  // Whether the content has octets above 0x7F (BODY=8BITMIME), if known.
  virtual std::optional<bool> eight_bit() const = 0;
  // The longest line in octets (without its line end), if known: lets the session refuse a message
  // with a line over 998 octets before MAIL FROM instead of aborting in the middle of DATA.
  virtual std::optional<std::size_t> longest_line() const { return std::nullopt; }
};

class string_body final : public body_source {
 public:
  explicit string_body(std::string content);
  core::result<std::size_t> read(char* out, std::size_t capacity) override;
  std::optional<std::uint64_t> size_hint() const override { return content_.size(); }
  std::optional<bool> eight_bit() const override { return eight_bit_; }
  std::optional<std::size_t> longest_line() const override { return longest_line_; }

 private:
  std::string content_;
  std::size_t offset_ = 0;
  bool eight_bit_ = false;
  std::size_t longest_line_ = 0;
};

struct envelope {
  std::string mail_from;                  // reverse path; empty = null sender
  std::vector<std::string> rcpt_to;       // forward paths
  std::optional<std::string> dsn_notify;  // RFC 3461 NOTIFY for every recipient (when DSN is offered)
  std::optional<dsn_return> dsn_ret;
  std::optional<std::string> dsn_envid;
  // The content has UTF-8 headers (RFC 6532, e.g. an address with a non-ASCII local part): MAIL FROM
  // carries SMTPUTF8 even when every envelope address is ASCII, and a server without SMTPUTF8 is
  // refused before MAIL FROM.
  bool smtputf8 = false;
};

struct outgoing_message {
  envelope env;
  std::unique_ptr<body_source> body;
};

struct recipient_result {
  std::string address;
  reply server_reply;
  bool accepted = false;
};

// What became of one message. `delivered()` when the server accepted the content for at least one
// recipient; refused recipients are listed with their replies and diagnosis.
struct message_result {
  std::vector<recipient_result> recipients;
  std::optional<reply> mail_reply;
  std::optional<reply> data_reply;     // reply to DATA (354 or a refusal)
  std::optional<reply> final_reply;    // reply after the content's final dot
  std::optional<core::error> failure;  // set when the message as a whole was not delivered
  bool delivered() const noexcept { return !failure && final_reply && final_reply->positive_completion(); }
  std::size_t accepted_count() const noexcept;
};

// What the driver must do next.
struct action {
  enum class kind {
    write,      // write `bytes` fully, then call on_written(); `transcript` is the redacted text
    read,       // read some bytes within `timeout`; call on_bytes(), on_timeout() or on_eof()
    start_tls,  // perform the TLS handshake; call on_tls_established() or on_tls_failed()
    idle,       // ready: submit() a message or quit()
    closed,     // terminal: close the connection; see final_error()
  };
  kind what = kind::closed;
  std::string_view bytes;                // write: valid until the next call into the session
  std::string transcript;                // write: what may be logged (AUTH payloads redacted, no body)
  std::chrono::milliseconds timeout{0};  // read and write: the time limit of this step
};

class client_session {
 public:
  explicit client_session(client_options options);
  ~client_session();
  client_session(const client_session&) = delete;
  client_session& operator=(const client_session&) = delete;

  // The next action. Call after construction and after each on_*() event. With implicit TLS the
  // first action is start_tls (before the greeting).
  action next();

  // Events from the driver.
  void on_written();
  void on_bytes(std::string_view bytes);
  void on_timeout();
  void on_eof();
  void on_tls_established();
  void on_tls_failed(core::error why);

  // When idle: send one message (results via take_result() once idle again) or end the session.
  void submit(outgoing_message message);
  void quit();

  // After a submitted message finished (the session is idle or closed again).
  std::optional<message_result> take_result();

  // When closed because of a failure (not after a clean QUIT).
  const std::optional<core::error>& final_error() const noexcept;
  const capabilities& server_capabilities() const noexcept;
  bool ready() const noexcept;   // idle: a message may be submitted
  bool closed() const noexcept;  // terminal
  bool tls_active() const noexcept;
  bool authenticated() const noexcept;
  std::optional<sasl::mechanism> auth_mechanism() const noexcept;
  // After a failed AUTH with XOAUTH2/OAUTHBEARER: the server's JSON error challenge, if any.
  std::optional<sasl::error_challenge> auth_error_challenge() const;
  // The stage the session is in (for diagnostics and timeouts).
  smtp::stage current_stage() const noexcept;
  // The last reply received at a stage (for diagnostics: the greeting, the STARTTLS answer, the
  // final AUTH reply after any 334 challenges, ...); nullopt when none came at that stage.
  std::optional<reply> last_reply(smtp::stage s) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace oauthmail::smtp
