// Test support for the identity provider: one directory and signing key per profile (generated
// once per test program: RSA keys are slow), a fresh provider per test, and the bridge between
// oauthmail's own OAuth client values (oauth::http_request / http_response) and the sandbox's
// HTTP values, so that the client code in src/oauth talks to the provider in memory.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>

#include "core/base64.hpp"
#include "oauth/form.hpp"
#include "oauth/grants.hpp"
#include "oauth/http_exchange.hpp"
#include "oauth/random.hpp"
#include "sandbox/directory.hpp"
#include "sandbox/faults.hpp"
#include "sandbox/identity_provider.hpp"
#include "sandbox/tokens.hpp"

namespace oauthmail::sandbox::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline const std::string base_url = "http://127.0.0.1:8080";
inline const wall_clock::time_point t0 = wall_clock::time_point(std::chrono::seconds(1'800'000'000));

// Generated once per profile and program.
struct profile_material {
  generated_directory gen;
  std::string key_path;  // the token authority's signing key

  std::string private_key(std::string_view client_name) const {
    for (const auto& [name, pem] : gen.private_keys) {
      if (name == client_name) return pem;
    }
    ADD_FAILURE() << "no private key for " << client_name;
    return {};
  }
};

inline const fs::path& material_dir() {
  static const fs::path dir = [] {
    auto d = fs::temp_directory_path() / ("oauthmail-idp-test-" + std::to_string(::getpid()));
    fs::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(fs::temp_directory_path() / ("oauthmail-idp-test-" + std::to_string(::getpid())), ec);
    });
    return d;
  }();
  return dir;
}

inline const profile_material& material(profile_kind p) {
  static std::map<profile_kind, profile_material> cache;
  auto it = cache.find(p);
  if (it == cache.end()) {
    auto gen = make_default_directory(p);
    if (!gen) throw std::runtime_error(gen.error().message());
    profile_material m{std::move(*gen), (material_dir() / (std::string(to_string(p)) + "-signing.pem")).string()};
    it = cache.emplace(p, std::move(m)).first;
  }
  return it->second;
}

// A sandbox request from one of our client's requests.
inline http_request to_sandbox(const oauth::http_request& r) {
  http_request out;
  out.method = r.method;
  auto url = boost::urls::parse_absolute_uri(r.url);
  EXPECT_TRUE(url) << r.url;
  if (url) {
    out.target = std::string(url->encoded_path());
    if (url->has_query()) out.target += "?" + std::string(url->encoded_query());
  }
  for (const auto& [k, v] : r.headers) {
    std::string name = k;
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = v;
  }
  out.body = r.body.expose();
  out.peer_address = "127.0.0.1";
  return out;
}

// Our client's view of a sandbox response.
inline oauth::http_response to_client(const http_response& r) {
  oauth::http_response out;
  out.status = r.status;
  out.headers.emplace_back("content-type", r.content_type);
  for (const auto& [k, v] : r.headers) {
    std::string name = k;
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers.emplace_back(name, v);
  }
  out.body = r.body;
  return out;
}

inline std::string header_of(const http_response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return {};
}

inline boost::json::object json_body(const http_response& r) {
  boost::system::error_code ec;
  auto v = boost::json::parse(r.body, ec);
  EXPECT_FALSE(ec) << r.body;
  EXPECT_TRUE(v.is_object()) << r.body;
  return v.is_object() ? v.get_object() : boost::json::object{};
}

inline std::string str(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

// One provider with fresh state over a profile's shared directory and key.
class idp_test : public ::testing::Test {
 protected:
  void start(profile_kind p, idp_settings settings = {}) {
    profile_ = p;
    const auto& m = material(p);
    dir_ = m.gen.dir;
    auto a = token_authority::open(m.key_path, idp_issuer(p, base_url, dir_.tenant_id), p, dir_.tenant_id);
    ASSERT_TRUE(a) << a.error().message();
    tokens_.emplace(std::move(*a));
    if (settings.base_url.empty()) settings.base_url = base_url;
    idp_ = std::make_unique<identity_provider>(settings, dir_, *tokens_, faults_);
    ep_ = idp_->endpoints();
  }

  const profile_material& mat() const { return material(profile_); }
  const client& cl(std::string_view name) const {
    const client* c = dir_.find_client(name);
    if (c == nullptr) throw std::runtime_error("no client " + std::string(name));
    return *c;
  }

  // Handles a request that must belong to the provider.
  http_response call(const http_request& r, wall_clock::time_point now = t0) {
    auto out = idp_->handle(r, now);
    EXPECT_TRUE(out.has_value()) << r.method << " " << r.target;
    return out.value_or(http_response::not_found());
  }
  http_response call(const oauth::http_request& r, wall_clock::time_point now = t0) { return call(to_sandbox(r), now); }
  http_response get(std::string target, wall_clock::time_point now = t0) {
    http_request r;
    r.method = "GET";
    r.target = std::move(target);
    return call(r, now);
  }
  http_response post_form(std::string target, std::string body, wall_clock::time_point now = t0,
                          std::map<std::string, std::string, std::less<>> headers = {}) {
    http_request r;
    r.method = "POST";
    r.target = std::move(target);
    r.headers = std::move(headers);
    r.headers["content-type"] = "application/x-www-form-urlencoded";
    r.body = std::move(body);
    return call(r, now);
  }
  // The path part of an endpoint URL.
  static std::string path_of(const std::string& url) {
    auto u = boost::urls::parse_absolute_uri(url);
    return u ? std::string(u->encoded_path()) : url;
  }

  oauth::request_context ctx(wall_clock::time_point now = t0) const { return {now, oauth::system_random()}; }

  oauth::client_auth secret_auth(std::string_view name,
                                 oauth::client_auth_method m = oauth::client_auth_method::client_secret_post) const {
    const auto& c = cl(name);
    return oauth::secret_client(c.client_id, core::secret<std::string>(c.secret), m);
  }
  oauth::client_auth cert_auth(wall_clock::time_point now = t0, oauth::jwt_alg alg = oauth::jwt_alg::rs256) const {
    const auto& c = cl("app-cert");
    auto a = oauth::certificate_client(c.client_id, core::secret<std::string>(mat().private_key("app-cert")),
                                       c.certificate_pem, now, alg);
    EXPECT_TRUE(a) << (a ? "" : a.error().message());
    return std::move(*a);
  }

  // The token's claims as the SMTP server would see them.
  validated_token validated(const std::string& jwt, wall_clock::time_point now = t0) const {
    auto v = tokens_->validate(jwt, now);
    EXPECT_TRUE(v.token) << (v.problem ? describe(*v.problem) : "");
    return v.token.value_or(validated_token{});
  }

  // Signs in through the authorize page and the login form; returns the Location of the redirect.
  std::string sign_in(const std::string& authorize_url, std::string_view mailbox, std::string_view action = "accept",
                      wall_clock::time_point now = t0) {
    auto u = boost::urls::parse_absolute_uri(authorize_url);
    EXPECT_TRUE(u);
    auto page = get(std::string(u->encoded_path()) + "?" + std::string(u->encoded_query()), now);
    EXPECT_EQ(page.status, 200) << page.body;
    std::smatch m;
    const std::regex re("name=\"request\" value=\"([^\"]+)\"");
    if (!std::regex_search(page.body, m, re)) {
      ADD_FAILURE() << "no login form: " << page.body;
      return {};
    }
    auto done = post_form(
        "/login", "request=" + m[1].str() + "&mailbox=" + std::string(mailbox) + "&action=" + std::string(action), now);
    EXPECT_EQ(done.status, 302) << done.body;
    return header_of(done, "Location");
  }

  profile_kind profile_ = profile_kind::microsoft;
  directory dir_;
  std::optional<token_authority> tokens_;
  fault_registry faults_{42};
  std::unique_ptr<identity_provider> idp_;
  idp_endpoints ep_;
};

}  // namespace oauthmail::sandbox::test
