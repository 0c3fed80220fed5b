#include "cli/exit_status.hpp"

#include <sysexits.h>

namespace oauthmail::cli {

namespace {

bool recipient_unknown(const smtp::reply& r) {
  // RFC 3463 X.1.1 bad destination mailbox, X.1.2 bad destination system, X.1.10 null MX; basic 550/551/553.
  if (r.enhanced && r.enhanced->klass == 5 && r.enhanced->subject == 1) return true;
  return !r.enhanced && (r.code == 550 || r.code == 551 || r.code == 553);
}

}  // namespace

int exit_status_for(const core::error& e) {
  using smtp::session_errc;
  if (e.code() == session_errc::auth_failed) {
    switch (e.classification()) {
      case core::failure_class::transient:
        return EX_TEMPFAIL;
      case core::failure_class::protocol:
        return EX_PROTOCOL;
      default:
        return EX_NOPERM;
    }
  }
  // The message cannot be sent as it is: a line over 998 octets, or larger than the server's SIZE.
  if (e.code() == session_errc::bad_message || e.code() == session_errc::message_too_big) return EX_DATAERR;
  switch (e.classification()) {
    case core::failure_class::none:
      return EX_OK;
    case core::failure_class::transient:
      return EX_TEMPFAIL;
    case core::failure_class::permanent:
      return EX_UNAVAILABLE;
    case core::failure_class::token_rejected:
      return EX_NOPERM;
    case core::failure_class::needs_human:
      return EX_CONFIG;
    case core::failure_class::protocol:
      return EX_PROTOCOL;
    case core::failure_class::bug:
      return EX_SOFTWARE;
  }
  return EX_SOFTWARE;
}

int exit_status_for(const smtp::message_result& r) {
  bool any_transient = false;
  bool any_unknown = false;
  bool any_refused = false;
  for (const auto& rr : r.recipients) {
    if (rr.accepted) continue;
    any_refused = true;
    if (rr.server_reply.transient_negative()) any_transient = true;
    if (recipient_unknown(rr.server_reply)) any_unknown = true;
  }
  if (r.failure) {
    // A transient failure of the whole message outranks everything: the caller should retry.
    const int whole = exit_status_for(*r.failure);
    if (whole == EX_UNAVAILABLE && any_unknown && r.accepted_count() == 0) return EX_NOUSER;
    return whole;
  }
  if (!any_refused) return EX_OK;
  if (any_transient) return EX_TEMPFAIL;
  return any_unknown ? EX_NOUSER : EX_UNAVAILABLE;
}

}  // namespace oauthmail::cli
