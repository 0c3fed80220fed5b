// The sandbox's state folder: the directory of test identities (directory.json, 0600), each
// client's secret, certificate and private key as files (0600) so that configurations reference
// them (`file:` secret references) instead of inlining them, the Google service-account key file,
// and the descriptions a user or a script reads: sandbox.json (endpoints, CA, clients, mailboxes)
// and oauthmail.toml (a ready-made oauthmail configuration for the test clients).
//   DIR/directory.json  DIR/signing-key.pem  DIR/ca.pem DIR/ca.key DIR/server.pem DIR/server.key
//   DIR/clients/<name>.secret | <name>.pem | <name>.key.pem | service-account.json
//   DIR/messages.sqlite3  DIR/sandbox.json  DIR/oauthmail.toml  DIR/token-cache/
// Must not: write a secret into sandbox.json, oauthmail.toml or standard output; write outside DIR.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "sandbox/directory.hpp"
#include "sandbox/identity_provider.hpp"

namespace oauthmail::sandbox {

struct client_files {
  std::string name;
  std::string secret;           // DIR/clients/<name>.secret, when the client has a secret
  std::string certificate;      // DIR/clients/<name>.pem
  std::string private_key;      // DIR/clients/<name>.key.pem
  std::string service_account;  // DIR/clients/service-account.json (google)
};

struct prepared_state {
  std::string dir;
  directory identities;
  std::vector<client_files> files;  // one per client, in directory order
  const client_files* files_of(std::string_view client_name) const;
};

// Creates DIR (0700) and the identities on first use; later loads them. A directory.json of
// another profile is an error that says to use another folder.
core::result<prepared_state> prepare_state(const std::string& dir, profile_kind profile);

struct smtp_endpoint {
  std::string host;  // "127.0.0.1"
  std::uint16_t port = 0;
  bool implicit_tls = false;
};

struct sandbox_description {
  profile_kind profile = profile_kind::microsoft;
  std::vector<smtp_endpoint> smtp;
  std::string http_base;
  std::string ca_file;
  idp_endpoints idp;
};

// Writes the Google service-account key file (it names the token endpoint, which changes with the
// port), sandbox.json and oauthmail.toml, each atomically; returns the paths of the last two.
struct written_files {
  std::string sandbox_json;
  std::string config_toml;
};
core::result<written_files> write_descriptions(const prepared_state& state, const sandbox_description& desc);

// The texts themselves (for tests and for printing).
boost::json::object describe(const prepared_state& state, const sandbox_description& desc);
std::string account_configuration(const prepared_state& state, const sandbox_description& desc);

}  // namespace oauthmail::sandbox
