#include "doctor/facts.hpp"

namespace oauthmail::doctor {

std::string_view to_string(connect_outcome o) noexcept {
  switch (o) {
    case connect_outcome::connected:
      return "connected";
    case connect_outcome::refused:
      return "refused";
    case connect_outcome::timed_out:
      return "timed out";
    case connect_outcome::unreachable:
      return "unreachable";
    case connect_outcome::failed:
      return "failed";
  }
  return "failed";
}

std::string_view to_string(certificate_problem p) noexcept {
  switch (p) {
    case certificate_problem::none:
      return "none";
    case certificate_problem::expired:
      return "expired";
    case certificate_problem::not_yet_valid:
      return "not_yet_valid";
    case certificate_problem::unknown_ca:
      return "unknown_ca";
    case certificate_problem::wrong_host:
      return "wrong_host";
    case certificate_problem::other:
      return "other";
  }
  return "other";
}

const connect_attempt* tcp_facts::connected() const noexcept {
  for (const auto& a : attempts) {
    if (a.outcome == connect_outcome::connected) return &a;
  }
  return nullptr;
}

}  // namespace oauthmail::doctor
