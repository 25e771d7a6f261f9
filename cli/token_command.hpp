#pragma once
// `hindsight token`: a signed, expiring debug token, with a curl line and a URL that
// carry it (proxy/token.hpp).
#include <CLI/CLI.hpp>

#include <string>

namespace hindsight::cli {

struct token_options {
  std::string data, ttl = "1h";
  bool json = false;
};

void add_token_command(CLI::App& app, token_options& options);
int token(const token_options& options);

}  // namespace hindsight::cli
