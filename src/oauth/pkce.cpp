#include "oauth/pkce.hpp"

#include <openssl/evp.h>

#include <boost/url.hpp>
#include <vector>

#include "core/base64.hpp"
#include "oauth/errors.hpp"
#include "oauth/responses.hpp"

namespace oauthmail::oauth {

namespace {

core::error redirect_error(std::string msg) {
  return make_error(oauth_errc::redirect_error, std::move(msg), core::failure_class::needs_human);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n' ||
                        s.front() == '"' || s.front() == '\'' || s.front() == '<')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n' ||
                        s.back() == '"' || s.back() == '\'' || s.back() == '>')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

pkce_pair pkce_from_octets(std::span<const unsigned char> octets) {
  std::string verifier =
      core::base64url_encode(std::string_view(reinterpret_cast<const char*>(octets.data()), octets.size()));
  pkce_pair p;
  p.challenge = s256_challenge(verifier);
  p.verifier = core::secret<std::string>(verifier);
  core::secure_wipe(verifier.data(), verifier.size());
  return p;
}

pkce_pair make_pkce(const random_source& random) {
  std::string octets = random_bytes(random, 32);
  pkce_pair p = pkce_from_octets(
      std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(octets.data()), octets.size()));
  core::secure_wipe(octets.data(), octets.size());
  return p;
}

std::string s256_challenge(std::string_view verifier) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(verifier.data(), verifier.size(), digest, &len, EVP_sha256(), nullptr);
  return core::base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

bool valid_verifier(std::string_view v) noexcept {
  if (v.size() < 43 || v.size() > 128) return false;
  for (const char c : v) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~';
    if (!ok) return false;
  }
  return true;
}

std::string make_state(const random_source& random) { return core::base64url_encode(random_bytes(random, 16)); }

std::string loopback_redirect_uri(std::string_view host, std::uint16_t port, std::string_view path) {
  std::string uri = "http://";
  uri += host;
  uri += ':';
  uri += std::to_string(port);
  if (path.empty() || path.front() != '/') uri += '/';
  uri += path;
  return uri;
}

core::result<redirect_result> parse_redirect(std::string_view redirect, std::string_view expected_state) {
  redirect = trim(redirect);
  if (redirect.size() > 16 * 1024) return redirect_error("the pasted address is too long to be a redirect");
  std::string_view query;
  if (const auto q = redirect.find('?'); q != std::string_view::npos) {
    query = redirect.substr(q + 1);
  } else if (redirect.find('=') != std::string_view::npos && redirect.find('/') == std::string_view::npos) {
    query = redirect;  // a bare query string
  }
  if (const auto h = query.find('#'); h != std::string_view::npos) query = query.substr(0, h);
  if (query.empty()) {
    return redirect_error(
        "the address has no query (no `code` parameter); paste the whole address the browser "
        "was sent to after signing in (it starts with the redirect URI)");
  }
  auto params = boost::urls::parse_query(boost::core::string_view(query.data(), query.size()));
  if (!params) {
    return redirect_error(
        "the pasted address is not a valid URL query; paste the whole address from the "
        "browser's address bar");
  }
  const boost::urls::encoding_opts form(true);  // application/x-www-form-urlencoded: '+' is a space
  std::vector<std::string> codes;
  std::string state, error, description;
  bool has_state = false;
  for (const auto& p : *params) {
    const std::string key = p.key.decode(form);
    if (key == "code") {
      codes.push_back(p.value.decode(form));
    } else if (key == "state") {
      state = p.value.decode(form);
      has_state = true;
    } else if (key == "error") {
      error = p.value.decode(form);
    } else if (key == "error_description") {
      description = p.value.decode(form);
    }
  }
  if (!error.empty()) {
    oauth_error e;
    e.error = std::move(error);
    e.description = std::move(description);
    // A code next to an error is odd, but it must not be repeated either.
    std::vector<core::secret<std::string>> code_secrets;
    for (auto& c : codes) {
      code_secrets.emplace_back(c);
      core::secure_wipe(c.data(), c.size());
    }
    diagnosis_context ctx;
    for (const auto& c : code_secrets) ctx.sent_secrets.push_back(&c);
    const grant_outcome o = error_outcome(std::move(e), ctx);
    std::string msg = "the sign-in did not complete: " + o.diagnosis.cause;
    if (!o.diagnosis.fix.empty()) msg += ". Fix: " + o.diagnosis.fix;
    msg += ". Provider said: " + provider_detail(*o.error);
    return redirect_error(std::move(msg));
  }
  if (codes.empty()) {
    return redirect_error(
        "the address has no `code` parameter; paste the whole address the browser was sent to "
        "after signing in (it starts with the redirect URI)");
  }
  const auto wipe_codes = [&] {
    for (auto& c : codes) core::secure_wipe(c.data(), c.size());
  };
  if (codes.size() > 1 || codes.front().empty()) {
    wipe_codes();
    return redirect_error("the address has several or empty `code` parameters; start the sign-in again");
  }
  if (!has_state || state != expected_state) {
    wipe_codes();
    return redirect_error(
        "the address belongs to another sign-in attempt (its `state` does not match this one), or it was forged; "
        "start the sign-in again and paste the address from that attempt");
  }
  redirect_result r;
  r.code = core::secret<std::string>(codes.front());
  r.state = std::move(state);
  wipe_codes();
  return r;
}

}  // namespace oauthmail::oauth
