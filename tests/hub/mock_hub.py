#!/usr/bin/env python3
"""A small stand-in for the Hugging Face hub on 127.0.0.1, for tests: it speaks the parts of the
hub's HTTP interface that model downloads use, as huggingface_hub's client expects them.

  GET  /api/models/<org>/<name>/revision/<rev>   {"id", "sha", "siblings": [{"rfilename"}], ...}
  HEAD|GET /<org>/<name>/resolve/<rev>/<path>    small files: 200, ETag = the git blob sha1;
                                                 large (LFS) files: 302 to /cdn/<sha256>, with
                                                 X-Linked-Etag (the sha256) and X-Linked-Size;
                                                 X-Repo-Commit always
  GET  /cdn/<sha256>                             the bytes, with Range (206) support
  /<old-org>/<name>/...                          a renamed repository: 307 to the new path (relative)
Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) as the hub's do.

Repositories come from folders: --repo org/name=DIR[,gated][,renamed-from=org2/name]. Faults for
tests, set by POST /_control with a JSON object (and read back with GET /_log, the requests seen):
  {"cut": {"<sha256>": N}}        the first GET of that blob stops after N bytes (connection closed)
  {"corrupt": ["<sha256>", ...]}  those blobs are served with one byte changed (same size)
  {"delay": S}                    S seconds of sleep per 64 KiB sent from /cdn (overlapping pulls)
  {"reset_log": true}             {"clear": true} (no faults)

Usage: mock_hub.py --port 0 --repo org/name=DIR ... ; prints "listening on http://127.0.0.1:PORT".
"""
import argparse
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

TOKEN = "hf_mock_token"
LFS_MIN = 2048  # files this large or weights are served as LFS files


class Repo:
    def __init__(self, repo_id, folder, gated=False):
        self.id, self.gated = repo_id, gated
        self.files = {}
        for root, _, names in os.walk(folder):
            for n in names:
                p = os.path.join(root, n)
                rel = os.path.relpath(p, folder).replace(os.sep, "/")
                with open(p, "rb") as f:
                    self.files[rel] = f.read()
        h = hashlib.sha1()
        for rel in sorted(self.files):
            h.update(rel.encode() + b"\0" + self.files[rel])
        self.sha = h.hexdigest()

    def is_lfs(self, rel):
        return len(self.files[rel]) >= LFS_MIN or rel.endswith((".safetensors", ".bin", ".pt"))


class Hub:
    def __init__(self):
        self.repos, self.renamed, self.blobs = {}, {}, {}
        self.lock = threading.Lock()
        self.log, self.cut, self.corrupt, self.delay = [], {}, set(), 0.0

    def add(self, repo):
        self.repos[repo.id] = repo
        for rel, data in repo.files.items():
            self.blobs[hashlib.sha256(data).hexdigest()] = data


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub = None

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body=b"", headers=None, head=False):
        self.send_response(code)
        headers = dict(headers or {})
        headers.setdefault("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def error(self, code, err_code, msg, head=False):
        body = json.dumps({"error": msg}).encode()
        self.send(code, body, {"X-Error-Code": err_code, "X-Error-Message": msg,
                               "Content-Type": "application/json"}, head)

    def record(self):
        with self.hub.lock:
            self.hub.log.append([self.command, self.path, self.headers.get("Range"),
                                 self.headers.get("Authorization")])

    def do_POST(self):
        self.record()
        n = int(self.headers.get("Content-Length") or 0)
        req = json.loads(self.rfile.read(n) or b"{}")
        with self.hub.lock:
            if req.get("reset_log"):
                self.hub.log = []
            if req.get("clear"):
                self.hub.cut, self.hub.corrupt, self.hub.delay = {}, set(), 0.0
            self.hub.cut.update(req.get("cut", {}))
            self.hub.corrupt.update(req.get("corrupt", []))
            if "delay" in req:
                self.hub.delay = float(req["delay"])
        self.send(200, b"{}")

    def do_HEAD(self):
        self.route(head=True)

    def do_GET(self):
        self.route(head=False)

    def route(self, head):
        self.record()
        path = urlparse(self.path).path
        if path == "/_log":
            with self.hub.lock:
                return self.send(200, json.dumps(self.hub.log).encode())
        if path.startswith("/cdn/"):
            return self.cdn(path[5:], head)
        parts = [unquote(p) for p in path.split("/")[1:]]
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
            repo_id = parts[2] + "/" + parts[3]
            if repo_id in self.hub.renamed:
                rest = "/".join(path.split("/")[5:])
                return self.send(307, b"", {"Location": f"/api/models/{self.hub.renamed[repo_id]}/{rest}"}, head)
            return self.api(repo_id, "/".join(parts[5:]), head)
        if len(parts) >= 5 and parts[2] == "resolve":
            repo_id = parts[0] + "/" + parts[1]
            if repo_id in self.hub.renamed:
                new = self.hub.renamed[repo_id]
                rest = "/".join(p for p in path.split("/")[3:])
                return self.send(307, b"", {"Location": f"/{new}/{rest}"}, head)
            return self.resolve(repo_id, parts[3], "/".join(parts[4:]), head)
        return self.error(404, "EntryNotFound", f"no route {path}", head)

    def find(self, repo_id, rev, head):
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self.error(404, "RepoNotFound", f"Repository {repo_id} not found", head)
            return None
        if rev not in ("main", repo.sha):
            self.error(404, "RevisionNotFound", f"Revision {rev} not found", head)
            return None
        return repo

    def authorised(self):
        return self.headers.get("Authorization") == f"Bearer {TOKEN}"

    def api(self, repo_id, rev, head):
        repo = self.find(repo_id, rev, head)
        if repo is None:
            return
        body = json.dumps({"id": repo.id, "modelId": repo.id, "sha": repo.sha, "private": False,
                           "gated": "manual" if repo.gated else False,
                           "siblings": [{"rfilename": r} for r in sorted(repo.files)]}).encode()
        self.send(200, body, {"Content-Type": "application/json"}, head)

    def resolve(self, repo_id, rev, rel, head):
        repo = self.find(repo_id, rev, head)
        if repo is None:
            return
        if repo.gated and not self.authorised():
            code = 403 if self.headers.get("Authorization") else 401
            return self.error(code, "GatedRepo", f"Access to model {repo_id} is restricted", head)
        if rel not in repo.files:
            return self.error(404, "EntryNotFound", f"{rel} does not exist in {repo_id}", head)
        data = repo.files[rel]
        common = {"X-Repo-Commit": repo.sha}
        if repo.is_lfs(rel):
            digest = hashlib.sha256(data).hexdigest()
            # another host name, as the hub's CDN is: clients keep the token to the hub's host
            common.update({"Location": f"http://localhost:{self.server.server_address[1]}/cdn/{digest}", "X-Linked-Etag": f'"{digest}"',
                           "X-Linked-Size": str(len(data)), "ETag": f'"{digest}"'})
            return self.send(302, b"", common, head)
        oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        common.update({"ETag": f'"{oid}"', "Content-Type": "application/octet-stream"})
        self.send(200, data, common, head)

    def cdn(self, digest, head):
        data = self.hub.blobs.get(digest)
        if data is None:
            return self.error(404, "EntryNotFound", "no such blob", head)
        with self.hub.lock:
            if digest in self.hub.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            cut = self.hub.cut.pop(digest, None)
            delay = self.hub.delay
        start, end, code = 0, len(data), 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start = int(a)
            end = int(b) + 1 if b else len(data)
            if start >= len(data):
                return self.send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
            code = 206
        hdrs = {"Content-Length": str(end - start), "Accept-Ranges": "bytes", "ETag": f'"{digest}"'}
        if code == 206:
            hdrs["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        self.send_response(code)
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        body = data[start:end]
        if cut is not None and code == 200:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        for i in range(0, len(body), 65536):
            self.wfile.write(body[i:i + 65536])
            if delay:
                time.sleep(delay)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--repo", action="append", default=[],
                    help="org/name=DIR[,gated][,renamed-from=org2/name]")
    a = ap.parse_args()
    hub = Hub()
    for spec in a.repo:
        name, _, rest = spec.partition("=")
        folder, *flags = rest.split(",")
        repo = Repo(name, folder, gated="gated" in flags)
        hub.add(repo)
        for fl in flags:
            if fl.startswith("renamed-from="):
                hub.renamed[fl.split("=", 1)[1]] = name
    Handler.hub = hub
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print(f"listening on http://127.0.0.1:{srv.server_address[1]}", flush=True)
    for r in hub.repos.values():
        print(f"repo {r.id} sha {r.sha} files {len(r.files)}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
