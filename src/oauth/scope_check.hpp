// Scope and credential mistakes that make SMTP fail later, caught when the configuration is read
// (providers.md §1.4, §1.7, §2.3, §2.4, §6), each with the cause and the fix:
//   Microsoft / Outlook.com
//   - a Graph scope ("https://graph.microsoft.com/...", bare "Mail.Send") for SMTP -> Graph token,
//     535 5.7.3 at SMTP
//   - "SMTP.Send" without the https://outlook.office.com/ prefix (read as a Graph scope)
//   - SMTP.SendAsApp requested as a scope (it is an application permission, app-only tokens carry it)
//   - app-only (client_credentials) with named scopes / without "/.default" (AADSTS1002012,
//     AADSTS70011), with offline_access, or with the delegated https://outlook.office.com/SMTP.Send
//   - scopes of two resources in one request (AADSTS28000)
//   - "/.default" mixed with named scopes (AADSTS70011)
//   - a client secret with the device flow (a public client must not send one: AADSTS700025);
//     with the authorization code flow only a warning (fine for a confidential Web registration)
//   - delegated without offline_access (no refresh token: a sign-in every hour), no SMTP.Send at all
//   Google
//   - gmail.send (or another Gmail API scope) for SMTP, which needs https://mail.google.com/
//   - the device flow with the Gmail scope (not allowed by Google's device flow: a warning)
// Must not: read secrets (only whether one is configured); touch the network.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace oauthmail::oauth {

enum class scope_severity { error, warning };

struct scope_problem {
  scope_severity severity = scope_severity::error;
  std::string key;    // "scopes", "flow", "client_secret"
  std::string scope;  // the offending scope, when one is
  std::string cause;  // what is wrong and what would happen
  std::string fix;    // what to write instead
};

// Checks the account's effective scopes (its `scopes`, else the preset's, which are right) and its
// flow/credential combination. Generic providers are not checked.
std::vector<scope_problem> check_scopes(const config::account& account);

}  // namespace oauthmail::oauth
