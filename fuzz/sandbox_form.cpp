// Fuzz target: the sandbox's form parsing (parse_form / parse_form_strict) and the identity
// provider's request handling behind it (token endpoint, device authorization, introspection,
// revocation, the device and login pages, the authorize query), for each profile.
// Input layout: byte 0 flags: bits 0-1 profile (0 microsoft, 1 google, 2-3 generic); bits 2-4 the
// endpoint (0 token, 1 device authorization, 2 introspect, 3 revoke, 4 device page, 5 login,
// 6 authorize with the rest as query, 7 parse_form only); bit 5 an Authorization: Basic header made
// from the first line; bit 6 a JSON content type instead of a form; bit 7 GET instead of POST.
// The rest is the body. "@C0@".."@C4@" become the ids of the directory's clients (so that known
// clients are reached); secrets are never substituted, so they must never appear in an answer
// unless the request carried them.
// Invariants: parse_form and parse_form_strict agree when the strict form succeeds; what
// parse_form returns survives re-encoding with our client's form encoder; the provider answers
// every request of its paths with a status 200..599, header values without CR/LF, JSON bodies that
// parse, an "error" member in JSON error bodies (Microsoft's with error_codes), bounded sizes,
// and no client secret anywhere.
#include <unistd.h>

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/base64.hpp"
#include "oauth/form.hpp"
#include "sandbox/directory.hpp"
#include "sandbox/faults.hpp"
#include "sandbox/http.hpp"
#include "sandbox/identity_provider.hpp"
#include "sandbox/tokens.hpp"

namespace {

using namespace oauthmail;
using namespace oauthmail::sandbox;

void check(bool ok) {
  if (!ok) std::abort();
}

const std::string base = "http://127.0.0.1:8080";
const auto now = wall_clock::time_point(std::chrono::seconds(1'800'000'000));

struct world {
  directory dir;
  std::optional<token_authority> tokens;
};

// One directory and signing key per profile, made once (RSA keys are slow), in a folder removed
// at exit.
world& world_for(profile_kind p) {
  static const std::filesystem::path folder = [] {
    auto f = std::filesystem::temp_directory_path() / ("oauthmail-fuzz-sandbox-form-" + std::to_string(::getpid()));
    std::filesystem::create_directories(f);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(
          std::filesystem::temp_directory_path() / ("oauthmail-fuzz-sandbox-form-" + std::to_string(::getpid())), ec);
    });
    return f;
  }();
  static std::map<profile_kind, std::unique_ptr<world>> worlds;
  auto& w = worlds[p];
  if (!w) {
    auto gen = make_default_directory(p);
    check(gen.has_value());
    w = std::make_unique<world>();
    w->dir = std::move(gen->dir);
    auto a = token_authority::open((folder / (std::string(to_string(p)) + ".pem")).string(),
                                   idp_issuer(p, base, w->dir.tenant_id), p, w->dir.tenant_id);
    check(a.has_value());
    w->tokens.emplace(std::move(*a));
  }
  return *w;
}

std::string substitute_clients(std::string s, const directory& d) {
  for (std::size_t i = 0; i < d.clients.size() && i < 5; ++i) {
    const std::string mark = "@C" + std::to_string(i) + "@";
    for (auto pos = s.find(mark); pos != std::string::npos; pos = s.find(mark, pos + d.clients[i].client_id.size())) {
      s.replace(pos, mark.size(), d.clients[i].client_id);
    }
  }
  return s;
}

void check_form(std::string_view body) {
  const auto lenient = sandbox::parse_form(body);
  if (const auto strict = sandbox::parse_form_strict(body)) check(*strict == lenient);
  std::string again;
  for (const auto& [k, v] : lenient) {
    if (!again.empty()) again += '&';
    again += oauth::form_encode(k) + "=" + oauth::form_encode(v);
  }
  check(sandbox::parse_form(again) == lenient);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 32 * 1024) return 0;
  const std::uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  check_form(rest);
  const int endpoint = (flags >> 2) & 7;
  if (endpoint == 7) return 0;

  const int p = flags & 3;
  const profile_kind profile = p == 0 ? profile_kind::microsoft : p == 1 ? profile_kind::google : profile_kind::generic;
  world& w = world_for(profile);
  fault_registry faults(1);
  idp_settings settings;
  settings.base_url = base;
  identity_provider idp(settings, w.dir, *w.tokens, faults);
  const idp_endpoints ep = idp.endpoints();
  const auto path_of = [](const std::string& url) { return url.substr(base.size()); };

  http_request r;
  r.method = (flags & 0x80) != 0 ? "GET" : "POST";
  r.peer_address = "127.0.0.1";
  std::string body = substitute_clients(std::string(rest), w.dir);
  if ((flags & 0x20) != 0) {
    const auto nl = body.find('\n');
    r.headers["authorization"] = "Basic " + core::base64_encode(body.substr(0, nl));
    body = nl == std::string::npos ? std::string() : body.substr(nl + 1);
  }
  r.headers["content-type"] = (flags & 0x40) != 0 ? "application/json" : "application/x-www-form-urlencoded";
  switch (endpoint) {
    case 0:
      r.target = path_of(ep.token);
      break;
    case 1:
      r.target = path_of(ep.device_authorization);
      break;
    case 2:
      r.target = path_of(ep.introspection);
      break;
    case 3:
      r.target = ep.revocation.empty() ? "/revoke" : path_of(ep.revocation);
      break;
    case 4:
      r.target = "/device";
      break;
    case 5:
      r.target = "/login";
      break;
    default:
      r.method = "GET";
      r.target = path_of(ep.authorization) + "?" + body;
      body.clear();
      break;
  }
  r.body = std::move(body);

  const auto answer = idp.handle(r, now);
  if (!answer) {
    check(profile == profile_kind::microsoft && endpoint == 3);  // Entra has no revocation endpoint
    return 0;
  }
  check(answer->status >= 200 && answer->status <= 599);
  check(answer->body.size() <= 8 * size + 16384);
  for (const auto& [k, v] : answer->headers) {
    check(k.find_first_of("\r\n") == std::string::npos && v.find_first_of("\r\n") == std::string::npos);
  }
  // A secret may appear only when the request itself carried it (libFuzzer's comparison tracing
  // learns it from the check below and then sends it, e.g. as a grant type that is echoed).
  std::string sent(rest);
  for (const auto& [k, v] : sandbox::parse_form(rest)) sent += "\n" + k + "\n" + v;
  for (const auto& c : w.dir.clients) {
    if (!c.secret.empty() && sent.find(c.secret) == std::string::npos) {
      check(answer->body.find(c.secret) == std::string::npos);
      for (const auto& [k, v] : answer->headers) check(v.find(c.secret) == std::string::npos);
    }
  }
  if (answer->content_type.starts_with("application/json") && !answer->body.empty()) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(answer->body, ec);
    check(!ec && v.is_object());
    if (answer->status >= 400) {
      const auto* e = v.get_object().if_contains("error");
      check(e != nullptr && e->is_string() && !e->get_string().empty());
      if (profile == profile_kind::microsoft) check(v.get_object().contains("error_codes"));
    }
  }
  return 0;
}
