// Owning pointers for the OpenSSL 3 objects oauthmail creates (keys, certificates, memory BIOs,
// digest contexts): one definition of each deleter, shared by src/oauth and src/sandbox.
// Must not: hold anything but OpenSSL objects; call OpenSSL functions other than the *_free ones.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>

namespace oauthmail::core {

template <class T, void (*Free)(T*)>
struct openssl_deleter {
  void operator()(T* p) const noexcept { Free(p); }
};

inline void free_bio(BIO* b) noexcept { BIO_free(b); }

using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO, free_bio>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509, X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY, EVP_PKEY_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, openssl_deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;

}  // namespace oauthmail::core
