// What `send` and `sendmail` share once a message is ready: the connection settings of a configured
// account, sending with the account's token (renewed once and retried once when the server refuses
// it), the default EHLO name, and the report of a sent message (text lines or JSON).
// Must not: print a secret, or retry more than once.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"
#include "net/smtp_connection.hpp"

namespace oauthmail::cli {

// This host's name if it is a usable EHLO domain, else "localhost".
std::string default_ehlo_name();

// The account's server, port, TLS mode, CA file, mechanism and unsafe switches (no credentials).
// Errors are configuration errors (the provider settings cannot work); warnings are logged.
core::result<net::connection_options> account_connection(const config::account& account);

struct account_send_outcome {
  core::result<std::vector<smtp::message_result>> results = core::error();
  bool token_failure = false;  // no token could be obtained: `results` holds why
};

// Sends with a token of the account; `make_messages` is called for each attempt (the content is
// read again from its spool). A token the server refuses is dropped, renewed once and the
// messages sent once more.
account_send_outcome send_with_account(const config::configuration& cfg, const config::account& account,
                                       const net::connection_options& options,
                                       const std::function<std::vector<smtp::outgoing_message>()>& make_messages);

// The exit status when no token could be obtained.
int exit_status_for_token_failure(const core::error& e);

// One line per recipient ("ADDR: delivered (REPLY)", "refused", "not sent", "not delivered").
void print_recipient_lines(const smtp::message_result& r);

// The result as one JSON object: {"delivered":..., "exit_code":..., "message_id":..., "recipients":
// [{"address":..., "status":"delivered|refused|not_sent|not_delivered", "reply":...}], "error":...}.
// `results` may be an error (nothing was sent): then every recipient is "not_sent".
std::string result_json(const core::result<std::vector<smtp::message_result>>& results,
                        const std::vector<std::string>& recipients, int exit_code, const std::string& message_id);

}  // namespace oauthmail::cli
