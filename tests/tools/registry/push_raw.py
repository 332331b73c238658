#!/usr/bin/env python3
"""Pushes hand-made documents to a registry over plain HTTP (distribution spec
"Pushing blobs" monolithic upload, "Pushing manifests"), for images no tool
would write: a manifest naming one layer 10,000 times, say. Stdlib only.

  push_raw.py HOST:PORT NAME TAG --layer FILE --layers N
      an image whose manifest lists the blob FILE N times (its config lists the
      DiffID of FILE, gzip-decompressed, N times); prints the manifest digest
"""
import argparse
import gzip
import hashlib
import http.client
import json
import sys


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(conn, name, data):
    conn.request("POST", "/v2/%s/blobs/uploads/" % name)
    resp = conn.getresponse()
    resp.read()
    if resp.status != 202:
        sys.exit("upload start: %d" % resp.status)
    location = resp.getheader("Location")
    sep = "&" if "?" in location else "?"
    conn.request("PUT", location + sep + "digest=" + digest(data), body=data,
                 headers={"Content-Type": "application/octet-stream"})
    resp = conn.getresponse()
    resp.read()
    if resp.status != 201:
        sys.exit("upload: %d" % resp.status)
    return digest(data)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("name")
    p.add_argument("tag")
    p.add_argument("--layer", required=True)
    p.add_argument("--layers", type=int, required=True)
    args = p.parse_args()
    blob = open(args.layer, "rb").read()
    diff_id = digest(gzip.decompress(blob))
    conn = http.client.HTTPConnection(args.host, timeout=60)
    layer = push_blob(conn, args.name, blob)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id] * args.layers},
                         "config": {}}).encode()
    config_digest = push_blob(conn, args.name, config)
    desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer,
            "size": len(blob)}
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [desc] * args.layers}).encode()
    conn.request("PUT", "/v2/%s/manifests/%s" % (args.name, args.tag), body=manifest,
                 headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 201:
        sys.exit("manifest: %d %s" % (resp.status, body[:200]))
    print(digest(manifest))


if __name__ == "__main__":
    main()
