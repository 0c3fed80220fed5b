// The sandbox's certificate authority and server certificate (pki.hpp) with OpenSSL 3's EVP and
// X509 APIs. Keys come from make_rsa_key() (keys.cpp).
#include "sandbox/pki.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "core/error.hpp"
#include "core/openssl_ptr.hpp"

namespace oauthmail::sandbox {
namespace {

using core::bio_ptr;
using core::pkey_ptr;
using core::x509_ptr;

struct store_free {
  void operator()(X509_STORE* p) const noexcept { X509_STORE_free(p); }
};
struct store_ctx_free {
  void operator()(X509_STORE_CTX* p) const noexcept { X509_STORE_CTX_free(p); }
};
struct general_names_free {
  void operator()(GENERAL_NAMES* p) const noexcept { GENERAL_NAMES_free(p); }
};
struct extension_free {
  void operator()(X509_EXTENSION* p) const noexcept { X509_EXTENSION_free(p); }
};

constexpr long ca_days = 3650;     // 10 years
constexpr long server_days = 825;  // the CA/Browser Forum's former maximum, accepted by every client
constexpr long renew_within_days = 30;
constexpr long day = 24L * 3600;

core::error crypto_error(std::string what) {
  unsigned long code = ERR_get_error();
  std::string detail;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    detail = std::string(" (") + buf + ")";
  }
  ERR_clear_error();
  return core::error(make_error_code(core::errc::internal), "OpenSSL could not " + std::move(what) + detail,
                     core::failure_class::bug);
}

core::error file_error(const std::string& path, std::string what) {
  return core::error(make_error_code(core::errc::io_failure), path + ": " + std::move(what),
                     core::failure_class::needs_human);
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes `data` to `path` atomically (a temporary in the same folder, fsync, rename) with `mode`.
core::result<void> write_file(const std::string& path, const std::string& data, mode_t mode) {
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return file_error(tmp, std::string("cannot create: ") + std::strerror(errno));
  bool ok = ::fchmod(fd, mode) == 0;
  std::size_t done = 0;
  while (ok && done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = ok ? errno : saved;
    ::unlink(tmp.c_str());
    return file_error(path, std::string("cannot write: ") + std::strerror(e));
  }
  return {};
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

core::result<std::string> certificate_pem(X509* cert) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return crypto_error("write a certificate");
  return bio_text(bio.get());
}

pkey_ptr parse_key(const std::string& pem) {
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  pkey_ptr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  return key;
}

x509_ptr parse_certificate(const std::string& pem) {
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  x509_ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  return cert;
}

// A subjectAltName entry: an IP address (v4 or v6) or a DNS name (letters, digits, '-', '.',
// a leading "*." wildcard).
struct alt_name {
  bool ip = false;
  std::string value;
};

core::result<alt_name> classify_name(const std::string& name) {
  unsigned char buf[16];
  if (::inet_pton(AF_INET, name.c_str(), buf) == 1 || ::inet_pton(AF_INET6, name.c_str(), buf) == 1) {
    return alt_name{true, name};
  }
  const auto bad = [&] {
    return core::error(make_error_code(core::errc::invalid_argument),
                       "\"" + name + "\" is neither an IP address nor a DNS name for the sandbox certificate",
                       core::failure_class::needs_human);
  };
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '.') return bad();
  std::string_view rest = name;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  std::size_t label = 0;
  for (const char c : rest) {
    if (c == '.') {
      if (label == 0) return bad();
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok || ++label > 63) return bad();
  }
  if (label == 0) return bad();
  return alt_name{false, name};
}

std::vector<alt_name> standard_names() { return {{false, "localhost"}, {true, "127.0.0.1"}, {true, "::1"}}; }

bool covers(X509* cert, const alt_name& n) {
  const int r = n.ip ? X509_check_ip_asc(cert, n.value.c_str(), 0)
                     : X509_check_host(cert, n.value.c_str(), n.value.size(), X509_CHECK_FLAG_NO_WILDCARDS, nullptr);
  return r == 1;
}

// Still valid `renew_within_days` from now, and already valid now.
bool fresh(X509* cert) {
  std::time_t later = std::time(nullptr) + renew_within_days * day;
  std::time_t now = std::time(nullptr);
  return X509_cmp_time(X509_get0_notAfter(cert), &later) > 0 && X509_cmp_time(X509_get0_notBefore(cert), &now) < 0;
}

bool add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, extension_free> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

bool add_alt_names(X509* cert, const std::vector<alt_name>& names) {
  std::unique_ptr<GENERAL_NAMES, general_names_free> list(sk_GENERAL_NAME_new_null());
  if (!list) return false;
  for (const auto& n : names) {
    GENERAL_NAME* g = nullptr;
    if (n.ip) {
      ASN1_OCTET_STRING* ip = a2i_IPADDRESS(n.value.c_str());
      if (ip == nullptr) return false;
      g = GENERAL_NAME_new();
      if (g == nullptr) {
        ASN1_OCTET_STRING_free(ip);
        return false;
      }
      GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
    } else {
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      if (dns == nullptr || ASN1_STRING_set(dns, n.value.data(), static_cast<int>(n.value.size())) != 1) {
        ASN1_IA5STRING_free(dns);
        return false;
      }
      g = GENERAL_NAME_new();
      if (g == nullptr) {
        ASN1_IA5STRING_free(dns);
        return false;
      }
      GENERAL_NAME_set0_value(g, GEN_DNS, dns);
    }
    if (sk_GENERAL_NAME_push(list.get(), g) == 0) {
      GENERAL_NAME_free(g);
      return false;
    }
  }
  return X509_add1_ext_i2d(cert, NID_subject_alt_name, list.get(), 0, 0) == 1;
}

bool random_serial(X509* cert) {
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return false;
  serial[0] &= 0x7F;  // positive (RFC 5280 §4.1.2.2)
  serial[0] |= 0x01;  // and not zero
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  const bool ok = bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  return ok;
}

bool set_name(X509_NAME* name, const std::string& common_name) {
  return X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>("oauthmail sandbox"), -1, -1, 0) == 1 &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) == 1;
}

struct issued {
  std::string key_pem;
  std::string cert_pem;
  x509_ptr cert;
  pkey_ptr key;
};

core::result<issued> new_key() {
  auto pem = make_rsa_key();
  if (!pem) return pem.error();
  pkey_ptr key = parse_key(*pem);
  if (!key) return crypto_error("read back a new key");
  issued out;
  out.key_pem = std::move(*pem);
  out.key = std::move(key);
  return out;
}

core::result<issued> make_ca() {
  auto out = new_key();
  if (!out) return out.error();
  x509_ptr cert(X509_new());
  unsigned char tag[4];
  if (!cert || RAND_bytes(tag, sizeof tag) != 1) return crypto_error("allocate a certificate");
  char hex[9];
  std::snprintf(hex, sizeof hex, "%02X%02X%02X%02X", tag[0], tag[1], tag[2], tag[3]);
  // A distinct name per installation, so that two sandboxes' CAs never shadow each other.
  const std::string cn = std::string("oauthmail sandbox CA ") + hex;
  X509* c = cert.get();
  const bool ok =
      X509_set_version(c, 2) == 1 && random_serial(c) && X509_gmtime_adj(X509_getm_notBefore(c), -300) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(c), ca_days * day) != nullptr && set_name(X509_get_subject_name(c), cn) &&
      X509_set_issuer_name(c, X509_get_subject_name(c)) == 1 && X509_set_pubkey(c, out->key.get()) == 1 &&
      add_extension(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
      add_extension(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") &&
      add_extension(c, c, NID_subject_key_identifier, "hash") &&
      add_extension(c, c, NID_authority_key_identifier, "keyid:always") &&
      X509_sign(c, out->key.get(), EVP_sha256()) > 0;
  if (!ok) return crypto_error("create the sandbox certificate authority");
  auto pem = certificate_pem(c);
  if (!pem) return pem.error();
  out->cert_pem = std::move(*pem);
  out->cert = std::move(cert);
  return out;
}

core::result<issued> make_server(X509* ca, EVP_PKEY* ca_key, const std::vector<alt_name>& names) {
  auto out = new_key();
  if (!out) return out.error();
  x509_ptr cert(X509_new());
  if (!cert) return crypto_error("allocate a certificate");
  X509* c = cert.get();
  const bool ok =
      X509_set_version(c, 2) == 1 && random_serial(c) && X509_gmtime_adj(X509_getm_notBefore(c), -300) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(c), server_days * day) != nullptr &&
      set_name(X509_get_subject_name(c), "localhost") && X509_set_issuer_name(c, X509_get_subject_name(ca)) == 1 &&
      X509_set_pubkey(c, out->key.get()) == 1 && add_extension(c, ca, NID_basic_constraints, "critical,CA:FALSE") &&
      add_extension(c, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
      add_extension(c, ca, NID_ext_key_usage, "serverAuth") &&
      add_extension(c, ca, NID_subject_key_identifier, "hash") &&
      add_extension(c, ca, NID_authority_key_identifier, "keyid:always") && add_alt_names(c, names) &&
      X509_sign(c, ca_key, EVP_sha256()) > 0;
  if (!ok) return crypto_error("create the sandbox server certificate");
  auto pem = certificate_pem(c);
  if (!pem) return pem.error();
  out->cert_pem = std::move(*pem);
  out->cert = std::move(cert);
  return out;
}

// Does `cert` chain to `ca` for TLS servers (signature, validity, purpose)?
bool verifies(X509* cert, X509* ca) {
  std::unique_ptr<X509_STORE, store_free> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, store_ctx_free> ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1) {
    ERR_clear_error();
    return false;
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  const bool ok = X509_verify_cert(ctx.get()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace

core::result<pki_files> ensure_pki(const std::string& dir, const std::vector<std::string>& extra_names) {
  std::vector<alt_name> names = standard_names();
  for (const auto& n : extra_names) {
    auto a = classify_name(n);
    if (!a) return a.error();
    bool dup = false;
    for (const auto& have : names) dup = dup || (have.ip == a->ip && have.value == a->value);
    if (!dup) names.push_back(std::move(*a));
  }

  std::error_code ec;
  if (dir.empty()) return file_error(dir, "no state folder given");
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return file_error(dir, "cannot create the folder: " + ec.message());
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  const std::filesystem::path base(dir);
  pki_files files{(base / "ca.pem").string(), (base / "server.pem").string(), (base / "server.key").string()};
  const std::string ca_key_path = (base / "ca.key").string();

  // The CA: reused when its certificate and key load, belong together, and stay valid 30 days.
  x509_ptr ca;
  pkey_ptr ca_key;
  {
    auto cert_pem = read_file(files.ca_certificate);
    auto key_pem = read_file(ca_key_path);
    if (cert_pem && key_pem) {
      ca = parse_certificate(*cert_pem);
      ca_key = parse_key(*key_pem);
      const bool usable = ca && ca_key && X509_check_private_key(ca.get(), ca_key.get()) == 1 &&
                          X509_check_ca(ca.get()) >= 1 && fresh(ca.get());
      ERR_clear_error();
      if (!usable) {
        ca.reset();
        ca_key.reset();
      }
    }
  }
  bool new_ca = false;
  if (!ca) {
    auto made = make_ca();
    if (!made) return made.error();
    if (auto w = write_file(ca_key_path, made->key_pem, 0600); !w) return w.error();
    if (auto w = write_file(files.ca_certificate, made->cert_pem, 0644); !w) return w.error();
    ca = std::move(made->cert);
    ca_key = std::move(made->key);
    new_ca = true;
  }

  // The server certificate: reused when it verifies against the CA, matches its key, stays
  // valid 30 days and covers every name asked for.
  if (!new_ca) {
    auto cert_pem = read_file(files.server_certificate);
    auto key_pem = read_file(files.server_key);
    if (cert_pem && key_pem) {
      x509_ptr cert = parse_certificate(*cert_pem);
      pkey_ptr key = parse_key(*key_pem);
      bool usable = cert && key && X509_check_private_key(cert.get(), key.get()) == 1 && fresh(cert.get()) &&
                    verifies(cert.get(), ca.get());
      for (const auto& n : names) usable = usable && covers(cert.get(), n);
      ERR_clear_error();
      if (usable) {
        // Keys stay owner-only even if someone loosened them.
        ::chmod(files.server_key.c_str(), 0600);
        ::chmod(ca_key_path.c_str(), 0600);
        return files;
      }
    }
  }
  auto server = make_server(ca.get(), ca_key.get(), names);
  if (!server) return server.error();
  auto ca_pem = certificate_pem(ca.get());
  if (!ca_pem) return ca_pem.error();
  if (auto w = write_file(files.server_key, server->key_pem, 0600); !w) return w.error();
  if (auto w = write_file(files.server_certificate, server->cert_pem + *ca_pem, 0644); !w) return w.error();
  return files;
}

}  // namespace oauthmail::sandbox
