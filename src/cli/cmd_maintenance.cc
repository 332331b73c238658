// Store maintenance commands: gc (remove garbage), du (disk usage), verify
// (re-checksum blobs; exit 1 when any is corrupt or missing).
#include <cstdio>

#include "cli/store_format.h"

namespace vmimage::cli {
namespace {

using Ull = unsigned long long;

Result<int> run_gc(const GlobalOptions& global) {
  VMI_TRY(Store store, open_store(global));
  VMI_TRY(GcStats stats, store.gc());
  if (global.json) {
    nlohmann::ordered_json out = {{"blobs_removed", stats.blobs_removed},
                                  {"bytes_removed", stats.bytes_removed},
                                  {"temp_files_removed", stats.temp_files_removed},
                                  {"leases_reaped", stats.leases_reaped}};
    VMI_CHECK(print_json(out));
  } else if (!global.quiet) {
    std::printf("removed %llu blobs and %llu temp files, %llu bytes (%s)\n",
                static_cast<Ull>(stats.blobs_removed), static_cast<Ull>(stats.temp_files_removed),
                static_cast<Ull>(stats.bytes_removed), human_size(stats.bytes_removed).c_str());
  }
  return 0;
}

Result<int> run_du(const GlobalOptions& global) {
  VMI_TRY(Store store, open_store(global));
  VMI_TRY(DiskUsage du, store.disk_usage());
  if (global.json) {
    VMI_CHECK(print_json(store_json::disk_usage_json(du)));
    return 0;
  }
  print_table({{"BLOBS", "SIZE", "SHARED", "UNREFERENCED"},
               {std::to_string(du.blobs), human_size(du.bytes), human_size(du.shared_bytes),
                human_size(du.unreferenced_bytes)}});
  if (du.images.empty()) return 0;
  std::printf("\n");
  std::vector<std::vector<std::string>> rows = {{"TAG", "SCOPE", "UNIQUE", "SHARED"}};
  for (const ImageUsage& i : du.images) {
    rows.push_back({i.tag, std::string(scope_name(i.scope)), human_size(i.unique_bytes),
                    human_size(i.shared_bytes)});
  }
  print_table(rows);
  return 0;
}

const char* problem_name(BlobProblem::Kind kind) {
  return kind == BlobProblem::Kind::kMissing ? "missing" : "corrupt";
}

Result<int> run_verify(const GlobalOptions& global, const std::vector<std::string>& refs) {
  VMI_TRY(Store store, open_store(global));
  VMI_TRY(VerifyReport report, store.verify(refs));
  if (global.json) {
    VMI_CHECK(print_json(store_json::verify_report_json(report)));
  } else {
    for (const BlobProblem& p : report.problems) {
      std::printf("%s %s (%s) %s: %s\n", problem_name(p.kind), p.record.blob.digest.c_str(),
                  std::string(fs_type_name(p.record.blob.fs_type)).c_str(),
                  p.record.blob.path.c_str(), p.detail.c_str());
    }
    if (!global.quiet) {
      std::printf("verified %llu blobs (%s): %zu problems\n",
                  static_cast<Ull>(report.blobs_checked), human_size(report.bytes_checked).c_str(),
                  report.problems.size());
    }
  }
  return report.problems.empty() ? 0 : 1;
}

}  // namespace

void add_gc_command(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("gc", "Remove unreferenced blobs and crash leftovers");
  cmd->callback([&ctx] { ctx.run = [&ctx] { return run_gc(ctx.global); }; });
}

void add_du_command(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("du", "Show the store's disk usage, shared and per image");
  cmd->callback([&ctx] { ctx.run = [&ctx] { return run_du(ctx.global); }; });
}

void add_verify_command(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("verify", "Re-checksum blobs (of REFs, or all) against the store");
  auto refs = std::make_shared<std::vector<std::string>>();
  cmd->add_option("REF", *refs, "Image tags (default: every blob)");
  cmd->callback([&ctx, refs] { ctx.run = [&ctx, refs] { return run_verify(ctx.global, *refs); }; });
}

void add_config_command(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("config", "Show or set the store's defaults");
  auto* verity = cmd->add_subcommand(
      "verity", "Whether builds into this store give blobs dm-verity trees by default (on|off)");
  auto value = std::make_shared<std::string>();
  verity->add_option("VALUE", *value, "on | off (default: show it)")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->require_subcommand(1);
  verity->callback([&ctx, value] {
    ctx.run = [&ctx, value]() -> Result<int> {
      VMI_TRY(Store store, open_store(ctx.global));
      if (!value->empty()) VMI_CHECK(store.set_default_verity(*value == "on"));
      VMI_TRY(bool on, store.default_verity());
      if (ctx.global.json) {
        VMI_CHECK(print_json(nlohmann::ordered_json{{"verity", on}}));
      } else if (!ctx.global.quiet) {
        std::printf("verity %s\n", on ? "on" : "off");
      }
      return 0;
    };
  });
}

}  // namespace vmimage::cli
