#include "sandbox/capture_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <thread>

#include "unit/sandbox/helpers.hpp"

namespace oauthmail::sandbox {
namespace {

using testing::file_mode;
using testing::temp_dir;

const std::chrono::system_clock::time_point t0 =
    std::chrono::system_clock::time_point(std::chrono::milliseconds(1710930476998));  // 2024-03-20T10:27:56.998Z

smtp::received_message message(std::string subject_line, std::string body = "Hello.\r\n") {
  smtp::received_message m;
  m.mail_from = "sender@contoso.test";
  m.rcpt_to = {"a@example.net", "b@example.net"};
  m.helo = "client.example.org";
  m.tls = true;
  m.content =
      "Received: from client.example.org\r\n\tby sandbox; Wed, 20 Mar 2024 10:27:56 +0000\r\n"
      "From: =?UTF-8?B?SsO2cmc=?= <sender@contoso.test>\r\n"
      "To: a@example.net, b@example.net\r\n"
      "Subject: " +
      std::move(subject_line) +
      "\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Message-ID: <1@contoso.test>\r\n"
      "\r\n" +
      std::move(body);
  return m;
}

captured_envelope envelope() { return {"microsoft", "sender@contoso.test", "XOAUTH2", "client-123", true}; }

capture_store open_ok(const std::string& dir) {
  auto s = capture_store::open(dir);
  if (!s) throw std::runtime_error(s.error().message());
  return std::move(*s);
}

TEST(CaptureStore, AddThenGetKeepsEverything) {
  temp_dir dir;
  auto store = open_ok(dir.path());
  auto m = message("=?ISO-8859-1?Q?Gr=FC=DFe?=\r\n from the sandbox");
  auto id = store.add(m, envelope(), t0);
  ASSERT_TRUE(id.has_value()) << id.error().message();
  EXPECT_GT(*id, 0);

  auto got = store.get(*id);
  ASSERT_TRUE(got.has_value()) << got.error().message();
  ASSERT_TRUE(got->has_value());
  const stored_message& s = **got;
  EXPECT_EQ(s.id, *id);
  EXPECT_EQ(s.received_at, t0);
  EXPECT_EQ(s.envelope.profile, "microsoft");
  EXPECT_EQ(s.envelope.mailbox, "sender@contoso.test");
  EXPECT_EQ(s.envelope.mechanism, "XOAUTH2");
  EXPECT_EQ(s.envelope.client_id, "client-123");
  EXPECT_TRUE(s.envelope.tls);
  EXPECT_EQ(s.mail_from, "sender@contoso.test");
  EXPECT_EQ(s.rcpt_to, (std::vector<std::string>{"a@example.net", "b@example.net"}));
  EXPECT_EQ(s.subject, "Grüße from the sandbox");  // RFC 2047 decoded and unfolded
  EXPECT_EQ(s.size, m.content.size());
  EXPECT_EQ(s.raw, m.content);  // byte for byte
  // Every field, in order, unfolded and decoded; Content-Type keeps its place.
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"Received", "from client.example.org\tby sandbox; Wed, 20 Mar 2024 10:27:56 +0000"},
      {"From", "Jörg <sender@contoso.test>"},
      {"To", "a@example.net, b@example.net"},
      {"Subject", "Grüße from the sandbox"},
      {"MIME-Version", "1.0"},
      {"Content-Type", "text/plain; charset=utf-8"},
      {"Message-ID", "<1@contoso.test>"},
  };
  ASSERT_EQ(s.headers.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(s.headers[i].first, expected[i].first) << i;
    // Unfolding removes the CRLF and keeps the folding white space (RFC 5322 §2.2.3).
    EXPECT_EQ(s.headers[i].second, expected[i].second) << i;
    EXPECT_EQ(s.headers[i].second.find('\n'), std::string::npos);
  }
}

TEST(CaptureStore, ListIsNewestFirstWithLimitAndOptionalRaw) {
  temp_dir dir;
  auto store = open_ok(dir.path());
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto id = store.add(message("n" + std::to_string(i)), envelope(), t0 + std::chrono::seconds(i));
    ASSERT_TRUE(id.has_value());
    ids.push_back(*id);
  }
  auto all = store.list();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].id, ids[4]);
  EXPECT_EQ((*all)[0].subject, "n4");
  EXPECT_EQ((*all)[4].subject, "n0");
  EXPECT_TRUE((*all)[0].raw.empty());  // not asked for
  EXPECT_GT((*all)[0].size, 0u);

  auto two = store.list(2, true);
  ASSERT_TRUE(two.has_value());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].subject, "n3");
  EXPECT_EQ((*two)[1].raw, message("n3").content);
  auto none = store.list(0);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
  auto count = store.count();
  ASSERT_TRUE(count.has_value());
  EXPECT_EQ(*count, 5u);
}

TEST(CaptureStore, GetOfAMissingIdIsEmpty) {
  temp_dir dir;
  auto store = open_ok(dir.path());
  auto got = store.get(12345);
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->has_value());
}

TEST(CaptureStore, ClearEmptiesAndIdsAreNotReused) {
  temp_dir dir;
  auto store = open_ok(dir.path());
  auto first = store.add(message("a"), envelope(), t0);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(store.clear().has_value());
  EXPECT_EQ(*store.count(), 0u);
  EXPECT_FALSE(store.get(*first)->has_value());
  auto second = store.add(message("b"), envelope(), t0);
  ASSERT_TRUE(second.has_value());
  EXPECT_GT(*second, *first);
}

TEST(CaptureStore, FilesAreOwnerOnlyAndTheFolderIsCreated) {
  temp_dir dir;
  const std::string state = dir.file("state/nested");
  auto store = open_ok(state);
  ASSERT_TRUE(store.add(message("x"), envelope(), t0).has_value());
  const std::string db = state + "/messages.sqlite3";
  EXPECT_EQ(file_mode(db), 0600u);
  ASSERT_TRUE(std::filesystem::exists(db + "-wal"));  // WAL mode
  EXPECT_EQ(file_mode(db + "-wal"), 0600u);
  EXPECT_EQ(file_mode(state), 0700u);
}

TEST(CaptureStore, ExistingFileIsTightenedTo0600) {
  temp_dir dir;
  const std::string db = dir.file("messages.sqlite3");
  { std::ofstream(db).flush(); }
  std::filesystem::permissions(db, std::filesystem::perms(0644));
  auto store = open_ok(dir.path());
  EXPECT_EQ(file_mode(db), 0600u);
}

TEST(CaptureStore, OpenRefusesAFileInsteadOfAFolder) {
  temp_dir dir;
  const std::string file = dir.file("plain");
  { std::ofstream(file) << "x"; }
  auto store = capture_store::open(file);
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().message().find("is not a folder"), std::string::npos);
  EXPECT_FALSE(capture_store::open("").has_value());
}

TEST(CaptureStore, OpenRefusesACorruptDatabase) {
  temp_dir dir;
  { std::ofstream(dir.file("messages.sqlite3")) << std::string(4096, 'Z'); }
  auto store = capture_store::open(dir.path());
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().message().find("capture store"), std::string::npos);
}

TEST(CaptureStore, ReopenAfterCloseKeepsMessagesAndContinuesIds) {
  temp_dir dir;
  std::int64_t first = 0;
  {
    auto store = open_ok(dir.path());
    first = *store.add(message("before restart"), envelope(), t0);
  }
  auto store = open_ok(dir.path());
  EXPECT_EQ(*store.count(), 1u);
  auto got = store.get(first);
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ((*got)->subject, "before restart");
  EXPECT_EQ((*got)->received_at, t0);
  auto next = store.add(message("after restart"), envelope(), t0);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, first + 1);
}

TEST(CaptureStore, MoveKeepsTheConnection) {
  temp_dir dir;
  auto a = open_ok(dir.path());
  capture_store b = std::move(a);
  ASSERT_TRUE(b.add(message("moved"), envelope(), t0).has_value());
  EXPECT_EQ(*b.count(), 1u);
}

TEST(CaptureStore, ConcurrentReaderSeesCommittedMessagesOnly) {
  temp_dir dir;
  auto writer = open_ok(dir.path());
  auto reader = open_ok(dir.path());  // a second connection, as the messages command in another process
  constexpr int total = 150;
  std::atomic<bool> done{false};
  std::atomic<int> reader_errors{0};
  std::atomic<int> reads{0};
  std::thread t([&] {
    std::size_t last = 0;
    while (!done.load()) {
      auto n = reader.count();
      auto page = reader.list(5);
      if (!n || !page) {
        ++reader_errors;
        continue;
      }
      if (*n < last) ++reader_errors;  // counts never go back
      last = *n;
      for (const auto& m : *page) {
        // A row is never seen half-written.
        if (m.rcpt_to.size() != 2 || m.headers.size() != 7 || m.subject.rfind("msg ", 0) != 0) ++reader_errors;
      }
      ++reads;
    }
  });
  for (int i = 0; i < total; ++i) {
    auto id = writer.add(message("msg " + std::to_string(i)), envelope(), t0);
    ASSERT_TRUE(id.has_value()) << id.error().message();
  }
  done = true;
  t.join();
  EXPECT_EQ(reader_errors.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(*reader.count(), static_cast<std::size_t>(total));
  auto newest = reader.list(1);
  ASSERT_TRUE(newest.has_value() && newest->size() == 1);
  EXPECT_EQ((*newest)[0].subject, "msg " + std::to_string(total - 1));
}

TEST(CaptureStore, NoCredentialsReachTheFile) {
  temp_dir dir;
  auto store = open_ok(dir.path());
  auto m = message("hello");
  sasl::server_credentials creds;
  creds.user = "sender@contoso.test";
  creds.secret = core::secret<std::string>("eyJ-super-secret-access-token");
  m.auth = std::move(creds);
  ASSERT_TRUE(store.add(m, envelope(), t0).has_value());
  store = open_ok(dir.path());  // closes the first connection: the WAL is checkpointed
  std::string bytes;
  for (const char* f : {"messages.sqlite3", "messages.sqlite3-wal"}) {
    std::ifstream in(dir.file(f), std::ios::binary);
    bytes.append(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_NE(bytes.find("hello"), std::string::npos);
  EXPECT_EQ(bytes.find("super-secret"), std::string::npos);
}

TEST(CaptureStore, MessageWithoutHeaders) {
  temp_dir dir;
  auto store = open_ok(dir.path());
  smtp::received_message m;
  m.mail_from = "";
  m.rcpt_to = {"a@example.net"};
  m.content = "\r\njust a body\r\n";
  auto id = store.add(m, envelope(), t0);
  ASSERT_TRUE(id.has_value());
  auto got = store.get(*id);
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_TRUE((*got)->headers.empty());
  EXPECT_EQ((*got)->subject, "");
  EXPECT_EQ((*got)->mail_from, "");
  EXPECT_EQ((*got)->raw, m.content);
}

TEST(CaptureStoreJson, EnvelopeHeadersAndRaw) {
  stored_message m;
  m.id = 7;
  m.received_at = t0;
  m.envelope = envelope();
  m.mail_from = "sender@contoso.test";
  m.rcpt_to = {"a@example.net"};
  m.headers = {{"Subject", "Grüße"}, {"X-Bad", "a\xff"}};
  m.subject = "Grüße";
  m.size = 11;
  m.raw = "Subject: x\r\n";
  auto j = to_json(m, false);
  EXPECT_EQ(j.at("id"), 7);
  EXPECT_EQ(j.at("received_at"), "2024-03-20T10:27:56.998Z");
  EXPECT_EQ(j.at("subject"), "Grüße");
  EXPECT_EQ(j.at("size"), 11);
  const auto& env = j.at("envelope").as_object();
  EXPECT_EQ(env.at("mail_from"), "sender@contoso.test");
  EXPECT_EQ(env.at("rcpt_to").as_array().size(), 1u);
  EXPECT_EQ(env.at("mailbox"), "sender@contoso.test");
  EXPECT_EQ(env.at("mechanism"), "XOAUTH2");
  EXPECT_EQ(env.at("client_id"), "client-123");
  EXPECT_EQ(env.at("profile"), "microsoft");
  EXPECT_EQ(env.at("tls"), true);
  const auto& headers = j.at("headers").as_array();
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0].at("name"), "Subject");
  EXPECT_EQ(headers[1].at("value"), "a\xEF\xBF\xBD");  // invalid UTF-8 replaced
  EXPECT_FALSE(j.contains("raw"));
  EXPECT_FALSE(j.contains("raw_base64"));
  // The serialised document parses back (valid JSON, valid UTF-8).
  EXPECT_NO_THROW((void)boost::json::parse(boost::json::serialize(j)));

  auto with_raw = to_json(m, true);
  EXPECT_EQ(with_raw.at("raw"), "Subject: x\r\n");
  m.raw = "Subject: \xE9t\xE9\r\n";  // Latin-1 octets: not UTF-8
  auto eight_bit = to_json(m, true);
  EXPECT_FALSE(eight_bit.contains("raw"));
  EXPECT_EQ(eight_bit.at("raw_base64"), "U3ViamVjdDog6XTpDQo=");
}

}  // namespace
}  // namespace oauthmail::sandbox
