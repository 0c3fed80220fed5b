#include "mime/sendmail_options.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "mime/errors.hpp"
#include "mime/header_block.hpp"

namespace oauthmail::mime {

namespace {

constexpr std::string_view with_argument = "ABbCdeFfhLMNOopqRrVX";
constexpr std::string_view without_argument = "cGIimnsTtUv";

core::error usage(std::string why) { return mime_error(errc::bad_composition, std::move(why)); }

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

core::result<std::string> notify_value(const std::string& value) {
  const std::string v = upper(value);
  if (v == "NEVER") return v;
  std::size_t start = 0;
  bool any = false;
  while (start <= v.size()) {
    const auto comma = v.find(',', start);
    const std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item != "SUCCESS" && item != "FAILURE" && item != "DELAY") {
      return usage("-N " + quote_text(value) +
                   ": expected never, or a comma-separated list of success, failure and delay.");
    }
    any = true;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (!any) return usage("-N needs a value: never, or success,failure,delay.");
  return v;
}

}  // namespace

const char* sendmail_usage() {
  return "usage: sendmail [-t] [-i] [-f sender] [-F full-name] [-N dsn] [-v] [-C config] [--] [recipient ...]\n"
         "  -t          read recipients from the To, Cc and Bcc headers (Bcc is removed)\n"
         "  -i, -oi     a line with a single \".\" does not end the message\n"
         "  -f, -r ADDR envelope sender (and From, when the message has none)\n"
         "  -F NAME     full name for an added From header\n"
         "  -N DSN      delivery status notifications: never, or success,failure,delay\n"
         "  -v          show the SMTP transcript\n"
         "  -C FILE     oauthmail configuration file\n"
         "Other sendmail options (-oem, -odb, -B8BITMIME, -L tag, ...) are accepted and ignored.\n";
}

core::result<sendmail_command_line> parse_sendmail_command_line(const std::vector<std::string>& args) {
  sendmail_command_line out;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      out.recipients.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "--help") {
      out.what = sendmail_command_line::mode::help;
      continue;
    }
    // One argument may bundle flags ("-ti") and end with an option that takes a value ("-tf addr").
    for (std::size_t k = 1; k < arg.size(); ++k) {
      const char opt = arg[k];
      if (without_argument.find(opt) != std::string_view::npos) {
        switch (opt) {
          case 't':
            out.extract_recipients = true;
            break;
          case 'i':
            out.ignore_dots = true;
            break;
          case 'v':
            out.verbose = true;
            break;
          case 'I':
            out.what = sendmail_command_line::mode::nothing_to_do;  // newaliases
            break;
          default:
            out.ignored.push_back(std::string("-") + opt);
        }
        continue;
      }
      if (with_argument.find(opt) == std::string_view::npos) {
        return usage("unknown option -" + std::string(1, opt) + " in " + quote_text(arg) + ".");
      }
      std::string value;
      bool value_given = true;
      if (k + 1 < arg.size()) {
        value = arg.substr(k + 1);
      } else if (opt == 'q') {
        value_given = false;  // -q alone: run the queue now
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return usage("option -" + std::string(1, opt) + " needs a value.");
      }
      switch (opt) {
        case 'b':
          if (value == "m") {
            out.what = sendmail_command_line::mode::deliver;
          } else if (value == "p") {
            out.what = sendmail_command_line::mode::print_queue;
          } else if (value == "i") {
            out.what = sendmail_command_line::mode::nothing_to_do;
          } else {
            return usage("-b" + value +
                         " is not supported: oauthmail's sendmail delivers the message on stdin (-bm) and keeps no "
                         "queue (-bp shows it empty); it does not run as a daemon or speak SMTP on stdin.");
          }
          break;
        case 'q':
          out.what = sendmail_command_line::mode::nothing_to_do;
          if (value_given) out.ignored.push_back("-q" + value);
          break;
        case 'f':
        case 'r':
          out.sender = value;
          break;
        case 'F':
          out.full_name = value;
          break;
        case 'N': {
          auto v = notify_value(value);
          if (!v) return v.error();
          out.dsn_notify = *v;
          break;
        }
        case 'R': {
          const std::string v = upper(value);
          if (v != "FULL" && v != "HDRS") return usage("-R " + quote_text(value) + ": expected full or hdrs.");
          out.dsn_ret = v == "FULL" ? "full" : "hdrs";
          break;
        }
        case 'V':
          out.dsn_envid = value;
          break;
        case 'C':
          out.config = value;
          break;
        case 'o':
          if (value == "i") {
            out.ignore_dots = true;
          } else {
            out.ignored.push_back("-o" + value);
          }
          break;
        case 'O':
          if (iequals(value, "IgnoreDots") || iequals(value, "IgnoreDots=true") || iequals(value, "IgnoreDots=T")) {
            out.ignore_dots = true;
          } else {
            out.ignored.push_back("-O" + value);
          }
          break;
        default:
          out.ignored.push_back(std::string("-") + opt + value);
      }
      break;  // the value used the rest of this argument (or the next one)
    }
  }
  return out;
}

}  // namespace oauthmail::mime
