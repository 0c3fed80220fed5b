// The sandbox's directory: one tenant (Microsoft) or domain (Google) with ready-made test
// mailboxes and OAuth clients, created on first start with random ids and secrets and saved in
// the state folder, so that tokens and configurations stay valid across restarts.
//
// Ready-made identities (names are stable, ids and secrets random):
//  mailboxes  sender@<domain>    SMTP AUTH enabled; may also send as shared@<domain>
//             shared@<domain>    a shared mailbox sender@ has "Send As" on
//             disabled@<domain>  SMTP AUTH disabled for the mailbox (Microsoft: 535 5.7.139)
//             other@<domain>     nobody may send as it (SendAsDenied tests)
//  clients    app-secret   confidential, client_credentials with a client secret; service principal
//                          registered and mailbox permission on sender@ and disabled@
//             app-cert     confidential, client_credentials with private_key_jwt (certificate)
//             app-noperm   confidential with a secret, no mailbox permission (5.7.3 for app-only)
//             public       public client: device code and authorization code with PKCE
//             service-account (google profile): JWT bearer grant with domain-wide delegation
//             service-account-nodwd (google profile): a service account without domain-wide
//                          delegation (unauthorized_client when it impersonates a mailbox)
// Per profile: microsoft and generic have app-secret, app-cert, app-noperm and public; google has
// app-secret (a "Web application" client: authorization code), public (a "Desktop app" client,
// which Google gives a secret that its token endpoint requires), service-account (Google has no
// client credentials grant) and service-account-nodwd. Domains: contoso.test (microsoft), example.test (google,
// generic). Ids look like the provider's: GUIDs (microsoft, generic); "NNN-xxx.apps.googleusercontent.com", a 21-digit
// service account id and a "C0xxxxxxx" customer id (google). Secrets: Entra-like "xxxNQ~..." (40 characters), Google
// "GOCSPX-..." , generic base64url. Must not: print secrets (the files holding them are 0600 and referenced, never
// inlined).
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace oauthmail::sandbox {

enum class profile_kind { microsoft, google, generic };
std::string_view to_string(profile_kind p) noexcept;
std::optional<profile_kind> parse_profile(std::string_view name) noexcept;

struct mailbox {
  std::string address;  // lower-case
  std::string display_name;
  bool smtp_auth_enabled = true;
  std::vector<std::string> send_as;  // other addresses this mailbox may use as From / MAIL FROM
};

enum class client_kind { secret, certificate, public_client, service_account };

struct client {
  std::string name;  // "app-secret", ...
  std::string client_id;
  client_kind kind = client_kind::secret;
  std::string secret;                            // client_kind::secret (and public google desktop clients)
  std::string certificate_pem;                   // certificate / service_account: the public certificate
  std::string service_account_email;             // service_account: iss of its assertions
  bool service_principal = true;                 // Microsoft: New-ServicePrincipal done
  std::vector<std::string> mailbox_permissions;  // app-only: mailboxes it may send as
  bool domain_wide_delegation = true;            // service_account
  std::string key_id;  // service_account: private_key_id of its key file (the assertions' `kid`)
};

struct directory {
  profile_kind profile = profile_kind::microsoft;
  std::string tenant_id;  // GUID (Microsoft); for Google a customer id
  std::string domain;     // "contoso.test" / "example.test"
  std::vector<mailbox> mailboxes;
  std::vector<client> clients;

  const mailbox* find_mailbox(std::string_view address) const;  // case-insensitive
  const client* find_client_by_id(std::string_view client_id) const;
  const client* find_client(std::string_view name) const;
  const client* find_service_account(std::string_view email) const;  // case-insensitive
  // May `mailbox` (authenticated) send with `from` as sender? (itself or send_as, case-insensitive)
  bool may_send_as(std::string_view mailbox, std::string_view from) const;
};

// Secrets and keys of new clients are generated here; `private_keys` receives the PEM private
// keys of certificate and service-account clients by client name (the caller writes them 0600).
struct generated_directory {
  directory dir;
  std::vector<std::pair<std::string, std::string>> private_keys;
};
core::result<generated_directory> make_default_directory(profile_kind profile);

boost::json::object to_json(const directory& d);  // includes secrets: write it to a 0600 file only
core::result<directory> directory_from_json(const boost::json::value& v);

}  // namespace oauthmail::sandbox
