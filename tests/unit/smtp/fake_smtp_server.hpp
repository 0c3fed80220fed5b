// FAKE SMTP server for transcript tests of the sans-I/O client session. It is a fake, not a real
// server: it exists to put a fault at an exact step (a reply, a closed connection, a time-out) and
// to run the session with the server's bytes cut at every possible point. Real-server tests live
// in tests/integration.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "smtp/client_session.hpp"

namespace oauthmail::smtp::testing {

// What the fake does at one step instead of its normal reply.
struct fault {
  enum class kind { reply, close, timeout } what = kind::reply;
  std::string reply;  // full reply bytes, CR LF included
};

class fake_smtp_server {
 public:
  std::string greeting = "220 fake.example ESMTP ready\r\n";
  std::vector<std::string> ehlo_before_tls = {"fake.example Hello",  "PIPELINING", "SIZE 35882577", "STARTTLS",
                                              "ENHANCEDSTATUSCODES", "8BITMIME",   "SMTPUTF8"};
  std::vector<std::string> ehlo_after_tls = {
      "fake.example Hello",  "PIPELINING", "SIZE 35882577", "AUTH LOGIN PLAIN XOAUTH2 OAUTHBEARER",
      "ENHANCEDSTATUSCODES", "8BITMIME",   "SMTPUTF8"};
  // AUTH handler: gets each AUTH line or continuation line (without CR LF), returns reply bytes.
  std::function<std::string(const std::string& line)> auth = [](const std::string&) {
    return std::string("235 2.7.0 Authentication successful\r\n");
  };
  // Recipients refused with this reply (by address).
  std::map<std::string, std::string> refuse_rcpt;
  std::string final_reply = "250 2.0.0 OK queued\r\n";
  // Like a broken server: answer 354 to DATA although no recipient was accepted.
  bool accept_data_without_recipients = false;

  // Faults by step number (0 = greeting, then one per client command, in order; the content's
  // final dot counts as one step).
  std::map<int, fault> faults;

  // Observations.
  std::vector<std::string> commands;  // client command lines, as received (AUTH payloads included)
  std::vector<std::string> messages;  // content of each DATA, as on the wire (dot-stuffed)
  bool tls = false;
  bool closed = false;
  bool timed_out = false;
  int steps = 0;

  // Bytes the server sends first.
  std::string start();
  // Feeds client bytes; returns the server's reply bytes (possibly several replies).
  std::string feed(std::string_view bytes);

 private:
  std::string respond(const std::string& line);
  std::string ehlo_reply(const std::string& verb) const;
  std::optional<std::string> take_fault();

  std::string line_buffer_;
  bool in_data_ = false;
  bool in_auth_ = false;
  int accepted_rcpts_ = 0;
  std::string data_;
};

// Runs a client_session against a fake server, delivering the server's bytes in pieces of
// `split` octets (0 = all at once).
class session_harness {
 public:
  session_harness(client_options options, fake_smtp_server& server, std::size_t split = 0);

  // Runs until the session is idle or closed; returns which.
  action::kind run();
  // Submits a message (string content) and runs until idle or closed; returns its result.
  message_result send(envelope env, std::string content);
  // Sends QUIT and runs to the end.
  void quit();

  client_session& session() { return session_; }
  const std::vector<std::string>& transcript() const { return transcript_; }
  std::string transcript_text() const;
  bool fail_tls = false;

 private:
  client_session session_;
  fake_smtp_server& server_;
  std::size_t split_;
  std::string pending_;  // server bytes not yet delivered
  bool greeted_ = false;
  std::vector<std::string> transcript_;
};

}  // namespace oauthmail::smtp::testing
