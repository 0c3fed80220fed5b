// GMime 3 plumbing shared by src/mime: one g_mime_init() per process (thread-safe, first use) and
// owning pointers for GObjects and g_malloc'ed strings, so that no path leaks on an early return.
// Must not: be included by code outside src/mime (GMime types stay behind src/mime's interfaces).
#pragma once

#include <gmime/gmime.h>

#include <memory>
#include <string>

namespace oauthmail::mime::detail {

// Calls g_mime_init() once (std::call_once); every entry point of src/mime that touches GMime
// calls this first.
void ensure_gmime();

struct gobject_unref {
  void operator()(void* p) const noexcept {
    if (p) g_object_unref(p);
  }
};
template <class T>
using gobject_ptr = std::unique_ptr<T, gobject_unref>;

struct gfree {
  void operator()(void* p) const noexcept { g_free(p); }
};
using gchar_ptr = std::unique_ptr<char, gfree>;

// Takes ownership of a g_malloc'ed string and copies it ("" for null).
std::string take_string(char* s);

// Parser options for addresses: strict RFC 5322 compliance, RFC 2047 decoding of names.
GMimeParserOptions* strict_parser_options();

}  // namespace oauthmail::mime::detail
