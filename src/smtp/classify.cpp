#include "smtp/classify.hpp"

#include <algorithm>
#include <cctype>

namespace oauthmail::smtp {

using core::failure_class;

std::string_view to_string(stage s) noexcept {
  switch (s) {
    case stage::connect:
      return "connect";
    case stage::greeting:
      return "greeting";
    case stage::ehlo:
      return "EHLO";
    case stage::starttls:
      return "STARTTLS";
    case stage::tls_handshake:
      return "TLS handshake";
    case stage::auth:
      return "AUTH";
    case stage::mail:
      return "MAIL FROM";
    case stage::rcpt:
      return "RCPT TO";
    case stage::data:
      return "DATA";
    case stage::data_end:
      return "end of DATA";
    case stage::rset:
      return "RSET";
    case stage::quit:
      return "QUIT";
  }
  return "unknown";
}

namespace {

bool contains_nocase(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  const auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != haystack.end();
}

bool has_enhanced(const reply& r, int k, int s, int d) {
  return r.enhanced && r.enhanced->klass == k && r.enhanced->subject == s && r.enhanced->detail == d;
}

// Provider-specific replies (providers.md §1.9 Exchange Online, §2.6 Gmail). Returns true when the
// reply was recognised and `out` filled in.
bool classify_known(const reply& r, stage s, bool oauth, diagnosis& out) {
  const std::string text = r.text();

  // --- Exchange Online -------------------------------------------------------------------------
  if (r.code == 535 && has_enhanced(r, 5, 7, 139)) {
    out.klass = failure_class::needs_human;
    if (contains_nocase(text, "disabled for the Tenant")) {
      out.cause = "SMTP AUTH (client submission) is disabled for the whole Microsoft 365 tenant.";
      out.fix =
          "An Exchange admin must enable it for this mailbox: Set-CASMailbox -Identity <mailbox> "
          "-SmtpClientAuthenticationDisabled $false (or tenant-wide: Set-TransportConfig "
          "-SmtpClientAuthenticationDisabled $false). See https://aka.ms/smtp_auth_disabled.";
    } else if (contains_nocase(text, "disabled for the Mailbox")) {
      out.cause = "SMTP AUTH (client submission) is disabled for this mailbox.";
      out.fix =
          "An Exchange admin must run Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled "
          "$false (Microsoft 365 admin center: user > Mail > Manage email apps > Authenticated SMTP). "
          "Personal Outlook.com mailboxes may refuse SMTP AUTH altogether: use the Graph route.";
    } else if (contains_nocase(text, "security defaults")) {
      out.cause = "The tenant's security defaults policy blocks this sign-in.";
      out.fix =
          "Use OAuth2 (not a password) and make sure the app is allowed, or have an admin review the "
          "security defaults in Microsoft Entra ID.";
    } else if (contains_nocase(text, "did not meet the criteria")) {
      out.cause = "A Conditional Access policy blocked this sign-in.";
      out.fix =
          "Ask an Entra ID admin to check the Conditional Access sign-in logs for this account and "
          "allow this client.";
    } else if (contains_nocase(text, "basic authentication is disabled")) {
      out.cause = "Password (Basic) authentication is disabled for SMTP.";
      out.fix = "Authenticate with OAuth2 (XOAUTH2) instead of a password.";
    } else if (contains_nocase(text, "federated STS")) {
      out.cause = "The tenant's federated sign-in service (ADFS) could not be reached or is misconfigured.";
      out.fix = "Ask the identity admin to check the federation service (it must be reachable over HTTPS).";
    } else {
      out.cause = "Microsoft 365 refused SMTP AUTH for policy reasons (5.7.139).";
      out.fix = "Check that SMTP AUTH is enabled for the mailbox and tenant, and the sign-in logs in Entra ID.";
    }
    return true;
  }
  if (r.code == 550 && has_enhanced(r, 5, 7, 30)) {
    out.klass = failure_class::needs_human;
    out.cause = "Microsoft 365 no longer accepts Basic (password) authentication for client submission.";
    out.fix = "Authenticate with OAuth2 (--auth xoauth2 with a Microsoft access token) instead of a password.";
    return true;
  }
  if (r.code == 530 && has_enhanced(r, 5, 7, 57)) {
    out.klass = failure_class::needs_human;
    out.cause = "The server requires authentication before MAIL FROM, and this session is not authenticated.";
    out.fix =
        "Give credentials for this server (an OAuth2 access token with --bearer); if AUTH was attempted, see "
        "why it failed.";
    return true;
  }
  if (has_enhanced(r, 5, 2, 252) || (r.code / 100 == 5 && contains_nocase(text, "SendAsDenied"))) {
    out.klass = failure_class::needs_human;
    out.cause = "The mailbox is not allowed to send as the From address of this message (SendAsDenied).";
    out.fix =
        "Send From the authenticated mailbox, or have an Exchange admin grant Send As: "
        "Add-RecipientPermission -Identity <from-address> -Trustee <mailbox> -AccessRights SendAs.";
    return true;
  }
  if (has_enhanced(r, 5, 7, 60)) {
    out.klass = failure_class::needs_human;
    out.cause = "The mailbox has no permission to send as this sender.";
    out.fix = "Use the authenticated mailbox as sender or grant it Send As permission.";
    return true;
  }
  if (r.code == 432 && has_enhanced(r, 4, 3, 2)) {
    out.klass = failure_class::transient;
    out.cause = "Microsoft 365 allows at most 3 concurrent SMTP connections per mailbox; this one is over.";
    out.fix = "Retry later and keep at most 3 connections per mailbox.";
    return true;
  }
  if (contains_nocase(text, "SubmissionQuotaExceeded")) {
    out.klass = failure_class::transient;
    out.cause = "The mailbox reached Microsoft 365's daily recipient limit (10,000 recipients per 24 hours).";
    out.fix = "Wait until the rolling 24-hour window frees up, or spread the mail over several mailboxes.";
    return true;
  }
  if (contains_nocase(text, "QuotaExceededException") || has_enhanced(r, 5, 2, 2)) {
    out.klass = failure_class::needs_human;
    out.cause = "The sending mailbox is full (SMTP AUTH stores a copy of every sent message in Sent Items).";
    out.fix = "Free space in the mailbox (Sent Items) or raise its quota.";
    return true;
  }
  if (r.code == 550 && has_enhanced(r, 5, 1, 8)) {
    out.klass = failure_class::needs_human;
    out.cause = "Microsoft 365 blocked the account from sending (Restricted Users list, usually after spam).";
    out.fix = "An admin must review and release the user in the Microsoft Defender portal (Restricted entities).";
    return true;
  }
  if (has_enhanced(r, 4, 7, 66) || has_enhanced(r, 5, 7, 67)) {
    out.klass = failure_class::needs_human;
    out.cause = "The server refuses TLS 1.0/1.1.";
    out.fix = "oauthmail uses TLS 1.2 or newer; check that no proxy in between downgrades TLS.";
    return true;
  }
  if (r.code == 501 && has_enhanced(r, 5, 5, 124)) {
    out.klass = failure_class::needs_human;
    out.cause = "The XOAUTH2 user name is empty or not a valid address.";
    out.fix = "Set the account's user to the mailbox address (for a shared mailbox, the shared mailbox address).";
    return true;
  }
  if (r.code == 503 && has_enhanced(r, 5, 5, 2) && contains_nocase(text, "hello first")) {
    out.klass = failure_class::protocol;
    out.cause = "The server expected EHLO first (EHLO must be repeated after STARTTLS).";
    out.fix = "This is a client bug if it happens with oauthmail; please report it with the transcript (-v).";
    return true;
  }

  // --- Gmail -----------------------------------------------------------------------------------
  const bool google = contains_nocase(text, "gsmtp") || contains_nocase(text, "support.google.com");
  if (r.code == 535 && has_enhanced(r, 5, 7, 8) && google) {
    out.klass = oauth ? failure_class::token_rejected : failure_class::needs_human;
    out.cause = oauth ? "Gmail refused the OAuth2 token (5.7.8 Username and Password not accepted)."
                      : "Gmail refused the user name or password (5.7.8).";
    out.fix = oauth ? "Check that the token has the https://mail.google.com/ scope, is not expired, and belongs to "
                      "the user given as --user."
                    : "Use OAuth2 (XOAUTH2) or an app password; Google no longer accepts account passwords.";
    return true;
  }
  if (r.code == 534 && has_enhanced(r, 5, 7, 9) && google) {
    out.klass = failure_class::needs_human;
    out.cause = "Google requires an app-specific password or OAuth2 for this account (2-Step Verification is on).";
    out.fix = "Use OAuth2 (XOAUTH2) with the https://mail.google.com/ scope.";
    return true;
  }
  if (r.code == 530 && has_enhanced(r, 5, 7, 0) && contains_nocase(text, "STARTTLS")) {
    out.klass = failure_class::needs_human;
    out.cause = "The server requires STARTTLS before this command.";
    out.fix = "Use --tls starttls (port 587) or --tls implicit (port 465).";
    return true;
  }
  if (r.code == 454 && has_enhanced(r, 4, 7, 0)) {
    out.klass = failure_class::transient;
    out.cause = contains_nocase(text, "Too many login attempts") ? "Too many login attempts; Google throttles AUTH."
                                                                 : "The server cannot authenticate right now.";
    out.fix = "Wait and retry later.";
    return true;
  }
  if (r.code == 452 && has_enhanced(r, 4, 5, 3)) {
    out.klass = failure_class::transient;
    out.cause = "Too many recipients in one message (Gmail accepts 100 per message over SMTP).";
    out.fix = "Send the remaining recipients in another message.";
    return true;
  }
  if (has_enhanced(r, 5, 4, 5) && contains_nocase(text, "limit")) {
    // Permanent code, but the lock-out lifts within 24 hours: retrying later works.
    out.klass = failure_class::transient;
    out.cause = "The daily sending limit of the account was reached.";
    out.fix = "Wait up to 24 hours; Google's limits: 2,000 messages and 10,000 recipients a day.";
    return true;
  }
  if (has_enhanced(r, 4, 2, 1) && contains_nocase(text, "relay limit")) {
    out.klass = failure_class::transient;
    out.cause = "Google's peak SMTP relay limit was exceeded.";
    out.fix = "Slow down and retry later.";
    return true;
  }
  if (r.code == 454 && has_enhanced(r, 4, 5, 0) && contains_nocase(text, "pipeline after STARTTLS")) {
    out.klass = failure_class::protocol;
    out.cause = "The server saw commands pipelined after STARTTLS.";
    out.fix = "This is a client bug if it happens with oauthmail; please report it with the transcript (-v).";
    return true;
  }
  (void)s;
  return false;
}

}  // namespace

diagnosis classify_reply(const reply& r, stage s, bool oauth) {
  diagnosis out;
  if (r.code / 100 == 2 || r.code / 100 == 3) {
    out.klass = failure_class::protocol;
    out.cause = "The server answered " + std::to_string(r.code) + " where oauthmail expected something else at " +
                std::string(to_string(s)) + ".";
    out.fix = "Report this with the transcript (-v); the server may not follow RFC 5321.";
    return out;
  }
  if (classify_known(r, s, oauth, out)) return out;

  if (s == stage::auth) {
    if (r.code == 535 || has_enhanced(r, 5, 7, 8) || has_enhanced(r, 5, 7, 3)) {
      out.klass = oauth ? failure_class::token_rejected : failure_class::needs_human;
      if (oauth) {
        out.cause = "The server refused the OAuth2 token (" + r.to_string() + ").";
        out.fix =
            "The token may be expired, for the wrong audience or scope (Microsoft: "
            "https://outlook.office.com/SMTP.Send, or SMTP.SendAsApp for app-only; Google: "
            "https://mail.google.com/), or for another user than --user. For Microsoft app-only, the "
            "Exchange service principal needs FullAccess to the mailbox (New-ServicePrincipal, "
            "Add-MailboxPermission) and SMTP AUTH must be enabled for the mailbox.";
      } else {
        out.cause = "The server refused the user name or password (" + r.to_string() + ").";
        out.fix = "Check the credentials; most providers now require OAuth2 instead of passwords.";
      }
      return out;
    }
    if (r.code == 504 || r.code == 502) {
      out.klass = failure_class::needs_human;
      out.cause = "The server does not accept this authentication mechanism.";
      out.fix = "Choose another mechanism with --auth (see the AUTH line of the server's EHLO reply, -v).";
      return out;
    }
    if (r.code == 534 || r.code == 538) {
      out.klass = failure_class::needs_human;
      out.cause = "The server requires a stronger mechanism or encryption for AUTH.";
      out.fix = "Use TLS and an OAuth2 mechanism.";
      return out;
    }
  }

  if (r.code == 421) {
    out.klass = failure_class::transient;
    out.cause = "The server is closing the connection (421): it is busy or shutting down.";
    out.fix = "Retry later.";
    return out;
  }
  if (r.code == 552 && s == stage::rcpt) {
    // RFC 5321 §4.5.3.1.10: 552 to RCPT historically means "too many recipients".
    out.klass = failure_class::transient;
    out.cause = "The server accepts no more recipients in this transaction.";
    out.fix = "Send the remaining recipients in another message.";
    return out;
  }
  if (r.code / 100 == 4) {
    out.klass = failure_class::transient;
    out.cause = "The server refused temporarily at " + std::string(to_string(s)) + " (" + r.to_string() + ").";
    out.fix = "Retry later.";
    return out;
  }
  out.klass = failure_class::permanent;
  out.cause = "The server refused at " + std::string(to_string(s)) + " (" + r.to_string() + ").";
  if (s == stage::rcpt) {
    out.fix = "Check the recipient address.";
  } else if (s == stage::mail) {
    out.fix = "Check the sender address: it must be one the account may send as.";
  } else if (s == stage::data_end) {
    out.fix = "The server refused the message content; see its reply.";
  }
  return out;
}

namespace {
class session_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oauthmail.smtp.session"; }
  std::string message(int ev) const override {
    switch (static_cast<session_errc>(ev)) {
      case session_errc::rejected:
        return "refused by the server";
      case session_errc::tls_required:
        return "TLS required";
      case session_errc::auth_not_offered:
        return "authentication not offered";
      case session_errc::auth_failed:
        return "authentication failed";
      case session_errc::server_closed:
        return "connection closed by the server";
      case session_errc::timeout:
        return "timed out";
      case session_errc::protocol_violation:
        return "protocol violation";
      case session_errc::message_too_big:
        return "message too big";
      case session_errc::smtputf8_required:
        return "SMTPUTF8 required";
      case session_errc::no_recipients:
        return "no recipient accepted";
      case session_errc::bad_message:
        return "message cannot be sent";
      case session_errc::tls_failed:
        return "TLS failed";
      case session_errc::connect_failed:
        return "connection failed";
    }
    return "unknown session error";
  }
};
}  // namespace

const std::error_category& session_category() noexcept {
  static const session_category_impl instance;
  return instance;
}
std::error_code make_error_code(session_errc e) noexcept { return {static_cast<int>(e), session_category()}; }

}  // namespace oauthmail::smtp
