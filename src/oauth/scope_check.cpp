#include "oauth/scope_check.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "oauth/presets.hpp"

namespace oauthmail::oauth {

namespace {

using config::flow_kind;
using config::provider_kind;

constexpr std::string_view delegated_fix = "scopes = [\"https://outlook.office.com/SMTP.Send\", \"offline_access\"]";
constexpr std::string_view app_only_fix = "scopes = [\"https://outlook.office365.com/.default\"]";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_oidc(std::string_view s) { return s == "openid" || s == "profile" || s == "email" || s == "offline_access"; }

struct parsed_scope {
  std::string resource;  // "https://outlook.office.com"; "graph (implied)" for bare names
  std::string name;      // "SMTP.Send", ".default"
  std::string host;
  bool prefixed = false;
};

parsed_scope parse(std::string_view s) {
  parsed_scope p;
  const auto scheme = s.find("://");
  if (scheme == std::string_view::npos) {
    p.name = std::string(s);
    p.resource = "https://graph.microsoft.com (implied by a scope without resource prefix)";
    p.host = "graph.microsoft.com";
    return p;
  }
  p.prefixed = true;
  const auto slash = s.rfind('/');
  if (slash == std::string_view::npos || slash < scheme + 3) {
    p.resource = std::string(s);
  } else {
    p.resource = std::string(s.substr(0, slash));
    p.name = std::string(s.substr(slash + 1));
  }
  const auto host_start = scheme + 3;
  const auto host_end = s.find('/', host_start);
  std::string host(
      s.substr(host_start, host_end == std::string_view::npos ? std::string_view::npos : host_end - host_start));
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  p.host = host;
  return p;
}

bool is_graph_host(std::string_view h) {
  return h == "graph.microsoft.com" || h == "graph.microsoft.us" || h == "dod-graph.microsoft.us" ||
         h == "microsoftgraph.chinacloudapi.cn";
}

bool is_exchange_host(std::string_view h) {
  return h == "outlook.office.com" || h == "outlook.office365.com" || h == "outlook.office365.us" ||
         h == "outlook-dod.office365.us" || h == "partner.outlook.cn";
}

void add(std::vector<scope_problem>& out, scope_severity sev, std::string key, std::string scope, std::string cause,
         std::string fix) {
  out.push_back(scope_problem{sev, std::move(key), std::move(scope), std::move(cause), std::move(fix)});
}

void check_microsoft(const config::account& a, const std::vector<std::string>& scopes,
                     std::vector<scope_problem>& out) {
  const bool app_only = a.flow == flow_kind::client_credentials;
  const std::string fix(app_only ? app_only_fix : delegated_fix);
  std::set<std::string> resources;
  bool has_default = false, has_named = false, has_smtp_send = false, has_offline = false;
  for (const auto& s : scopes) {
    if (is_oidc(s)) {
      if (s == "offline_access") {
        has_offline = true;
        if (app_only) {
          add(out, scope_severity::error, "scopes", s,
              "offline_access asks for a refresh token, which app-only (client_credentials) access never gets",
              std::string(app_only_fix));
        }
      }
      continue;
    }
    const parsed_scope p = parse(s);
    resources.insert(p.resource);
    if (p.name == ".default") {
      has_default = true;
    } else {
      has_named = true;
    }
    if (iequals(p.name, "SMTP.Send")) has_smtp_send = true;
    if (!p.prefixed) {
      if (iequals(p.name, "SMTP.Send")) {
        add(out, scope_severity::error, "scopes", s,
            "\"SMTP.Send\" without the https://outlook.office.com/ prefix is read as a Microsoft Graph scope; the "
            "token gets the Graph audience and Exchange refuses it (535 5.7.3)",
            app_only ? std::string(app_only_fix) : "write \"https://outlook.office.com/SMTP.Send\"");
      } else if (iequals(p.name, "SMTP.SendAsApp")) {
        add(out, scope_severity::error, "scopes", s,
            "SMTP.SendAsApp is an application permission granted in the app registration, not a scope to request",
            std::string(app_only ? app_only_fix : delegated_fix));
      } else {
        add(out, scope_severity::error, "scopes", s,
            "\"" + s +
                "\" is a Microsoft Graph scope (a scope without resource prefix means Graph); a Graph token does "
                "not work for SMTP (535 5.7.3)",
            fix);
      }
      continue;
    }
    if (is_graph_host(p.host)) {
      add(out, scope_severity::error, "scopes", s,
          "\"" + s +
              "\" is a Microsoft Graph scope; a token for Graph does not work for SMTP (535 5.7.3). Graph "
              "Mail.Send is only for the Graph sendMail fallback",
          fix);
      continue;
    }
    if (iequals(p.name, "SMTP.SendAsApp")) {
      add(out, scope_severity::error, "scopes", s,
          "SMTP.SendAsApp is an application permission granted in the app registration, not a scope to request",
          std::string(app_only ? app_only_fix : delegated_fix) +
              (app_only ? "" : " (or flow = \"client_credentials\" with " + std::string(app_only_fix) + ")"));
      continue;
    }
    if (app_only && p.name != ".default") {
      add(out, scope_severity::error, "scopes", s,
          iequals(p.name, "SMTP.Send")
              ? "\"" + s +
                    "\" is a delegated scope; app-only (client_credentials) access must request the resource's "
                    "/.default (Microsoft refuses named scopes: AADSTS1002012)"
              : "app-only (client_credentials) scopes must end in /.default (AADSTS1002012)",
          std::string(app_only_fix));
      continue;
    }
    if (!is_exchange_host(p.host)) {
      add(out, scope_severity::warning, "scopes", s,
          "\"" + s + "\" is not an Exchange Online scope; SMTP needs a token for https://outlook.office.com", fix);
    }
  }
  if (resources.size() > 1) {
    std::string list;
    for (const auto& r : resources) list += (list.empty() ? "" : ", ") + r;
    add(out, scope_severity::error, "scopes", "",
        "the scopes name more than one resource (" + list +
            "); Microsoft issues a token for one resource per request (AADSTS28000), and the first one decides "
            "the audience",
        "request only Exchange scopes for SMTP: " + fix);
  }
  if (has_default && has_named) {
    add(out, scope_severity::error, "scopes", "",
        "/.default cannot be combined with named scopes in one request (AADSTS70011)", fix);
  }
  if (!app_only && !scopes.empty()) {
    if (!has_smtp_send && !has_default) {
      add(out, scope_severity::error, "scopes", "",
          "no SMTP.Send scope is requested, so the token cannot be used for SMTP", std::string(delegated_fix));
    }
    if (!has_offline) {
      add(out, scope_severity::warning, "scopes", "",
          "without offline_access Microsoft issues no refresh token: the account needs a new sign-in every hour",
          "add \"offline_access\" to scopes");
    }
  } else if (!has_default && !scopes.empty()) {
    // every named scope was reported above; make sure the fix is said once even for odd lists
    if (std::none_of(out.begin(), out.end(), [](const scope_problem& p) { return p.key == "scopes"; })) {
      add(out, scope_severity::error, "scopes", "", "app-only access needs a /.default scope",
          std::string(app_only_fix));
    }
  }
  const bool has_credential = !a.client_secret.empty() || !a.client_certificate.empty();
  if (has_credential && a.flow == flow_kind::device_code) {
    add(out, scope_severity::error, "client_secret", "",
        "the device flow runs as a public client, which must not send a client secret or certificate "
        "(AADSTS700025)",
        "remove client_secret / client_certificate from this account and enable 'Allow public client flows' in "
        "the app registration -> Authentication");
  } else if (has_credential && a.flow == flow_kind::authorization_code) {
    add(out, scope_severity::warning, "client_secret", "",
        "a client secret with the authorization code flow works only when the app is registered as a Web "
        "(confidential) application; a mobile/desktop (public) registration refuses it (AADSTS700025)",
        "remove client_secret for a desktop registration, or keep it for a Web registration");
  }
  if (a.provider == provider_kind::outlook && app_only) {
    add(out, scope_severity::error, "flow", "", "Outlook.com (personal) accounts have no app-only access",
        "use flow = \"device_code\" or \"authorization_code\"");
  }
}

void check_google(const config::account& a, const std::vector<std::string>& scopes, std::vector<scope_problem>& out) {
  bool has_mail = false;
  for (const auto& s : scopes) {
    if (s == "https://mail.google.com/" || s == "https://mail.google.com") {
      has_mail = true;
    } else if (s.rfind("https://www.googleapis.com/auth/gmail.", 0) == 0) {
      add(out, scope_severity::error, "scopes", s,
          "\"" + s +
              "\" is a Gmail API scope; Gmail's SMTP server accepts only tokens for https://mail.google.com/ "
              "(the gmail.send scope is for the Gmail API fallback)",
          "scopes = [\"https://mail.google.com/\"]");
    }
  }
  if (!has_mail && !scopes.empty()) {
    add(out, scope_severity::error, "scopes", "",
        "the scope https://mail.google.com/ is missing; Gmail SMTP (XOAUTH2/OAUTHBEARER) needs it",
        "scopes = [\"https://mail.google.com/\"]");
  }
  if (a.flow == flow_kind::device_code) {
    add(out, scope_severity::warning, "flow", "https://mail.google.com/",
        "Google's device flow allows only a limited set of scopes and the Gmail scope is not among them; the "
        "sign-in will probably be refused (invalid_scope)",
        "use flow = \"authorization_code\" (the redirected URL can be pasted on a remote machine) or a service "
        "account");
  }
  if (a.flow == flow_kind::client_credentials) {
    add(out, scope_severity::error, "flow", "", "Google has no client-credentials grant for Gmail",
        "use flow = \"service_account\" (Workspace, domain-wide delegation) or \"authorization_code\"");
  }
}

}  // namespace

std::vector<scope_problem> check_scopes(const config::account& a) {
  std::vector<scope_problem> out;
  std::vector<std::string> scopes = a.scopes;
  if (scopes.empty()) {
    if (auto e = resolve_provider(a)) scopes = e->scopes;
  }
  switch (a.provider) {
    case provider_kind::microsoft:
    case provider_kind::outlook:
      check_microsoft(a, scopes, out);
      break;
    case provider_kind::google:
      check_google(a, scopes, out);
      break;
    case provider_kind::generic:
      break;
  }
  return out;
}

}  // namespace oauthmail::oauth
