// Maps oauthmail's failures to sysexits.h exit codes, so callers (cron, PHP mail(), scripts) can
// tell a temporary failure (75, try again) from a permanent one.
//   0 all delivered · 64 EX_USAGE bad arguments · 65 EX_DATAERR unusable message (a line over 998
//   octets, larger than the server's SIZE) · 67 EX_NOUSER
//   recipient unknown · 69 EX_UNAVAILABLE other permanent refusal · 74 EX_IOERR reading input ·
//   75 EX_TEMPFAIL transient · 76 EX_PROTOCOL protocol error · 77 EX_NOPERM authentication refused ·
//   78 EX_CONFIG bad configuration (secrets, TLS set-up, server without STARTTLS/AUTH).
// Must not: print anything.
#pragma once

#include <span>

#include "core/error.hpp"
#include "smtp/client_session.hpp"

namespace oauthmail::cli {

int exit_status_for(const core::error& e);
// The exit status of a finished message: 0 when every recipient was accepted.
int exit_status_for(const smtp::message_result& r);

}  // namespace oauthmail::cli
