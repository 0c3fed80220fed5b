#include "net/http_client.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <utility>

#include "core/secret.hpp"

namespace oauthmail::net {

namespace {

using core::failure_class;

constexpr std::size_t max_header_octets = 64 * 1024;

class http_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oauthmail.http"; }
  std::string message(int ev) const override {
    switch (static_cast<http_errc>(ev)) {
      case http_errc::bad_request:
        return "bad HTTP request";
      case http_errc::plain_http_refused:
        return "plain http refused";
      case http_errc::dns_failed:
        return "host name lookup failed";
      case http_errc::connect_failed:
        return "connection failed";
      case http_errc::timed_out:
        return "timed out";
      case http_errc::tls_failed:
        return "TLS handshake failed";
      case http_errc::tls_verification_failed:
        return "TLS certificate not accepted";
      case http_errc::response_too_large:
        return "response too large";
      case http_errc::transfer_failed:
        return "transfer failed";
      case http_errc::internal:
        return "HTTP client internal error";
    }
    return "unknown HTTP error";
  }
};

core::error make_error(http_errc code, std::string message, failure_class cls) {
  return core::error(make_error_code(code), std::move(message), cls);
}

// curl_global_init is not thread-safe: a function-local static runs it exactly once.
bool curl_ready() {
  static const bool ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  return ready;
}

struct curl_deleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct url_deleter {
  void operator()(CURLU* u) const noexcept { curl_url_cleanup(u); }
};
struct chars_deleter {
  void operator()(char* p) const noexcept { curl_free(p); }
};
// Header lines may hold credentials (Authorization): wiped before they are freed.
struct slist_deleter {
  void operator()(curl_slist* list) const noexcept {
    for (curl_slist* p = list; p != nullptr; p = p->next) {
      if (p->data != nullptr) core::secure_wipe(p->data, std::char_traits<char>::length(p->data));
    }
    curl_slist_free_all(list);
  }
};

std::string url_part(CURLU* url, CURLUPart part) {
  char* raw = nullptr;
  if (curl_url_get(url, part, &raw, 0) != CURLUE_OK || raw == nullptr) return {};
  const std::unique_ptr<char, chars_deleter> guard(raw);
  return std::string(raw);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool is_token(std::string_view s) {  // RFC 9110 §5.6.2
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

bool header_value_ok(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// What the transfer collected; libcurl's callbacks write here.
struct transfer {
  oauth::http_response response;
  std::size_t max_body = 0;
  std::size_t header_octets = 0;
  bool body_too_large = false;
  bool headers_too_large = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<transfer*>(user);
  const std::size_t n = size * count;
  if (n > t->max_body - std::min(t->max_body, t->response.body.size())) {
    t->body_too_large = true;
    return 0;  // fewer octets than given: libcurl stops with CURLE_WRITE_ERROR
  }
  t->response.body.append(data, n);
  return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<transfer*>(user);
  const std::size_t n = size * count;
  t->header_octets += n;
  if (t->header_octets > max_header_octets) {
    t->headers_too_large = true;
    return 0;
  }
  const std::string_view line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->response.headers.clear();  // a new response (after 1xx): only the final one counts
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return n;  // the blank line, or junk
  t->response.headers.emplace_back(lower(std::string(trim(line.substr(0, colon)))),
                                   std::string(trim(line.substr(colon + 1))));
  return n;
}

// What went wrong, classified; `where` names the host (and port), never a path, query or body.
core::error classify(CURLcode code, const transfer& t, const std::string& where, const char* detail,
                     const http_options& options) {
  const std::string why = (detail != nullptr && *detail != '\0') ? std::string(detail) : curl_easy_strerror(code);
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
      return make_error(http_errc::dns_failed, fmt::format("Looking up {} failed ({}).", where, why),
                        failure_class::transient);
    case CURLE_COULDNT_RESOLVE_PROXY:
      return make_error(
          http_errc::dns_failed,
          fmt::format("Looking up the proxy for {} failed ({}); check https_proxy / HTTPS_PROXY.", where, why),
          failure_class::transient);
    case CURLE_COULDNT_CONNECT:
      return make_error(http_errc::connect_failed, fmt::format("Cannot connect to {} ({}).", where, why),
                        failure_class::transient);
    case CURLE_OPERATION_TIMEDOUT:
      return make_error(http_errc::timed_out,
                        fmt::format("{} did not answer in time (limit {} ms, connect {} ms).", where,
                                    options.timeout.count(), options.connect_timeout.count()),
                        failure_class::transient);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
      return make_error(http_errc::tls_verification_failed,
                        fmt::format("The TLS certificate of {} is not accepted ({}). Check the host name, and the "
                                    "CA file{}; verification cannot be turned off.",
                                    where, why, options.ca_file ? " " + *options.ca_file : " (system store)"),
                        failure_class::needs_human);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_SHUTDOWN_FAILED:
      return make_error(http_errc::tls_failed, fmt::format("The TLS handshake with {} failed ({}).", where, why),
                        failure_class::transient);
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
      if (t.body_too_large || t.headers_too_large || code == CURLE_FILESIZE_EXCEEDED) {
        return make_error(http_errc::response_too_large,
                          t.headers_too_large
                              ? fmt::format("The response headers of {} exceed {} octets.", where, max_header_octets)
                              : fmt::format("The response of {} exceeds {} octets; is the URL right?", where,
                                            options.max_response_octets),
                          failure_class::needs_human);
      }
      break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return make_error(http_errc::bad_request, fmt::format("The URL for {} is not usable ({}).", where, why),
                        failure_class::needs_human);
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_NOT_BUILT_IN:
      return make_error(http_errc::internal, fmt::format("HTTP request to {}: libcurl failed ({}).", where, why),
                        failure_class::bug);
    default:
      break;
  }
  return make_error(http_errc::transfer_failed, fmt::format("The exchange with {} broke off ({}).", where, why),
                    failure_class::transient);
}

}  // namespace

const std::error_category& http_category() noexcept {
  static const http_category_impl instance;
  return instance;
}

std::error_code make_error_code(http_errc e) noexcept { return {static_cast<int>(e), http_category()}; }

bool is_loopback_host(std::string_view host) noexcept {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "localhost." is the same name
  constexpr std::string_view localhost = "localhost";
  if (host.size() == localhost.size() && std::equal(host.begin(), host.end(), localhost.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == b;
      })) {
    return true;
  }
  std::array<char, INET6_ADDRSTRLEN + 1> text{};  // inet_pton needs a terminated string
  if (host.empty() || host.size() >= text.size()) return false;
  std::copy(host.begin(), host.end(), text.begin());
  in_addr a4{};
  if (inet_pton(AF_INET, text.data(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  return inet_pton(AF_INET6, text.data(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

core::result<oauth::http_response> perform(const oauth::http_request& request, const http_options& options) {
  if (!curl_ready()) return make_error(http_errc::internal, "libcurl could not be initialised.", failure_class::bug);

  // Parse the URL once, with libcurl's own parser, and hand libcurl that parse (CURLOPT_CURLU):
  // the host checked here is the host libcurl connects to.
  const std::unique_ptr<CURLU, url_deleter> url(curl_url());
  if (!url) return make_error(http_errc::internal, "libcurl could not allocate a URL.", failure_class::bug);
  if (curl_url_set(url.get(), CURLUPART_URL, request.url.c_str(), 0) != CURLUE_OK) {
    return make_error(http_errc::bad_request, "The URL is malformed (an absolute https:// URL is needed).",
                      failure_class::needs_human);
  }
  const std::string scheme = lower(url_part(url.get(), CURLUPART_SCHEME));
  const std::string host = url_part(url.get(), CURLUPART_HOST);
  const std::string port = url_part(url.get(), CURLUPART_PORT);
  const std::string where = port.empty() ? host : host + ":" + port;
  if (host.empty()) {
    return make_error(http_errc::bad_request, "The URL has no host.", failure_class::needs_human);
  }
  if (scheme != "https" && scheme != "http") {
    return make_error(http_errc::bad_request,
                      fmt::format("The URL for {} has the scheme \"{}\"; only https:// is accepted.", where, scheme),
                      failure_class::needs_human);
  }
  if (scheme == "http" && !is_loopback_host(host)) {
    return make_error(http_errc::plain_http_refused,
                      fmt::format("plain http refused: http://{} is not a loopback address, and credentials only "
                                  "travel over TLS; use https://{}.",
                                  where, where),
                      failure_class::needs_human);
  }
  if (!is_token(request.method)) {
    return make_error(http_errc::bad_request, "The HTTP method is not a valid token.", failure_class::bug);
  }

  std::unique_ptr<curl_slist, slist_deleter> headers;
  auto add_header = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next == nullptr) return false;
    (void)headers.release();
    headers.reset(next);
    return true;
  };
  for (const auto& [name, value] : request.headers) {
    if (!is_token(name) || !header_value_ok(value)) {
      return make_error(http_errc::bad_request,
                        fmt::format("A request header for {} has an invalid name or value.", where),
                        failure_class::bug);
    }
    core::secret<std::string> line(name + ": " + value);
    if (!add_header(line.expose())) {
      return make_error(http_errc::internal, "libcurl could not allocate a header.", failure_class::bug);
    }
  }
  // No "Expect: 100-continue" round trip for bodies over 1 KiB.
  if (!add_header("Expect:")) return make_error(http_errc::internal, "libcurl header.", failure_class::bug);

  const std::unique_ptr<CURL, curl_deleter> curl(curl_easy_init());
  if (!curl) return make_error(http_errc::internal, "libcurl could not create a handle.", failure_class::bug);
  CURL* h = curl.get();

  transfer t;
  t.max_body = options.max_response_octets;
  std::array<char, CURL_ERROR_SIZE> detail{};

  const std::string& body = request.body.expose();
  bool ok = true;
  auto set = [&](CURLoption option, auto value) { ok = ok && curl_easy_setopt(h, option, value) == CURLE_OK; };
  set(CURLOPT_CURLU, url.get());
  set(CURLOPT_PROTOCOLS_STR, "https,http");
  set(CURLOPT_REDIR_PROTOCOLS_STR, "https");
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS time-outs
  set(CURLOPT_SSL_VERIFYPEER, 1L);
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  set(CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
  set(CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
  set(CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (options.ca_file) set(CURLOPT_CAINFO, options.ca_file->c_str());
  set(CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<std::int64_t>(1, options.timeout.count())));
  set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::max<std::int64_t>(1, options.connect_timeout.count())));
  set(CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_response_octets));
  set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);  // the proxy's CONNECT reply is not the response
  set(CURLOPT_USERAGENT,
      "oauthmail/"
      "0.1");
  set(CURLOPT_HTTPHEADER, headers.get());
  set(CURLOPT_WRITEFUNCTION, &on_body);
  set(CURLOPT_WRITEDATA, static_cast<void*>(&t));
  set(CURLOPT_HEADERFUNCTION, &on_header);
  set(CURLOPT_HEADERDATA, static_cast<void*>(&t));
  set(CURLOPT_ERRORBUFFER, detail.data());
  set(CURLOPT_VERBOSE, 0L);
  if (request.method == "GET") {
    set(CURLOPT_HTTPGET, 1L);
  } else if (request.method == "POST") {
    set(CURLOPT_POST, 1L);
  } else {
    set(CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (request.method != "GET" && (request.method == "POST" || !body.empty())) {
    // libcurl reads the body from our buffer (no copy that would outlive the secret).
    set(CURLOPT_POSTFIELDS, body.data());
    set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  if (!ok) return make_error(http_errc::internal, "libcurl rejected an option.", failure_class::bug);

  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    auto e = classify(rc, t, where, detail.data(), options);
    spdlog::debug("http {} {}://{} failed: {}", request.method, scheme, where, e.message());
    return e;
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  t.response.status = static_cast<int>(status);
  spdlog::debug("http {} {}://{}{} -> {} ({} octets)", request.method, scheme, where,
                url_part(url.get(), CURLUPART_PATH), t.response.status, t.response.body.size());
  return std::move(t.response);
}

}  // namespace oauthmail::net
