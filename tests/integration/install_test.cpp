// `make install-files` (what `make install` runs after building) into a DESTDIR: the binary, the
// oauthmail-sendmail link and (SENDMAIL_LINK=1) sbin/sendmail, man pages that groff renders without
// a warning, bash completion that completes, the docs; and the installed links run sendmail mode.
#include <gtest/gtest.h>

#include "integration/support/harness.hpp"

namespace oauthmail::testing {
namespace {

TEST(Install, MakeInstallIntoDestdir) {
  test_deadline deadline(std::chrono::seconds(120), "Install");
  temp_dir dir("oauthmail-install");
  const fs::path root = dir / "root";
  auto r = run_program(
      {"make", "-C", OAUTHMAIL_SOURCE_DIR, "--no-print-directory", "install-files",
       "BUILD=" + std::string(OAUTHMAIL_BUILD_DIR), "DESTDIR=" + root.string(), "PREFIX=/usr", "SENDMAIL_LINK=1"},
      dir.path(), std::nullopt, 90s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const fs::path usr = root / "usr";
  EXPECT_TRUE(fs::is_regular_file(usr / "bin" / "oauthmail"));
  EXPECT_EQ(fs::read_symlink(usr / "bin" / "oauthmail-sendmail"), "oauthmail");
  EXPECT_EQ(fs::read_symlink(usr / "sbin" / "sendmail"), "/usr/bin/oauthmail");
  for (const char* page : {"share/man/man1/oauthmail.1", "share/man/man8/oauthmail-sendmail.8"}) {
    const fs::path p = usr / page;
    ASSERT_TRUE(fs::is_regular_file(p)) << page;
    auto g = run_program({"groff", "-man", "-Tutf8", "-ww", "-z", p.string()}, dir.path());
    EXPECT_EQ(g.exit_code, 0) << page << g.err;
    EXPECT_EQ(g.err, "") << page << ": groff warnings";
    auto text = run_program({"groff", "-man", "-Tutf8", "-P-cbou", p.string()}, dir.path());
    EXPECT_NE(text.out.find("EXIT STATUS"), std::string::npos) << page;
  }
  const fs::path completion = usr / "share/bash-completion/completions/oauthmail";
  ASSERT_TRUE(fs::is_regular_file(completion));
  auto c = run_program({"bash", "-c",
                        "source '" + completion.string() +
                            "'; COMP_WORDS=(oauthmail send --dry); COMP_CWORD=2; _oauthmail; echo \"${COMPREPLY[@]}\"; "
                            "COMP_WORDS=(oauthmail se); COMP_CWORD=1; _oauthmail; echo \"${COMPREPLY[@]}\""},
                       dir.path());
  EXPECT_EQ(c.out, "--dry-run\nsend sendmail\n") << c.err;
  for (const char* doc : {"send.md", "sendmail.md", "configuration.md", "README.md"}) {
    EXPECT_TRUE(fs::is_regular_file(usr / "share/doc/oauthmail" / doc)) << doc;
  }
  // The installed links run sendmail mode: -bp answers without a configuration.
  for (const fs::path& link : {usr / "bin" / "oauthmail-sendmail", usr / "sbin" / "sendmail"}) {
    fs::path runnable = link;
    if (link.filename() == "sendmail") {
      runnable = dir / "sendmail";  // the absolute target does not exist outside DESTDIR
      fs::create_symlink(usr / "bin" / "oauthmail", runnable);
    }
    auto q = run_program({runnable.string(), "-bp"}, dir.path());
    EXPECT_EQ(q.exit_code, 0) << link << q.err;
    EXPECT_NE(q.out.find("queue is empty"), std::string::npos) << link;
  }
}

}  // namespace
}  // namespace oauthmail::testing
