#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<corpus>/ from
the inputs the tests use (stdlib only, plus a vmimage binary for EROFS seeds).
Run once when the inputs change; the seeds are committed, small.

  make_seeds.py VMIMAGE OUT_DIR

Corpora: layer (layer_erofs_fuzz, layer_ext4_fuzz), erofs, oci, archive, text.
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, "..", "tests", "tools")
MAX_SEED = 64 * 1024


def put(out, corpus, data):
    d = os.path.join(out, corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def trim_tar(data):
    """The archive up to its end-of-archive marker: the rest is record padding."""
    pos = 0
    while pos + 1024 <= len(data):
        if data[pos:pos + 1024] == bytes(1024):
            return data[:pos + 1024]
        pos += 512
    return data


def layer_seeds(work):
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_layers.py"), "all", work + "/ml"],
                   check=True, stdout=subprocess.DEVNULL)
    hostile = os.path.join(TOOLS, "hostile", "make_hostile.py")
    for args in (["deep", "deep.tar", "60"], ["device", "dev.tar", "4095", "1048575"],
                 ["device", "dev-big.tar", "4096", "0"], ["xattr", "xattr.tar", "user.x"],
                 ["xattr", "xattr-ns.tar", "vendor.x"], ["symlink", "link.tar", "4095"],
                 ["whiteout", "wh.tar", "255"], ["pax-hardlink", "ph.tar"],
                 ["files", "files.tar", "30"]):
        args[1] = os.path.join(work, args[1])
        subprocess.run([sys.executable, hostile] + args, check=True)
    seeds = []
    for root, _, files in os.walk(work):
        for name in sorted(files):
            if ".tar" not in name:
                continue
            data = open(os.path.join(root, name), "rb").read()
            if name.endswith(".gz"):
                continue
            data = trim_tar(data)
            if len(data) <= MAX_SEED:
                seeds.append((name, data))
    return seeds


def erofs_seeds(vmimage, work, layers):
    out = []
    for name, data in layers:
        if name.startswith(("bad", "liar", "escape", "truncated", "hardlink-missing", "ph",
                            "dev-big", "xattr-ns")):
            continue
        tar = os.path.join(work, "seed.tar")
        with open(tar, "wb") as f:
            f.write(data)
        for block in ("4096", "1024"):
            img = os.path.join(work, "seed.erofs")
            r = subprocess.run([vmimage, "-q", "mkfs", "--block-size", block, "--mtime", "0", tar, img],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode == 0 and os.path.getsize(img) <= MAX_SEED:
                out.append(open(img, "rb").read())
    return out


def oci_documents():
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": "sha256:" + "a" * 64, "size": 123}
    config = {"mediaType": "application/vnd.oci.image.config.v1+json",
              "digest": "sha256:" + "b" * 64, "size": 45}
    docs = [
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": config, "layers": [layer, dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+zstd")],
         "annotations": {"org.opencontainers.image.ref.name": "v1"}},
        {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "config": dict(config, mediaType="application/vnd.docker.container.image.v1+json"),
         "layers": [dict(layer, mediaType="application/vnd.docker.image.rootfs.diff.tar.gzip")]},
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": "sha256:" + "c" * 64, "size": 500,
                        "platform": {"architecture": "amd64", "os": "linux"}},
                       {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": "sha256:" + "d" * 64, "size": 501,
                        "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}]},
        {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
         "config": {"User": "1000:1000", "WorkingDir": "/srv", "Entrypoint": ["/bin/app"],
                    "Cmd": ["-v"], "Env": ["PATH=/usr/bin", "A=\u00e9"],
                    "Labels": {"k": "v"}, "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGTERM"},
         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "e" * 64]},
         "history": [{"created_by": "x"}]},
        {"schemaVersion": 1, "name": "x", "fsLayers": []},
    ]
    return [json.dumps(d).encode() for d in docs] + [b"[" * 100 + b"]" * 100, b"{}", b"null"]


def tar_of(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 0
            tar.addfile(ti, io.BytesIO(data))
    return trim_tar(buf.getvalue())


def archive_seeds():
    layer = tar_of([("etc/motd", b"hi\n")])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    layer_gz = gzip.compress(layer, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_id = hashlib.sha256(config).hexdigest()
    docker = tar_of([
        (config_id + ".json", config),
        ("l1/layer.tar", layer),
        ("manifest.json", json.dumps([{"Config": config_id + ".json", "RepoTags": ["app:v1"],
                                       "Layers": ["l1/layer.tar"]}]).encode()),
    ])
    layer_digest = "sha256:" + hashlib.sha256(layer_gz).hexdigest()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + config_id, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": len(layer_gz)}]}).encode()
    manifest_digest = hashlib.sha256(manifest).hexdigest()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": "sha256:" + manifest_digest, "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}).encode()
    oci = tar_of([
        ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        ("index.json", index),
        ("blobs/sha256/" + manifest_digest, manifest),
        ("blobs/sha256/" + config_id, config),
        ("blobs/sha256/" + layer_digest[7:], layer_gz),
    ])
    return [docker, oci]


def text_seeds():
    items = {
        0: ["alpine", "alpine:3.20", "docker.io/library/alpine:latest", "localhost:5000/a/b:v1",
            "[::1]:5000/x@sha256:" + "a" * 64, "Upper/x", "host:99999/a"],
        1: ["linux/amd64", "linux/arm64/v8", "64K", "10G", "1T"],
        2: ["max-layers=100,stall-timeout=5s", "min-rate=2K", "max-path-bytes=1M"],
        3: ['Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"',
            'Basic realm="x", Bearer realm="y"'],
        4: ['{"token":"abc.def","expires_in":300}', '{"access_token":"a=="}',
            '{"token":"abc\\r\\nX: y"}'],
        5: ["120", "Sun, 06 Nov 1994 08:49:37 GMT"],
        6: ['{"errors":[{"code":"UNAUTHORIZED","message":"x"}]}', "caf\xc3\xa9 \xff"],
    }
    out = []
    for selector, texts in items.items():
        for t in texts:
            data = t.encode("latin-1") if selector == 6 else t.encode()
            out.append(bytes([selector]) + data)
    return out


def main():
    vmimage, out = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as work:
        layers = layer_seeds(work)
        for _, data in layers:
            put(out, "layer", data)
        for data in erofs_seeds(vmimage, work, layers):
            put(out, "erofs", data)
    for data in oci_documents():
        put(out, "oci", data)
    for data in archive_seeds():
        put(out, "archive", data)
    for data in text_seeds():
        put(out, "text", data)


if __name__ == "__main__":
    main()
