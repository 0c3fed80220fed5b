// The options of `oauthmail send` that compose a message (--cc, --bcc, --reply-to, --subject,
// --text/--text-file, --html/--html-file, --attach, --inline, --header) and the preparation of what
// is sent: either the composed message (src/mime) or, when no composing option is given, the raw
// message read from stdin. Either way the content ends up in a spool file, so nothing large is held
// in memory, and everything that can be refused without the server (a file that cannot be read,
// an address that does not parse, a header with a line break) is refused here, before connecting.
// Must not: read stdin when composing (except for --text-file - / --html-file -).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "mime/spool.hpp"

namespace oauthmail::cli {

// The message as it will be sent, and its envelope.
struct prepared_message {
  std::shared_ptr<mime::spool> content;
  std::string envelope_from;
  std::vector<std::string> envelope_to;
  bool smtputf8 = false;   // RFC 6532 headers: send with SMTPUTF8
  std::string message_id;  // composed messages only
  bool composed = false;
};

// Why preparing failed, with the exit status (sysexits.h) that says so.
struct preparation_error {
  int exit_status;
  std::string message;
};

class compose_options {
 public:
  // Adds the options to `cmd`.
  explicit compose_options(CLI::App* cmd);

  // Whether any option that composes a message was given (else the message is read from stdin).
  bool composing() const;

  // Composes, or reads stdin; `from` and `to` are --from and --to as given.
  std::optional<preparation_error> prepare(const std::string& from, const std::vector<std::string>& to,
                                           prepared_message& out) const;

  // Largest raw message read on stdin, and largest --text-file / --html-file.
  static constexpr std::size_t max_stdin_message = std::size_t{160} * 1024 * 1024;

 private:
  std::optional<preparation_error> prepare_raw(const std::string& from, const std::vector<std::string>& to,
                                               prepared_message& out) const;

  std::vector<std::string> cc_, bcc_, reply_to_;
  std::optional<std::string> subject_;
  std::optional<std::string> text_, text_file_, html_, html_file_;
  std::vector<std::string> attach_, inline_, header_;
};

}  // namespace oauthmail::cli
