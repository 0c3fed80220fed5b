#include "cli/delivery.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sysexits.h>
#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <cstdio>

#include "cli/exit_status.hpp"
#include "cli/session.hpp"
#include "oauth/presets.hpp"

namespace oauthmail::cli {

std::string default_ehlo_name() {
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) == 0 && name[0] != '\0') {
    std::string n(name.data());
    // EHLO wants a domain; a bare name with odd characters would be refused by our own encoder.
    if (n.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == std::string::npos) {
      return n;
    }
  }
  return "localhost";
}

core::result<net::connection_options> account_connection(const config::account& account) {
  auto endpoints = oauth::resolve_provider(account);
  if (!endpoints) return endpoints.error();
  for (const auto& w : endpoints->warnings) spdlog::warn("{}", w);
  net::connection_options options;
  options.host = account.smtp.host.value_or(endpoints->smtp.host);
  options.port = account.smtp.port.value_or(endpoints->smtp.port);
  const auto tls = account.smtp.tls.value_or(endpoints->smtp.tls);
  options.session.tls = tls == config::tls_setting::implicit ? smtp::tls_mode::implicit
                        : tls == config::tls_setting::none   ? smtp::tls_mode::none
                                                             : smtp::tls_mode::starttls;
  options.tls.ca_file = account.smtp.ca_file;
  options.tls.skip_verify = account.smtp.tls_skip_verify;
  options.session.allow_plaintext_auth = account.smtp.allow_plaintext_auth;
  options.session.ehlo_domain = default_ehlo_name();
  const auto mech = account.smtp.mechanism != config::mechanism_setting::automatic ? account.smtp.mechanism
                                                                                   : endpoints->smtp.mechanism;
  if (mech == config::mechanism_setting::xoauth2) options.session.mechanism = sasl::mechanism::xoauth2;
  if (mech == config::mechanism_setting::oauthbearer) options.session.mechanism = sasl::mechanism::oauthbearer;
  return options;
}

account_send_outcome send_with_account(const config::configuration& cfg, const config::account& account,
                                       const net::connection_options& options,
                                       const std::function<std::vector<smtp::outgoing_message>()>& make_messages) {
  account_send_outcome out;
  auto tokens = make_token_service(cfg);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto token = tokens->access_token(account);
    if (!token) {
      out.results = token.error();
      out.token_failure = true;
      return out;
    }
    auto attempt_options = options;
    sasl::credentials creds;
    creds.user = account.user;
    creds.secret = token->access_token;
    creds.host = options.host;
    creds.port = options.port;
    attempt_options.session.credentials = std::move(creds);
    attempt_options.session.credential_kind = sasl::credential_kind::bearer_token;
    out.results = net::send_messages(std::move(attempt_options), make_messages());
    if (!out.results && out.results.error().classification() == core::failure_class::token_rejected && attempt == 0) {
      // Renew once and retry once; never loop.
      spdlog::warn("the server refused the token of account {}; renewing it and trying once more", account.name);
      tokens->invalidate(account, token->access_token);
      continue;
    }
    break;
  }
  return out;
}

int exit_status_for_token_failure(const core::error& e) {
  return e.classification() == core::failure_class::transient ? EX_TEMPFAIL : EX_NOPERM;
}

void print_recipient_lines(const smtp::message_result& r) {
  const bool content_refused = r.final_reply && !r.final_reply->positive_completion();
  for (const auto& rr : r.recipients) {
    if (!rr.accepted) {
      if (rr.server_reply.code) {
        fmt::print("{}: refused ({})\n", rr.address, rr.server_reply.to_string());
      } else {
        fmt::print("{}: not sent\n", rr.address);
      }
    } else if (r.delivered()) {
      fmt::print("{}: delivered ({})\n", rr.address, r.final_reply->to_string());
    } else if (content_refused) {
      fmt::print("{}: refused ({})\n", rr.address, r.final_reply->to_string());
    } else {
      fmt::print("{}: not delivered\n", rr.address);
    }
  }
  std::fflush(stdout);
}

std::string result_json(const core::result<std::vector<smtp::message_result>>& results,
                        const std::vector<std::string>& recipients, int exit_code, const std::string& message_id) {
  boost::json::object o;
  boost::json::array list;
  bool delivered = false;
  std::optional<std::string> error;
  if (!results) {
    error = results.error().message();
    for (const auto& a : recipients) list.push_back(boost::json::object{{"address", a}, {"status", "not_sent"}});
  } else {
    const smtp::message_result& r = results->front();
    delivered = r.delivered();
    if (r.failure) error = r.failure->message();
    const bool content_refused = r.final_reply && !r.final_reply->positive_completion();
    for (const auto& rr : r.recipients) {
      boost::json::object e{{"address", rr.address}};
      if (!rr.accepted) {
        e["status"] = rr.server_reply.code ? "refused" : "not_sent";
        if (rr.server_reply.code) e["reply"] = rr.server_reply.to_string();
      } else if (r.delivered()) {
        e["status"] = "delivered";
        e["reply"] = r.final_reply->to_string();
      } else if (content_refused) {
        e["status"] = "refused";
        e["reply"] = r.final_reply->to_string();
      } else {
        e["status"] = "not_delivered";
      }
      list.push_back(std::move(e));
    }
  }
  o["delivered"] = delivered && exit_code == 0;
  o["exit_code"] = exit_code;
  if (!message_id.empty()) o["message_id"] = message_id;
  o["recipients"] = std::move(list);
  if (error) o["error"] = *error;
  return boost::json::serialize(o);
}

}  // namespace oauthmail::cli
