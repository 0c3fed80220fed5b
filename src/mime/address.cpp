#include "mime/address.hpp"

#include <algorithm>

#include "mime/errors.hpp"
#include "mime/gmime_support.hpp"

namespace oauthmail::mime {

namespace {

using detail::gobject_ptr;

core::error bad(std::string_view what, std::string_view text, std::string_view why) {
  return mime_error(errc::bad_address, std::string(what) + " " + quote_text(text) + ": " + std::string(why));
}

// Adds the mailboxes of `list` (recursing into groups) to `out`; false with `why` on a bad one.
core::result<void> collect(InternetAddressList* list, std::vector<mailbox>& out, std::string_view what,
                           std::string_view text) {
  const int n = internet_address_list_length(list);
  for (int i = 0; i < n; ++i) {
    InternetAddress* a = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_GROUP(a)) {
      InternetAddressList* members = internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a));
      if (members) {
        auto r = collect(members, out, what, text);
        if (!r) return r;
      }
      continue;
    }
    auto* mb = INTERNET_ADDRESS_MAILBOX(a);
    const char* addr = internet_address_mailbox_get_addr(mb);
    const char* idn = internet_address_mailbox_get_idn_addr(mb);
    const char* name = internet_address_get_name(a);
    mailbox m;
    m.address = addr ? addr : "";
    m.ascii_address = idn ? idn : m.address;
    m.name = name ? name : "";
    const auto at = m.address.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 == m.address.size()) {
      return bad(what, text,
                 "\"" + m.address + "\" is not a complete address; write it as name@domain (for example " +
                     (m.address.empty() ? std::string("ops") : m.address.substr(0, at)) + "@example.com).");
    }
    if (m.address.size() > max_address_octets || m.ascii_address.size() > max_address_octets) {
      return bad(what, text,
                 "the address is longer than " + std::to_string(max_address_octets) + " octets (RFC 5321).");
    }
    if (std::any_of(m.address.begin(), m.address.end(),
                    [](char c) { return c == ' ' || c == '\t' || c == '<' || c == '>'; })) {
      return bad(what, text, "the address \"" + m.address + "\" contains a space or an angle bracket.");
    }
    out.push_back(std::move(m));
  }
  return {};
}

}  // namespace

bool mailbox::needs_utf8() const noexcept {
  const auto at = address.rfind('@');
  return has_non_ascii(std::string_view(address).substr(0, at == std::string::npos ? address.size() : at));
}

bool has_control_character(std::string_view text) noexcept {
  return std::any_of(text.begin(), text.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
}

bool has_non_ascii(std::string_view text) noexcept {
  return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

core::result<std::vector<mailbox>> parse_address_list(std::string_view text, std::string_view what) {
  if (has_control_character(text)) {
    return mime_error(errc::header_injection,
                      std::string(what) + " " + quote_text(text) +
                          " contains a control character (such as a line break); an address must be on one line.");
  }
  if (text.find_first_not_of(" \t") == std::string_view::npos) {
    return mime_error(errc::bad_address, std::string(what) + " is empty; give an address such as ops@example.com.");
  }
  if (!g_utf8_validate(text.data(), static_cast<gssize>(text.size()), nullptr)) {
    return mime_error(errc::not_utf8, std::string(what) + " " + quote_text(text) + " is not valid UTF-8.");
  }
  detail::ensure_gmime();
  const std::string copy(text);
  gobject_ptr<InternetAddressList> list(internet_address_list_parse(detail::strict_parser_options(), copy.c_str()));
  if (!list)
    return bad(what, text, "this does not parse as an email address (expected name@domain or Name <name@domain>).");
  std::vector<mailbox> out;
  auto r = collect(list.get(), out, what, text);
  if (!r) return r.error();
  return out;
}

core::result<mailbox> parse_mailbox(std::string_view text, std::string_view what) {
  auto list = parse_address_list(text, what);
  if (!list) return list.error();
  if (list->size() != 1) {
    return bad(what, text, "expected exactly one address, found " + std::to_string(list->size()) + ".");
  }
  return std::move(list->front());
}

std::string format_mailbox(const mailbox& m, bool encode) {
  detail::ensure_gmime();
  const std::string& addr = encode && !m.needs_utf8() ? m.ascii_address : m.address;
  gobject_ptr<InternetAddress> a(internet_address_mailbox_new(m.name.empty() ? nullptr : m.name.c_str(), addr.c_str()));
  internet_address_set_charset(a.get(), "utf-8");
  return detail::take_string(internet_address_to_string(a.get(), nullptr, encode ? TRUE : FALSE));
}

std::string format_address_list(const std::vector<mailbox>& list, bool encode) {
  std::string out;
  for (const auto& m : list) {
    if (!out.empty()) out += ", ";
    out += format_mailbox(m, encode);
  }
  return out;
}

}  // namespace oauthmail::mime
