#!/usr/bin/env python3
"""Packs layer tars into an OCI image layout (image-spec image-layout.md), so
tests can push them with skopeo or export them as archives.

  pack_image.py LAYOUT TAG LAYER.tar... [--compress gzip|zstd|none|gzipped]
      [--user U] [--workdir D] [--entrypoint JSON] [--cmd JSON] [--env K=V]...

Layers are base first. Deterministic (fixed gzip mtime, sorted JSON keys).
--erofs-media TYPE takes LAYER files that are raw EROFS images (a layer in
containerd's EROFS image format): the DiffID is the raw image's sha256, the
blob is the image (--compress none) or its zstd frame (--compress zstd, media
type TYPE+zstd).
--compress gzipped takes LAYER files that are gzip blobs already and streams
them (for layers too big to hold in memory): the blob is stored as it is and
the DiffID is the sha256 of its `igzip -dc` output.
Adds the image to LAYOUT's index.json under org.opencontainers.image.ref.name=TAG.
Prints {"manifest": digest, "diff_ids": [...], "layers": [...]} as JSON.
"""
import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys

MEDIA = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzipped": "application/vnd.oci.image.layer.v1.tar+gzip",
}


def write_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return "sha256:" + digest


def sha256_stream(f):
    h = hashlib.sha256()
    while chunk := f.read(1 << 20):
        h.update(chunk)
    return h.hexdigest()


def add_gzipped_blob(layout, path):
    """Stores a gzip blob as it is; returns (diff_id, descriptor)."""
    with open(path, "rb") as f:
        digest = sha256_stream(f)
    target = os.path.join(layout, "blobs", "sha256", digest)
    if not os.path.exists(target):
        shutil.copyfile(path, target)
    with subprocess.Popen(["igzip", "-dc", path], stdout=subprocess.PIPE) as unzip:
        diff_id = sha256_stream(unzip.stdout)
    if unzip.returncode != 0:
        sys.exit(f"pack_image.py: igzip -dc {path} failed")
    descriptor = {"mediaType": MEDIA["gzipped"], "digest": "sha256:" + digest,
                  "size": os.path.getsize(path)}
    return "sha256:" + diff_id, descriptor


def compress(data, kind):
    if kind == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if kind == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, stdout=subprocess.PIPE,
                              check=True).stdout
    return data


def main():
    p = argparse.ArgumentParser()
    p.add_argument("layout")
    p.add_argument("tag")
    p.add_argument("layers", nargs="+")
    p.add_argument("--compress", choices=sorted(MEDIA), default="gzip")
    p.add_argument("--user", default="")
    p.add_argument("--workdir", default="")
    p.add_argument("--entrypoint", default=None)
    p.add_argument("--cmd", default=None)
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--arch", default="amd64")
    p.add_argument("--erofs-media", default=None)
    a = p.parse_args()

    os.makedirs(os.path.join(a.layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(a.layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)

    diff_ids, descriptors = [], []
    for path in a.layers:
        if a.compress == "gzipped":
            diff_id, descriptor = add_gzipped_blob(a.layout, path)
            diff_ids.append(diff_id)
            descriptors.append(descriptor)
            continue
        with open(path, "rb") as f:
            tar = f.read()
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        blob = compress(tar, a.compress)
        media = MEDIA[a.compress]
        if a.erofs_media:
            media = a.erofs_media + ("+zstd" if a.compress == "zstd" else "")
        descriptors.append({"mediaType": media, "digest": write_blob(a.layout, blob),
                            "size": len(blob)})

    runtime = {"Env": a.env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
    if a.user:
        runtime["User"] = a.user
    if a.workdir:
        runtime["WorkingDir"] = a.workdir
    if a.entrypoint is not None:
        runtime["Entrypoint"] = json.loads(a.entrypoint)
    if a.cmd is not None:
        runtime["Cmd"] = json.loads(a.cmd)
    config = {"architecture": a.arch, "os": "linux", "config": runtime,
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "created": "2024-01-01T00:00:00Z"}
    config_bytes = json.dumps(config, sort_keys=True).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": write_blob(a.layout, config_bytes), "size": len(config_bytes)},
                "layers": descriptors}
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    manifest_digest = write_blob(a.layout, manifest_bytes)

    index_path = os.path.join(a.layout, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != a.tag]
    index["manifests"].append({"mediaType": manifest["mediaType"], "digest": manifest_digest,
                               "size": len(manifest_bytes),
                               "annotations": {"org.opencontainers.image.ref.name": a.tag}})
    with open(index_path, "w") as f:
        json.dump(index, f, sort_keys=True)
    json.dump({"manifest": manifest_digest, "diff_ids": diff_ids,
               "layers": [d["digest"] for d in descriptors]}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
