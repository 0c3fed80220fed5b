// Every provider reply of providers.md §1.9 (Exchange Online) and §2.6 (Gmail) maps to a class,
// a cause and a fix in plain words.
#include "smtp/classify.hpp"

#include <gtest/gtest.h>

namespace oauthmail::smtp {
namespace {

using core::failure_class;

reply parse_one(const std::string& wire) {
  reply_parser p;
  auto step = p.feed(wire);
  if (!step || !step->parsed) throw std::runtime_error("test reply does not parse: " + wire);
  return *step->parsed;
}

struct case_t {
  std::string wire;
  stage at;
  bool oauth;
  failure_class expected;
  std::string cause_contains;
};

TEST(Classify, ProviderRepliesMapToCauseAndFix) {
  const std::vector<case_t> cases = {
      {"535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]\r\n", stage::auth, true,
       failure_class::token_rejected, "refused the OAuth2 token"},
      {"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit "
       "https://aka.ms/smtp_auth_disabled for more information. [X]\r\n",
       stage::auth, true, failure_class::needs_human, "whole Microsoft 365 tenant"},
      {"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.\r\n",
       stage::auth, true, failure_class::needs_human, "disabled for this mailbox"},
      {"535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy\r\n",
       stage::auth, true, failure_class::needs_human, "security defaults"},
      {"535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated "
       "successfully. Contact your administrator.\r\n",
       stage::auth, true, failure_class::needs_human, "Conditional Access"},
      {"535 5.7.139 Authentication unsuccessful, basic authentication is disabled.\r\n", stage::auth, false,
       failure_class::needs_human, "Basic"},
      {"550 5.7.30 Basic authentication is not supported for Client Submission.\r\n", stage::auth, false,
       failure_class::needs_human, "no longer accepts Basic"},
      {"530 5.7.57 Client not authenticated to send mail\r\n", stage::mail, false, failure_class::needs_human,
       "requires authentication"},
      {"554 5.2.252 SendAsDenied; info@x not allowed to send as noreply@x; "
       "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied\r\n",
       stage::data_end, true, failure_class::needs_human, "SendAsDenied"},
      {"432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded\r\n", stage::mail, true, failure_class::transient,
       "3 concurrent"},
      {"554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException\r\n", stage::data_end, true,
       failure_class::transient, "daily recipient limit"},
      {"554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded"
       "\r\n",
       stage::data_end, true, failure_class::needs_human, "mailbox is full"},
      {"550 5.1.8 Access denied, bad outbound sender\r\n", stage::mail, true, failure_class::needs_human,
       "Restricted Users"},
      {"421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2.\r\n",
       stage::starttls, true, failure_class::needs_human, "TLS 1.0/1.1"},
      {"501 5.5.124 Invalid XOAUTH2 auth data - User address provided is not valid.\r\n", stage::auth, true,
       failure_class::needs_human, "user name is empty"},
      {"451 4.7.500 Server busy. Please try again later.\r\n", stage::mail, true, failure_class::transient,
       "temporarily"},
      {"421 4.3.2 Service not available\r\n", stage::rcpt, true, failure_class::transient, "closing the connection"},
      // Gmail
      {"535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
       "535 5.7.8  https://support.google.com/mail/?p=BadCredentials x - gsmtp\r\n",
       stage::auth, true, failure_class::token_rejected, "Gmail refused the OAuth2 token"},
      {"535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 x - gsmtp\r\n", stage::auth, false,
       failure_class::needs_human, "user name or password"},
      {"535 5.7.8 Error: authentication failed: authentication failure\r\n", stage::auth, false,
       failure_class::needs_human, "The server refused the user name or password"},
      {"535 5.7.8 Error: authentication failed\r\n", stage::auth, true, failure_class::token_rejected,
       "The server refused the OAuth2 token"},
      {"534 5.7.9 Application-specific password required. https://support.google.com/mail/?p=InvalidSecondFactor "
       "x - gsmtp\r\n",
       stage::auth, false, failure_class::needs_human, "app-specific password"},
      {"530 5.7.0 Must issue a STARTTLS command first.\r\n", stage::mail, false, failure_class::needs_human,
       "STARTTLS"},
      {"454 4.7.0 Too many login attempts, please try again later.\r\n", stage::auth, true, failure_class::transient,
       "Too many login attempts"},
      {"454 4.7.0 Cannot authenticate due to a temporary system problem.\r\n", stage::auth, true,
       failure_class::transient, "cannot authenticate right now"},
      {"454 4.5.0 SMTP protocol violation, no commands allowed to pipeline after STARTTLS, see RFC 3207.\r\n",
       stage::ehlo, true, failure_class::protocol, "pipelined after STARTTLS"},
      {"421 4.7.0 Try again later, closing connection.\r\n", stage::mail, true, failure_class::transient, "closing"},
      {"452 4.5.3 Your message has too many recipients.\r\n", stage::rcpt, true, failure_class::transient,
       "Too many recipients"},
      {"550 5.4.5 Daily user sending limit exceeded.\r\n", stage::mail, true, failure_class::transient,
       "daily sending limit"},
      {"450 4.2.1 Peak SMTP relay limit exceeded for customer.\r\n", stage::mail, true, failure_class::transient,
       "relay limit"},
      // Generic RFC 5321 behaviour
      {"550 5.1.1 <x@example.net>: Recipient address rejected\r\n", stage::rcpt, true, failure_class::permanent,
       "refused at RCPT TO"},
      {"552 5.5.3 Too many recipients\r\n", stage::rcpt, true, failure_class::transient, "no more recipients"},
      {"250 OK\r\n", stage::rset, true, failure_class::protocol, "expected something else"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.wire);
    const diagnosis d = classify_reply(parse_one(c.wire), c.at, c.oauth);
    EXPECT_EQ(d.klass, c.expected) << core::to_string(d.klass) << ": " << d.cause;
    EXPECT_NE(d.cause.find(c.cause_contains), std::string::npos) << d.cause;
    if (d.klass == failure_class::needs_human) {
      EXPECT_FALSE(d.fix.empty());
    }
  }
}

TEST(Classify, EveryStageHasAName) {
  for (int s = 0; s <= static_cast<int>(stage::quit); ++s) {
    EXPECT_NE(to_string(static_cast<stage>(s)), "unknown");
  }
}

}  // namespace
}  // namespace oauthmail::smtp
