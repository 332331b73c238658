// Image configuration parsing (OCI image-spec config.md).
#include "oci/image_config.h"

#include "oci/json_util.h"

namespace vmimage::oci {
namespace {

using json::Fields;
using json::Json;

constexpr ErrorKind kKind = ErrorKind::kPullImage;

Result<RuntimeConfig> parse_runtime_config(const Json& object) {
  Fields f(object, "config", kKind);
  RuntimeConfig c;
  VMI_TRY(c.user, f.optional_string("User"));
  VMI_TRY(c.working_dir, f.optional_string("WorkingDir"));
  VMI_TRY(c.entrypoint, f.string_list("Entrypoint"));
  VMI_TRY(c.cmd, f.string_list("Cmd"));
  VMI_TRY(c.env, f.string_list("Env"));
  VMI_TRY(c.labels, f.string_map("Labels"));
  VMI_TRY(c.exposed_ports, f.key_set("ExposedPorts"));
  VMI_TRY(c.stop_signal, f.optional_string("StopSignal"));
  for (const std::string& e : c.env) {
    if (e.find('=') == std::string::npos) return f.error("Env", "entry without '=': " + e);
  }
  return c;
}

Result<std::vector<Digest>> parse_rootfs(const Fields& top) {
  VMI_TRY(const Json* rootfs, top.object("rootfs"));
  Fields f(*rootfs, "rootfs", kKind);
  VMI_TRY(std::string type, f.string("type"));
  if (type != "layers") return f.error("type", "is \"" + type + "\", expected \"layers\"");
  VMI_TRY(const Json* ids, f.array("diff_ids"));
  std::vector<Digest> out;
  for (size_t i = 0; i < ids->size(); ++i) {
    const Json& id = (*ids)[i];
    std::string where = "diff_ids[" + std::to_string(i) + "]";
    if (!id.is_string()) return f.error(where, "not a string");
    auto digest = Digest::parse(id.get<std::string>(), kKind);
    if (!digest) return f.error(where, digest.error().message());
    out.push_back(std::move(digest).value());
  }
  return out;
}

}  // namespace

Result<ImageConfig> parse_image_config(std::string_view body) {
  VMI_TRY(Json doc, json::parse_object(body, "image config", kKind));
  Fields f(doc, "", kKind);
  ImageConfig c;
  VMI_TRY(c.architecture, f.optional_string("architecture"));
  VMI_TRY(c.os, f.optional_string("os"));
  VMI_TRY(c.variant, f.optional_string("variant"));
  VMI_TRY(c.created, f.optional_string("created"));
  VMI_TRY(c.diff_ids, parse_rootfs(f));
  VMI_TRY(const Json* config, f.object("config", /*optional=*/true));
  if (config) {
    VMI_TRY(c.config, parse_runtime_config(*config));
  }
  return c;
}

nlohmann::ordered_json runtime_config_to_json(const RuntimeConfig& c) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["User"] = c.user;
  out["WorkingDir"] = c.working_dir;
  out["Entrypoint"] = c.entrypoint;
  out["Cmd"] = c.cmd;
  out["Env"] = c.env;
  out["Labels"] = c.labels;
  out["ExposedPorts"] = c.exposed_ports;
  out["StopSignal"] = c.stop_signal;
  return out;
}

Platform platform_of(const ImageConfig& config) {
  Platform p;
  p.os = config.os;
  p.architecture = config.architecture;
  p.variant = config.variant;
  return normalize_platform(std::move(p));
}

}  // namespace vmimage::oci
