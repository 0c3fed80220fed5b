#include "mime/sendmail_rules.hpp"

#include <algorithm>
#include <set>

#include "mime/compose.hpp"

namespace oauthmail::mime {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

core::result<std::vector<mailbox>> sendmail_recipients(header_block& headers, const std::vector<std::string>& arguments,
                                                       bool extract_from_headers) {
  std::vector<mailbox> out;
  std::set<std::string> seen;
  auto add = [&](std::vector<mailbox> list) {
    for (auto& m : list) {
      if (seen.insert(lower(m.envelope())).second) out.push_back(std::move(m));
    }
  };
  for (const auto& arg : arguments) {
    auto list = parse_address_list(arg, "The recipient");
    if (!list) return list.error();
    add(std::move(*list));
  }
  if (extract_from_headers) {
    const bool resent = headers.has("Resent-To") || headers.has("Resent-Cc") || headers.has("Resent-Bcc");
    const char* names[3] = {"To", "Cc", "Bcc"};
    const char* resent_names[3] = {"Resent-To", "Resent-Cc", "Resent-Bcc"};
    for (const char* name : resent ? resent_names : names) {
      for (const auto& value : headers.values(name)) {
        if (value.empty()) continue;  // "Bcc:" with nothing, as some programs write
        auto list = parse_address_list(value, std::string("The ") + name + " header");
        if (!list) return list.error();
        add(std::move(*list));
      }
    }
  }
  headers.remove("Bcc");
  headers.remove("Resent-Bcc");
  return out;
}

std::optional<mailbox> header_sender(const header_block& headers) {
  for (const char* name : {"From", "Sender"}) {
    const auto values = headers.values(name);
    if (values.size() != 1) continue;
    auto list = parse_address_list(values.front(), name);
    if (list && list->size() == 1) return std::move(list->front());
  }
  return std::nullopt;
}

void add_missing_headers(header_block& headers, const mailbox& from, std::chrono::system_clock::time_point now) {
  if (!headers.has("From")) headers.append("From", format_mailbox(from, !from.needs_utf8()));
  if (!headers.has("Date")) headers.append("Date", format_date(now));
  if (!headers.has("Message-ID")) {
    headers.append("Message-ID", generate_message_id(from.ascii_address.substr(from.ascii_address.rfind('@') + 1)));
  }
}

}  // namespace oauthmail::mime
