#!/usr/bin/env python3
"""Writes the image archive layouts umoci and skopeo do not (python3 stdlib only).

  docker25 LAYOUT TAG NAME OUT      Docker 25+ `docker save`: OCI layout + manifest.json (last)
  merge-docker OUT IN...            one classic docker-save archive holding every image of IN...
  multi-platform LAYOUT NAME OUT TAG...   OCI archive: index.json -> image index -> one
                                    manifest per TAG, platforms taken from each config
  bad KIND IN OUT                   a broken copy of archive IN (see BAD_KINDS)
"""
import hashlib
import io
import json
import os
import sys
import tarfile

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_path(digest):
    return "blobs/sha256/" + digest.split(":", 1)[1]


class Writer:
    """A deterministic tar writer (fixed mtime, root owner) that skips duplicates."""

    def __init__(self, path):
        self.tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)
        self.seen = set()

    def add(self, name, data, mode=0o644):
        if name in self.seen:
            return
        self.seen.add(name)
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), mode, 0
        self.tar.addfile(info, io.BytesIO(data))

    def add_member(self, src, member):
        if member.name in self.seen:
            return
        self.seen.add(member.name)
        self.tar.addfile(member, src.extractfile(member) if member.isfile() else None)

    def close(self):
        self.tar.close()


def read_layout_blob(layout, digest):
    with open(os.path.join(layout, blob_path(digest)), "rb") as f:
        return f.read()


def manifest_for_tag(layout, tag):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    for d in index["manifests"]:
        if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return d, json.loads(read_layout_blob(layout, d["digest"]))
    sys.exit(f"archive_tool: tag {tag} not in {layout}")


def write_image_blobs(out, layout, desc, manifest):
    for layer in manifest["layers"]:
        out.add(blob_path(layer["digest"]), read_layout_blob(layout, layer["digest"]), 0o444)
    cfg = manifest["config"]["digest"]
    out.add(blob_path(cfg), read_layout_blob(layout, cfg), 0o444)
    out.add(blob_path(desc["digest"]), read_layout_blob(layout, desc["digest"]), 0o444)


def docker25(layout, tag, name, path):
    desc, manifest = manifest_for_tag(layout, tag)
    out = Writer(path)
    write_image_blobs(out, layout, desc, manifest)
    entry = {"mediaType": OCI_MANIFEST, "digest": desc["digest"], "size": desc["size"],
             "annotations": {"io.containerd.image.name": name,
                             "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}}
    out.add("oci-layout", LAYOUT)
    out.add("index.json", json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                      "manifests": [entry]}).encode())
    docker = [{"Config": blob_path(manifest["config"]["digest"]), "RepoTags": [name],
               "Layers": [blob_path(l["digest"]) for l in manifest["layers"]]}]
    out.add("manifest.json", json.dumps(docker).encode())
    out.close()


def merge_docker(path, inputs):
    out = Writer(path)
    entries, repositories = [], {}
    for archive in inputs:
        with tarfile.open(archive) as src:
            for member in src.getmembers():
                if member.name == "manifest.json":
                    entries += json.load(src.extractfile(member))
                elif member.name == "repositories":
                    repositories.update(json.load(src.extractfile(member)))
                else:
                    out.add_member(src, member)
    out.add("repositories", json.dumps(repositories).encode())
    out.add("manifest.json", json.dumps(entries).encode())
    out.close()


def multi_platform(layout, name, path, tags):
    out = Writer(path)
    manifests = []
    for tag in tags:
        desc, manifest = manifest_for_tag(layout, tag)
        write_image_blobs(out, layout, desc, manifest)
        config = json.loads(read_layout_blob(layout, manifest["config"]["digest"]))
        manifests.append({"mediaType": OCI_MANIFEST, "digest": desc["digest"],
                          "size": desc["size"],
                          "platform": {"os": config["os"], "architecture": config["architecture"]}})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": manifests}).encode()
    out.add(blob_path(sha256(index)), index, 0o444)
    top = {"mediaType": OCI_INDEX, "digest": sha256(index), "size": len(index),
           "annotations": {"org.opencontainers.image.ref.name": name}}
    out.add("oci-layout", LAYOUT)
    out.add("index.json", json.dumps({"schemaVersion": 2, "manifests": [top]}).encode())
    out.close()


# ---- broken copies ----

def load(path):
    with tarfile.open(path) as src:
        members = []
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            members.append((m, data))
    return members


def find(members, name):
    for i, (m, _) in enumerate(members):
        if m.name == name:
            return i
    sys.exit(f"archive_tool: no member {name}")


def docker_manifest(members):
    return json.loads(members[find(members, "manifest.json")][1])


def resolve(members, name):
    """Follows symlinks between members (skopeo links <id>/layer.tar to <diffid>.tar)."""
    m, _ = members[find(members, name)]
    if m.issym():
        return resolve(members, os.path.normpath(os.path.join(os.path.dirname(name), m.linkname)))
    return name


def replace(members, name, data):
    i = find(members, name)
    members[i][0].size = len(data)
    members[i] = (members[i][0], data)


def drop(members, name):
    del members[find(members, name)]


def bad_diffid(members):
    entry = docker_manifest(members)[0]
    config = json.loads(members[find(members, entry["Config"])][1])
    config["rootfs"]["diff_ids"][-1] = "sha256:" + "0" * 64
    replace(members, entry["Config"], json.dumps(config).encode())


def bad_blob_digest(members):
    """Flips the gzip header's mtime of the last layer: still the same tar inside."""
    index = json.loads(members[find(members, "index.json")][1])
    manifest = json.loads(members[find(members, blob_path(index["manifests"][0]["digest"]))][1])
    name = blob_path(manifest["layers"][-1]["digest"])
    data = bytearray(members[find(members, name)][1])
    assert data[:2] == b"\x1f\x8b", "bad-blob-digest needs a gzip layer"
    data[4] ^= 0x5A
    replace(members, name, bytes(data))


BAD_KINDS = {
    "no-manifest": lambda m: drop(m, "manifest.json"),
    "null-manifest": lambda m: replace(m, "manifest.json", b"null"),
    "empty-manifest": lambda m: replace(m, "manifest.json", b"[]"),
    "missing-layer": lambda m: drop(m, resolve(m, docker_manifest(m)[0]["Layers"][-1])),
    "missing-config": lambda m: drop(m, docker_manifest(m)[0]["Config"]),
    "diffid-mismatch": bad_diffid,
    "blob-digest-mismatch": bad_blob_digest,
}


def bad(kind, src, path):
    if kind == "truncated":
        with open(src, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        return
    if kind == "not-tar":
        with open(path, "wb") as f:
            f.write(b"this is not an image archive\n" * 100)
        return
    members = load(src)
    BAD_KINDS[kind](members)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as out:
        for m, data in members:
            out.addfile(m, io.BytesIO(data) if data is not None else None)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "docker25" and len(args) == 4:
        docker25(*args)
    elif cmd == "merge-docker" and len(args) >= 2:
        merge_docker(args[0], args[1:])
    elif cmd == "multi-platform" and len(args) >= 4:
        multi_platform(args[0], args[1], args[2], args[3:])
    elif cmd == "bad" and len(args) == 3:
        bad(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
