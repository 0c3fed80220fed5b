// The sandbox's control API over HTTP, sans-I/O: captured messages, fault injection, device
// approval for scripts, counters and run-time settings. Paths under /api/ (see
// net/sandbox_server.hpp for the list). JSON in, JSON out; errors are {"error":"...","message":"..."}
// with 400 (bad input, saying which key), 404 or 405.
// Must not: expose secrets (clients' secrets are never served; tokens never appear); touch sockets.
#pragma once

#include <optional>

#include "sandbox/capture_store.hpp"
#include "sandbox/faults.hpp"
#include "sandbox/http.hpp"
#include "sandbox/identity_provider.hpp"
#include "sandbox/smtp_policy.hpp"

namespace oauthmail::sandbox {

class control_api {
 public:
  control_api(fault_registry& faults, capture_store& store, identity_provider& idp, smtp_policy& policy)
      : faults_(faults), store_(store), idp_(idp), policy_(policy) {}
  // nullopt when the path is not under /api/.
  std::optional<http_response> handle(const http_request& request, wall_clock::time_point now);

 private:
  http_response messages(const http_request& request);
  http_response faults(const http_request& request);
  http_response settings(const http_request& request);
  fault_registry& faults_;
  capture_store& store_;
  identity_provider& idp_;
  smtp_policy& policy_;
};

}  // namespace oauthmail::sandbox
