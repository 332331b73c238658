// Image commands on the store: tag, ls, inspect, rm. A REF is a tag as stored,
// looked up in the local scope first, then in the registry cache.
#include <cstdio>

#include "cli/store_format.h"

namespace vmimage::cli {
namespace {

Result<int> run_tag(const GlobalOptions& global, const std::string& src, const std::string& dst) {
  VMI_TRY(Store store, open_store(global));
  VMI_TRY(FoundImage found, find_image(store, src));
  VMI_CHECK(store.tag(found.tag, dst));
  if (!global.quiet && !global.json) std::printf("tagged %s as %s\n", src.c_str(), dst.c_str());
  return 0;
}

enum class LsScope { kAll, kLocal, kRegistry };

Result<int> run_ls(const GlobalOptions& global, LsScope which) {
  VMI_TRY(Store store, open_store(global));
  std::vector<ImageInfo> images;
  if (which != LsScope::kRegistry) {
    VMI_TRY(images, store.list());
  }
  if (which != LsScope::kLocal) {
    VMI_TRY(auto cached, store.list_registry_cache());
    images.insert(images.end(), cached.begin(), cached.end());
  }
  if (global.json) {
    auto out = nlohmann::ordered_json::array();
    for (const ImageInfo& i : images) {
      out.push_back({{"tag", i.tag},
                     {"scope", scope_name(i.scope)},
                     {"digest", i.meta.digest},
                     {"size", i.meta.size},
                     {"created_at", rfc3339(i.meta.created_at)},
                     {"source", image_source_name(i.meta.source)},
                     {"rootfs_path", i.rootfs_path}});
    }
    VMI_CHECK(print_json(out));
    return 0;
  }
  if (global.quiet) {
    for (const ImageInfo& i : images) std::printf("%s\n", i.tag.c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"TAG", "SCOPE", "DIGEST", "SIZE", "CREATED"}};
  for (const ImageInfo& i : images) {
    rows.push_back({i.tag, std::string(scope_name(i.scope)), short_digest(i.meta.digest),
                    human_size(i.meta.size), relative_time(i.meta.created_at)});
  }
  print_table(rows);
  return 0;
}

Result<int> run_inspect(const GlobalOptions& global, const std::string& ref) {
  VMI_TRY(Store store, open_store(global));
  VMI_TRY(FoundImage found, find_image(store, ref));
  VMI_TRY(nlohmann::ordered_json j, inspect_json(found.image, store));
  VMI_CHECK(print_json(j));
  return 0;
}

Result<int> run_rm(const GlobalOptions& global, const std::vector<std::string>& refs) {
  VMI_TRY(Store store, open_store(global));
  GcStats pruned;
  std::vector<std::string> missing;
  auto removed = nlohmann::ordered_json::array();
  for (const std::string& ref : refs) {
    auto found = find_image(store, ref);
    if (!found.ok() && found.error().kind() == ErrorKind::kImageNotFound) {
      missing.push_back(ref);
      continue;
    }
    if (!found.ok()) return std::move(found).error();
    const StoredImage* image = &found->image;
    VMI_TRY(GcStats stats, store.remove(image->scope, found->tag));
    pruned.blobs_removed += stats.blobs_removed;
    pruned.bytes_removed += stats.bytes_removed;
    removed.push_back({{"tag", ref}, {"scope", scope_name(image->scope)}});
    if (!global.quiet && !global.json) {
      std::printf("removed %s (%s)\n", ref.c_str(), std::string(scope_name(image->scope)).c_str());
    }
  }
  if (global.json) {
    nlohmann::ordered_json out = {{"removed", removed},
                                  {"blobs_removed", pruned.blobs_removed},
                                  {"bytes_removed", pruned.bytes_removed}};
    VMI_CHECK(print_json(out));
  } else if (!global.quiet && !removed.empty()) {
    std::printf("pruned %llu blobs, %s\n", static_cast<unsigned long long>(pruned.blobs_removed),
                human_size(pruned.bytes_removed).c_str());
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
    return Error(ErrorKind::kImageNotFound, "no image tagged " + list);
  }
  return 0;
}

}  // namespace

void add_tag_command(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("tag", "Tag an image (local scope) with the same layers");
  auto src = std::make_shared<std::string>();
  auto dst = std::make_shared<std::string>();
  cmd->add_option("SRC", *src, "Existing image tag")->required();
  cmd->add_option("DST", *dst, "New local tag")->required();
  cmd->callback(
      [&ctx, src, dst] { ctx.run = [&ctx, src, dst] { return run_tag(ctx.global, *src, *dst); }; });
}

void add_ls_command(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("ls", "List images (local tags and the registry cache)");
  struct Flags {
    bool all = false, local = false, registry = false;
  };
  // CLI11 writes into these while parsing: they live as long as the callback.
  auto flags = std::make_shared<Flags>();
  auto* a = cmd->add_flag("--all", flags->all, "Both scopes (default)");
  auto* l = cmd->add_flag("--local", flags->local, "Only local tags");
  auto* r = cmd->add_flag("--registry", flags->registry, "Only the registry cache");
  a->excludes(l)->excludes(r);
  l->excludes(r);
  cmd->callback([&ctx, flags] {
    LsScope which = flags->local      ? LsScope::kLocal
                    : flags->registry ? LsScope::kRegistry
                                      : LsScope::kAll;
    ctx.run = [&ctx, which] { return run_ls(ctx.global, which); };
  });
}

void add_inspect_command(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("inspect", "Print an image's metadata and lowers as JSON");
  auto ref = std::make_shared<std::string>();
  cmd->add_option("REF", *ref, "Image tag")->required();
  cmd->callback([&ctx, ref] { ctx.run = [&ctx, ref] { return run_inspect(ctx.global, *ref); }; });
}

void add_rm_command(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("rm", "Remove image tags and the blobs only they used");
  auto refs = std::make_shared<std::vector<std::string>>();
  cmd->add_option("REF", *refs, "Image tags")->required();
  cmd->callback([&ctx, refs] { ctx.run = [&ctx, refs] { return run_rm(ctx.global, *refs); }; });
}

}  // namespace vmimage::cli
