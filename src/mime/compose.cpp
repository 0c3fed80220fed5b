#include "mime/compose.hpp"

#include <fcntl.h>
#include <gio/gio.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "mime/errors.hpp"
#include "mime/gmime_support.hpp"
#include "mime/header_block.hpp"

namespace oauthmail::mime {

namespace {

using detail::gchar_ptr;
using detail::gobject_ptr;

std::string base_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

// RFC 5322 §3.2.3 atext plus "." and "@": what a Content-ID (RFC 2392) may hold without quoting.
bool valid_content_id(std::string_view id) {
  if (id.empty() || id.size() > 200) return false;
  return std::all_of(id.begin(), id.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~.@").find(ch) != std::string_view::npos;
  });
}

// Opens a file the message will stream from: must exist, be a regular file and readable.
core::result<int> open_readable(const std::string& path, std::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return mime_error(errc::unreadable_file,
                      std::string(what) + " " + quote_text(path) + " cannot be read: " + std::strerror(errno) + ".");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return mime_error(errc::unreadable_file, std::string(what) + " " + quote_text(path) + " is not a regular file.");
  }
  return fd;
}

core::result<std::string> read_prefix(int fd, std::size_t n) {
  std::string out(n, '\0');
  const ssize_t got = ::pread(fd, out.data(), n, 0);
  if (got < 0) return mime_error(errc::unreadable_file, std::string("reading failed: ") + std::strerror(errno));
  out.resize(static_cast<std::size_t>(got));
  return out;
}

// The MIME type from the file name and its first octets (shared-mime-info through GLib).
std::string guess_type(const std::string& path, const std::string& head) {
  gboolean uncertain = FALSE;
  gchar_ptr type(
      g_content_type_guess(path.c_str(), reinterpret_cast<const guchar*>(head.data()), head.size(), &uncertain));
  gchar_ptr mime(type ? g_content_type_get_mime_type(type.get()) : nullptr);
  std::string t = mime ? mime.get() : "";
  if (t.empty() || t.find('/') == std::string::npos) t = "application/octet-stream";
  return t;
}

// A text part holding UTF-8 text: 7bit when every line is short ASCII, else quoted-printable
// (GMime's best encoding under the 7-bit constraint).
GMimeObject* make_text_part(const char* subtype, const std::string& text) {
  GMimeTextPart* part = g_mime_text_part_new_with_subtype(subtype);
  gobject_ptr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(text.data(), text.size()));
  gobject_ptr<GMimeDataWrapper> wrapper(
      g_mime_data_wrapper_new_with_stream(stream.get(), GMIME_CONTENT_ENCODING_DEFAULT));
  g_mime_part_set_content(GMIME_PART(part), wrapper.get());
  g_mime_text_part_set_charset(part, "utf-8");
  g_mime_part_set_content_encoding(
      GMIME_PART(part), g_mime_part_get_best_content_encoding(GMIME_PART(part), GMIME_ENCODING_CONSTRAINT_7BIT));
  return GMIME_OBJECT(part);
}

// A part streaming a file's bytes, base64 (identical bytes whatever they hold).
core::result<GMimeObject*> make_file_part(const std::string& path, std::string_view what, bool inline_disposition) {
  auto fd = open_readable(path, what);
  if (!fd) return fd.error();
  auto head = read_prefix(*fd, 4096);
  if (!head) {
    ::close(*fd);
    return mime_error(errc::unreadable_file,
                      std::string(what) + " " + quote_text(path) + ": " + head.error().message());
  }
  std::string type = guess_type(path, *head);
  const auto slash = type.find('/');
  gobject_ptr<GMimeContentType> ct(
      g_mime_content_type_new(type.substr(0, slash).c_str(), type.substr(slash + 1).c_str()));
  GMimePart* part = g_mime_part_new_with_type(g_mime_content_type_get_media_type(ct.get()),
                                              g_mime_content_type_get_media_subtype(ct.get()));
  if (type.rfind("text/", 0) == 0 && g_utf8_validate(head->data(), static_cast<gssize>(head->size()), nullptr)) {
    g_mime_object_set_content_type_parameter(GMIME_OBJECT(part), "charset", "utf-8");
  }
  gobject_ptr<GMimeStream> stream(g_mime_stream_fs_new(*fd));  // owns the descriptor
  gobject_ptr<GMimeDataWrapper> wrapper(
      g_mime_data_wrapper_new_with_stream(stream.get(), GMIME_CONTENT_ENCODING_DEFAULT));
  g_mime_part_set_content(part, wrapper.get());
  g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
  const std::string name = base_name(path);
  g_mime_object_set_disposition(GMIME_OBJECT(part), inline_disposition ? "inline" : "attachment");
  g_mime_part_set_filename(part, name.c_str());
  return GMIME_OBJECT(part);
}

void add_mailboxes(GMimeMessage* m, GMimeAddressType type, const std::vector<mailbox>& list, bool encode) {
  InternetAddressList* target = g_mime_message_get_addresses(m, type);
  for (const auto& mb : list) {
    const std::string& addr = encode && !mb.needs_utf8() ? mb.ascii_address : mb.address;
    gobject_ptr<InternetAddress> a(
        internet_address_mailbox_new(mb.name.empty() ? nullptr : mb.name.c_str(), addr.c_str()));
    internet_address_set_charset(a.get(), "utf-8");
    internet_address_list_add(target, a.get());
  }
}

// RFC 6532: replaces the encoded words of a header by its folded UTF-8 text.
void set_raw_utf8(GMimeObject* object, const char* name, const std::string& value, bool structured) {
  GMimeHeaderList* list = g_mime_object_get_header_list(object);
  GMimeHeader* h = g_mime_header_list_get_header(list, name);
  if (!h) return;
  const std::string line = std::string(name) + ": " + value;
  gchar_ptr folded(structured ? g_mime_utils_structured_header_fold(nullptr, nullptr, line.c_str())
                              : g_mime_utils_unstructured_header_fold(nullptr, nullptr, line.c_str()));
  std::string raw = folded ? folded.get() : line + "\n";
  raw.erase(0, std::strlen(name) + 1);  // GMime's raw value is what follows the colon
  if (raw.empty() || raw.back() != '\n') raw += '\n';
  g_mime_header_set_raw_value(h, raw.c_str());
}

bool has_header(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); });
}

}  // namespace

std::string generate_message_id(std::string_view domain) {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("OpenSSL's random generator failed");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "<";
  for (const auto b : bytes) {
    id += hex[b >> 4];
    id += hex[b & 15];
  }
  id += "@";
  id += domain.empty() ? std::string_view("oauthmail.invalid") : domain;
  id += ">";
  return id;
}

std::string format_date(std::chrono::system_clock::time_point t) {
  detail::ensure_gmime();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  GDateTime* dt = g_date_time_new_from_unix_local(secs);
  std::string out = detail::take_string(g_mime_utils_header_format_date(dt));
  g_date_time_unref(dt);
  return out;
}

core::result<void> check_utf8(std::string_view text, std::string_view what) {
  if (!g_utf8_validate(text.data(), static_cast<gssize>(text.size()), nullptr)) {
    return mime_error(errc::not_utf8, std::string(what) +
                                          " is not valid UTF-8 text. Convert it (for example with iconv -t UTF-8) or "
                                          "send it as an attachment.");
  }
  return {};
}

core::result<std::string> read_text_file(const std::string& path, std::string_view what, std::size_t max_octets) {
  auto fd = open_readable(path, what);
  if (!fd) return fd.error();
  std::string out;
  std::array<char, std::size_t{64} * 1024> buffer{};
  for (;;) {
    const ssize_t n = ::read(*fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(*fd);
      return mime_error(errc::unreadable_file,
                        std::string(what) + " " + quote_text(path) + " cannot be read: " + std::strerror(err) + ".");
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_octets) {
      ::close(*fd);
      return mime_error(errc::too_large, std::string(what) + " " + quote_text(path) + " is larger than " +
                                             std::to_string(max_octets / (1024 * 1024)) + " MiB.");
    }
    out.append(buffer.data(), static_cast<std::size_t>(n));
  }
  ::close(*fd);
  auto ok = check_utf8(out, std::string(what) + " " + quote_text(path));
  if (!ok) return ok.error();
  return out;
}

core::result<std::pair<std::string, std::string>> parse_header_option(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return mime_error(errc::bad_header, "--header " + quote_text(text) +
                                            ": expected \"Name: value\", for example --header \"X-Report: daily\".");
  }
  std::string name(text.substr(0, colon));
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
  std::string value(text.substr(colon + 1));
  value.erase(0, value.find_first_not_of(" \t") == std::string::npos ? value.size() : value.find_first_not_of(" \t"));
  if (has_control_character(text)) {
    return mime_error(errc::header_injection, "--header " + quote_text(text) +
                                                  " contains a control character (such as a line break); a header "
                                                  "must be on one line.");
  }
  const bool name_ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c > 32 && c < 127 && c != ':';
  });
  if (!name_ok) {
    return mime_error(errc::bad_header, "--header " + quote_text(text) + ": " + quote_text(name) +
                                            " is not a valid header name (letters, digits and '-', no spaces).");
  }
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> own_options = {
      {{"From", "--from"},
       {"To", "--to"},
       {"Cc", "--cc"},
       {"Bcc", "--bcc"},
       {"Reply-To", "--reply-to"},
       {"Subject", "--subject"}}};
  for (const auto& [header, option] : own_options) {
    if (iequals(name, header)) {
      return mime_error(errc::bad_header,
                        "--header " + quote_text(text) + ": use " + std::string(option) + " to set " + name + ".");
    }
  }
  if (iequals(name, "MIME-Version") || (name.size() >= 8 && iequals(std::string_view(name).substr(0, 8), "Content-"))) {
    return mime_error(errc::bad_header, "--header " + quote_text(text) + ": " + name +
                                            " describes the MIME structure, which oauthmail writes itself.");
  }
  if (auto ok = check_utf8(value, "--header " + quote_text(name)); !ok) return ok.error();
  if (iequals(name, "Date")) {
    detail::ensure_gmime();
    GDateTime* d = g_mime_utils_header_decode_date(value.c_str());
    if (!d) {
      return mime_error(errc::bad_header, "--header " + quote_text(text) +
                                              ": not an RFC 5322 date (for example \"Date: Tue, 03 Jun 2025 10:00:00 "
                                              "+0200\"); leave it out to use the current time.");
    }
    g_date_time_unref(d);
  }
  if (iequals(name, "Message-ID")) {
    const bool shape = value.size() > 4 && value.front() == '<' && value.back() == '>' &&
                       value.find('@') != std::string::npos && value.find_first_of(" \t") == std::string::npos &&
                       !has_non_ascii(value);
    if (!shape) {
      return mime_error(errc::bad_header, "--header " + quote_text(text) +
                                              ": a Message-ID looks like <unique-part@example.com>; leave it out to "
                                              "have one generated.");
    }
  }
  return std::pair{std::move(name), std::move(value)};
}

core::result<inline_image> parse_inline_option(std::string_view text) {
  inline_image out;
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(text), ec) || text.find('=') == std::string_view::npos) {
    out.path = std::string(text);
    out.content_id = base_name(out.path);
  } else {
    const auto eq = text.find('=');
    out.content_id = std::string(text.substr(0, eq));
    out.path = std::string(text.substr(eq + 1));
  }
  if (!valid_content_id(out.content_id)) {
    return mime_error(errc::bad_composition,
                      "--inline " + quote_text(text) + ": " + quote_text(out.content_id) +
                          " cannot be a Content-ID (letters, digits and .-_@ only); name it: --inline logo=" +
                          out.path + " and refer to it as cid:logo.");
  }
  return out;
}

core::result<composed_message> compose(const message_spec& spec) {
  detail::ensure_gmime();
  composed_message out;

  // Everything a person typed is checked before any file is opened.
  if (spec.subject) {
    if (has_control_character(*spec.subject)) {
      return mime_error(errc::header_injection,
                        "--subject " + quote_text(*spec.subject) +
                            " contains a control character (such as a line break); a subject must be on one line.");
    }
    if (auto ok = check_utf8(*spec.subject, "--subject"); !ok) return ok.error();
  }
  for (const auto* list : {&spec.to, &spec.cc, &spec.bcc, &spec.reply_to}) {
    for (const auto& m : *list) {
      if (has_control_character(m.name) || has_control_character(m.address)) {
        return mime_error(errc::header_injection,
                          "The address " + quote_text(m.address) +
                              " or its name contains a control character (such as a line break).");
      }
    }
  }
  if (has_control_character(spec.from.name) || has_control_character(spec.from.address)) {
    return mime_error(errc::header_injection, "The sender " + quote_text(spec.from.address) +
                                                  " or its name contains a control character (such as a line break).");
  }
  for (const auto& [name, value] : spec.headers) {
    if (has_control_character(name) || has_control_character(value)) {
      return mime_error(errc::header_injection,
                        "The header " + quote_text(name) + " contains a control character (such as a line break).");
    }
  }
  if (!spec.inline_images.empty() && !spec.html) {
    return mime_error(errc::bad_composition,
                      "--inline images are shown inside an HTML body: add --html or --html-file that refers to them "
                      "as <img src=\"cid:" +
                          spec.inline_images.front().content_id + "\">, or send them with --attach.");
  }
  {
    std::set<std::string> ids;
    for (const auto& img : spec.inline_images) {
      if (!ids.insert(img.content_id).second) {
        return mime_error(errc::bad_composition, "Two --inline images have the Content-ID " +
                                                     quote_text(img.content_id) +
                                                     "; name them apart with --inline ID=FILE.");
      }
    }
  }

  bool utf8 = spec.from.needs_utf8();
  for (const auto* list : {&spec.to, &spec.cc, &spec.reply_to})
    for (const auto& m : *list) utf8 = utf8 || m.needs_utf8();
  const bool encode = !utf8;
  out.utf8_headers = utf8;

  gobject_ptr<GMimeMessage> message(g_mime_message_new(TRUE));
  GMimeObject* mobj = GMIME_OBJECT(message.get());
  add_mailboxes(message.get(), GMIME_ADDRESS_TYPE_FROM, {spec.from}, encode);
  add_mailboxes(message.get(), GMIME_ADDRESS_TYPE_TO, spec.to, encode);
  add_mailboxes(message.get(), GMIME_ADDRESS_TYPE_CC, spec.cc, encode);
  add_mailboxes(message.get(), GMIME_ADDRESS_TYPE_REPLY_TO, spec.reply_to, encode);
  if (spec.subject) g_mime_message_set_subject(message.get(), spec.subject->c_str(), "utf-8");

  // Date and Message-ID: generated unless given as extra headers.
  if (!has_header(spec.headers, "Date")) {
    g_mime_object_set_header(mobj, "Date", format_date(spec.date).c_str(), nullptr);
  }
  const std::string from_domain = spec.from.ascii_address.substr(spec.from.ascii_address.rfind('@') + 1);
  out.message_id = generate_message_id(from_domain);
  for (const auto& [name, value] : spec.headers) {
    if (iequals(name, "Message-ID")) out.message_id = value;
  }
  g_mime_message_set_message_id(message.get(), out.message_id.substr(1, out.message_id.size() - 2).c_str());
  for (const auto& [name, value] : spec.headers) {
    if (iequals(name, "Message-ID")) continue;
    if (iequals(name, "Date")) {
      g_mime_object_set_header(mobj, "Date", value.c_str(), nullptr);
      continue;
    }
    g_mime_object_append_header(mobj, name.c_str(), value.c_str(), "utf-8");
  }

  // The body.
  gobject_ptr<GMimeObject> text_part(spec.text ? make_text_part("plain", *spec.text) : nullptr);
  gobject_ptr<GMimeObject> html_part(spec.html ? make_text_part("html", *spec.html) : nullptr);
  if (!spec.inline_images.empty()) {
    gobject_ptr<GMimeMultipart> related(g_mime_multipart_new_with_subtype("related"));
    g_mime_object_set_content_type_parameter(GMIME_OBJECT(related.get()), "type", "text/html");
    g_mime_multipart_add(related.get(), html_part.get());
    for (const auto& img : spec.inline_images) {
      auto part = make_file_part(img.path, "--inline", true);
      if (!part) return part.error();
      gobject_ptr<GMimeObject> owned(*part);
      g_mime_object_set_content_id(owned.get(), img.content_id.c_str());
      g_mime_multipart_add(related.get(), owned.get());
      if (spec.html->find("cid:" + img.content_id) == std::string::npos) {
        out.warnings.push_back("the HTML body does not refer to the inline image \"" + img.content_id +
                               "\" (write <img src=\"cid:" + img.content_id + "\">); it may be shown as an attachment");
      }
    }
    html_part.reset(GMIME_OBJECT(related.release()));
  }
  gobject_ptr<GMimeObject> body;
  if (text_part && html_part) {
    gobject_ptr<GMimeMultipart> alternative(g_mime_multipart_new_with_subtype("alternative"));
    g_mime_multipart_add(alternative.get(), text_part.get());
    g_mime_multipart_add(alternative.get(), html_part.get());
    body.reset(GMIME_OBJECT(alternative.release()));
  } else if (html_part) {
    body = std::move(html_part);
  } else if (text_part) {
    body = std::move(text_part);
  } else {
    body.reset(make_text_part("plain", ""));
  }
  if (!spec.attachments.empty()) {
    gobject_ptr<GMimeMultipart> mixed(g_mime_multipart_new_with_subtype("mixed"));
    g_mime_multipart_add(mixed.get(), body.get());
    for (const auto& path : spec.attachments) {
      auto part = make_file_part(path, "--attach", false);
      if (!part) return part.error();
      gobject_ptr<GMimeObject> owned(*part);
      g_mime_multipart_add(mixed.get(), owned.get());
    }
    body.reset(GMIME_OBJECT(mixed.release()));
  }
  g_mime_message_set_mime_part(message.get(), body.get());

  if (utf8) {
    // RFC 6532: names and text as UTF-8 rather than encoded words.
    set_raw_utf8(mobj, "From", format_address_list({spec.from}, false), true);
    if (!spec.to.empty()) set_raw_utf8(mobj, "To", format_address_list(spec.to, false), true);
    if (!spec.cc.empty()) set_raw_utf8(mobj, "Cc", format_address_list(spec.cc, false), true);
    if (!spec.reply_to.empty()) set_raw_utf8(mobj, "Reply-To", format_address_list(spec.reply_to, false), true);
    if (spec.subject && has_non_ascii(*spec.subject)) set_raw_utf8(mobj, "Subject", *spec.subject, false);
    for (const auto& [name, value] : spec.headers) {
      if (has_non_ascii(value)) set_raw_utf8(mobj, name.c_str(), value, false);
    }
  }

  auto sp = spool::create();
  if (!sp) return sp.error();
  out.content = std::move(*sp);
  const int fd = ::dup(out.content->fd());
  if (fd < 0) return mime_error(errc::io_failure, std::string("dup failed: ") + std::strerror(errno));
  {
    gobject_ptr<GMimeStream> stream(g_mime_stream_fs_new(fd));
    GMimeFormatOptions* format = g_mime_format_options_new();
    g_mime_format_options_add_hidden_header(format, "Bcc");  // never written, even if GMime had one
    const ssize_t written = g_mime_object_write_to_stream(mobj, format, stream.get());
    g_mime_format_options_free(format);
    if (written < 0 || g_mime_stream_flush(stream.get()) != 0) {
      return mime_error(errc::unreadable_file,
                        "Writing the message failed: an attachment or inline image could not be read completely "
                        "(changed or removed while sending?), or the temporary directory is full.");
    }
  }
  if (auto r = out.content->rescan(); !r) return r.error();
  if (out.content->stats().longest_line() > 998) {
    return mime_error(errc::bad_header,
                      "A header is longer than 998 octets on one line (a word that cannot be folded, "
                      "in --subject or --header?); shorten it.");
  }

  out.envelope_from = spec.from.envelope();
  std::set<std::string> seen;
  for (const auto* list : {&spec.to, &spec.cc, &spec.bcc}) {
    for (const auto& m : *list) {
      std::string key = m.envelope();
      std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
      if (seen.insert(key).second) out.envelope_to.push_back(m.envelope());
    }
  }
  return out;
}

}  // namespace oauthmail::mime
