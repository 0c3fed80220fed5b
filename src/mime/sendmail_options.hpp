// sendmail(8)'s command line, parsed by hand: CLI11 cannot express sendmail's getopt syntax
// ("-oi", "-odb", "-FName", "-f addr", bundles such as "-ti", options after recipients).
// The option letters are Sendmail 8's getopt string "A:B:b:C:cd:e:F:f:Gh:IiL:M:mN:nO:o:p:q:R:r:sTtUV:vX:":
//   used      -t (recipients from headers), -i / -oi / -O IgnoreDots (a "." line does not end the
//             message), -f / -r ADDR (envelope sender), -F NAME (full name), -v (transcript),
//             -N DSN (never | success,failure,delay), -R full|hdrs, -V ENVID, -C FILE (oauthmail's
//             configuration), -bm (deliver: the default), -bp (queue: always empty), -bi / -I
//             (aliases: nothing to do), -q (run the queue: nothing to do), -- (end of options)
//   ignored   what callers pass out of habit: -oem -oee -odi -odb -odq -om -os -oQ... -oX...,
//             -B 8BITMIME / 7BIT (the body type is detected), -L TAG, -U, -G, -m, -n, -s, -c, -T,
//             -A, -d, -e, -h, -M, -p, -X
//   refused   other -b modes (-bs SMTP on stdin, -bd daemon, -bv verify, -bt test...)
// Options may follow recipients (as with GNU getopt), except after "--".
// Must not: read anything but the arguments it is given.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace oauthmail::mime {

struct sendmail_command_line {
  enum class mode { deliver, print_queue, nothing_to_do, help };
  mode what = mode::deliver;
  std::vector<std::string> recipients;
  bool extract_recipients = false;        // -t
  bool ignore_dots = false;               // -i, -oi, -O IgnoreDots
  std::optional<std::string> sender;      // -f / -r
  std::optional<std::string> full_name;   // -F
  bool verbose = false;                   // -v
  std::optional<std::string> dsn_notify;  // -N, upper-case ("NEVER", "SUCCESS,FAILURE")
  std::optional<std::string> dsn_ret;     // -R: "full" or "hdrs"
  std::optional<std::string> dsn_envid;   // -V
  std::optional<std::string> config;      // -C
  std::vector<std::string> ignored;       // the options accepted and ignored, as given (for -v)
};

// Errors (mime::errc::bad_composition) say which option is wrong and why.
core::result<sendmail_command_line> parse_sendmail_command_line(const std::vector<std::string>& args);

// A short usage text.
const char* sendmail_usage();

}  // namespace oauthmail::mime
