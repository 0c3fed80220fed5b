// The sandbox CA and server certificate: what a TLS client checks (chain, purpose, names,
// validity), file modes, and when files are reused or re-issued.
#include "sandbox/pki.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

#include "unit/sandbox/helpers.hpp"

namespace oauthmail::sandbox {
namespace {

using testing::file_mode;
using testing::temp_dir;

struct x509_free {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct pkey_free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

// Every certificate of a PEM file, in order.
std::vector<x509_ptr> certificates(const std::string& path) {
  const std::string pem = slurp(path);
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  std::vector<x509_ptr> out;
  while (X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) out.emplace_back(c);
  ERR_clear_error();
  BIO_free(bio);
  return out;
}

pkey_ptr private_key(const std::string& path) {
  const std::string pem = slurp(path);
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  pkey_ptr key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return key;
}

// What a TLS client does with --ca-file: X509_verify_cert for a TLS server, then the name.
int verify(X509* leaf, X509* ca) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  const int ok = X509_verify_cert(ctx);
  const int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

bool host_ok(X509* cert, const std::string& host) {
  return X509_check_host(cert, host.c_str(), host.size(), 0, nullptr) == 1;
}
bool ip_ok(X509* cert, const char* ip) { return X509_check_ip_asc(cert, ip, 0) == 1; }

// Days from now to the certificate's notAfter.
int days_left(X509* cert) {
  int days = 0;
  int secs = 0;
  ASN1_TIME* now = ASN1_TIME_set(nullptr, std::time(nullptr));
  ASN1_TIME_diff(&days, &secs, now, X509_get0_notAfter(cert));
  ASN1_TIME_free(now);
  return days;
}

pki_files ensure_ok(const std::string& dir, const std::vector<std::string>& names = {}) {
  auto files = ensure_pki(dir, names);
  if (!files) throw std::runtime_error(files.error().message());
  return *files;
}

TEST(SandboxPki, ServerCertificateVerifiesAgainstTheCaForTheLoopbackNames) {
  temp_dir dir;
  const auto files = ensure_ok(dir.path());
  EXPECT_EQ(files.ca_certificate, dir.file("ca.pem"));
  EXPECT_EQ(files.server_certificate, dir.file("server.pem"));
  EXPECT_EQ(files.server_key, dir.file("server.key"));

  auto cas = certificates(files.ca_certificate);
  ASSERT_EQ(cas.size(), 1u);
  X509* ca = cas[0].get();
  auto chain = certificates(files.server_certificate);
  ASSERT_EQ(chain.size(), 2u);  // leaf, then the CA
  X509* leaf = chain[0].get();
  EXPECT_EQ(X509_cmp(chain[1].get(), ca), 0);

  EXPECT_EQ(verify(leaf, ca), X509_V_OK);
  EXPECT_TRUE(host_ok(leaf, "localhost"));
  EXPECT_TRUE(ip_ok(leaf, "127.0.0.1"));
  EXPECT_TRUE(ip_ok(leaf, "::1"));
  EXPECT_FALSE(host_ok(leaf, "smtp.office365.com"));
  EXPECT_FALSE(ip_ok(leaf, "127.0.0.2"));

  // The CA: CA:TRUE and keyCertSign; the leaf: no CA, serverAuth, its key in server.key.
  EXPECT_GE(X509_check_ca(ca), 1);
  EXPECT_TRUE(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
  EXPECT_EQ(X509_check_ca(leaf), 0);
  EXPECT_TRUE(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
  EXPECT_EQ(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0), 1);
  auto key = private_key(files.server_key);
  ASSERT_TRUE(key);
  EXPECT_EQ(X509_check_private_key(leaf, key.get()), 1);
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 2048);
  // Validity: 825 days for the server, about 10 years for the CA.
  EXPECT_GE(days_left(leaf), 824);
  EXPECT_LE(days_left(leaf), 825);
  EXPECT_GE(days_left(ca), 3649);

  // Another CA does not vouch for it.
  temp_dir other;
  const auto other_files = ensure_ok(other.path());
  auto other_ca = certificates(other_files.ca_certificate);
  EXPECT_NE(verify(leaf, other_ca[0].get()), X509_V_OK);
}

TEST(SandboxPki, KeysAreOwnerOnly) {
  temp_dir dir;
  const auto files = ensure_ok(dir.path());
  EXPECT_EQ(file_mode(files.server_key), 0600u);
  EXPECT_EQ(file_mode(dir.file("ca.key")), 0600u);
  EXPECT_EQ(file_mode(files.ca_certificate), 0644u);
  EXPECT_FALSE(std::filesystem::exists(files.server_key + ".tmp"));
}

TEST(SandboxPki, ExtraNamesAreInTheCertificate) {
  temp_dir dir;
  const auto files = ensure_ok(dir.path(), {"smtp.sandbox.test", "192.168.7.20", "fd00::25", "localhost"});
  auto chain = certificates(files.server_certificate);
  X509* leaf = chain[0].get();
  EXPECT_TRUE(host_ok(leaf, "smtp.sandbox.test"));
  EXPECT_TRUE(ip_ok(leaf, "192.168.7.20"));
  EXPECT_TRUE(ip_ok(leaf, "fd00::25"));
  EXPECT_TRUE(host_ok(leaf, "localhost"));
  EXPECT_FALSE(host_ok(leaf, "192.168.7.20"));  // an IP is an IP SAN, not a DNS name
}

TEST(SandboxPki, BadNamesAreRefused) {
  temp_dir dir;
  for (const char* bad : {"", "bad name", "a,DNS:evil.test", "-x..y", "x.", "\xC3\xA9.test"}) {
    auto files = ensure_pki(dir.path(), {bad});
    EXPECT_FALSE(files.has_value()) << bad;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("ca.pem")));  // nothing written
}

TEST(SandboxPki, ReusedWhenPresentAndValid) {
  temp_dir dir;
  const auto files = ensure_ok(dir.path(), {"smtp.sandbox.test"});
  const std::string ca = slurp(files.ca_certificate);
  const std::string server = slurp(files.server_certificate);
  const std::string key = slurp(files.server_key);
  const auto again = ensure_ok(dir.path(), {"smtp.sandbox.test"});
  EXPECT_EQ(slurp(again.ca_certificate), ca);
  EXPECT_EQ(slurp(again.server_certificate), server);
  EXPECT_EQ(slurp(again.server_key), key);
  // Fewer names than the certificate has: still covered, still reused.
  ensure_ok(dir.path());
  EXPECT_EQ(slurp(files.server_certificate), server);
}

TEST(SandboxPki, NewNameReissuesTheServerCertificateOnly) {
  temp_dir dir;
  const auto files = ensure_ok(dir.path());
  const std::string ca = slurp(files.ca_certificate);
  const std::string server = slurp(files.server_certificate);
  ensure_ok(dir.path(), {"mail.sandbox.test"});
  EXPECT_EQ(slurp(files.ca_certificate), ca);
  EXPECT_NE(slurp(files.server_certificate), server);
  auto chain = certificates(files.server_certificate);
  auto cas = certificates(files.ca_certificate);
  EXPECT_TRUE(host_ok(chain[0].get(), "mail.sandbox.test"));
  EXPECT_EQ(verify(chain[0].get(), cas[0].get()), X509_V_OK);
}

TEST(SandboxPki, ServerCertificateExpiringWithin30DaysIsReissued) {
  temp_dir dir;
  const auto files = ensure_ok(dir.path());
  const std::string ca_pem = slurp(files.ca_certificate);
  // Re-sign the server key with the CA for 10 days only.
  auto ca = certificates(files.ca_certificate);
  auto ca_key = private_key(dir.file("ca.key"));
  auto key = private_key(files.server_key);
  ASSERT_TRUE(ca_key && key);
  x509_ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 4242);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 24 * 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca[0].get()));
  X509_set_pubkey(cert.get(), key.get());
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca[0].get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
  ASSERT_NE(san, nullptr);
  X509_add_ext(cert.get(), san, -1);
  X509_EXTENSION_free(san);
  ASSERT_GT(X509_sign(cert.get(), ca_key.get(), EVP_sha256()), 0);
  ASSERT_EQ(verify(cert.get(), ca[0].get()), X509_V_OK);  // valid, but for 10 days
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert.get());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  spit(files.server_certificate, std::string(data, static_cast<std::size_t>(n)) + ca_pem);
  BIO_free(bio);

  ensure_ok(dir.path());
  auto chain = certificates(files.server_certificate);
  EXPECT_GE(days_left(chain[0].get()), 824);
  EXPECT_EQ(slurp(files.ca_certificate), ca_pem);  // the CA stays
  EXPECT_EQ(verify(chain[0].get(), ca[0].get()), X509_V_OK);
}

TEST(SandboxPki, AMismatchedServerKeyIsReplaced) {
  temp_dir dir;
  const auto files = ensure_ok(dir.path());
  auto other = make_rsa_key();
  ASSERT_TRUE(other);
  spit(files.server_key, *other);
  ensure_ok(dir.path());
  auto chain = certificates(files.server_certificate);
  auto key = private_key(files.server_key);
  EXPECT_EQ(X509_check_private_key(chain[0].get(), key.get()), 1);
  EXPECT_EQ(file_mode(files.server_key), 0600u);
}

TEST(SandboxPki, ABrokenCaRegeneratesEverything) {
  temp_dir dir;
  const auto files = ensure_ok(dir.path());
  const std::string old_ca = slurp(files.ca_certificate);
  auto old_chain = certificates(files.server_certificate);
  spit(files.ca_certificate, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
  ensure_ok(dir.path());
  EXPECT_NE(slurp(files.ca_certificate), old_ca);
  auto cas = certificates(files.ca_certificate);
  auto chain = certificates(files.server_certificate);
  ASSERT_EQ(cas.size(), 1u);
  EXPECT_EQ(verify(chain[0].get(), cas[0].get()), X509_V_OK);
  EXPECT_NE(verify(old_chain[0].get(), cas[0].get()), X509_V_OK);
}

TEST(SandboxPki, TheFolderIsCreatedOwnerOnly) {
  temp_dir dir;
  const std::string state = dir.file("state");
  const auto files = ensure_ok(state);
  EXPECT_TRUE(std::filesystem::exists(files.ca_certificate));
  EXPECT_EQ(file_mode(state), 0700u);
  EXPECT_FALSE(ensure_pki("", {}).has_value());
}

}  // namespace
}  // namespace oauthmail::sandbox
