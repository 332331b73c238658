#!/usr/bin/env python3
"""A proxy that gives a registry without the OCI 1.1 referrers API (Debian's
docker-registry, Distribution 2.8) that API, for tests. Stdlib only.

  referrers_proxy.py --upstream 127.0.0.1:PORT --port-file F [--log L] [--lifetime S]
      [--fail-uploads-after N] [--upload-barrier N [--barrier-seconds S]]
      [--drop-patch K] [--cut-patch K:BYTES]
      [--slow-bodies-over N] [--refuse-bodies-under N]

Every request is forwarded to the upstream registry as it is (method, headers
with the client's Host, body), so blobs and manifests still come from the real
registry. A manifest PUT that the upstream accepts (201) and that names a
subject is recorded, and the answer carries OCI-Subject, as distribution spec
1.1 asks of registries that process subjects. GET /v2/<name>/referrers/<digest>
answers the image index of the recorded manifests of <name> with that subject
(descriptors with artifactType and the manifest's annotations), filtered by
?artifactType= (with OCI-Filters-Applied). The log has one JSON line per
request: method, path and Content-Range. With --fail-uploads-after N, every
blob upload PUT after the first N answers 503 (a push interrupted part way).
With --upload-barrier N, the first N requests that carry blob bytes (PATCH, or
PUT with a body) wait until N of them are in flight at once, or S seconds
(default 5); the log says "barrier": "met" or "timeout" (uploads in parallel,
or one after the other). --drop-patch K: the K-th PATCH is read but never
forwarded, and its connection closed unanswered (a chunk lost on the way).
--cut-patch K:BYTES: the K-th PATCH is forwarded with its Content-Length but
only BYTES of its body, then both connections are closed (a chunk cut short).
--slow-bodies-over N: request bodies longer than N bytes are read at 256 KiB/s,
and not forwarded when the client has hung up meanwhile (logged "gone").
--refuse-bodies-under N: a blob upload (PATCH or PUT) whose body has 1 to N-1
bytes is answered 400 without being forwarded.
"""
import argparse
import http.client
import json
import re
import select
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
REFERRERS = re.compile(r"^/v2/(.+)/referrers/(sha256:[0-9a-f]{64})$")
MANIFEST = re.compile(r"^/v2/(.+)/manifests/([^/]+)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        slow = self.server.state.slow_over
        if slow is not None and length > slow:
            out = b""
            while len(out) < length:
                piece = self.rfile.read(min(65536, length - len(out)))
                if not piece:
                    break
                out += piece
                time.sleep(0.25)
            return out
        return self.rfile.read(length) if length else b""

    def log_request_line(self, **extra):
        state = self.server.state
        if state.log:
            entry = {"method": self.command, "path": self.path,
                     "content_range": self.headers.get("Content-Range", "")}
            entry.update(extra)
            with state.lock, open(state.log, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def wait_for_parallel_uploads(self):
        state = self.server.state
        with state.lock:
            if state.barrier_left <= 0:
                return
            state.barrier_left -= 1
        try:
            state.barrier.wait(timeout=state.barrier_seconds)
            self.log_request_line(barrier="met")
        except threading.BrokenBarrierError:
            self.log_request_line(barrier="timeout")

    def client_gone(self):
        # The whole body was read: anything readable now is the client's end.
        readable, _, _ = select.select([self.connection], [], [], 0)
        try:
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def patch_fault(self):
        state = self.server.state
        with state.lock:
            state.patches += 1
            n = state.patches
        if n == state.drop_patch:
            return "drop"
        if state.cut_patch and n == state.cut_patch[0]:
            return "cut"
        return None

    def forward_cut(self, body, keep):
        conn = http.client.HTTPConnection(self.server.state.upstream, timeout=120)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        conn.send(body[:keep])
        time.sleep(0.2)
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()

    def handle_any(self):
        self.log_request_line()
        url = urllib.parse.urlsplit(self.path)
        m = REFERRERS.match(url.path)
        if self.command == "GET" and m:
            return self.referrers(m.group(1), m.group(2), urllib.parse.parse_qs(url.query))
        body = self.read_body()
        state = self.server.state
        if state.slow_over is not None and len(body) > state.slow_over and self.client_gone():
            self.log_request_line(gone=True)
            self.close_connection = True
            return
        carries_bytes = "/blobs/uploads/" in url.path and (
            self.command == "PATCH" or (self.command == "PUT" and body))
        refuse = state.refuse_under
        if carries_bytes and refuse is not None and 0 < len(body) < refuse:
            self.log_request_line(refused=True)
            self.send_response(400)
            data = b'{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"refused by the test"}]}'
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if carries_bytes:
            self.wait_for_parallel_uploads()
        fault = self.patch_fault() if self.command == "PATCH" else None
        if fault:
            self.log_request_line(fault=fault)
            if fault == "cut":
                self.forward_cut(body, state.cut_patch[1])
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.command == "PUT" and "/blobs/uploads/" in url.path and state.fail_after is not None:
            with state.lock:
                state.uploads += 1
                fail = state.uploads > state.fail_after
            if fail:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        conn = http.client.HTTPConnection(self.server.state.upstream, timeout=120)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"}
        if body or self.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        extra = {}
        m = MANIFEST.match(url.path)
        if self.command == "PUT" and m and resp.status == 201:
            subject = self.record(m.group(1), body)
            if subject:
                extra["OCI-Subject"] = subject
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    def record(self, name, body):
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        subject = doc.get("subject") if isinstance(doc, dict) else None
        if not isinstance(subject, dict) or "digest" not in subject:
            return None
        import hashlib
        descriptor = {"mediaType": doc.get("mediaType", "application/vnd.oci.image.manifest.v1+json"),
                      "digest": "sha256:" + hashlib.sha256(body).hexdigest(), "size": len(body),
                      "artifactType": doc.get("artifactType") or doc.get("config", {}).get("mediaType")}
        if doc.get("annotations"):
            descriptor["annotations"] = doc["annotations"]
        state = self.server.state
        with state.lock:
            entries = state.referrers.setdefault((name, subject["digest"]), [])
            if all(e["digest"] != descriptor["digest"] for e in entries):
                entries.append(descriptor)
        return subject["digest"]

    def referrers(self, name, digest, query):
        state = self.server.state
        with state.lock:
            entries = list(state.referrers.get((name, digest), []))
        headers = {"Content-Type": "application/vnd.oci.image.index.v1+json"}
        wanted = query.get("artifactType")
        if wanted:
            entries = [e for e in entries if e.get("artifactType") in wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        data = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": entries}).encode()
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any


class State:
    def __init__(self, upstream, log, fail_after, args):
        self.upstream = upstream
        self.log = log
        self.fail_after = fail_after
        self.uploads = 0
        self.barrier_left = args.upload_barrier
        self.barrier = threading.Barrier(max(args.upload_barrier, 1))
        self.barrier_seconds = args.barrier_seconds
        self.patches = 0
        self.drop_patch = args.drop_patch
        self.cut_patch = tuple(int(x) for x in args.cut_patch.split(":")) if args.cut_patch else None
        self.slow_over = args.slow_bodies_over
        self.refuse_under = args.refuse_bodies_under
        self.lock = threading.Lock()
        self.referrers = {}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", default="")
    p.add_argument("--lifetime", type=float, default=600)
    p.add_argument("--fail-uploads-after", type=int, default=None)
    p.add_argument("--upload-barrier", type=int, default=0)
    p.add_argument("--barrier-seconds", type=float, default=5)
    p.add_argument("--drop-patch", type=int, default=0)
    p.add_argument("--cut-patch", default="")
    p.add_argument("--slow-bodies-over", type=int, default=None)
    p.add_argument("--refuse-bodies-under", type=int, default=None)
    a = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(a.upstream, a.log, a.fail_uploads_after, a)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    time.sleep(a.lifetime)


if __name__ == "__main__":
    main()
