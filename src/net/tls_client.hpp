// The TLS client policy shared by every SMTP connection oauthmail makes (net::smtp_connection for
// sending, net::probe for `oauthmail doctor`), so that a diagnosis tests exactly what a send does:
// TLS 1.2 or newer, no compression, the certificate chain verified against the system store or a
// configured CA file, and the host name (or IP address) checked without partial wildcards
// (RFC 7817 / RFC 6125); SNI for names, not for IP addresses. Verification is off only with
// tls_skip_verify (logged as a warning).
// Must not: open sockets (the caller owns the stream), weaken the policy without skip_verify.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <string>

#include "core/result.hpp"
#include "net/smtp_connection.hpp"

struct ssl_st;  // OpenSSL's SSL

namespace oauthmail::net {

// Applies the policy to a client context: protocol floor, verification mode, trust anchors (the CA
// file or the system's default paths). Errors (smtp::session_errc::tls_failed, needs_human): a CA
// file that cannot be loaded.
core::result<void> configure_client_context(boost::asio::ssl::context& context, const tls_options& options);

// Prepares one connection made from that context: SNI and the name (or address) the certificate
// must be valid for.
core::result<void> prepare_client_connection(ssl_st* connection, const std::string& peer_name, bool skip_verify);

// Plain words for an OpenSSL verification result (X509_V_ERR_*), naming the problem: expired,
// not yet valid, not signed by a trusted CA (--ca-file), not valid for `peer_name`.
std::string describe_verify_failure(long verify_result, const std::string& peer_name);

}  // namespace oauthmail::net
