// Shared CLI plumbing: the limits of the global options, and JSON output that
// cannot throw.
#include <cstdio>
#include <cstdlib>

#include "cli/cli.h"
#include "store/image_json.h"
#include "util/utf8.h"

namespace vmimage::cli {

Result<Limits> resolve_limits(const GlobalOptions& global) {
  Limits limits;
  if (const char* env = std::getenv("VMIMAGE_LIMITS")) {
    Status s = apply_limits(limits, env);
    if (!s) return std::move(s).error().context("$VMIMAGE_LIMITS");
  }
  for (const std::string& flag : global.limit_flags) VMI_CHECK(apply_limits(limits, flag));
  return limits;
}

Status print_json(const nlohmann::ordered_json& doc, int indent) {
  VMI_TRY(std::string text, store_json::dump(doc, indent));
  std::printf("%s\n", text.c_str());
  return {};
}

Status check_utf8(std::string_view text, std::string_view what) {
  if (is_valid_utf8(text)) return {};
  return Error(ErrorKind::kUsage, std::string(what) + " \"" + escape_non_utf8(text) +
                                      "\" is not valid UTF-8; vmimage's JSON output needs "
                                      "paths and names it can print");
}

void add_limits_command(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand(
      "limits", "Show the limits on hostile input (change them with --limit NAME=VALUE)");
  cmd->callback([&ctx] {
    ctx.run = [&ctx]() -> Result<int> {
      std::vector<LimitInfo> rows = describe_limits(ctx.global.limits);
      if (ctx.global.json) {
        nlohmann::ordered_json out = nlohmann::ordered_json::object();
        for (const LimitInfo& row : rows) out[row.name] = row.value;
        VMI_CHECK(print_json(out));
        return 0;
      }
      size_t width = 0;
      for (const LimitInfo& row : rows) width = std::max(width, row.name.size());
      for (const LimitInfo& row : rows) {
        std::printf("%-*s  %-8s  %s\n", static_cast<int>(width), row.name.c_str(),
                    row.value.c_str(), row.description.c_str());
      }
      return 0;
    };
  });
}

}  // namespace vmimage::cli
