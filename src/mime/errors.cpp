#include "mime/errors.hpp"

namespace oauthmail::mime {

namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "mime"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::bad_address:
        return "address does not parse";
      case errc::header_injection:
        return "control character in a header value";
      case errc::bad_header:
        return "bad header";
      case errc::unreadable_file:
        return "file cannot be read";
      case errc::not_utf8:
        return "text is not UTF-8";
      case errc::bad_composition:
        return "options do not fit together";
      case errc::too_large:
        return "too large";
      case errc::io_failure:
        return "spool file I/O failed";
      case errc::no_recipients:
        return "no recipients";
    }
    return "mime error";
  }
};

}  // namespace

const std::error_category& mime_category() noexcept {
  static const category c;
  return c;
}

core::error mime_error(errc code, std::string message) {
  return core::error(make_error_code(code), std::move(message),
                     code == errc::io_failure ? core::failure_class::transient : core::failure_class::permanent);
}

std::string quote_text(std::string_view text) {
  constexpr std::size_t max_shown = 200;
  std::string out = "\"";
  out.append(text.substr(0, max_shown));
  if (text.size() > max_shown) out += "...";
  return out + "\"";
}

}  // namespace oauthmail::mime
