// Validation of the configuration file: the only user of toml++. Walks the parsed tables once,
// collects every problem (position, key path, what is wrong, an example), and builds the
// configuration only when there is none. See config.hpp for the rules it must keep.
// Must not: put the value of a secret key into a problem (only its position and the reference's
// own, non-echoing parse message), or leave string values of the parsed document in freed memory
// unwiped (they may be inline secrets); resolve references.
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <map>
#include <span>
#include <utility>

#include "config/config.hpp"
#include "config/syntax.hpp"
#include "secrets/reference.hpp"

namespace oauthmail::config {

namespace {

using namespace std::string_view_literals;

// ---- the schema ---------------------------------------------------------------------------------

constexpr std::array<std::string_view, 3> top_level_keys = {"default_account"sv, "token_cache"sv, "account"sv};
constexpr std::array<std::string_view, 2> token_cache_keys = {"path"sv, "key"sv};
constexpr std::array<std::string_view, 21> account_keys = {
    "name"sv,
    "provider"sv,
    "flow"sv,
    "tenant"sv,
    "cloud"sv,
    "client_id"sv,
    "client_secret"sv,
    "client_certificate"sv,
    "client_private_key"sv,
    "service_account_key"sv,
    "user"sv,
    "scopes"sv,
    "issuer"sv,
    "token_endpoint"sv,
    "authorization_endpoint"sv,
    "device_authorization_endpoint"sv,
    "revocation_endpoint"sv,
    "allowed_senders"sv,
    "renew_margin"sv,
    "keep_alive"sv,
    "smtp"sv,
};
constexpr std::array<std::string_view, 7> smtp_keys = {
    "host"sv, "port"sv, "tls"sv, "ca_file"sv, "tls_skip_verify"sv, "allow_plaintext_auth"sv, "mechanism"sv,
};

struct example_entry {
  std::string_view key;
  std::string_view example;
};
constexpr std::array<example_entry, 33> examples = {{
    {"default_account", R"(default_account = "work")"},
    {"token_cache", "[token_cache]"},
    {"account", "[[account]]"},
    {"path", R"(path = "/var/lib/oauthmail/tokens")"},
    {"key", R"(key = "file:/etc/oauthmail/token-cache.key")"},
    {"name", R"(name = "work")"},
    {"provider", R"(provider = "microsoft")"},
    {"flow", R"(flow = "device_code")"},
    {"tenant", R"(tenant = "contoso.onmicrosoft.com")"},
    {"cloud", R"(cloud = "global")"},
    {"client_id", R"(client_id = "11111111-2222-3333-4444-555555555555")"},
    {"client_secret", R"(client_secret = "file:/etc/oauthmail/work.secret")"},
    {"client_certificate", R"(client_certificate = "file:/etc/oauthmail/work.crt")"},
    {"client_private_key", R"(client_private_key = "file:/etc/oauthmail/work.key")"},
    {"service_account_key", R"(service_account_key = "file:/etc/oauthmail/google-sa.json")"},
    {"user", R"(user = "alice@example.com")"},
    {"scopes", R"(scopes = ["https://outlook.office.com/SMTP.Send", "offline_access"])"},
    {"issuer", R"(issuer = "https://login.example.com")"},
    {"token_endpoint", R"(token_endpoint = "https://login.example.com/oauth2/token")"},
    {"authorization_endpoint", R"(authorization_endpoint = "https://login.example.com/oauth2/authorize")"},
    {"device_authorization_endpoint", R"(device_authorization_endpoint = "https://login.example.com/oauth2/device")"},
    {"revocation_endpoint", R"(revocation_endpoint = "https://login.example.com/oauth2/revoke")"},
    {"allowed_senders", R"(allowed_senders = ["alerts@example.com", "*@example.com"])"},
    {"renew_margin", R"(renew_margin = "10m")"},
    {"keep_alive", "keep_alive = true"},
    {"smtp", R"(smtp = { host = "smtp.example.com", port = 587 })"},
    {"host", R"(host = "smtp.example.com")"},
    {"port", "port = 587"},
    {"tls", R"(tls = "starttls")"},
    {"ca_file", R"(ca_file = "/etc/ssl/certs/internal-ca.pem")"},
    {"tls_skip_verify", "tls_skip_verify = false"},
    {"allow_plaintext_auth", "allow_plaintext_auth = true"},
    {"mechanism", R"(mechanism = "xoauth2")"},
}};

std::string example_of(std::string_view key) {
  for (const auto& e : examples) {
    if (e.key == key) return std::string(e.example);
  }
  return {};
}

template <class E>
struct enum_name {
  std::string_view name;
  E value;
};

constexpr std::array<enum_name<provider_kind>, 4> provider_names = {{
    {"microsoft", provider_kind::microsoft},
    {"outlook", provider_kind::outlook},
    {"google", provider_kind::google},
    {"generic", provider_kind::generic},
}};
constexpr std::array<enum_name<flow_kind>, 4> flow_names = {{
    {"client_credentials", flow_kind::client_credentials},
    {"device_code", flow_kind::device_code},
    {"authorization_code", flow_kind::authorization_code},
    {"service_account", flow_kind::service_account},
}};
constexpr std::array<enum_name<microsoft_cloud>, 3> cloud_names = {{
    {"global", microsoft_cloud::global},
    {"usgov", microsoft_cloud::us_government},
    {"china", microsoft_cloud::china},
}};
constexpr std::array<enum_name<tls_setting>, 3> tls_names = {{
    {"starttls", tls_setting::starttls},
    {"implicit", tls_setting::implicit},
    {"none", tls_setting::none},
}};
constexpr std::array<enum_name<mechanism_setting>, 3> mechanism_names = {{
    {"auto", mechanism_setting::automatic},
    {"xoauth2", mechanism_setting::xoauth2},
    {"oauthbearer", mechanism_setting::oauthbearer},
}};

// Secret reference schemes, to tell a misspelt reference from an inline secret.
constexpr std::array<std::string_view, 5> reference_schemes = {"env"sv, "file"sv, "cmd"sv, "credential"sv, "vault"sv};

constexpr std::chrono::seconds max_renew_margin{24 * 3600};

// ---- small helpers ------------------------------------------------------------------------------

std::string join(std::string_view prefix, std::string_view key) {
  if (prefix.empty()) return std::string(key);
  return fmt::format("{}.{}", prefix, key);
}

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return n.is_array_of_tables() ? "an array of tables" : "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& list, std::string_view key) {
  return std::find(list.begin(), list.end(), key) != list.end();
}

template <class E, std::size_t N>
std::string list_names(const std::array<enum_name<E>, N>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += fmt::format("\"{}\"", n.name);
  }
  return out;
}

bool valid_account_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front())) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

bool is_guid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

bool is_absolute_path(std::string_view p) { return !p.empty() && p.front() == '/'; }

// Scrubs quoted fragments out of a toml++ parse error, which may quote the text being parsed (a
// value, possibly a secret): a fragment survives only if it is short or a key name we know.
std::string scrub_parse_error(std::string_view description) {
  std::string out;
  std::size_t i = 0;
  while (i < description.size()) {
    const std::size_t open = description.find('\'', i);
    if (open == std::string_view::npos) break;
    const std::size_t close = description.find('\'', open + 1);
    if (close == std::string_view::npos) break;
    const std::string_view inner = description.substr(open + 1, close - open - 1);
    bool known = inner.size() <= 2;
    if (!known) {
      // Dotted key paths: every component must be a key of the schema.
      known = true;
      std::size_t start = 0;
      while (known) {
        const std::size_t dot = inner.find('.', start);
        const std::string_view part = inner.substr(start, dot == std::string_view::npos ? dot : dot - start);
        known = contains(top_level_keys, part) || contains(token_cache_keys, part) || contains(account_keys, part) ||
                contains(smtp_keys, part);
        if (dot == std::string_view::npos) break;
        start = dot + 1;
      }
    }
    out.append(description.substr(i, open - i));
    out += known ? std::string(description.substr(open, close - open + 1)) : std::string("'...'");
    i = close + 1;
  }
  out.append(description.substr(i));
  return out;
}

// A right scopes line for this provider and flow (providers.md §1.4, §2.3).
std::string scope_example(const account& a, bool provider_known, bool flow_known) {
  if (!provider_known) return example_of("scopes");
  switch (a.provider) {
    case provider_kind::microsoft:
    case provider_kind::outlook:
      if (flow_known && a.flow == flow_kind::client_credentials) {
        return R"(scopes = ["https://outlook.office365.com/.default"])";
      }
      return R"(scopes = ["https://outlook.office.com/SMTP.Send", "offline_access"])";
    case provider_kind::google:
      return R"(scopes = ["https://mail.google.com/"])";
    case provider_kind::generic:
      break;
  }
  return R"(scopes = ["smtp", "offline_access"])";
}

// What one field of a table turned out to be.
template <class T>
struct field {
  bool present = false;  // the key is in the table (even if its value was refused)
  std::optional<T> value;
  source_location where;
  explicit operator bool() const { return value.has_value(); }
};

// ---- the validator ------------------------------------------------------------------------------

class validator {
 public:
  validator(std::string path, unsigned mode) : path_(std::move(path)), mode_(mode) {}

  load_result run(std::string_view text) {
    load_result out;
    check_file_mode();
    auto parsed = parse(text);
    if (parsed) {
      configuration cfg;
      cfg.path = path_;
      check_root(*parsed, cfg);
      if (problems_.empty()) out.config = std::move(cfg);
      wipe_strings(*parsed);
    }
    std::stable_sort(problems_.begin(), problems_.end(), [](const problem& a, const problem& b) {
      return std::pair(a.where.line, a.where.column) < std::pair(b.where.line, b.where.column);
    });
    out.problems = std::move(problems_);
    return out;
  }

 private:
  // Overwrites every string of the parsed document: what was needed has been copied (inline
  // secrets into core::secret); a secret under a wrong key or of a wrong form must not linger.
  static void wipe_strings(toml::node& n) {
    if (toml::value<std::string>* s = n.as_string()) {
      std::string& v = s->get();
      if (!v.empty()) core::secure_wipe(v.data(), v.size());
    } else if (toml::array* arr = n.as_array()) {
      for (auto& e : *arr) wipe_strings(e);
    } else if (toml::table* t = n.as_table()) {
      for (auto&& [k, v] : *t) wipe_strings(v);
    }
  }

  // ---- reporting ----

  source_location at(const toml::source_region& r) const {
    return source_location{path_, static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
  }
  source_location whole_file() const { return source_location{path_, 0, 0}; }

  void report(source_location where, std::string key, std::string message, std::string example = {}) {
    problems_.push_back(problem{std::move(where), std::move(key), std::move(message), std::move(example)});
  }

  // ---- the file itself ----

  void check_file_mode() {
    if ((mode_ & 022U) != 0) {
      report(whole_file(), "",
             fmt::format("the configuration file is writable by group or others (mode {:04o}); whoever can change it "
                         "can make oauthmail run commands (cmd:) and send as your accounts; run `chmod go-w {}`",
                         mode_, path_));
    }
  }

  std::optional<toml::table> parse(std::string_view text) {
#if TOML_EXCEPTIONS
    try {
      return toml::parse(text, std::string_view(path_));
    } catch (const toml::parse_error& e) {
      report_parse_error(e);
      return std::nullopt;
    }
#else
    auto result = toml::parse(text, std::string_view(path_));
    if (!result) {
      report_parse_error(result.error());
      return std::nullopt;
    }
    return std::move(result).table();
#endif
  }

  void report_parse_error(const toml::parse_error& e) {
    report(at(e.source()), "",
           fmt::format("not valid TOML: {}; nothing else was checked (TOML stops at the first syntax error)",
                       scrub_parse_error(e.description())));
  }

  // ---- keys ----

  // Unknown keys, with a suggestion. `kind` names the table for keys that belong elsewhere.
  template <std::size_t N>
  void check_keys(const toml::table& t, std::string_view prefix, const std::array<std::string_view, N>& known,
                  std::string_view kind) {
    for (auto&& [k, v] : t) {
      const std::string_view key = k.str();
      if (contains(known, key)) continue;
      const std::string path = join(prefix, key);
      std::string message;
      std::string example;
      if (kind == "account" && contains(smtp_keys, key)) {
        message = fmt::format(
            "{} is a key of the account's [account.smtp] table; move it under an [account.smtp] "
            "header below this account",
            key);
        example = fmt::format("[account.smtp] then {}", example_of(key));
      } else if (kind == "smtp" && contains(account_keys, key)) {
        message = fmt::format(
            "{} is a key of the [[account]] itself, but it comes after the [account.smtp] header, so "
            "TOML puts it into the smtp table; move it above the [account.smtp] header",
            key);
        example = example_of(key);
      } else if (kind == "top" && contains(account_keys, key)) {
        message = fmt::format("{} is a key of an account; it must come after an [[account]] header", key);
        example = "[[account]] then " + example_of(key);
      } else if (auto guess = syntax::closest(key, std::span<const std::string_view>(known.data(), known.size()))) {
        message = fmt::format("unknown key \"{}\"; did you mean \"{}\"?", key, *guess);
        example = example_of(*guess);
      } else {
        std::string names;
        for (const auto n : known) names += (names.empty() ? "" : ", ") + std::string(n);
        message = fmt::format("unknown key \"{}\"; the keys here are: {}", key, names);
      }
      report(at(k.source()), path, std::move(message), std::move(example));
    }
  }

  void wrong_type(const toml::node& n, const std::string& path, std::string_view key, std::string_view expected) {
    report(at(n.source()), path, fmt::format("expected {}, found {}", expected, type_name(n)), example_of(key));
  }

  // ---- typed getters: each reports its own problems ----

  field<std::string> get_text(const toml::table& t, std::string_view prefix, std::string_view key) {
    field<std::string> f;
    const toml::node* n = t.get(key);
    if (n == nullptr) return f;
    f.present = true;
    f.where = at(n->source());
    const std::string path = join(prefix, key);
    if (!n->is_string()) {
      wrong_type(*n, path, key, "a string");
      return f;
    }
    const std::string& s = n->as_string()->get();
    if (s.empty()) {
      report(f.where, path, "is empty; give a value or remove the key", example_of(key));
    } else if (syntax::has_control_character(s)) {
      report(f.where, path, "contains a control character (a line break or a tab?)", example_of(key));
    } else {
      f.value = s;
    }
    return f;
  }

  field<bool> get_bool(const toml::table& t, std::string_view prefix, std::string_view key) {
    field<bool> f;
    const toml::node* n = t.get(key);
    if (n == nullptr) return f;
    f.present = true;
    f.where = at(n->source());
    if (!n->is_boolean()) {
      wrong_type(*n, join(prefix, key), key, "true or false");
      return f;
    }
    f.value = n->as_boolean()->get();
    return f;
  }

  template <class E, std::size_t N>
  field<E> get_enum(const toml::table& t, std::string_view prefix, std::string_view key,
                    const std::array<enum_name<E>, N>& names) {
    field<E> f;
    auto text = get_text(t, prefix, key);
    f.present = text.present;
    f.where = text.where;
    if (!text) return f;
    for (const auto& n : names) {
      if (n.name == *text.value) {
        f.value = n.value;
        return f;
      }
    }
    std::array<std::string_view, N> candidates{};
    for (std::size_t i = 0; i < N; ++i) candidates[i] = names[i].name;
    std::string message = fmt::format("\"{}\" is not a {}; use one of {}", *text.value, key, list_names(names));
    std::string example = example_of(key);
    if (auto guess = syntax::closest(*text.value, candidates)) {
      message = fmt::format("\"{}\" is not a {}; did you mean \"{}\"? (one of {})", *text.value, key, *guess,
                            list_names(names));
      example = fmt::format("{} = \"{}\"", key, *guess);
    }
    report(f.where, join(prefix, key), std::move(message), std::move(example));
    return f;
  }

  // An array of strings; each element with its position.
  field<std::vector<std::pair<std::string, source_location>>> get_text_array(const toml::table& t,
                                                                             std::string_view prefix,
                                                                             std::string_view key,
                                                                             std::string example = {}) {
    if (example.empty()) example = example_of(key);
    field<std::vector<std::pair<std::string, source_location>>> f;
    const toml::node* n = t.get(key);
    if (n == nullptr) return f;
    f.present = true;
    f.where = at(n->source());
    const std::string path = join(prefix, key);
    if (!n->is_array()) {
      report(f.where, path, fmt::format("expected an array of strings, found {}", type_name(*n)), example);
      return f;
    }
    const toml::array& arr = *n->as_array();
    if (arr.empty()) {
      report(f.where, path, "is an empty array; list at least one value, or remove the key to use the default",
             example);
      return f;
    }
    std::vector<std::pair<std::string, source_location>> values;
    bool ok = true;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const toml::node& e = arr[i];
      const std::string element_path = fmt::format("{}[{}]", path, i);
      if (!e.is_string()) {
        report(at(e.source()), element_path, fmt::format("expected a string, found {}", type_name(e)), example);
        ok = false;
      } else if (e.as_string()->get().empty() || syntax::has_control_character(e.as_string()->get())) {
        report(at(e.source()), element_path, "is empty or contains a control character", example);
        ok = false;
      } else {
        values.emplace_back(e.as_string()->get(), at(e.source()));
      }
    }
    if (ok) f.value = std::move(values);
    return f;
  }

  field<std::string> get_absolute_path(const toml::table& t, std::string_view prefix, std::string_view key) {
    auto f = get_text(t, prefix, key);
    if (f && !is_absolute_path(*f.value)) {
      report(f.where, join(prefix, key),
             fmt::format("\"{}\" is a relative path; use an absolute one (a relative path would depend on the "
                         "directory oauthmail is started from)",
                         *f.value),
             example_of(key));
      f.value.reset();
    }
    return f;
  }

  field<std::string> get_url(const toml::table& t, std::string_view prefix, std::string_view key) {
    auto f = get_text(t, prefix, key);
    if (!f) return f;
    switch (syntax::check_endpoint_url(*f.value)) {
      case syntax::url_verdict::ok:
        return f;
      case syntax::url_verdict::not_https:
        report(f.where, join(prefix, key),
               fmt::format("\"{}\" is not an https:// URL; OAuth endpoints carry secrets and must use TLS (plain "
                           "http:// only to localhost, 127.0.0.1 or [::1], for tests)",
                           *f.value),
               example_of(key));
        break;
      case syntax::url_verdict::malformed:
        report(f.where, join(prefix, key), fmt::format("\"{}\" is not a URL (https://HOST/PATH)", *f.value),
               example_of(key));
        break;
    }
    f.value.reset();
    return f;
  }

  field<std::string> get_mailbox(const toml::table& t, std::string_view prefix, std::string_view key) {
    auto f = get_text(t, prefix, key);
    if (f && !syntax::valid_mailbox(*f.value)) {
      report(f.where, join(prefix, key),
             fmt::format("\"{}\" is not a mail address (local-part@domain, without a display name or <>)", *f.value),
             example_of(key));
      f.value.reset();
    }
    return f;
  }

  // A secret: a reference (kept as text) or, in a file only its owner can access, the value itself.
  // Never echoes the value: neither an inline secret nor text that fails to parse as a reference.
  field<secret_setting> get_secret(toml::table& t, std::string_view prefix, std::string_view key) {
    field<secret_setting> f;
    toml::node* n = t.get(key);
    if (n == nullptr) return f;
    f.present = true;
    f.where = at(n->source());
    const std::string path = join(prefix, key);
    const std::string example = example_of(key);
    if (!n->is_string()) {
      // The type name only: the value may be a (numeric) secret.
      wrong_type(*n, path, key, "a string: a secret reference such as \"file:PATH\"");
      return f;
    }
    std::string& text = n->as_string()->get();
    if (text.empty()) {
      report(f.where, path, "is empty; give a secret reference or remove the key", example);
      return f;
    }
    secret_setting s;
    s.where = f.where;
    const std::size_t colon = text.find(':');
    const std::string_view scheme =
        colon == std::string::npos ? std::string_view() : std::string_view(text).substr(0, colon);
    const bool names_a_scheme = std::any_of(reference_schemes.begin(), reference_schemes.end(),
                                            [&](auto sch) { return syntax::iequals(sch, scheme); });
    if (names_a_scheme) {
      auto ref = secrets::reference::parse(text);
      if (!ref) {
        report(f.where, path, ref.error().message(), example);  // the message never repeats the text
        return f;
      }
      if (ref->kind() == secrets::scheme::file && !is_absolute_path(ref->target())) {
        report(f.where, path,
               fmt::format("{} is a relative path; use an absolute one (a relative path would depend on the "
                           "directory oauthmail is started from)",
                           ref->to_string()),
               example);
        return f;
      }
      s.reference = ref->to_string();
      f.value = std::move(s);
      return f;
    }
    if (!scheme.empty() && scheme.size() <= 12 &&
        std::all_of(scheme.begin(), scheme.end(), [](char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; })) {
      for (const auto sch : reference_schemes) {
        if (syntax::edit_distance(scheme, sch) == 1) {
          report(f.where, path,
                 fmt::format("this looks like a misspelt secret reference (did you mean \"{}:\"?); the accepted "
                             "forms are env:NAME, file:PATH, cmd:COMMAND and credential:NAME",
                             sch),
                 example);
          return f;
        }
      }
    }
    // An inline secret.
    if ((mode_ & 077U) != 0) {
      report(f.where, path,
             fmt::format("inline secret in a file readable by others (mode {:04o}): move it to a file of its own "
                         "and write \"file:PATH\" here, or run `chmod 600 {}`",
                         mode_, path_),
             example);
      return f;
    }
    s.inline_value = core::secret<std::string>(std::string(text));
    core::secure_wipe(text.data(), text.size());  // the parsed document keeps no copy
    text.clear();
    f.value = std::move(s);
    return f;
  }

  field<std::chrono::seconds> get_duration(const toml::table& t, std::string_view prefix, std::string_view key) {
    field<std::chrono::seconds> f;
    const toml::node* n = t.get(key);
    if (n == nullptr) return f;
    f.present = true;
    f.where = at(n->source());
    const std::string path = join(prefix, key);
    std::optional<std::chrono::seconds> d;
    if (n->is_integer()) {
      const std::int64_t v = n->as_integer()->get();
      if (v > 0 && v <= max_renew_margin.count()) d = std::chrono::seconds(v);
      if (!d) {
        report(f.where, path,
               fmt::format("{} seconds is out of range; it must be more than 0 and at most 24h (86400)", v),
               example_of(key));
        return f;
      }
    } else if (n->is_string()) {
      const std::string& s = n->as_string()->get();
      d = syntax::parse_duration(s);
      if (!d) {
        report(f.where, path,
               fmt::format("\"{}\" is not a duration; write a number of seconds (600) or a number with a unit: "
                           "\"90s\", \"10m\", \"1h\", \"1h30m\"",
                           s),
               example_of(key));
        return f;
      }
      if (d->count() <= 0 || *d > max_renew_margin) {
        report(f.where, path, fmt::format("\"{}\" is out of range; it must be more than 0 and at most 24h", s),
               example_of(key));
        return f;
      }
    } else {
      wrong_type(*n, path, key, "a number of seconds or a string such as \"10m\"");
      return f;
    }
    f.value = d;
    return f;
  }

  // ---- the top level ----

  void check_root(toml::table& root, configuration& cfg) {
    check_keys(root, "", top_level_keys, "top");

    if (toml::node* n = root.get("token_cache")) {
      if (n->is_array_of_tables()) {
        report(at(n->source()), "token_cache",
               "[[token_cache]] makes an array; there is one token cache: write [token_cache] (single brackets)",
               "[token_cache]");
      } else if (!n->is_table()) {
        wrong_type(*n, "token_cache", "token_cache", "a table ([token_cache])");
      } else {
        toml::table& t = *n->as_table();
        check_keys(t, "token_cache", token_cache_keys, "token_cache");
        if (auto p = get_absolute_path(t, "token_cache", "path")) cfg.token_cache.path = *p.value;
        if (auto k = get_secret(t, "token_cache", "key")) cfg.token_cache.key = std::move(*k.value);
      }
    }

    toml::node* accounts = root.get("account");
    if (accounts == nullptr) {
      report(whole_file(), "account",
             "the file defines no account; add an [[account]] table (see docs/configuration.md)", "[[account]]");
    } else if (accounts->is_table()) {
      report(at(accounts->source()), "account",
             "[account] makes a single table; accounts are an array of tables: write [[account]] (double brackets)",
             "[[account]]");
    } else if (!accounts->is_array()) {
      wrong_type(*accounts, "account", "account", "an array of tables ([[account]])");
    } else if (accounts->as_array()->empty()) {
      report(at(accounts->source()), "account", "no account is defined; add an [[account]] table", "[[account]]");
    } else {
      toml::array& arr = *accounts->as_array();
      for (std::size_t i = 0; i < arr.size(); ++i) {
        const std::string prefix = fmt::format("account[{}]", i);
        if (!arr[i].is_table()) {
          wrong_type(arr[i], prefix, "account", "a table ([[account]])");
          continue;
        }
        account a;
        if (check_account(*arr[i].as_table(), prefix, a)) cfg.accounts.push_back(std::move(a));
      }
    }

    if (auto d = get_text(root, "", "default_account")) {
      if (names_.find(*d.value) == names_.end()) {
        std::vector<std::string_view> known;
        std::string list;
        for (const auto& [name, line] : names_) {
          known.emplace_back(name);
          list += (list.empty() ? "" : ", ") + name;
        }
        std::string message = fmt::format("no account is named \"{}\"", *d.value);
        std::string example = example_of("default_account");
        if (auto guess = syntax::closest(*d.value, known)) {
          message += fmt::format("; did you mean \"{}\"?", *guess);
          example = fmt::format("default_account = \"{}\"", *guess);
        } else if (!known.empty()) {
          example = fmt::format("default_account = \"{}\"", known.front());
        }
        if (!list.empty()) message += fmt::format(" (accounts: {})", list);
        report(d.where, "default_account", std::move(message), std::move(example));
      } else {
        cfg.default_account = *d.value;
      }
    }
  }

  // ---- one account ----

  // Fills `a`; false when the account has problems (they are reported).
  bool check_account(toml::table& t, const std::string& prefix, account& a) {
    const std::size_t before = problems_.size();
    a.where = at(t.source());
    record_locations(t, "", a);
    check_keys(t, prefix, account_keys, "account");
    const auto missing = [&](std::string_view key, std::string message) {
      report(a.where, join(prefix, key), std::move(message), example_of(key));
    };

    // Identity.
    auto name = get_text(t, prefix, "name");
    if (name) {
      if (!valid_account_name(*name.value)) {
        report(name.where, join(prefix, "name"),
               fmt::format("\"{}\" is not a valid account name: use up to 64 letters, digits, '.', '_' and '-', "
                           "starting with a letter or digit (it is typed on the command line)",
                           *name.value),
               example_of("name"));
      } else if (auto it = names_.find(*name.value); it != names_.end()) {
        report(name.where, join(prefix, "name"),
               fmt::format("the account name \"{}\" is already used on line {}; account names must be unique",
                           *name.value, it->second),
               fmt::format("name = \"{}-2\"", *name.value));
      } else {
        names_.emplace(*name.value, name.where.line);
        a.name = *name.value;
      }
    } else if (!name.present) {
      missing("name", "missing name: every account needs a unique name (oauthmail send --account NAME)");
    }
    const std::string who = a.name.empty() ? std::string("this account") : fmt::format("account \"{}\"", a.name);

    auto provider = get_enum(t, prefix, "provider", provider_names);
    if (provider) {
      a.provider = *provider.value;
    } else if (!provider.present) {
      missing("provider", fmt::format("missing provider: one of {}", list_names(provider_names)));
    }
    auto flow = get_enum(t, prefix, "flow", flow_names);
    if (flow) {
      a.flow = *flow.value;
    } else if (!flow.present) {
      missing("flow", fmt::format("missing flow: one of {}", list_names(flow_names)));
    }
    const bool microsoftish =
        provider && (a.provider == provider_kind::microsoft || a.provider == provider_kind::outlook);

    auto client_id = get_text(t, prefix, "client_id");
    if (client_id) {
      a.client_id = *client_id.value;
      if (microsoftish && !is_guid(a.client_id)) {
        report(client_id.where, join(prefix, "client_id"),
               fmt::format("\"{}\" is not a GUID; Microsoft's Application (client) ID, shown on the app "
                           "registration's Overview page, looks like 11111111-2222-3333-4444-555555555555",
                           a.client_id),
               example_of("client_id"));
      }
    } else if (!client_id.present) {
      std::string_view what = "the client ID registered at your provider";
      if (microsoftish) what = "the Application (client) ID of your app registration in Microsoft Entra";
      if (provider && a.provider == provider_kind::google) {
        what =
            "the OAuth client ID from the Google Cloud console (for a service account: its numeric client ID, "
            "the client_id field of the key file)";
      }
      missing("client_id", fmt::format("missing client_id: {}", what));
    }

    auto tenant = get_text(t, prefix, "tenant");
    if (tenant) {
      a.tenant = *tenant.value;
      const std::string& v = *a.tenant;
      if (!syntax::valid_domain(v)) {
        report(tenant.where, join(prefix, "tenant"),
               fmt::format("\"{}\" is not a tenant: use the tenant's ID (a GUID) or one of its domains", v),
               example_of("tenant"));
      } else if (provider && !microsoftish) {
        report(tenant.where, join(prefix, "tenant"),
               fmt::format("tenant is used only with provider \"microsoft\" or \"outlook\", not \"{}\"; remove it",
                           to_string(a.provider)),
               "");
      } else if (provider && a.provider == provider_kind::outlook && v != "consumers" && v != "common") {
        report(tenant.where, join(prefix, "tenant"),
               "Outlook.com accounts sign in through the \"consumers\" tenant (the default); remove tenant, or use "
               "provider = \"microsoft\" for a work or school account",
               R"(tenant = "consumers")");
      } else if (provider && flow && a.provider == provider_kind::microsoft &&
                 a.flow == flow_kind::client_credentials &&
                 (v == "common" || v == "organizations" || v == "consumers")) {
        report(tenant.where, join(prefix, "tenant"),
               fmt::format("app-only (client_credentials) tokens are issued only by your own tenant: use its ID "
                           "or domain instead of \"{}\"",
                           v),
               example_of("tenant"));
      }
    } else if (!tenant.present && provider && a.provider == provider_kind::microsoft) {
      missing("tenant", fmt::format("missing tenant: {} (provider \"microsoft\") needs your tenant's ID or domain, or "
                                    "\"organizations\" for any work or school account",
                                    who));
    }

    auto cloud = get_enum(t, prefix, "cloud", cloud_names);
    if (cloud) {
      a.cloud = *cloud.value;
      if (provider && a.provider != provider_kind::microsoft &&
          !(a.provider == provider_kind::outlook && a.cloud == microsoft_cloud::global)) {
        report(cloud.where, join(prefix, "cloud"),
               a.provider == provider_kind::outlook
                   ? std::string("Outlook.com exists only in the global cloud; remove cloud")
                   : fmt::format("cloud is used only with provider \"microsoft\", not \"{}\"; remove it",
                                 to_string(a.provider)),
               "");
      }
    }

    // Flow and provider together.
    if (provider && flow) check_flow_for_provider(a, prefix, flow.where);

    // Credentials.
    auto secret = get_secret(t, prefix, "client_secret");
    auto certificate = get_secret(t, prefix, "client_certificate");
    auto private_key = get_secret(t, prefix, "client_private_key");
    auto sa_key = get_secret(t, prefix, "service_account_key");
    if (secret) a.client_secret = std::move(*secret.value);
    if (certificate) a.client_certificate = std::move(*certificate.value);
    if (private_key) a.client_private_key = std::move(*private_key.value);
    if (sa_key) a.service_account_key = std::move(*sa_key.value);
    if (certificate.present && !private_key.present) {
      report(certificate.where, join(prefix, "client_certificate"),
             "client_certificate needs client_private_key, the private key that belongs to the certificate",
             example_of("client_private_key"));
    }
    if (private_key.present && !certificate.present) {
      report(private_key.where, join(prefix, "client_private_key"),
             "client_private_key needs client_certificate, the certificate uploaded to the app registration",
             example_of("client_certificate"));
    }
    const bool service = flow && a.flow == flow_kind::service_account;
    if (flow && a.flow == flow_kind::client_credentials) {
      if (!secret.present && !certificate.present && !private_key.present) {
        missing("client_secret",
                "missing credentials: flow \"client_credentials\" needs client_secret, or client_certificate and "
                "client_private_key (Microsoft recommends a certificate)");
      } else if (secret.present && (certificate.present || private_key.present)) {
        report(secret.where, join(prefix, "client_secret"),
               "give either client_secret or client_certificate + client_private_key, not both", "");
      }
    }
    if (service) {
      if (!sa_key.present) {
        missing("service_account_key",
                "missing service_account_key: flow \"service_account\" needs the service account's JSON key file");
      }
      for (const auto* f : {&secret, &certificate, &private_key}) {
        if (f->present) {
          const std::string_view key = f == &secret        ? "client_secret"sv
                                       : f == &certificate ? "client_certificate"sv
                                                           : "client_private_key"sv;
          report(f->where, join(prefix, key),
                 fmt::format("{} is not used with flow \"service_account\" (the key file holds the credentials); "
                             "remove it",
                             key),
                 "");
        }
      }
    } else if (sa_key.present && flow) {
      report(sa_key.where, join(prefix, "service_account_key"),
             "service_account_key is used only with flow \"service_account\"; remove it",
             R"(flow = "service_account")");
    }
    if (provider && flow && a.provider == provider_kind::google && a.flow == flow_kind::authorization_code &&
        !secret.present) {
      missing("client_secret",
              "missing client_secret: Google's token endpoint requires the secret of the Desktop app client, even "
              "with PKCE");
    }

    // The mailbox and who may send.
    auto user = get_mailbox(t, prefix, "user");
    if (user) a.user = *user.value;
    auto senders = get_text_array(t, prefix, "allowed_senders");
    if (senders) {
      for (std::size_t i = 0; i < senders.value->size(); ++i) {
        const auto& [pattern, where] = (*senders.value)[i];
        const std::string element = fmt::format("{}.allowed_senders[{}]", prefix, i);
        if (pattern == "*" || pattern == "*@*" || pattern == "*@") {
          report(where, element,
                 fmt::format("\"{}\" would let this account send as anyone; list addresses or \"*@domain\"", pattern),
                 example_of("allowed_senders"));
        } else if (!syntax::valid_sender_pattern(pattern)) {
          report(where, element,
                 fmt::format("\"{}\" is neither a mail address nor \"*@domain\" (the only wildcard)", pattern),
                 example_of("allowed_senders"));
        } else {
          a.allowed_senders.push_back(pattern);
        }
      }
    }
    if (service && !user.present) {
      missing("user",
              "missing user: flow \"service_account\" sends as a Workspace user through domain-wide delegation (the "
              "token's sub); name that user's address");
    } else if (flow && a.flow == flow_kind::client_credentials && !user.present && !senders.present) {
      missing("user",
              "missing user: an app-only token names no mailbox; set user to the mailbox to send as (SASL user=), "
              "or list allowed_senders");
    }

    // Scopes: syntax only; src/oauth/scope_check.hpp knows the providers' scope mistakes.
    auto scopes =
        get_text_array(t, prefix, "scopes", scope_example(a, provider.value.has_value(), flow.value.has_value()));
    if (scopes) {
      std::vector<std::string> seen;
      for (std::size_t i = 0; i < scopes.value->size(); ++i) {
        const auto& [scope, where] = (*scopes.value)[i];
        const std::string element = fmt::format("{}.scopes[{}]", prefix, i);
        if (!syntax::valid_scope_token(scope)) {
          report(where, element,
                 scope.find(' ') != std::string::npos
                     ? fmt::format("\"{}\" holds several scopes; write one scope per array element", scope)
                     : fmt::format("\"{}\" is not a scope (RFC 6749 §3.3: printable ASCII without spaces, '\"' "
                                   "or '\\')",
                                   scope),
                 scope_example(a, provider.value.has_value(), flow.value.has_value()));
        } else if (std::find(seen.begin(), seen.end(), scope) != seen.end()) {
          report(where, element, fmt::format("\"{}\" is listed twice", scope),
                 scope_example(a, provider.value.has_value(), flow.value.has_value()));
        } else {
          seen.push_back(scope);
        }
      }
      a.scopes = std::move(seen);
    }

    // Endpoints.
    auto issuer = get_url(t, prefix, "issuer");
    auto token_endpoint = get_url(t, prefix, "token_endpoint");
    auto authorization_endpoint = get_url(t, prefix, "authorization_endpoint");
    auto device_endpoint = get_url(t, prefix, "device_authorization_endpoint");
    auto revocation_endpoint = get_url(t, prefix, "revocation_endpoint");
    a.issuer = issuer.value;
    a.token_endpoint = token_endpoint.value;
    a.authorization_endpoint = authorization_endpoint.value;
    a.device_authorization_endpoint = device_endpoint.value;
    a.revocation_endpoint = revocation_endpoint.value;
    if (provider && a.provider == provider_kind::generic) {
      if (!issuer.present && !token_endpoint.present) {
        missing("token_endpoint",
                "missing token_endpoint: provider \"generic\" needs issuer (discovery by RFC 8414 / OpenID Connect) "
                "or token_endpoint");
      }
      if (flow && a.flow == flow_kind::authorization_code && !issuer.present && !authorization_endpoint.present) {
        missing("authorization_endpoint",
                "missing authorization_endpoint: flow \"authorization_code\" with provider \"generic\" needs it, or "
                "issuer for discovery");
      }
      if (flow && a.flow == flow_kind::device_code && !issuer.present && !device_endpoint.present) {
        missing("device_authorization_endpoint",
                "missing device_authorization_endpoint: flow \"device_code\" (RFC 8628) with provider \"generic\" "
                "needs it, or issuer for discovery");
      }
    }

    // Token renewal.
    if (auto margin = get_duration(t, prefix, "renew_margin")) a.renew_margin = *margin.value;
    auto keep_alive = get_bool(t, prefix, "keep_alive");
    if (keep_alive) {
      a.keep_alive = *keep_alive.value;
      if (a.keep_alive && flow && (a.flow == flow_kind::client_credentials || service)) {
        report(keep_alive.where, join(prefix, "keep_alive"),
               fmt::format("keep_alive renews idle refresh tokens, and flow \"{}\" has none; remove it",
                           to_string(a.flow)),
               "");
      }
    }

    // SMTP.
    if (toml::node* n = t.get("smtp")) {
      if (!n->is_table()) {
        wrong_type(*n, join(prefix, "smtp"), "smtp", "a table ([account.smtp])");
      } else {
        check_smtp(*n->as_table(), join(prefix, "smtp"), a, provider.value.has_value());
      }
    }
    if (provider && a.provider == provider_kind::generic && !has_smtp_host(t)) {
      missing("smtp.host",
              "missing smtp.host: provider \"generic\" has no default SMTP server; add an [account.smtp] table with "
              "host (and port)");
    }

    return problems_.size() == before;
  }

  // Every key's position, with array elements ("scopes[1]") and sub-tables ("smtp.port").
  void record_locations(const toml::table& t, const std::string& prefix, account& a) {
    for (auto&& [k, v] : t) {
      const std::string key = join(prefix, k.str());
      a.locations.emplace(key, at(v.source()));
      if (const toml::array* arr = v.as_array()) {
        for (std::size_t i = 0; i < arr->size(); ++i)
          a.locations.emplace(fmt::format("{}[{}]", key, i), at((*arr)[i].source()));
      } else if (const toml::table* sub = v.as_table(); sub != nullptr && prefix.empty()) {
        record_locations(*sub, key, a);
      }
    }
  }

  void check_flow_for_provider(const account& a, const std::string& prefix, const source_location& where) {
    const std::string key = join(prefix, "flow");
    std::string why;
    std::string example = example_of("flow");
    switch (a.provider) {
      case provider_kind::microsoft:
        if (a.flow == flow_kind::service_account) {
          why =
              "service_account is Google's; for Microsoft 365 without a user use flow \"client_credentials\" "
              "(app-only)";
          example = R"(flow = "client_credentials")";
        }
        break;
      case provider_kind::outlook:
        if (a.flow == flow_kind::client_credentials || a.flow == flow_kind::service_account) {
          why = fmt::format(
              "Outlook.com (personal) accounts have no app-only access; flow \"{}\" cannot work: use "
              "\"device_code\" or \"authorization_code\"",
              to_string(a.flow));
        }
        break;
      case provider_kind::google:
        if (a.flow == flow_kind::client_credentials) {
          why =
              "Google has no client-credentials grant for Gmail; for a machine without a user use flow "
              "\"service_account\" (domain-wide delegation)";
          example = R"(flow = "service_account")";
        }
        // The device flow with the Gmail scope is probably refused: oauth::check_scopes() warns.
        break;
      case provider_kind::generic:
        if (a.flow == flow_kind::service_account) {
          why =
              "service_account is Google's JWT bearer grant; use provider \"google\", or \"client_credentials\" "
              "with a generic provider";
        }
        break;
    }
    if (!why.empty()) report(where, key, std::move(why), std::move(example));
  }

  static bool has_smtp_host(const toml::table& account_table) {
    const toml::node* smtp = account_table.get("smtp");
    return smtp != nullptr && smtp->is_table() && smtp->as_table()->contains("host");
  }

  void check_smtp(const toml::table& t, const std::string& prefix, account& a, bool provider_known) {
    check_keys(t, prefix, smtp_keys, "smtp");
    smtp_settings& s = a.smtp;
    auto host = get_text(t, prefix, "host");
    if (host) {
      if (!syntax::valid_host(*host.value)) {
        const bool has_port =
            host.value->find(':') != std::string::npos && host.value->find("://") == std::string::npos;
        report(host.where, join(prefix, "host"),
               has_port && host.value->find(':') == host.value->rfind(':')
                   ? fmt::format("\"{}\" is not a host name; put the port into port = N", *host.value)
                   : fmt::format("\"{}\" is not a host name or IP address (no scheme, user or path)", *host.value),
               example_of("host"));
      } else {
        s.host = *host.value;
      }
    }
    const toml::node* port = t.get("port");
    source_location port_where;
    if (port != nullptr) {
      port_where = at(port->source());
      if (!port->is_integer()) {
        wrong_type(*port, join(prefix, "port"), "port", "an integer from 1 to 65535");
      } else if (const std::int64_t v = port->as_integer()->get(); v < 1 || v > 65535) {
        report(port_where, join(prefix, "port"), fmt::format("{} is not a port; use a number from 1 to 65535", v),
               "port = 587");
      } else {
        s.port = static_cast<std::uint16_t>(v);
      }
    }
    auto tls = get_enum(t, prefix, "tls", tls_names);
    if (tls) s.tls = *tls.value;
    if (auto ca = get_absolute_path(t, prefix, "ca_file")) s.ca_file = *ca.value;
    if (auto skip = get_bool(t, prefix, "tls_skip_verify")) s.tls_skip_verify = *skip.value;
    if (auto plain = get_bool(t, prefix, "allow_plaintext_auth")) s.allow_plaintext_auth = *plain.value;
    auto mechanism = get_enum(t, prefix, "mechanism", mechanism_names);
    if (mechanism) s.mechanism = *mechanism.value;

    if (s.tls == tls_setting::none && !s.allow_plaintext_auth) {
      report(tls.where, join(prefix, "tls"),
             "with tls = \"none\" the token would cross the network unencrypted; use \"starttls\" or \"implicit\", or "
             "(for a local test server only) add allow_plaintext_auth = true",
             R"(tls = "starttls")");
    }
    // Exchange Online facts (providers.md §6, item 5), unless the server is overridden.
    const bool exchange =
        provider_known && !s.host && (a.provider == provider_kind::microsoft || a.provider == provider_kind::outlook);
    if (exchange && s.mechanism == mechanism_setting::oauthbearer) {
      report(mechanism.where, join(prefix, "mechanism"),
             "Exchange Online offers only XOAUTH2, not OAUTHBEARER; use \"xoauth2\" or \"auto\"",
             R"(mechanism = "xoauth2")");
    }
    if (exchange && s.port == 465) {
      report(port_where, join(prefix, "port"),
             "Exchange Online (smtp.office365.com) does not accept implicit TLS on port 465; use 587 (STARTTLS)",
             "port = 587");
    } else if (exchange && s.tls == tls_setting::implicit) {
      report(tls.where, join(prefix, "tls"),
             "Exchange Online documents SMTP submission on port 587 with STARTTLS only, not implicit TLS",
             R"(tls = "starttls")");
    } else if (s.port == 465 && s.tls != tls_setting::implicit && s.tls != tls_setting::none) {
      // RFC 8314 §3.3: port 465 speaks TLS from the first byte; STARTTLS there waits for a greeting
      // that never comes.
      report(tls.present ? tls.where : port_where, join(prefix, tls.present ? "tls" : "port"),
             "port 465 expects TLS from the first byte (RFC 8314); say so with tls = \"implicit\" (STARTTLS, the "
             "default, is for port 587)",
             R"(tls = "implicit")");
    }
  }

  std::string path_;
  unsigned mode_;
  std::vector<problem> problems_;
  std::map<std::string, int, std::less<>> names_;  // account name -> line
};

}  // namespace

load_result load_text(std::string_view text, const std::string& path, unsigned file_mode) {
  try {
    return validator(path, file_mode).run(text);
  } catch (const std::exception& e) {
    // Out of memory or a broken invariant: still a value, never an exception to the caller.
    load_result out;
    out.problems.push_back(problem{source_location{path, 0, 0}, "",
                                   fmt::format("internal error while checking the file: {}", e.what()), ""});
    return out;
  }
}

}  // namespace oauthmail::config
