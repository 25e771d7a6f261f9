#include "cli/export_command.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "cli/json_output.hpp"
#include "cli/show_command.hpp"
#include "cli/store_options.hpp"
#include "cli/text_encoding.hpp"
#include "replay/export.hpp"

namespace hindsight::cli {
namespace {

// An open output file, closed by its owner; the failure to close it is reported, since
// that is where a full disk shows.
class output_file {
 public:
  explicit output_file(const std::string& path) : path_(path) {
    // 0600: with --reveal the file holds credentials.
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0)
      throw std::runtime_error("cannot write the export to '" + path + "': " + std::strerror(errno) +
                               " — choose a writable path with -o, or leave -o out for stdout");
  }
  ~output_file() {
    if (fd_ >= 0) ::close(fd_);
  }
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;

  void write(std::string_view bytes) { write_all(fd_, bytes, "'" + path_ + "'"); }
  void close() {
    int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) throw std::runtime_error("cannot write to '" + path_ + "': " + std::strerror(errno));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

void add_export_command(CLI::App& app, export_options& o) {
  auto* cmd = app.add_subcommand("export", "Write a captured request as a curl line, a HAR file, raw bytes or Python");
  add_data_option(*cmd, o.data);
  cmd->add_option("id", o.id, "The capture's id, as `hindsight list` shows it")->required();
  cmd->add_option("--format", o.format,
                  "curl: one shell command line (a binary body is piped from printf with octal escapes, so the "
                  "exact bytes are sent); har: a HAR 1.2 document; raw: the request's bytes, for nc; python: a "
                  "script using requests, the body as a bytes literal")
      ->required()
      ->check(CLI::IsMember({"curl", "har", "raw", "python"}));
  cmd->add_flag("--reveal", o.reveal,
                "Include credential headers (Authorization, Cookie, X-Api-Key, …) instead of [masked]");
  cmd->add_option("-o,--output", o.output, "Write to FILE (created with mode 0600) instead of stdout");
  cmd->footer(
      "Values scrubbed at capture (passwords, tokens, card numbers) stay [redacted]: the originals were never stored.\n"
      "Examples:\n"
      "  hindsight export 42 --format curl --reveal | sh\n"
      "  hindsight export 42 --format har -o capture-42.har\n"
      "  hindsight export 42 --format raw --reveal | nc -U .hindsight/app.sock\n"
      "  hindsight export 42 --format python > replay_42.py && python3 replay_42.py");
}

int export_capture(const export_options& o) {
  return run_command([&]() -> int {
    auto c = load_capture(o.data, o.id);
    std::string out;
    if (o.format == "curl") out = replay::to_curl(c, o.reveal);
    else if (o.format == "python") out = replay::to_python(c, o.reveal);
    else if (o.format == "har") out = to_json_text(replay::to_har(c, o.reveal, HINDSIGHT_VERSION)) + "\n";
    else out = replay::to_raw(c, o.reveal);

    for (const auto& w : replay::export_warnings(c, o.reveal))
      std::fprintf(stderr, "hindsight: warning: capture %lld: %s\n", static_cast<long long>(c.id), w.c_str());
    if (o.output.empty()) {
      // As curl does: binary bytes on a terminal garble it and show nothing useful.
      if (o.format == "raw" && ::isatty(STDOUT_FILENO) && !looks_like_text(c.request_body))
        throw std::runtime_error("capture " + std::to_string(c.id) + "'s request body is binary: redirect the raw "
                                 "export to a file or a pipe (-o request.http)");
      std::fflush(stdout);
      write_all(STDOUT_FILENO, out, "stdout");
      return 0;
    }
    output_file file(o.output);
    file.write(out);
    file.close();
    return 0;
  });
}

}  // namespace hindsight::cli
