#include "mime/gmime_support.hpp"

#include <mutex>

namespace oauthmail::mime::detail {

void ensure_gmime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

std::string take_string(char* s) {
  gchar_ptr owned(s);
  return s ? std::string(s) : std::string();
}

GMimeParserOptions* strict_parser_options() {
  ensure_gmime();
  // Created once, never freed (process lifetime), never modified after creation.
  static GMimeParserOptions* options = [] {
    GMimeParserOptions* o = g_mime_parser_options_new();
    g_mime_parser_options_set_address_compliance_mode(o, GMIME_RFC_COMPLIANCE_STRICT);
    g_mime_parser_options_set_allow_addresses_without_domain(o, FALSE);
    g_mime_parser_options_set_rfc2047_compliance_mode(o, GMIME_RFC_COMPLIANCE_LOOSE);
    return o;
  }();
  return options;
}

}  // namespace oauthmail::mime::detail
