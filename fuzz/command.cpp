// Fuzz target: smtp::command encoders. Input layout: byte 0 selects the command and options,
// byte 1 the split point between two arguments; the rest is argument bytes.
// Invariants: a command is either refused or exactly one line (no CR, LF, NUL or other control
// octet before the final CR LF); any control octet in any argument is refused; accepted paths
// and EHLO domains appear verbatim; refusals never echo the SASL response.
#include "smtp/command.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace smtp = oauthmail::smtp;

void check(bool ok) {
  if (!ok) std::abort();
}

bool has_control(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return true;
  }
  return false;
}

void check_line(const oauthmail::core::result<std::string>& r, bool must_refuse, std::string_view secret = {}) {
  if (!r) {
    check(!r.error().message().empty());
    check(r.error().classification() == oauthmail::core::failure_class::permanent);
    // Messages are printable ASCII; a response with other octets must never appear in them.
    const bool unprintable = std::any_of(secret.begin(), secret.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u < 0x20 || u >= 0x7F;
    });
    if (unprintable) check(r.error().message().find(secret) == std::string::npos);
    return;
  }
  check(!must_refuse);
  const std::string& line = *r;
  check(line.size() >= 2 && line.compare(line.size() - 2, 2, "\r\n") == 0);
  check(!has_control(std::string_view(line).substr(0, line.size() - 2)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t control = data[0];
  const std::string_view args(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::size_t split = args.empty() ? 0 : data[1] % (args.size() + 1);
  const std::string_view a = args.substr(0, split);
  const std::string_view b = args.substr(split);
  const bool a_ctl = has_control(a);
  const bool b_ctl = has_control(b);

  switch (control % 7) {
    case 0: {
      auto r = smtp::command::ehlo(args);
      check_line(r, has_control(args));
      if (r) check(*r == "EHLO " + std::string(args) + "\r\n");
      check_line(smtp::command::helo(args), has_control(args));
      break;
    }
    case 1: {
      smtp::mail_parameters p;
      if (control & 0x08) p.size = size;
      p.body = static_cast<smtp::body_type>((control >> 4) % 3);
      p.smtputf8 = (control & 0x40) != 0;
      if (control & 0x80) p.ret = smtp::dsn_return::headers;
      p.envid = std::string(b);
      auto r = smtp::command::mail_from(a, p);
      check_line(r, a_ctl || b_ctl);
      if (r) check(r->compare(0, 11 + a.size() + 1, "MAIL FROM:<" + std::string(a) + ">") == 0);
      break;
    }
    case 2: {
      smtp::rcpt_parameters p;
      if (control & 0x08) p.notify = std::string(b);
      if (control & 0x10) p.orcpt = std::string(b);
      auto r = smtp::command::rcpt_to(a, p);
      check_line(r, a_ctl || ((control & 0x18) != 0 && b_ctl));
      if (r) check(r->compare(0, 9 + a.size() + 1, "RCPT TO:<" + std::string(a) + ">") == 0);
      if (r) check(!a.empty());
      break;
    }
    case 3: {
      const std::optional<std::string_view> initial =
          (control & 0x08) ? std::optional<std::string_view>(b) : std::nullopt;
      auto r = smtp::command::auth(a, initial);
      check_line(r, a_ctl || (initial && b_ctl), b);
      if (r) check(r->compare(0, 5, "AUTH ") == 0);
      if (r && initial && b.empty()) check(r->compare(r->size() - 4, 4, " =\r\n") == 0);
      break;
    }
    case 4:
      check_line(smtp::command::sasl_response(args), has_control(args), args);
      break;
    case 5: {
      smtp::mail_parameters p;
      p.envid = std::string(args);
      check_line(smtp::command::mail_from("a@example.com", p), has_control(args));
      break;
    }
    default:
      check(smtp::needs_smtputf8(args) ==
            std::any_of(args.begin(), args.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }));
      break;
  }
  return 0;
}
