#!/usr/bin/env python3
"""A token service for docker-registry's `auth: token` (distribution
spec/auth/token.md, jwt.md, oauth.md), for tests. Stdlib only; JWTs are signed
RS256 by the openssl tool with --key, and carry --cert in their x5c header
(the registry trusts it through rootcertbundle).

  GET  /token?service=S&scope=repository:NAME:pull[&account=U]  (Basic auth optional)
  POST /token  grant_type=refresh_token&refresh_token=T&service=S&scope=...

Users (--user NAME:PASSWORD) get pull on any repository; anonymous clients only
on --public repositories (others get a token without access, as Docker Hub
does). --refresh-token TOKEN:NAME accepts an OAuth2 refresh token for NAME.
--expired-first N signs the first N tokens already expired (beyond the
registry's 60 s leeway) while announcing expires_in: the client must notice the
401 and fetch another. Each request is logged as one JSON line to --log
(never the secrets). Exits by itself after --lifetime seconds.
"""
import argparse
import base64
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.issued = 0
        with open(args.cert) as f:
            pem = f.read()
        body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
        self.x5c = "".join(body.split())
        self.users = dict(u.split(":", 1) for u in args.user)
        self.refresh = dict(t.split(":", 1) for t in args.refresh_token)

    def sign(self, subject, access, expired):
        now = int(time.time())
        exp = now - 3600 if expired else now + 600
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": self.args.issuer, "sub": subject, "aud": self.args.service,
                  "exp": exp, "nbf": now - 10 if not expired else exp - 600,
                  "iat": now, "jti": "%d-%d" % (now, self.issued), "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.args.key],
                             input=signing_input.encode(), stdout=subprocess.PIPE,
                             check=True).stdout
        return signing_input + "." + b64url(sig)


def grants(state, user, scopes):
    access = []
    for scope in scopes:
        parts = scope.split(":")
        if len(parts) < 3 or parts[0] != "repository":
            continue
        name = ":".join(parts[1:-1])
        if user is not None or name in state.args.public:
            access.append({"type": "repository", "name": name, "actions": ["pull"]})
    return access


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def record(self, entry):
        with self.server.state.lock, open(self.server.state.args.log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def basic_user(self):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None, "none"
        try:
            user, password = base64.b64decode(header[6:]).decode().split(":", 1)
        except Exception:
            return None, "bad"
        if self.server.state.users.get(user) == password:
            return user, "basic:" + user
        return None, "rejected:" + user

    def issue(self, user, scopes, entry):
        state = self.server.state
        with state.lock:
            state.issued += 1
            expired = state.issued <= state.args.expired_first
        access = grants(state, user, scopes)
        token = state.sign(user or "", access, expired)
        if state.args.inject_header:
            token = "abc\r\nX-Injected: yes"
        entry.update({"granted": [a["name"] for a in access], "expired": expired})
        self.record(entry)
        self.reply(200, {"token": token, "access_token": token,
                         "expires_in": state.args.expires_in,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        user, auth = self.basic_user()
        entry = {"method": "GET", "path": url.path, "auth": auth,
                 "service": query.get("service", [""])[0], "scope": query.get("scope", []),
                 "account": query.get("account", [""])[0]}
        if url.path != "/token" or entry["service"] != self.server.state.args.service:
            self.record(dict(entry, error="bad request"))
            return self.reply(400, {"errors": [{"code": "BAD_REQUEST"}]})
        if auth.startswith("rejected") or auth == "bad":
            self.record(dict(entry, error="unauthorized"))
            return self.reply(401, {"errors": [{"code": "UNAUTHORIZED"}]})
        self.issue(user, entry["scope"], entry)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        refresh = form.get("refresh_token", [""])[0]
        entry = {"method": "POST", "path": urlparse(self.path).path,
                 "grant_type": form.get("grant_type", [""])[0],
                 "service": form.get("service", [""])[0], "scope": form.get("scope", []),
                 "client_id": form.get("client_id", [""])[0]}
        user = self.server.state.refresh.get(refresh)
        if entry["grant_type"] != "refresh_token" or user is None:
            self.record(dict(entry, error="unauthorized"))
            return self.reply(401, {"error": "invalid_grant"})
        entry["auth"] = "refresh:" + user
        self.issue(user, entry["scope"], entry)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--issuer", default="vmimage-test-issuer")
    p.add_argument("--service", default="vmimage-test-registry")
    p.add_argument("--user", action="append", default=[])
    p.add_argument("--public", action="append", default=[])
    p.add_argument("--refresh-token", action="append", default=[])
    p.add_argument("--expired-first", type=int, default=0)
    p.add_argument("--expires-in", type=int, default=300)
    p.add_argument("--inject-header", action="store_true",
                   help="answer with a token holding CR LF and an X-Injected header")
    p.add_argument("--log", required=True)
    p.add_argument("--lifetime", type=float, default=300)
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(args)
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
