// Key and self-signed certificate generation for the sandbox (pki.hpp): RSA-2048 keys through
// OpenSSL 3's EVP_RSA_gen, certificates through the X509 API.
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "core/error.hpp"
#include "core/openssl_ptr.hpp"
#include "sandbox/pki.hpp"

namespace oauthmail::sandbox {
namespace {

using core::bio_ptr;
using core::pkey_ptr;
using core::x509_ptr;

core::error crypto_error(std::string what) {
  ERR_clear_error();
  return core::error(std::make_error_code(std::errc::io_error), "OpenSSL could not " + std::move(what),
                     core::failure_class::bug);
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

core::result<std::string> private_key_pem(EVP_PKEY* key) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return crypto_error("write a private key");
  }
  return bio_text(bio.get());
}

core::result<pkey_ptr> new_rsa_key() {
  pkey_ptr key(EVP_RSA_gen(2048));
  if (!key) return crypto_error("generate an RSA key");
  return key;
}

}  // namespace

core::result<std::string> make_rsa_key() {
  auto key = new_rsa_key();
  if (!key) return key.error();
  return private_key_pem(key->get());
}

core::result<key_and_certificate> make_self_signed(const std::string& common_name) {
  auto key = new_rsa_key();
  if (!key) return key.error();
  x509_ptr cert(X509_new());
  if (!cert) return crypto_error("allocate a certificate");
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return crypto_error("draw a serial number");
  serial[0] &= 0x7F;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  const bool serial_ok = bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get())) != nullptr;
  BN_free(bn);
  X509_NAME* name = X509_get_subject_name(cert.get());
  const bool ok =
      serial_ok && X509_set_version(cert.get(), 2) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 2L * 365 * 24 * 3600) != nullptr &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                 -1, -1, 0) == 1 &&
      X509_set_issuer_name(cert.get(), name) == 1 && X509_set_pubkey(cert.get(), key->get()) == 1 &&
      X509_sign(cert.get(), key->get(), EVP_sha256()) > 0;
  if (!ok) return crypto_error("create a self-signed certificate");
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert.get()) != 1) return crypto_error("write a certificate");
  auto pem = private_key_pem(key->get());
  if (!pem) return pem.error();
  return key_and_certificate{std::move(*pem), bio_text(bio.get())};
}

}  // namespace oauthmail::sandbox
