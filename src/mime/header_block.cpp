#include "mime/header_block.hpp"

#include <algorithm>
#include <cctype>

#include "mime/errors.hpp"

namespace oauthmail::mime {

namespace {

bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }

// "Name:" (RFC 5322 ftext: printable ASCII but ':'), optionally with white space before the
// colon (RFC 5322 §4.5 obsolete syntax, still written by some programs).
bool is_field_start(std::string_view line) noexcept {
  std::size_t i = 0;
  while (i < line.size()) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c == ':' || c <= 32 || c >= 127) break;
    ++i;
  }
  if (i == 0) return false;
  while (i < line.size() && is_wsp(line[i])) ++i;
  return i < line.size() && line[i] == ':';
}

std::string_view without_line_end(std::string_view line) noexcept {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string header_field::value() const {
  const auto colon = raw.find(':');
  if (colon == std::string::npos) return {};
  std::string unfolded;
  unfolded.reserve(raw.size() - colon);
  for (std::size_t i = colon + 1; i < raw.size(); ++i) {
    if (raw[i] == '\r' || raw[i] == '\n') continue;
    unfolded += raw[i];
  }
  return trim(unfolded);
}

header_block header_block::parse(std::string_view text) {
  header_block out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = nl == std::string_view::npos ? text : text.substr(0, nl + 1);
    text.remove_prefix(line.size());
    if (is_wsp(line.front()) && !out.fields_.empty()) {
      out.fields_.back().raw.append(line);
      continue;
    }
    header_field f;
    const auto colon = line.find(':');
    f.name = trim(line.substr(0, colon == std::string_view::npos ? line.size() : colon));
    f.raw = std::string(line);
    out.fields_.push_back(std::move(f));
  }
  return out;
}

bool header_block::has(std::string_view name) const noexcept {
  return std::any_of(fields_.begin(), fields_.end(), [&](const header_field& f) { return iequals(f.name, name); });
}

std::vector<std::string> header_block::values(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& f : fields_)
    if (iequals(f.name, name)) out.push_back(f.value());
  return out;
}

std::size_t header_block::remove(std::string_view name) {
  const auto before = fields_.size();
  std::erase_if(fields_, [&](const header_field& f) { return iequals(f.name, name); });
  return before - fields_.size();
}

void header_block::append(std::string_view name, std::string_view value) {
  header_field f;
  f.name = std::string(name);
  f.raw = std::string(name) + ": " + std::string(value) + "\n";
  fields_.push_back(std::move(f));
}

void header_block::replace(std::string_view name, std::string_view value) {
  const auto first =
      std::find_if(fields_.begin(), fields_.end(), [&](const header_field& f) { return iequals(f.name, name); });
  if (first == fields_.end()) {
    append(name, value);
    return;
  }
  const auto index = static_cast<std::size_t>(first - fields_.begin());
  header_field f;
  f.name = std::string(name);
  f.raw = std::string(name) + ": " + std::string(value) + "\n";
  remove(name);
  fields_.insert(fields_.begin() + static_cast<std::ptrdiff_t>(std::min(index, fields_.size())), std::move(f));
}

std::string header_block::to_string() const {
  std::string out;
  for (const auto& f : fields_) {
    out += f.raw;
    if (out.back() != '\n') out += '\n';
  }
  return out;
}

// ---- message_reader ----------------------------------------------------------------------------

message_reader::message_reader(bool dot_ends_message, std::size_t max_header_octets, sink body)
    : dots_(dot_ends_message), max_header_(max_header_octets), sink_(std::move(body)) {}

core::result<void> message_reader::feed(std::string_view chunk) {
  while (!chunk.empty() && !done_) {
    if (state_ == state::body) return body_bytes(chunk);
    const auto nl = chunk.find('\n');
    if (nl == std::string_view::npos) {
      line_.append(chunk);
      chunk = {};
      if (headers_.size() + line_.size() > max_header_) {
        const bool header_like = is_field_start(line_) || (is_wsp(line_.front()) && !headers_.empty());
        if (header_like) {
          return mime_error(errc::too_large, "The message's header block is larger than " +
                                                 std::to_string(max_header_ / 1024) +
                                                 " KiB; no mail program writes headers that long.");
        }
        // A long first body line of a message without headers: stream it.
        first_line_ = false;
        state_ = state::body;
        needs_separator_ = true;
        std::string line = std::move(line_);
        line_.clear();
        return body_bytes(line);
      }
      return {};
    }
    line_.append(chunk.substr(0, nl + 1));
    chunk.remove_prefix(nl + 1);
    std::string line = std::move(line_);
    line_.clear();
    auto r = header_line(line);
    if (!r) return r;
  }
  return {};
}

core::result<void> message_reader::header_line(std::string_view line) {
  const std::string_view content = without_line_end(line);
  if (dots_ && content == ".") {
    done_ = true;
    return {};
  }
  if (first_line_) {
    first_line_ = false;
    if (content.substr(0, 5) == "From ") return {};  // mbox separator
  }
  if (content.empty()) {
    state_ = state::body;
    return {};
  }
  if (is_field_start(content) || (is_wsp(content.front()) && !headers_.empty())) {
    headers_.append(line);
    if (line.back() != '\n') headers_ += '\n';
    if (headers_.size() > max_header_) {
      return mime_error(errc::too_large, "The message's header block is larger than " +
                                             std::to_string(max_header_ / 1024) +
                                             " KiB; no mail program writes headers that long.");
    }
    return {};
  }
  state_ = state::body;
  needs_separator_ = true;
  return body_bytes(line);
}

core::result<void> message_reader::emit(std::string_view bytes) {
  if (bytes.empty()) return {};
  body_octets_ += bytes.size();
  return sink_(bytes);
}

core::result<void> message_reader::body_bytes(std::string_view bytes) {
  if (!dots_) return emit(bytes);
  out_.clear();
  for (const char c : bytes) {
    if (!pending_.empty()) {
      if (c == '\n') {
        // "." or ".\r" then the line end: the end of the message.
        done_ = true;
        pending_.clear();
        return emit(out_);
      }
      if (c == '\r' && pending_ == ".") {
        pending_ = ".\r";
        continue;
      }
      out_ += pending_;
      pending_.clear();
      at_line_start_ = false;
    }
    if (at_line_start_ && c == '.') {
      pending_ = ".";
      continue;
    }
    out_ += c;
    at_line_start_ = c == '\n';
  }
  return emit(out_);
}

core::result<void> message_reader::finish() {
  if (done_) return {};
  if (state_ == state::headers && !line_.empty()) {
    std::string line = std::move(line_);
    line_.clear();
    auto r = header_line(line);
    if (!r) return r;
  }
  if (!pending_.empty()) {
    // A last line holding only "." (without its line end) ends the message as well.
    if (pending_ == "." || pending_ == ".\r") {
      pending_.clear();
      done_ = true;
    }
  }
  return {};
}

}  // namespace oauthmail::mime
