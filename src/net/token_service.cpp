#include "net/token_service.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <variant>

#include "net/loopback_redirect.hpp"
#include "oauth/device_flow.hpp"
#include "oauth/grants.hpp"
#include "oauth/pkce.hpp"
#include "oauth/presets.hpp"
#include "oauth/random.hpp"
#include "oauth/renewal.hpp"
#include "oauth/responses.hpp"
#include "oauth/token_codec.hpp"
#include "secrets/encrypted_store.hpp"
#include "secrets/reference.hpp"

namespace oauthmail::net {

using core::failure_class;
using oauth::wall_clock;

namespace {

core::error service_error(std::string message, failure_class cls) {
  return {core::make_error_code(core::errc::invalid_argument), std::move(message), cls};
}

// A configured secret's value: the reference resolved now, or the inline value.
core::result<core::secret<std::string>> resolve_setting(const config::secret_setting& s, std::string_view what) {
  if (s.inline_value) return *s.inline_value;
  if (s.reference.empty()) {
    return service_error(std::string(what) + " is not configured.", failure_class::needs_human);
  }
  auto r = secrets::resolve(s.reference);
  if (!r) return r.error();
  return std::move(r->value);
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string entry_key(const config::account& a, const oauth::provider_endpoints& e) {
  return "token:" + a.name + ":" + join(e.scopes, " ");
}
std::string attention_key(const config::account& a) { return "attention:" + a.name; }

long long to_unix(wall_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string default_cache_path() {
  if (geteuid() == 0) return "/var/lib/oauthmail/tokens";
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state) {
    return std::string(state) + "/oauthmail/tokens";
  }
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.local/state/oauthmail/tokens";
  return "oauthmail-tokens";
}

struct token_service::impl {
  explicit impl(token_service_options o) : opts(std::move(o)), random(oauth::system_random()) {}

  struct account_state {
    std::mutex mutex;  // single-flight: one renewal per account at a time in this process
    std::optional<oauth::token_set> cached;
    std::string cached_key;
  };

  token_service_options opts;
  oauth::random_source random;
  std::mutex states_mutex;
  std::map<std::string, std::unique_ptr<account_state>> states;
  std::mutex store_mutex;
  std::optional<secrets::encrypted_store> store;
  std::atomic<std::size_t> requests{0};  // token endpoint requests (not discovery)
  std::mutex discovery_mutex;
  std::map<std::string, oauth::server_metadata> discovered;  // by issuer, for the life of the process

  account_state& state_for(const std::string& name) {
    std::lock_guard g(states_mutex);
    auto& p = states[name];
    if (!p) p = std::make_unique<account_state>();
    return *p;
  }

  core::result<secrets::encrypted_store*> open_store() {
    std::lock_guard g(store_mutex);
    if (store) return &*store;
    // A fresh install: create the cache's directory, private to this user (0700).
    if (const auto dir = std::filesystem::path(opts.cache_path).parent_path(); !dir.empty()) {
      std::error_code ec;
      if (!std::filesystem::exists(dir, ec)) {
        std::filesystem::create_directories(dir, ec);
        if (!ec) std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
        if (ec) {
          return service_error("Cannot create the token cache directory " + dir.string() + ": " + ec.message() +
                                   ". Create it (mode 0700) or set token_cache.path.",
                               failure_class::needs_human);
        }
      }
    }
    if (!opts.key.empty()) {
      // A passphrase (Argon2id, salt in the file) or 32 random octets (raw, hex or base64).
      auto configured = resolve_setting(opts.key, "token_cache.key");
      if (!configured) return configured.error();
      auto key = secrets::store_key_from_setting(*configured);
      if (!key) return key.error();
      store.emplace(opts.cache_path, std::move(*key));
    } else {
      const std::string key_path = opts.key_file.value_or(opts.cache_path + ".key");
      auto k = secrets::load_or_create_key_file(key_path);
      if (!k) return k.error();
      store.emplace(opts.cache_path, std::move(*k));
    }
    return &*store;
  }

  // Sends one request. Transport failures are errors; any HTTP answer is a value.
  core::result<oauth::http_response> send(const oauth::http_request& request) { return perform(request, opts.http); }
  core::result<oauth::http_response> send_token_request(const oauth::http_request& request) {
    ++requests;
    return send(request);
  }

  // Runs `attempt` until it succeeds, fails in a way that is not transient, or the budget is spent:
  // exponential backoff with full jitter, never sooner than the provider's Retry-After. Each retry
  // is a warning: `what` (a prefix) and the error.
  template <class T>
  core::result<T> with_retries(std::string_view what, std::chrono::milliseconds budget,
                               const std::function<core::result<T>(std::optional<std::chrono::seconds>&)>& attempt) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    for (unsigned n = 0;; ++n) {
      std::optional<std::chrono::seconds> retry_after;
      auto r = attempt(retry_after);
      if (r || r.error().classification() != failure_class::transient || budget <= budget.zero()) return r;
      const auto delay = oauth::backoff_delay(n, random, retry_after);
      if (std::chrono::steady_clock::now() + delay > deadline) return r;
      spdlog::warn("{}{} Retrying in {} ms.", what, r.error().message(), delay.count());
      std::this_thread::sleep_for(delay);
    }
  }

  // The account's endpoints; a generic provider with an issuer is discovered once per process
  // (RFC 8414, then OpenID), with retries for transient failures unless `retry` is false.
  core::result<oauth::provider_endpoints> endpoints_for(const config::account& account, bool retry = true) {
    auto e = oauth::resolve_provider(account);
    if (!e) return e.error();
    if (!e->needs_discovery) return e;
    // Held while discovering: threads that need the same document wait and take it.
    std::lock_guard g(discovery_mutex);
    if (auto it = discovered.find(e->issuer); it != discovered.end()) {
      if (auto ok = oauth::apply_discovery(*e, it->second); !ok) return ok.error();
      return e;
    }
    auto meta = with_retries<oauth::server_metadata>(
        "", retry ? opts.retry_budget : std::chrono::milliseconds(0),
        [&](std::optional<std::chrono::seconds>& retry_after) -> core::result<oauth::server_metadata> {
          oauth::discovery_attempt attempt(e->issuer);
          for (;;) {
            auto step = attempt.next();
            if (auto* fetch = std::get_if<oauth::discovery_attempt::fetch>(&step)) {
              auto resp = send(fetch->request);
              if (resp) {
                attempt.on_response(*resp, opts.now());
              } else {
                attempt.on_transport_failure(resp.error());
              }
              continue;
            }
            if (auto* found = std::get_if<oauth::discovery_attempt::found>(&step)) return std::move(found->metadata);
            auto& failed = std::get<oauth::discovery_attempt::failed>(step);
            retry_after = failed.retry_after;
            return failed.error;
          }
        });
    if (!meta) return meta.error();
    if (auto ok = oauth::apply_discovery(*e, *meta); !ok) return ok.error();
    discovered.emplace(e->issuer, std::move(*meta));
    return e;
  }

  // The client authentication an account uses at the token endpoint.
  core::result<oauth::client_auth> client_auth_for(const config::account& account) {
    if (!account.client_certificate.empty() || !account.client_private_key.empty()) {
      auto key = resolve_setting(account.client_private_key, "client_private_key");
      if (!key) return key.error();
      auto cert = resolve_setting(account.client_certificate, "client_certificate");
      if (!cert) return cert.error();
      return oauth::certificate_client(account.client_id, *key, cert->expose(), opts.now());
    }
    if (!account.client_secret.empty()) {
      auto secret = resolve_setting(account.client_secret, "client_secret");
      if (!secret) return secret.error();
      return oauth::secret_client(account.client_id, std::move(*secret));
    }
    return oauth::public_client(account.client_id);
  }

  oauth::diagnosis_context context_for(const config::account& account) const {
    oauth::diagnosis_context c;
    c.account = account.name;
    c.provider = account.provider;
    c.flow = account.flow;
    return c;
  }

  // Builds the renewal request: a new grant for app-only flows, the refresh grant for delegated ones.
  core::result<oauth::http_request> renewal_request(const config::account& account, const oauth::provider_endpoints& e,
                                                    const std::optional<oauth::token_set>& stored,
                                                    oauth::diagnosis_context& ctx) {
    const oauth::request_context rc{opts.now(), random};
    switch (account.flow) {
      case config::flow_kind::client_credentials: {
        auto auth = client_auth_for(account);
        if (!auth) return auth.error();
        return oauth::client_credentials_request(e.token_endpoint, *auth, e.scopes, rc);
      }
      case config::flow_kind::service_account: {
        auto json = resolve_setting(account.service_account_key, "service_account_key");
        if (!json) return json.error();
        auto key = oauth::parse_service_account_json(*json);
        if (!key) return key.error();
        const std::string endpoint = !e.token_endpoint.empty() ? e.token_endpoint : key->token_uri;
        return oauth::jwt_bearer_request(endpoint, *key, account.user, e.scopes, rc);
      }
      case config::flow_kind::device_code:
      case config::flow_kind::authorization_code: {
        if (!stored || !stored->refresh_token) {
          return service_error("Account " + account.name +
                                   " has no sign-in yet (no refresh token). Run `oauthmail account login " +
                                   account.name + "` once.",
                               failure_class::needs_human);
        }
        auto auth = client_auth_for(account);
        if (!auth) return auth.error();
        ctx.sent_secrets.push_back(&*stored->refresh_token);
        const std::vector<std::string> none;
        return oauth::refresh_token_request(e.token_endpoint, *auth, *stored->refresh_token,
                                            e.refresh_sends_scope ? e.scopes : none, rc);
      }
    }
    return service_error("unknown flow", failure_class::bug);
  }

  // Runs a token request with retries for transient failures (backoff with jitter, Retry-After),
  // within the retry budget. Errors that need a person are returned at once.
  core::result<oauth::token_set> run_grant(const std::function<core::result<oauth::http_request>()>& build,
                                           const std::vector<std::string>& scopes,
                                           const oauth::diagnosis_context& ctx) {
    return with_retries<oauth::token_set>(
        "token request failed: ", opts.retry_budget,
        [&](std::optional<std::chrono::seconds>& retry_after) -> core::result<oauth::token_set> {
          auto request = build();
          if (!request) return request.error();
          auto response = send_token_request(*request);
          if (!response) return response.error();
          auto outcome = oauth::evaluate_token_response(*response, opts.now(), scopes, ctx);
          if (outcome.ok()) return std::move(*outcome.tokens);
          if (outcome.error) retry_after = outcome.error->retry_after;
          return outcome.to_error();
        });
  }

  void remember_attention(secrets::store_entries& entries, const config::account& account, const core::error& e) {
    boost::json::object o;
    o["message"] = e.message();
    o["class"] = std::string(core::to_string(e.classification()));
    o["since"] = to_unix(opts.now());
    entries[attention_key(account)] = core::secret<std::string>(boost::json::serialize(o));
  }

  // Records a failure that needs a person outside of a renewal (discovery), best effort.
  void note_attention(const config::account& account, const core::error& e) {
    if (e.classification() != failure_class::needs_human) return;
    auto s = open_store();
    if (!s) return;
    auto lock = (*s)->lock_exclusive(opts.lock_timeout);
    if (!lock) return;
    auto entries = (*s)->load();
    if (!entries) return;
    remember_attention(*entries, account, e);
    if (auto saved = (*s)->save(*entries); !saved) spdlog::warn("{}", saved.error().message());
  }

  static std::optional<oauth::token_set> stored_tokens(const secrets::store_entries& entries, const std::string& key) {
    if (auto it = entries.find(key); it != entries.end()) {
      if (auto decoded = oauth::decode_token_set(it->second)) return std::move(*decoded);
    }
    return std::nullopt;
  }

  // Under the account's single-flight mutex and the cache lock: runs the renewal grant and stores
  // the result (or the "needs attention" record).
  core::result<oauth::token_set> renew_locked(const config::account& account, const oauth::provider_endpoints& e,
                                              const std::string& key, account_state& st,
                                              const secrets::encrypted_store& store, secrets::store_entries& entries,
                                              const std::optional<oauth::token_set>& stored) {
    auto ctx = context_for(account);
    auto fresh = run_grant([&] { return renewal_request(account, e, stored, ctx); }, e.scopes, ctx);
    if (!fresh) {
      if (fresh.error().classification() == failure_class::needs_human) {
        remember_attention(entries, account, fresh.error());
        if (auto saved = store.save(entries); !saved) spdlog::warn("{}", saved.error().message());
      }
      return fresh.error();
    }
    // Microsoft rotates refresh tokens; others may answer without one: keep the one we have.
    if (!fresh->refresh_token && stored && stored->refresh_token) fresh->refresh_token = stored->refresh_token;
    entries[key] = oauth::encode_token_set(*fresh);
    entries.erase(attention_key(account));
    if (auto saved = store.save(entries); !saved) {
      // The new token works; but a rotated refresh token that is not saved may be lost.
      spdlog::error("could not save the renewed token of account {}: {}", account.name, saved.error().message());
    }
    st.cached = *fresh;
    st.cached_key = key;
    return std::move(*fresh);
  }

  core::result<oauth::token_set> access_token(const config::account& account, bool force = false) {
    // The cache key needs no discovery: a valid cached token is used even while the provider's
    // discovery document cannot be had.
    auto resolved = oauth::resolve_provider(account);
    if (!resolved) return resolved.error();
    const std::string key = entry_key(account, *resolved);
    auto& st = state_for(account.name);
    std::lock_guard single_flight(st.mutex);
    if (!force && st.cached && st.cached_key == key &&
        !oauth::needs_renewal(*st.cached, opts.now(), account.renew_margin)) {
      return *st.cached;
    }
    auto s = open_store();
    if (!s) return s.error();
    auto lock = (*s)->lock_exclusive(opts.lock_timeout);
    if (!lock) return lock.error();
    auto entries = (*s)->load();
    if (!entries) return entries.error();
    const auto stored = stored_tokens(*entries, key);
    if (!force && stored && !oauth::needs_renewal(*stored, opts.now(), account.renew_margin)) {
      // Another process (or an earlier run) renewed it already.
      st.cached = stored;
      st.cached_key = key;
      return *stored;
    }
    if (oauth::is_delegated(account.flow) && (!stored || !stored->refresh_token)) {
      // Not signed in yet: that is a state, not a failure to remember.
      return service_error("Account " + account.name +
                               " has no sign-in yet (no refresh token). Run `oauthmail "
                               "account login " +
                               account.name + "` once.",
                           failure_class::needs_human);
    }
    auto e = endpoints_for(account);  // discovery (once per process), with retries
    if (!e) {
      if (e.error().classification() == failure_class::needs_human) {
        remember_attention(*entries, account, e.error());
        if (auto saved = (*s)->save(*entries); !saved) spdlog::warn("{}", saved.error().message());
      }
      return e.error();
    }
    return renew_locked(account, *e, key, st, **s, *entries, stored);
  }

  keep_alive_report keep_alive_one(const config::account& account, wall_clock::time_point now) {
    keep_alive_report r;
    r.account = account.name;
    const bool delegated = oauth::is_delegated(account.flow);
    auto decide = [&](const std::optional<oauth::token_set>& stored) {
      const auto d = oauth::decide_keep_alive(account.keep_alive, delegated, stored, now, opts.keep_alive_after);
      r.verdict = d.verdict;
      r.last_used = d.last_used;
      r.due_at = d.due_at;
      return d.verdict == oauth::keep_alive_verdict::due;
    };
    if (!account.keep_alive || !delegated) {
      decide(std::nullopt);
      return r;
    }
    auto resolved = oauth::resolve_provider(account);  // the cache key needs no discovery
    if (!resolved) {
      r.error = resolved.error();
      return r;
    }
    const std::string key = entry_key(account, *resolved);
    auto s = open_store();
    if (!s) {
      r.error = s.error();
      return r;
    }
    {
      auto entries = (*s)->load();  // without the lock: the file is replaced atomically
      if (!entries) {
        r.error = entries.error();
        return r;
      }
      if (!decide(stored_tokens(*entries, key))) return r;
    }
    auto e = endpoints_for(account);
    if (!e) {
      note_attention(account, e.error());
      r.error = e.error();
      return r;
    }
    auto& st = state_for(account.name);
    std::lock_guard single_flight(st.mutex);
    auto lock = (*s)->lock_exclusive(opts.lock_timeout);
    if (!lock) {
      r.error = lock.error();
      return r;
    }
    auto entries = (*s)->load();
    if (!entries) {
      r.error = entries.error();
      return r;
    }
    const auto stored = stored_tokens(*entries, key);
    if (!decide(stored)) return r;  // another process refreshed it meanwhile
    auto fresh = renew_locked(account, *e, key, st, **s, *entries, stored);
    if (!fresh) {
      r.error = fresh.error();
      return r;
    }
    r.refreshed = true;
    r.due_at = fresh->obtained_at + opts.keep_alive_after;
    spdlog::info("kept the refresh token of account {} alive", account.name);
    return r;
  }

  void invalidate(const config::account& account, const core::secret<std::string>& refused) {
    auto& st = state_for(account.name);
    std::lock_guard g(st.mutex);
    if (st.cached && st.cached->access_token.expose() == refused.expose()) st.cached.reset();
    auto s = open_store();
    if (!s) return;
    auto lock = (*s)->lock_exclusive(opts.lock_timeout);
    if (!lock) return;
    auto entries = (*s)->load();
    if (!entries) return;
    bool changed = false;
    for (auto& [k, v] : *entries) {
      if (k.rfind("token:" + account.name + ":", 0) != 0) continue;
      auto t = oauth::decode_token_set(v);
      if (t && t->access_token.expose() == refused.expose()) {
        t->expires_at = opts.now();  // keeps the refresh token; forces a renewal
        v = oauth::encode_token_set(*t);
        changed = true;
      }
    }
    if (changed) (void)(*s)->save(*entries);
  }

  core::result<oauth::token_set> store_login_result(const config::account& account, const oauth::provider_endpoints& e,
                                                    oauth::token_set tokens) {
    auto s = open_store();
    if (!s) return s.error();
    auto lock = (*s)->lock_exclusive(opts.lock_timeout);
    if (!lock) return lock.error();
    auto entries = (*s)->load();
    if (!entries) return entries.error();
    (*entries)[entry_key(account, e)] = oauth::encode_token_set(tokens);
    entries->erase(attention_key(account));
    if (auto saved = (*s)->save(*entries); !saved) return saved.error();
    auto& st = state_for(account.name);
    std::lock_guard g(st.mutex);
    st.cached = tokens;
    st.cached_key = entry_key(account, e);
    return tokens;
  }

  core::result<oauth::token_set> login_device(const config::account& account, const oauth::provider_endpoints& e,
                                              const login_prompt& prompt) {
    if (e.device_authorization_endpoint.empty()) {
      return service_error("The provider of account " + account.name + " has no device authorization endpoint.",
                           failure_class::needs_human);
    }
    auto req = oauth::device_authorization_request(e.device_authorization_endpoint, account.client_id, e.scopes);
    if (!req) return req.error();
    auto resp = send(*req);
    if (!resp) return resp.error();
    auto ctx = context_for(account);
    auto authorization = oauth::parse_device_authorization(*resp, ctx);
    if (!authorization) return authorization.error();
    if (prompt.show_device_code) {
      prompt.show_device_code(authorization->verification_uri, authorization->user_code, authorization->instructions());
    }
    auto auth = client_auth_for(account);
    if (!auth) return auth.error();
    oauth::device_poller poller(*authorization, opts.now(), e.scopes, ctx);
    for (;;) {
      auto next = poller.next(opts.now());
      if (auto* wait = std::get_if<oauth::device_poller::wait_until>(&next)) {
        const auto delay = wait->when - opts.now();
        if (delay > wall_clock::duration::zero()) std::this_thread::sleep_for(delay);
        continue;
      }
      if (std::holds_alternative<oauth::device_poller::poll>(next)) {
        auto poll = oauth::device_token_request(e.token_endpoint, *auth, poller.authorization().device_code,
                                                {opts.now(), random});
        if (!poll) return poll.error();
        auto answer = send_token_request(*poll);
        if (!answer) {
          poller.on_transport_failure(opts.now());
        } else {
          poller.on_poll_response(*answer, opts.now());
        }
        continue;
      }
      if (auto* done = std::get_if<oauth::device_poller::done>(&next)) {
        return store_login_result(account, e, std::move(done->tokens));
      }
      return std::get<oauth::device_poller::failed>(next).to_error();
    }
  }

  core::result<oauth::token_set> login_authorization_code(const config::account& account,
                                                          const oauth::provider_endpoints& e,
                                                          const login_prompt& prompt) {
    if (e.authorization_endpoint.empty()) {
      return service_error("The provider of account " + account.name + " has no authorization endpoint.",
                           failure_class::needs_human);
    }
    const auto pkce = oauth::make_pkce(random);
    const std::string state = oauth::make_state(random);
    // RFC 8252 §7.3: a loopback listener on a port of the system's choice; providers ignore the
    // port when matching loopback redirect URIs. In paste mode nothing listens: the browser shows
    // an error page whose address the person copies.
    std::optional<loopback_redirect_listener> listener;
    std::string redirect = "http://" + e.loopback_host + "/";
    if (!prompt.paste) {
      auto l = loopback_redirect_listener::open(e.loopback_host);
      if (!l) return l.error();
      listener.emplace(std::move(*l));
      redirect = oauth::loopback_redirect_uri(e.loopback_host, listener->port(), "/");
    }
    oauth::authorize_params p;
    p.authorization_endpoint = e.authorization_endpoint;
    p.client_id = account.client_id;
    p.redirect_uri = redirect;
    p.scopes = e.scopes;
    p.state = state;
    p.code_challenge = pkce.challenge;
    p.login_hint = account.user;
    if (account.provider == config::provider_kind::google) {
      p.extra = {{"access_type", "offline"}, {"prompt", "consent"}};
    }
    auto url = oauth::authorize_url(p);
    if (!url) return url.error();
    if (prompt.show_authorize_url) prompt.show_authorize_url(*url);
    std::optional<std::string> redirected;
    if (listener) {
      auto got = listener->wait(e.loopback_host, std::chrono::minutes(5));
      if (!got) return got.error();
      redirected = std::move(*got);
    } else {
      if (!prompt.read_pasted_redirect) {
        return service_error("No way to read the redirected URL.", failure_class::bug);
      }
      redirected = prompt.read_pasted_redirect();
      if (!redirected) return service_error("Sign-in cancelled.", failure_class::needs_human);
    }
    auto result = oauth::parse_redirect(*redirected, state);
    if (!result) return result.error();
    auto auth = client_auth_for(account);
    if (!auth) return auth.error();
    auto ctx = context_for(account);
    ctx.sent_secrets.push_back(&result->code);
    auto tokens = run_grant(
        [&] {
          return oauth::authorization_code_request(e.token_endpoint, *auth, result->code, redirect, pkce.verifier,
                                                   {opts.now(), random});
        },
        e.scopes, ctx);
    if (!tokens) return tokens.error();
    return store_login_result(account, e, std::move(*tokens));
  }
};

token_service::token_service(token_service_options options) : impl_(std::make_unique<impl>(std::move(options))) {}
token_service::~token_service() = default;

core::result<oauth::token_set> token_service::access_token(const config::account& account) {
  return impl_->access_token(account);
}

core::result<oauth::token_set> token_service::renew(const config::account& account) {
  return impl_->access_token(account, true);
}

void token_service::invalidate(const config::account& account, const core::secret<std::string>& refused) {
  impl_->invalidate(account, refused);
}

core::result<oauth::token_set> token_service::login(const config::account& account, const login_prompt& prompt) {
  auto e = impl_->endpoints_for(account);
  if (!e) return e.error();
  switch (account.flow) {
    case config::flow_kind::device_code:
      return impl_->login_device(account, *e, prompt);
    case config::flow_kind::authorization_code:
      return impl_->login_authorization_code(account, *e, prompt);
    case config::flow_kind::client_credentials:
    case config::flow_kind::service_account: {
      auto ctx = impl_->context_for(account);
      auto tokens =
          impl_->run_grant([&] { return impl_->renewal_request(account, *e, std::nullopt, ctx); }, e->scopes, ctx);
      if (!tokens) return tokens.error();
      return impl_->store_login_result(account, *e, std::move(*tokens));
    }
  }
  return service_error("unknown flow", failure_class::bug);
}

core::result<void> token_service::logout(const config::account& account) {
  auto r = sign_out(account);
  if (!r) return r.error();
  if (r->revocation == revocation_outcome::failed) {
    spdlog::warn(
        "the local tokens of account {} are deleted, but revoking the refresh token at the provider failed ({}); "
        "it stays valid there until it expires",
        account.name, r->revocation_error ? r->revocation_error->message() : "unknown");
  }
  return {};
}

core::result<logout_report> token_service::sign_out(const config::account& account) {
  auto s = impl_->open_store();
  if (!s) return s.error();
  std::optional<oauth::token_set> stored;
  {
    auto lock = (*s)->lock_exclusive(impl_->opts.lock_timeout);
    if (!lock) return lock.error();
    auto entries = (*s)->load();
    if (!entries) return entries.error();
    for (auto it = entries->begin(); it != entries->end();) {
      if (it->first.rfind("token:" + account.name + ":", 0) == 0 || it->first == attention_key(account)) {
        if (it->first.rfind("token:", 0) == 0) {
          auto t = oauth::decode_token_set(it->second);
          if (t && t->refresh_token && (!stored || !stored->refresh_token)) stored = std::move(*t);
        }
        it = entries->erase(it);
      } else {
        ++it;
      }
    }
    if (auto saved = (*s)->save(*entries); !saved) return saved.error();
  }
  {
    auto& st = impl_->state_for(account.name);
    std::lock_guard g(st.mutex);
    st.cached.reset();
  }
  logout_report report;
  report.had_refresh_token = stored && stored->refresh_token;
  if (!report.had_refresh_token) return report;
  // RFC 7009: revoke the refresh token where the provider can (after the local tokens are gone, so
  // that a provider that cannot be reached does not keep them here). One attempt: the sign-out is
  // done either way.
  auto fail = [&](core::error e) {
    report.revocation = revocation_outcome::failed;
    report.revocation_error = std::move(e);
    return report;
  };
  auto e = impl_->endpoints_for(account, false);
  if (!e) return fail(e.error());
  if (e->revocation_endpoint.empty()) {
    report.revocation = revocation_outcome::unsupported;
    return report;
  }
  auto auth = impl_->client_auth_for(account);
  if (!auth) return fail(auth.error());
  auto req = oauth::revocation_request(e->revocation_endpoint, *auth, *stored->refresh_token, "refresh_token",
                                       {impl_->opts.now(), impl_->random});
  if (!req) return fail(req.error());
  auto resp = impl_->send(*req);
  if (!resp) return fail(resp.error());
  if (resp->status != 200) {
    auto ctx = impl_->context_for(account);
    ctx.sent_secrets.push_back(&*stored->refresh_token);
    std::string detail = "HTTP " + std::to_string(resp->status);
    if (auto err = oauth::parse_error_response(*resp, impl_->opts.now()); err && !err->error.empty()) {
      detail += ": " + oauth::provider_detail(*err, ctx);
    }
    return fail(service_error("the revocation endpoint answered " + detail, resp->status >= 500 || resp->status == 429
                                                                                ? failure_class::transient
                                                                                : failure_class::needs_human));
  }
  report.revocation = revocation_outcome::revoked;
  return report;
}

std::vector<keep_alive_report> token_service::keep_alive(std::span<const config::account> accounts,
                                                         oauth::wall_clock::time_point now) {
  std::vector<keep_alive_report> out;
  out.reserve(accounts.size());
  for (const auto& a : accounts) out.push_back(impl_->keep_alive_one(a, now));
  return out;
}

std::string_view to_string(revocation_outcome o) noexcept {
  switch (o) {
    case revocation_outcome::not_needed:
      return "not_needed";
    case revocation_outcome::unsupported:
      return "unsupported";
    case revocation_outcome::revoked:
      return "revoked";
    case revocation_outcome::failed:
      return "failed";
  }
  return "unknown";
}

core::result<token_status> token_service::status(const config::account& account) {
  auto e = oauth::resolve_provider(account);
  token_status out;
  out.account = account.name;
  auto s = impl_->open_store();
  if (!s) return s.error();
  auto entries = (*s)->load();
  if (!entries) return entries.error();
  for (const auto& [k, v] : *entries) {
    if (k.rfind("token:" + account.name + ":", 0) == 0 && (!e || k == entry_key(account, *e))) {
      if (auto t = oauth::decode_token_set(v)) {
        out.has_access_token = !t->access_token.empty();
        out.has_refresh_token = t->refresh_token.has_value();
        out.obtained_at = t->obtained_at;
        out.expires_at = t->expires_at;
        out.scopes = t->scopes;
        out.last_renewal = t->obtained_at;
      }
    }
    if (k == attention_key(account)) {
      boost::system::error_code ec;
      auto j = boost::json::parse(v.expose(), ec);
      if (!ec && j.is_object()) {
        const auto& o = j.as_object();
        if (auto* m = o.if_contains("message"); m && m->is_string()) out.attention_cause = std::string(m->as_string());
        if (auto* since = o.if_contains("since"); since && since->is_int64()) {
          out.attention_since = wall_clock::time_point(std::chrono::seconds(since->as_int64()));
        }
      }
    }
  }
  return out;
}

std::size_t token_service::token_requests() const noexcept { return impl_->requests.load(); }

}  // namespace oauthmail::net
