#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of a registry, for tests. Stdlib only.

  fault_proxy.py --upstream 127.0.0.1:PORT --port-file F --log L --rules JSON

Rules are a JSON list, tried in order for each request; a rule applies to
requests whose path contains "path" (and whose method is "method", default
GET; POST requests need a "status" rule: bodies are not forwarded), at most
"times" times (default: always). Actions:
  {"action": "status", "status": 500, "headers": {"Retry-After": "1"}}
      answers that status instead of forwarding
  {"action": "cut", "after": N}      forwards, but closes the connection after N body bytes
  {"action": "stall", "after": N, "seconds": S}
                                      forwards N body bytes, then sends nothing for S seconds
  {"action": "corrupt", "offset": N} forwards with the body byte at N flipped
  {"action": "no_range"}             drops the Range header (the upstream answers 200)
  {"action": "trickle", "seconds": S} forwards the body one byte every S seconds
  {"action": "redirect", "location": URL}
                                      answers 302 to URL; "{same}" in it stands for
                                      this proxy's URL of the request plus "x" (a loop)
Each request is logged as a JSON line: method, path, range, whether it carried
Authorization (and an X-Injected header), and the action taken. Exits by itself
after --lifetime seconds.
"""
import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def pick_rule(self):
        state = self.server.state
        with state.lock:
            for rule in state.rules:
                if rule.get("method", "GET") != self.command:
                    continue
                if rule.get("path", "") not in self.path:
                    continue
                if rule.get("times") is not None and rule["used"] >= rule["times"]:
                    continue
                rule["used"] += 1
                return rule
        return None

    def record(self, action):
        state = self.server.state
        entry = {"method": self.command, "path": self.path,
                 "range": self.headers.get("Range", ""),
                 "authorization": "Authorization" in self.headers, "action": action,
                 "injected": "X-Injected" in self.headers}
        with state.lock, open(state.log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def do_GET(self):
        self.handle_any()

    def do_HEAD(self):
        self.handle_any()

    def do_POST(self):  # answered by a "status" rule only (e.g. a bad upload Location)
        self.handle_any()

    def handle_any(self):
        rule = self.pick_rule()
        action = rule["action"] if rule else "forward"
        self.record(action)
        if action == "redirect":
            same = "http://127.0.0.1:%d%sx" % (self.server.server_address[1], self.path)
            self.send_response(302)
            self.send_header("Location", rule["location"].replace("{same}", same))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if action == "status":
            body = b'{"errors":[{"code":"INJECTED","message":"injected fault"}]}'
            self.send_response(rule["status"])
            for k, v in rule.get("headers", {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if action == "no_range":
            headers.pop("Range", None)
        upstream = http.client.HTTPConnection(self.server.state.upstream, timeout=30)
        upstream.request(self.command, self.path, headers=headers)
        resp = upstream.getresponse()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        self.relay(resp, rule or {})
        upstream.close()

    def relay(self, resp, rule):
        action = rule.get("action", "forward")
        sent = 0
        while True:
            chunk = resp.read(65536)
            if not chunk:
                break
            if action == "trickle":
                for i in range(len(chunk)):
                    self.wfile.write(chunk[i:i + 1])
                    self.wfile.flush()
                    time.sleep(rule.get("seconds", 5))
                sent += len(chunk)
                continue
            if action == "corrupt" and sent <= rule["offset"] < sent + len(chunk):
                i = rule["offset"] - sent
                chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
            if action in ("cut", "stall") and sent + len(chunk) >= rule["after"]:
                self.wfile.write(chunk[:rule["after"] - sent])
                self.wfile.flush()
                if action == "stall":
                    time.sleep(rule.get("seconds", 30))
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(chunk)
            sent += len(chunk)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--rules", default="[]")
    p.add_argument("--log", required=True)
    p.add_argument("--lifetime", type=float, default=300)
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True

    class State:
        pass

    state = State()
    state.upstream = args.upstream
    state.rules = [dict(r, used=0) for r in json.loads(args.rules)]
    state.lock = threading.Lock()
    state.log = args.log
    server.state = state
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
