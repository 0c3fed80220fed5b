#include "cli/compose_options.hpp"

#include <sysexits.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>

#include "mime/compose.hpp"
#include "mime/errors.hpp"

namespace oauthmail::cli {

namespace {

preparation_error failure(int status, std::string message) { return {status, std::move(message)}; }

// The exit status for a composition error.
int status_of(const core::error& e) {
  switch (static_cast<mime::errc>(e.code().value())) {
    case mime::errc::bad_address:
    case mime::errc::header_injection:
    case mime::errc::bad_header:
    case mime::errc::bad_composition:
      return EX_USAGE;
    case mime::errc::unreadable_file:
      return EX_NOINPUT;
    case mime::errc::io_failure:
      return EX_CANTCREAT;
    case mime::errc::not_utf8:
    case mime::errc::too_large:
    case mime::errc::no_recipients:
      return EX_DATAERR;
  }
  return EX_SOFTWARE;
}

core::result<std::vector<mime::mailbox>> parse_all(const std::vector<std::string>& values, const char* option) {
  std::vector<mime::mailbox> out;
  for (const auto& v : values) {
    auto list = mime::parse_address_list(v, option);
    if (!list) return list.error();
    out.insert(out.end(), list->begin(), list->end());
  }
  return out;
}

// Reads stdin into the spool, bounded; refuses empty input.
std::optional<preparation_error> spool_stdin(mime::spool& content, std::size_t max) {
  std::array<char, std::size_t{64} * 1024> buffer{};
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failure(EX_IOERR, "Reading the message from stdin failed.");
    if (n == 0) break;
    if (content.stats().size() + static_cast<std::size_t>(n) > max) {
      return failure(EX_DATAERR, "The message on stdin is larger than " + std::to_string(max / (1024 * 1024)) +
                                     " MiB, more than any provider accepts.");
    }
    if (auto r = content.append(std::string_view(buffer.data(), static_cast<std::size_t>(n))); !r) {
      return failure(EX_CANTCREAT, r.error().message());
    }
  }
  return std::nullopt;
}

}  // namespace

compose_options::compose_options(CLI::App* cmd) {
  cmd->add_option("--cc", cc_, "copy recipient (header Cc and envelope); repeat or separate with commas")
      ->type_name("ADDR");
  cmd->add_option("--bcc", bcc_, "blind copy recipient (envelope only, never in the headers)")->type_name("ADDR");
  cmd->add_option("--reply-to", reply_to_, "Reply-To address")->type_name("ADDR");
  cmd->add_option("--subject", subject_, "subject (UTF-8; encoded as RFC 2047 when not ASCII)")->type_name("TEXT");
  auto* text = cmd->add_option("--text", text_, "plain-text body")->type_name("TEXT");
  auto* text_file =
      cmd->add_option("--text-file", text_file_, "plain-text body from a UTF-8 file (- for stdin)")->type_name("FILE");
  text->excludes(text_file);
  auto* html = cmd->add_option("--html", html_, "HTML body (with --text: multipart/alternative)")->type_name("HTML");
  auto* html_file =
      cmd->add_option("--html-file", html_file_, "HTML body from a UTF-8 file (- for stdin)")->type_name("FILE");
  html->excludes(html_file);
  cmd->add_option("--attach", attach_, "attach a file (MIME type from its content and name); repeatable")
      ->type_name("FILE");
  cmd->add_option("--inline", inline_,
                  "image shown inside the HTML body as <img src=\"cid:NAME\">: FILE (NAME is the file name) or "
                  "NAME=FILE; repeatable")
      ->type_name("[NAME=]FILE");
  cmd->add_option("--header", header_,
                  "extra header \"Name: value\"; repeatable (Date and Message-ID replace "
                  "the generated ones)")
      ->type_name("\"NAME: VALUE\"");
}

bool compose_options::composing() const {
  return subject_ || text_ || text_file_ || html_ || html_file_ || !attach_.empty() || !inline_.empty() ||
         !header_.empty() || !reply_to_.empty();
}

std::optional<preparation_error> compose_options::prepare(const std::string& from, const std::vector<std::string>& to,
                                                          prepared_message& out) const {
  if (!composing()) return prepare_raw(from, to, out);

  mime::message_spec spec;
  auto sender = mime::parse_mailbox(from, "--from");
  if (!sender) return failure(status_of(sender.error()), sender.error().message());
  spec.from = std::move(*sender);
  for (const auto& [values, option, target] :
       {std::tuple{&to, "--to", &spec.to}, std::tuple{&cc_, "--cc", &spec.cc}, std::tuple{&bcc_, "--bcc", &spec.bcc},
        std::tuple{&reply_to_, "--reply-to", &spec.reply_to}}) {
    auto list = parse_all(*values, option);
    if (!list) return failure(status_of(list.error()), list.error().message());
    *target = std::move(*list);
  }
  if (spec.to.empty() && spec.cc.empty() && spec.bcc.empty()) {
    return failure(EX_USAGE, "No recipient: give --to, --cc or --bcc.");
  }
  spec.subject = subject_;
  if (text_file_ && html_file_ && *text_file_ == "-" && *html_file_ == "-") {
    return failure(EX_USAGE, "--text-file - and --html-file - cannot both read stdin.");
  }
  auto body_from = [&](const std::optional<std::string>& inline_text, const std::optional<std::string>& file,
                       const char* text_option, const char* file_option,
                       std::optional<std::string>& target) -> std::optional<preparation_error> {
    if (inline_text) {
      if (auto ok = mime::check_utf8(*inline_text, text_option); !ok) {
        return failure(EX_DATAERR, ok.error().message());
      }
      target = *inline_text;
    } else if (file) {
      if (*file == "-") {
        auto sp = mime::spool::create();
        if (!sp) return failure(EX_CANTCREAT, sp.error().message());
        if (auto e = spool_stdin(**sp, max_stdin_message)) return e;
        auto all = (*sp)->read_all();
        if (!all) return failure(EX_IOERR, all.error().message());
        if (auto ok = mime::check_utf8(*all, std::string(file_option) + " -"); !ok) {
          return failure(EX_DATAERR, ok.error().message());
        }
        target = std::move(*all);
      } else {
        auto content = mime::read_text_file(*file, file_option, max_stdin_message);
        if (!content) return failure(status_of(content.error()), content.error().message());
        target = std::move(*content);
      }
    }
    return std::nullopt;
  };
  if (auto e = body_from(text_, text_file_, "--text", "--text-file", spec.text)) return e;
  if (auto e = body_from(html_, html_file_, "--html", "--html-file", spec.html)) return e;
  spec.attachments = attach_;
  for (const auto& i : inline_) {
    auto img = mime::parse_inline_option(i);
    if (!img) return failure(status_of(img.error()), img.error().message());
    spec.inline_images.push_back(std::move(*img));
  }
  for (const auto& h : header_) {
    auto parsed = mime::parse_header_option(h);
    if (!parsed) return failure(status_of(parsed.error()), parsed.error().message());
    spec.headers.push_back(std::move(*parsed));
  }
  auto composed = mime::compose(spec);
  if (!composed) return failure(status_of(composed.error()), composed.error().message());
  for (const auto& w : composed->warnings) std::fprintf(stderr, "oauthmail: warning: %s\n", w.c_str());
  out.content = std::move(composed->content);
  out.envelope_from = std::move(composed->envelope_from);
  out.envelope_to = std::move(composed->envelope_to);
  out.smtputf8 = composed->utf8_headers;
  out.message_id = std::move(composed->message_id);
  out.composed = true;
  return std::nullopt;
}

std::optional<preparation_error> compose_options::prepare_raw(const std::string& from,
                                                              const std::vector<std::string>& to,
                                                              prepared_message& out) const {
  if (!from.empty()) {  // --from '' is the null sender <>
    auto sender = mime::parse_mailbox(from, "--from");
    if (!sender) return failure(status_of(sender.error()), sender.error().message());
    out.envelope_from = sender->envelope();
  }
  for (const auto& [values, option] : {std::pair{&to, "--to"}, std::pair{&cc_, "--cc"}, std::pair{&bcc_, "--bcc"}}) {
    auto list = parse_all(*values, option);
    if (!list) return failure(status_of(list.error()), list.error().message());
    for (const auto& m : *list) out.envelope_to.push_back(m.envelope());
  }
  if (out.envelope_to.empty()) return failure(EX_USAGE, "No recipient: give --to, --cc or --bcc.");
  if (::isatty(STDIN_FILENO)) {
    return failure(EX_USAGE,
                   "No message: pipe a complete RFC 5322 message on stdin (oauthmail send ... < message.eml), or "
                   "compose one with --subject and --text (see oauthmail send --help).");
  }
  auto sp = mime::spool::create();
  if (!sp) return failure(EX_CANTCREAT, sp.error().message());
  out.content = std::move(*sp);
  if (auto e = spool_stdin(*out.content, max_stdin_message)) return e;
  if (out.content->stats().size() == 0) {
    return failure(EX_DATAERR,
                   "The message on stdin is empty. Pipe a complete RFC 5322 message (headers, blank line, body).");
  }
  return std::nullopt;
}

}  // namespace oauthmail::cli
