// The configuration file (TOML, toml++): where it is, what an [[account]] holds, and validation
// that reports every problem at once with file, line, column, key path, what is wrong and an example
// of a right value. Unknown keys are errors (with a "did you mean"). Required keys depend on the
// provider and flow. Secrets are secret references (env:, file:, cmd:, credential:); an inline
// secret is accepted only when the file has no group or other permission bits (0600 or stricter).
// docs/configuration.md is the user's reference for every key.
// Must not: resolve secrets while loading (config check runs without reading them), touch the
// network, stat or read any file but the configuration itself, or print a secret (inline secrets
// are held in core::secret and never echoed; neither is a value that fails to parse as a reference).
// The provider-specific scope mistakes (Graph scope, missing resource prefix, app-only without
// /.default, two resources) are checked by src/oauth/scope_check.hpp, not here.
// Follows: TOML 1.0 (toml++ 3), RFC 5321 §4.1.2 / RFC 6531 (mailbox syntax, loosely), RFC 6749 §3.3
// (scope tokens), RFC 8314 (implicit TLS), XDG Base Directory Specification (search order).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/secret.hpp"

namespace oauthmail::config {

enum class provider_kind { microsoft, outlook, google, generic };
enum class flow_kind {
  client_credentials,  // app-only (Microsoft), generic machine-to-machine
  device_code,         // RFC 8628, delegated, headless machines (then refresh tokens)
  authorization_code,  // RFC 6749 + PKCE + loopback redirect (RFC 8252), delegated (then refresh tokens)
  service_account,     // Google JWT bearer with domain-wide delegation (RFC 7523)
};
enum class microsoft_cloud { global, us_government, china };
enum class tls_setting { starttls, implicit, none };
enum class mechanism_setting { automatic, xoauth2, oauthbearer };

// The spelling used in the file: "microsoft", "client_credentials", "usgov", "starttls", "auto", ...
std::string_view to_string(provider_kind) noexcept;
std::string_view to_string(flow_kind) noexcept;
std::string_view to_string(microsoft_cloud) noexcept;
std::string_view to_string(tls_setting) noexcept;
std::string_view to_string(mechanism_setting) noexcept;

struct source_location {
  std::string file;
  int line = 0;
  int column = 0;
};

// A configured secret: a reference to be resolved when needed, or (file mode 0600 only) the value.
struct secret_setting {
  std::string reference;  // "env:NAME", "file:PATH", ... ; empty when inline
  std::optional<core::secret<std::string>> inline_value;
  source_location where;
  bool empty() const noexcept { return reference.empty() && !inline_value; }
};

struct smtp_settings {
  std::optional<std::string> host;  // default: the preset's
  std::optional<std::uint16_t> port;
  std::optional<tls_setting> tls;
  std::optional<std::string> ca_file;
  bool tls_skip_verify = false;       // UNSAFE
  bool allow_plaintext_auth = false;  // UNSAFE: required with tls = "none" (the token would cross unencrypted)
  mechanism_setting mechanism = mechanism_setting::automatic;
};

struct account {
  std::string name;
  provider_kind provider = provider_kind::generic;
  flow_kind flow = flow_kind::client_credentials;
  std::optional<std::string> tenant;  // microsoft: tenant id or domain ("organizations", "consumers" for outlook)
  microsoft_cloud cloud = microsoft_cloud::global;
  std::string client_id;
  secret_setting client_secret;        // client credentials with a secret; Google desktop clients
  secret_setting client_certificate;   // PEM certificate (private_key_jwt, Microsoft x5t / x5t#S256)
  secret_setting client_private_key;   // PEM private key (private_key_jwt)
  secret_setting service_account_key;  // Google service-account JSON file
  std::string user;                    // mailbox: XOAUTH2 user=, Google `sub`
  std::vector<std::string> scopes;     // override; empty = the preset's
  // generic provider: discovery (RFC 8414 / OpenID) by issuer, or explicit endpoints
  std::optional<std::string> issuer;
  std::optional<std::string> token_endpoint;
  std::optional<std::string> authorization_endpoint;
  std::optional<std::string> device_authorization_endpoint;
  std::optional<std::string> revocation_endpoint;
  std::vector<std::string> allowed_senders;  // exact addresses and "*@domain"; empty = only `user`
  std::chrono::seconds renew_margin{600};    // renew this long before expiry (capped at half the lifetime)
  bool keep_alive = false;                   // renew idle refresh tokens before they expire (90 days at Microsoft)
  smtp_settings smtp;
  source_location where;  // the [[account]] header
  // Where each key of the account was written: "scopes", "scopes[1]", "smtp.port", ... (for the
  // messages of later checks, e.g. oauth::check_scopes()).
  std::map<std::string, source_location, std::less<>> locations;
  // The position of `key` (as in `locations`), else of the [[account]] header.
  const source_location& location_of(std::string_view key) const;

  // True when `address` is `user` or matches allowed_senders (case-insensitive domain).
  bool may_send_as(std::string_view address) const;
};

struct token_cache_settings {
  std::optional<std::string> path;  // default: $XDG_STATE_HOME/oauthmail/tokens (or /var/lib/oauthmail/tokens as root)
  secret_setting key;               // default: a random key file, mode 0600, next to the cache
};

struct configuration {
  std::string path;
  std::vector<account> accounts;
  token_cache_settings token_cache;
  std::optional<std::string> default_account;

  const account* find(std::string_view name) const;
  // The account that may send as `address` (first match in file order), if any.
  const account* for_sender(std::string_view address) const;
};

struct problem {
  source_location where;  // line/column 0: the file as a whole (cannot be read, no account, ...)
  std::string key;        // "account[2].scopes"
  std::string message;    // what is wrong and why
  std::string example;    // a right value, e.g. scopes = ["https://outlook.office.com/SMTP.Send", "offline_access"]
  std::string to_string() const;  // "config.toml:12:3: account[2].scopes: ... (example: ...)"
};
// Key paths count array elements from 0, like TOML tools: the first [[account]] is account[0].

struct load_result {
  std::optional<configuration> config;  // set when there are no problems
  std::vector<problem> problems;        // every problem found, in file order
};

// Reads and validates a file. Never throws; I/O errors become problems.
load_result load_file(const std::string& path);
// Validates TOML text (for tests); `path` is used in messages and for the inline-secret mode check
// (`file_mode` is the file's permission bits, e.g. 0600).
load_result load_text(std::string_view text, const std::string& path, unsigned file_mode);

// Largest configuration file load_file() reads.
inline constexpr std::size_t max_file_size = 1024 * 1024;

// The file to use: --config, else $OAUTHMAIL_CONFIG, else $XDG_CONFIG_HOME/oauthmail/config.toml
// (or ~/.config/...) if it exists, else /etc/oauthmail/config.toml if it exists, else the first
// of these candidates (so that the "does not exist" message names the user's file).
std::string resolve_path(const std::optional<std::string>& from_command_line);
// The candidates resolve_path() considers, in order (one entry with --config or $OAUTHMAIL_CONFIG).
std::vector<std::string> search_paths(const std::optional<std::string>& from_command_line);

}  // namespace oauthmail::config
