// Test support for the OAuth unit tests: deterministic randomness, RSA keys and self-signed
// certificates made with OpenSSL 3 EVP at run time (no key material in the repository), HTTP
// responses and accounts.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <chrono>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "oauth/http_exchange.hpp"
#include "oauth/random.hpp"
#include "oauth/token.hpp"

namespace oauthmail::oauth::testing {

// Bytes 0, 1, 2, ... continuing across calls.
inline random_source counting_random() {
  auto next = std::make_shared<unsigned char>(0);
  return [next](std::span<unsigned char> out) {
    for (auto& b : out) b = (*next)++;
  };
}

// The same byte every time.
inline random_source fixed_random(unsigned char value) {
  return [value](std::span<unsigned char> out) {
    for (auto& b : out) b = value;
  };
}

inline wall_clock::time_point at(std::int64_t unix_seconds) {
  return wall_clock::time_point(std::chrono::seconds(unix_seconds));
}

inline http_response response(int status, std::string body,
                              std::vector<std::pair<std::string, std::string>> headers = {}) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

struct key_material {
  std::string private_pem;
  std::string public_pem;
  std::string certificate_pem;
  std::string certificate_der;
};

inline std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// A fresh RSA key and a self-signed certificate for it, valid from `not_before` for `days`.
inline key_material make_key(int bits = 2048, long valid_from_offset_s = -3600, long days = 365) {
  key_material k;
  EVP_PKEY* pkey = EVP_RSA_gen(static_cast<unsigned>(bits));
  if (pkey == nullptr) throw std::runtime_error("EVP_RSA_gen failed");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  k.private_pem = bio_text(bio);
  BIO_free(bio);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, pkey);
  k.public_pem = bio_text(bio);
  BIO_free(bio);

  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), valid_from_offset_s);
  X509_gmtime_adj(X509_getm_notAfter(cert), valid_from_offset_s + days * 24 * 3600);
  X509_set_pubkey(cert, pkey);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("oauthmail test"), -1, -1,
                             0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, pkey, EVP_sha256());
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  k.certificate_pem = bio_text(bio);
  BIO_free(bio);
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  k.certificate_der.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  X509_free(cert);
  EVP_PKEY_free(pkey);
  return k;
}

// One key for the whole test binary (RSA generation is slow).
inline const key_material& shared_key() {
  static const key_material k = make_key();
  return k;
}

inline config::account account(config::provider_kind p, config::flow_kind f) {
  config::account a;
  a.name = "work";
  a.provider = p;
  a.flow = f;
  a.client_id = "00001111-aaaa-2222-bbbb-3333cccc4444";
  a.user = "user@contoso.com";
  return a;
}

}  // namespace oauthmail::oauth::testing
