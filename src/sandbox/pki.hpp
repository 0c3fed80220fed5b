// The sandbox's own certificate authority (OpenSSL 3): on first start a CA (RSA 2048, 10 years)
// and a server certificate signed by it (subjectAltName DNS:localhost, IP:127.0.0.1, IP:::1 and
// any configured names; serverAuth; 825 days), so that clients verify TLS for real with
// --ca-file / smtp.ca_file. Also self-signed client certificates for private_key_jwt clients.
// Files are reused when present and still valid for 30 days; keys are written mode 0600.
// Must not: write outside the folder given; print keys.
#pragma once

#include <string>
#include <vector>

#include "core/result.hpp"

namespace oauthmail::sandbox {

struct pki_files {
  std::string ca_certificate;      // DIR/ca.pem (give this to clients)
  std::string server_certificate;  // DIR/server.pem (leaf then CA)
  std::string server_key;          // DIR/server.key (0600)
};

core::result<pki_files> ensure_pki(const std::string& dir, const std::vector<std::string>& extra_names);

struct key_and_certificate {
  std::string private_key_pem;  // PKCS#8
  std::string certificate_pem;
};
// A new RSA-2048 key and a self-signed certificate for `common_name` (2 years).
core::result<key_and_certificate> make_self_signed(const std::string& common_name);
// A new RSA-2048 private key (PKCS#8 PEM).
core::result<std::string> make_rsa_key();

}  // namespace oauthmail::sandbox
