#include "sandbox/http.hpp"

#include <algorithm>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/pct_string_view.hpp>
#include <cctype>

namespace oauthmail::sandbox {

namespace {

// One name or value of a form: percent escapes and '+' (a space in
// application/x-www-form-urlencoded, HTML 4.01 §17.13.4.1) decoded by Boost.URL. nullopt for an
// invalid escape ("%G1", a truncated "%4").
std::optional<std::string> decode_component(std::string_view text) {
  auto pct = boost::urls::make_pct_string_view(text);
  if (!pct) return std::nullopt;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  return pct->decode(opts);
}

template <class OnPair>
bool split_form(std::string_view body, OnPair&& on_pair) {
  bool all_valid = true;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view item = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (item.empty()) continue;  // "a=1&&b=2"
    const auto eq = item.find('=');
    auto name = decode_component(item.substr(0, eq));
    auto value = decode_component(eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1));
    if (!name || !value) {
      all_valid = false;
      continue;
    }
    on_pair(std::move(*name), std::move(*value));
  }
  return all_valid;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

std::string_view http_request::path() const {
  const std::string_view t = target;
  return t.substr(0, t.find_first_of("?#"));
}

std::optional<std::string> http_request::query_parameter(std::string_view name) const {
  const std::string_view t = target;
  const auto q = t.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = t.substr(q + 1);
  query = query.substr(0, query.find('#'));
  std::optional<std::string> found;
  for (auto& [k, v] : parse_form(query)) {
    if (k == name) found = std::move(v);  // last one wins
  }
  return found;
}

std::optional<std::string> http_request::header(std::string_view lower_case_name) const {
  auto it = headers.find(lower_case_name);
  if (it == headers.end()) it = headers.find(lower(lower_case_name));
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

http_response http_response::json(int status, std::string body) {
  http_response r;
  r.status = status;
  r.content_type = "application/json; charset=utf-8";
  r.body = std::move(body);
  return r;
}

http_response http_response::html(int status, std::string body) {
  http_response r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(body);
  // Pages are forms for a person: never cached, never framed, no scripts.
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
  return r;
}

http_response http_response::redirect(std::string location) {
  http_response r;
  r.status = 302;
  r.content_type = "text/html; charset=utf-8";
  r.headers.emplace_back("Location", std::move(location));
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

http_response http_response::not_found() {
  return json(404, R"({"error":"not_found","error_description":"There is no such endpoint."})");
}

std::vector<std::pair<std::string, std::string>> parse_form(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> out;
  split_form(body, [&](std::string name, std::string value) { out.emplace_back(std::move(name), std::move(value)); });
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_form_strict(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> out;
  bool nul = false;
  const bool valid = split_form(body, [&](std::string name, std::string value) {
    if (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos) nul = true;
    out.emplace_back(std::move(name), std::move(value));
  });
  if (!valid || nul) return std::nullopt;
  return out;
}

}  // namespace oauthmail::sandbox
