#!/usr/bin/env python3
"""Writes test images into an OCI image layout (image-spec image-layout.md).

Deterministic: the same arguments give the same bytes and digests. Layers are
tars of generated files, stored gzip-, zstd-compressed (via the zstd tool) or
uncompressed. Prints a JSON summary (digests, diff_ids, media types) on stdout.

  make_image.py LAYOUT --tag TAG --layer gzip:1:3:100000 --layer zstd:2:1:5000 ...
      [--platforms linux/amd64,linux/arm64/v8] [--docker] [--bad-diffid N]
      [--tars DIR] [--user U] [--workdir D] [--entrypoint JSON] [--cmd JSON] [--env K=V]

--layer KIND:SEED:FILES:SIZE  KIND gzip|zstd|none; FILES files of SIZE bytes each.
--platforms                   one manifest per platform (each with an extra layer
                              holding /etc/platform) under an index; the tag names the index.
--docker                      Docker schema 2 media types (gzip layers only), written
                              as a skopeo "dir:" directory (OCI layouts cannot hold
                              them); push it with push_dir.
--bad-diffid N                writes a wrong rootfs.diff_ids[N] into the config.
--tars DIR                    also writes each uncompressed layer tar as DIR/<digest hex>.tar.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile

OCI = {
    "manifest": "application/vnd.oci.image.manifest.v1+json",
    "index": "application/vnd.oci.image.index.v1+json",
    "config": "application/vnd.oci.image.config.v1+json",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
DOCKER = {
    "manifest": "application/vnd.docker.distribution.manifest.v2+json",
    "index": "application/vnd.docker.distribution.manifest.list.v2+json",
    "config": "application/vnd.docker.container.image.v1+json",
    "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
}


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class DirLayout:
    """skopeo's dir: transport: blobs named by hex, manifest.json, version."""

    def __init__(self, root):
        self.root = root
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "version"), "w") as f:
            f.write("Directory Transport Version: 1.1\n")

    def put(self, data):
        digest = sha256(data)
        with open(os.path.join(self.root, digest[7:]), "wb") as f:
            f.write(data)
        return digest

    def tag(self, tag, descriptor):
        src = os.path.join(self.root, descriptor["digest"][7:])
        os.replace(src, os.path.join(self.root, "manifest.json"))


class Layout:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)

    def put(self, data):
        digest = sha256(data)
        path = os.path.join(self.root, "blobs", "sha256", digest[7:])
        with open(path, "wb") as f:
            f.write(data)
        return digest

    def tag(self, tag, descriptor):
        path = os.path.join(self.root, "index.json")
        index = {"schemaVersion": 2, "manifests": []}
        if os.path.exists(path):
            with open(path) as f:
                index = json.load(f)
        key = "org.opencontainers.image.ref.name"
        index["manifests"] = [m for m in index["manifests"]
                              if m.get("annotations", {}).get(key) != tag]
        index["manifests"].append(dict(descriptor, annotations={key: tag}))
        with open(path, "w") as f:
            json.dump(index, f)


def make_tar(files):
    """files: list of (path, bytes). A directory entry precedes each file's parent."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        seen = set()
        for path, data in files:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in seen:
                    seen.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = 1700000000
                    tar.addfile(info)
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def generated_files(index, seed, count, size):
    rng = random.Random(seed)
    files = []
    for k in range(count):
        # Half random, half repetitive: compressible, but not trivially.
        half = size // 2
        data = rng.randbytes(half) + (b"vmimage test data %d " % k) * ((size - half) // 20 + 1)
        files.append(("layer%d/file%d" % (index, k), data[:size]))
    return files


def compress(kind, data):
    if kind == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if kind == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    return data


def add_layer(layout, types, kind, tar, tars_dir):
    blob = compress(kind, tar)
    diff_id = sha256(tar)
    if tars_dir:
        os.makedirs(tars_dir, exist_ok=True)
        with open(os.path.join(tars_dir, diff_id[7:] + ".tar"), "wb") as f:
            f.write(tar)
    digest = layout.put(blob)
    return {"mediaType": types[kind], "digest": digest, "size": len(blob)}, diff_id


def build_manifest(layout, args, types, platform, extra_files):
    layers, diff_ids = [], []
    for i, spec in enumerate(args.layer):
        kind, seed, count, size = spec.split(":")
        tar = make_tar(generated_files(i, int(seed), int(count), int(size)))
        desc, diff_id = add_layer(layout, types, kind, tar, args.tars)
        layers.append(desc)
        diff_ids.append(diff_id)
    if extra_files:
        desc, diff_id = add_layer(layout, types, "gzip", make_tar(extra_files), args.tars)
        layers.append(desc)
        diff_ids.append(diff_id)
    if args.bad_diffid is not None:
        diff_ids[args.bad_diffid] = sha256(b"not the layer")
    os_name, arch, variant = (platform.split("/") + [""])[:3]
    config = {
        "architecture": arch, "os": os_name,
        "created": "2024-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {
            "User": args.user, "WorkingDir": args.workdir,
            "Entrypoint": json.loads(args.entrypoint) if args.entrypoint else None,
            "Cmd": json.loads(args.cmd) if args.cmd else None,
            "Env": args.env or None,
            "Labels": {"org.example.test": "yes"},
            "ExposedPorts": {"8080/tcp": {}},
            "StopSignal": "SIGTERM",
        },
    }
    if variant:
        config["variant"] = variant
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_desc = {"mediaType": types["config"], "digest": layout.put(config_bytes),
                   "size": len(config_bytes)}
    manifest = {"schemaVersion": 2, "mediaType": types["manifest"], "config": config_desc,
                "layers": layers}
    data = json.dumps(manifest, sort_keys=True).encode()
    desc = {"mediaType": types["manifest"], "digest": layout.put(data), "size": len(data)}
    summary = {"platform": platform, "digest": desc["digest"], "config": config_desc["digest"],
               "layers": [dict(l, diff_id=d) for l, d in zip(layers, diff_ids)]}
    return desc, summary


def main():
    p = argparse.ArgumentParser()
    p.add_argument("layout")
    p.add_argument("--tag", required=True)
    p.add_argument("--layer", action="append", default=[])
    p.add_argument("--platform", default="linux/amd64")
    p.add_argument("--platforms")
    p.add_argument("--docker", action="store_true")
    p.add_argument("--bad-diffid", type=int)
    p.add_argument("--tars")
    p.add_argument("--user", default="")
    p.add_argument("--workdir", default="/")
    p.add_argument("--entrypoint")
    p.add_argument("--cmd")
    p.add_argument("--env", action="append")
    args = p.parse_args()
    types = DOCKER if args.docker else OCI
    if args.docker and args.platforms:
        sys.exit("make_image.py: --docker writes one image; --platforms is not supported")
    layout = DirLayout(args.layout) if args.docker else Layout(args.layout)
    if not args.platforms:
        desc, summary = build_manifest(layout, args, types, args.platform, None)
        layout.tag(args.tag, desc)
        summary["tag_digest"] = desc["digest"]
        json.dump(summary, sys.stdout, indent=1)
        return
    entries, summaries = [], []
    for platform in args.platforms.split(","):
        marker = [("etc/platform", (platform + "\n").encode())]
        desc, summary = build_manifest(layout, args, types, platform, marker)
        os_name, arch, variant = (platform.split("/") + [""])[:3]
        desc["platform"] = {"os": os_name, "architecture": arch}
        if variant:
            desc["platform"]["variant"] = variant
        entries.append(desc)
        summaries.append(summary)
    index = {"schemaVersion": 2, "mediaType": types["index"], "manifests": entries}
    data = json.dumps(index, sort_keys=True).encode()
    desc = {"mediaType": types["index"], "digest": layout.put(data), "size": len(data)}
    layout.tag(args.tag, desc)
    json.dump({"tag_digest": desc["digest"], "manifests": summaries}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
