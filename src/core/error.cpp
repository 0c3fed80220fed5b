#include "core/error.hpp"

namespace oauthmail::core {

std::string_view to_string(failure_class c) noexcept {
  switch (c) {
    case failure_class::none: return "none";
    case failure_class::transient: return "transient";
    case failure_class::permanent: return "permanent";
    case failure_class::token_rejected: return "token-rejected";
    case failure_class::needs_human: return "needs-human";
    case failure_class::protocol: return "protocol";
    case failure_class::bug: return "bug";
  }
  return "unknown";
}

namespace {
class core_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oauthmail.core"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok: return "success";
      case errc::invalid_argument: return "invalid argument";
      case errc::limit_exceeded: return "limit exceeded";
      case errc::io_failure: return "input/output failure";
      case errc::internal: return "internal error";
    }
    return "unknown core error";
  }
};
}  // namespace

const std::error_category& core_category() noexcept {
  static const core_category_impl instance;
  return instance;
}

}  // namespace oauthmail::core
