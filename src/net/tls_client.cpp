#include "net/tls_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>

namespace oauthmail::net {

namespace ssl = boost::asio::ssl;

namespace {

core::error tls_error(std::string message) {
  return {smtp::make_error_code(smtp::session_errc::tls_failed), std::move(message), core::failure_class::needs_human};
}

}  // namespace

core::result<void> configure_client_context(ssl::context& context, const tls_options& options) {
  SSL_CTX* ctx = context.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  context.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  boost::system::error_code ec;
  if (options.skip_verify) {
    spdlog::warn("TLS certificate verification is OFF (tls_skip_verify): the connection can be intercepted");
    context.set_verify_mode(ssl::verify_none, ec);
    return {};
  }
  context.set_verify_mode(ssl::verify_peer, ec);
  if (options.ca_file) {
    context.load_verify_file(*options.ca_file, ec);
    if (ec) {
      return tls_error("Cannot load the CA file \"" + *options.ca_file + "\": " + ec.message() +
                       ". It must be a PEM file with one or more certificates.");
    }
  } else {
    context.set_default_verify_paths(ec);
  }
  return {};
}

core::result<void> prepare_client_connection(ssl_st* connection, const std::string& peer_name, bool skip_verify) {
  boost::system::error_code addr_ec;
  boost::asio::ip::make_address(peer_name, addr_ec);
  const bool is_ip = !addr_ec;
  if (!is_ip) SSL_set_tlsext_host_name(connection, peer_name.c_str());
  if (skip_verify) return {};
  X509_VERIFY_PARAM* param = SSL_get0_param(connection);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, peer_name.c_str())
                       : X509_VERIFY_PARAM_set1_host(param, peer_name.c_str(), peer_name.size());
  if (ok != 1) return tls_error("Cannot check the certificate for \"" + peer_name + "\".");
  return {};
}

std::string describe_verify_failure(long verify_result, const std::string& name) {
  switch (verify_result) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "the server's certificate is not valid for \"" + name +
             "\". Connect with the name the certificate was issued for (the provider's documented host name).";
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "the server's certificate has expired. The server's administrator must renew it.";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "the server's certificate is not valid yet. Check this machine's clock.";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return std::string("the server's certificate is not signed by a trusted certificate authority (") +
             X509_verify_cert_error_string(verify_result) +
             "). If the server uses a private CA, pass its certificate with --ca-file.";
    default:
      return std::string("the server's certificate could not be verified: ") +
             X509_verify_cert_error_string(verify_result) + ".";
  }
}

}  // namespace oauthmail::net
