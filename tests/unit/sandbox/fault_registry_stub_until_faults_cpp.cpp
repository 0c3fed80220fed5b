// TEMPORARY: a minimal fault_registry so that unit_sandbox links before src/sandbox/faults.cpp
// (another engineer's) is merged. Delete this file when `git merge main` brings faults.cpp.
// It implements only what the identity provider and its tests use, with the header's semantics
// (times = -1 unlimited, exhausted entries removed; rate is not used by these tests).
#include "sandbox/faults.hpp"

namespace oauthmail::sandbox {

fault_registry::fault_registry(std::uint64_t seed) : random_(seed) {}

void fault_registry::replace(fault_plan plan) { plan_ = std::move(plan); }

void fault_registry::clear() { plan_ = {}; }

std::optional<token_fault> fault_registry::fire_token() {
  for (auto it = plan_.token.begin(); it != plan_.token.end(); ++it) {
    token_fault f = *it;
    if (it->times > 0 && --it->times == 0) plan_.token.erase(it);
    return f;
  }
  return std::nullopt;
}

}  // namespace oauthmail::sandbox
