// `oauthmail sendmail` (also when the binary is invoked as "sendmail"): a drop-in for sendmail(8)
// as cron, PHP mail(), git send-email, mutt, mailx and logwatch call it. The message on stdin is
// streamed: its header block (at most 1 MiB) is kept in memory, the body goes to an unlinked
// temporary file and from there to the server, so a 50 MB message never sits in memory.
// The account: the one that may send as the envelope sender (-f), else as the From header, else
// default_account, else the first account. A sender the account may not send as (cron's "root") is
// replaced by the account's user, in the envelope and in From (with -v a note says so).
// Command line: src/mime/sendmail_options.hpp; header rules (-t, Bcc, added Date/Message-ID/From):
// src/mime/sendmail_rules.hpp. Exit codes: sysexits.h (75 = try again later).
// Must not: print a secret; print anything on success without -v (callers treat output as trouble).
#pragma once

#include <string>
#include <vector>

namespace oauthmail::cli {

// `args`: the arguments after the program name (invoked as sendmail) or after "sendmail".
int run_sendmail(const std::vector<std::string>& args);

}  // namespace oauthmail::cli
