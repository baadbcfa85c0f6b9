"""Shared helpers for the `sutra serve` tests (test_server.py, load_test.py).

Starts the real server binary on 127.0.0.1 with `--port 0`, reads the port from the
"listening on http://HOST:PORT" line on stderr (stderr and stdout are drained by threads, so the
pipes never fill; the lines are kept in Server.log), stops it with SIGTERM and checks that it
exits 0 and that no sanitizer report (ASan, LSan, UBSan) was printed. Also: raw HTTP through
http.client and through plain sockets (for bodies that http.client will not send), a Prometheus
text parser, the OpenAI error-shape check, and the reference ("library") outputs through the CLI
(`sutra embed --input F.jsonl --output F.npy`, `sutra tokenize`).

Only the standard library and numpy are used here.
"""

import base64
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LISTEN_RE = re.compile(r"listening on http://(\S+?):(\d+)")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer")


def default_sutra():
    """The CLI binary: $SUTRA_BIN, else build/sutra in the repository."""
    return os.environ.get("SUTRA_BIN") or os.path.join(REPO, "build", "sutra")


def venv_python():
    venv = os.environ.get("SUTRA_VENV") or os.path.expanduser("~/.cache/sutra/venv")
    return os.path.join(venv, "bin", "python")


def ensure_modules(modules, script):
    """Imports `modules`; when one is missing, re-runs `script` with the test venv's Python
    (scripts/install-pydeps.sh makes it), else exits 77 (skip) saying what is missing."""
    missing = []
    for m in modules:
        try:
            __import__(m)
        except ImportError:
            missing.append(m)
    if not missing:
        return
    py = venv_python()
    # (a venv's python is a symlink to the base interpreter: compare the paths, not their targets)
    if os.path.exists(py) and os.path.abspath(sys.executable) != os.path.abspath(py) \
            and not os.environ.get("SUTRA_TEST_REEXEC"):
        os.environ["SUTRA_TEST_REEXEC"] = "1"
        os.execv(py, [py, script] + sys.argv[1:])
    where = f"the venv {py}" if os.path.exists(py) else f"{sys.executable} (no venv at {py})"
    print(f"SKIP: Python module(s) {', '.join(missing)} missing from {where}; "
          f"run scripts/install-pydeps.sh", flush=True)
    sys.exit(77)


class ServerError(AssertionError):
    pass


class Server:
    """One `sutra serve` process on 127.0.0.1:<free port>.

    Server(sutra, args).start(); server.port; server.log (stderr lines); server.stop().
    As a context manager it starts on enter; on exit it stops (checking the exit status and
    sanitizer reports) unless an exception is already on its way, then it only kills."""

    def __init__(self, sutra=None, args=(), name="server", env=None, start_timeout=120):
        self.sutra = sutra or default_sutra()
        self.args = list(args)
        self.name = name
        self.env = dict(os.environ)
        # Idle OpenMP threads that spin would steal the cores the HTTP threads and clients need.
        self.env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        if env:
            self.env.update(env)
        self.start_timeout = start_timeout
        self.proc = None
        self.host = None
        self.port = None
        self.banner = None
        self.returncode = None
        self._lines = []
        self._out = []
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self._threads = []

    # -- life cycle ---------------------------------------------------------------------------
    def start(self):
        cmd = [self.sutra, "serve", "--host", "127.0.0.1", "--port", "0"] + self.args
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=self.env)
        for stream, sink, watch in ((self.proc.stderr, self._lines, True),
                                    (self.proc.stdout, self._out, False)):
            t = threading.Thread(target=self._drain, args=(stream, sink, watch), daemon=True)
            t.start()
            self._threads.append(t)
        deadline = time.monotonic() + self.start_timeout
        while not self._listening.wait(0.05):
            if self.proc.poll() is not None:
                self._join_readers(5)
                raise ServerError(f"{self.name}: `{' '.join(cmd)}` exited with status "
                                  f"{self.proc.returncode} before listening:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise ServerError(f"{self.name}: no 'listening on http://HOST:PORT' line within "
                                  f"{self.start_timeout} s:\n{self.log_tail()}")
        return self

    def _drain(self, stream, sink, watch):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._lock:
                sink.append(line)
            if watch and not self._listening.is_set():
                m = LISTEN_RE.search(line)
                if m:
                    self.host, self.port, self.banner = m.group(1), int(m.group(2)), line
                    self._listening.set()
        stream.close()

    def _join_readers(self, timeout):
        for t in self._threads:
            t.join(timeout)

    def send_signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=60, expect_rc=0):
        """Waits for the process (already signalled) to exit; checks its status and sanitizers."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerError(f"{self.name}: still running {timeout} s after the signal; killed:\n"
                              f"{self.log_tail()}")
        self.returncode = rc
        self._join_readers(10)
        self.check_sanitizers()
        if expect_rc is not None and rc != expect_rc:
            raise ServerError(f"{self.name}: exit status {rc}, expected {expect_rc}:\n{self.log_tail()}")
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=60, expect_rc=0):
        if self.proc is None or self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.send_signal(sig)
        return self.wait_exit(timeout, expect_rc)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc is not None:
            self.returncode = self.proc.returncode
            self._join_readers(5)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            self.kill()
        return False

    # -- log ----------------------------------------------------------------------------------
    @property
    def log(self):
        with self._lock:
            return list(self._lines)

    @property
    def stdout_lines(self):
        with self._lock:
            return list(self._out)

    def log_tail(self, n=40):
        lines = self.log
        return "\n".join("    | " + l for l in lines[-n:]) or "    | (no stderr output)"

    def sanitizer_report(self):
        lines = self.log
        for i, l in enumerate(lines):
            if any(m in l for m in SANITIZER_MARKERS):
                return "\n".join(lines[max(0, i - 2):i + 60])
        return None

    def check_sanitizers(self):
        rep = self.sanitizer_report()
        if rep:
            raise ServerError(f"{self.name}: SANITIZER REPORT on stderr:\n{rep}")

    def request_lines(self):
        """The per-request log lines: `<time> <client> <method> <path> <status> <n> inputs ...`."""
        pat = re.compile(r"^\S+ \S+ [A-Z]+ \S+ \d{3} \d+ inputs \d+ tokens [\d.]+ ms")
        return [l for l in self.log if pat.search(l)]

    def wait_request_lines(self, match, count, timeout=10.0):
        """How many request lines match, once count of them have been read or timeout seconds
        have passed. The server writes a request's line before its reply, but stderr is read by a
        thread of this process, which may lag on a busy machine."""
        deadline = time.monotonic() + timeout
        while True:
            n = sum(1 for l in self.request_lines() if match(l))
            if n >= count or time.monotonic() > deadline:
                return n
            time.sleep(0.05)

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"


# -- HTTP through http.client ----------------------------------------------------------------
class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        b = self.text()
        return f"<HTTP {self.status} {b[:300]!r}{'...' if len(b) > 300 else ''}>"


def to_bytes(body):
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def http_request(port, method, path, body=None, headers=None, timeout=60, conn=None):
    """One request; body may be bytes, str or a JSON-able object (then Content-Type defaults to
    application/json). With conn (an http.client.HTTPConnection) the connection is reused."""
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)) and \
            not any(k.lower() == "content-type" for k in hdrs):
        hdrs["Content-Type"] = "application/json"
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=to_bytes(body), headers=hdrs)
        r = c.getresponse()
        data = r.read()
        return Reply(r.status, r.getheaders(), data)
    finally:
        if own:
            c.close()


def post_json(port, path, obj, headers=None, timeout=60, conn=None):
    return http_request(port, "POST", path, obj, headers, timeout, conn)


# -- HTTP through raw sockets -----------------------------------------------------------------
class ConnectionClosed(Exception):
    pass


class RawConn:
    """A plain TCP connection, for requests http.client will not make (slow, chunked, oversized,
    malformed) and for reading exactly what the server answers."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        """Sends data; False when the server has closed or reset the connection."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            return False

    def readable(self, timeout):
        if self.buf:
            return True
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError):
            d = b""
        if not d:
            raise ConnectionClosed()
        self.buf += d

    def _read_until(self, sep, deadline):
        while sep not in self.buf:
            self._recv(deadline)
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_n(self, n, deadline):
        while len(self.buf) < n:
            self._recv(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, timeout=30, head=False):
        """Reads one response. Raises ConnectionClosed when the server closes before sending any
        of it, socket.timeout when nothing complete came within timeout."""
        deadline = time.monotonic() + timeout
        try:
            header = self._read_until(b"\r\n\r\n", deadline)
        except ConnectionClosed:
            if self.buf:
                raise ServerError(f"connection closed inside a response head: {self.buf[:200]!r}")
            raise
        lines = header.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ServerError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        headers = []
        for l in lines[1:]:
            if l:
                k, _, v = l.partition(":")
                headers.append((k.strip(), v.strip()))
        h = {k.lower(): v for k, v in headers}
        if head or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in h.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self._read_until(b"\r\n", deadline).split(b";")[0].strip(), 16)
                if size == 0:
                    self._read_until(b"\r\n", deadline)  # (no trailers expected)
                    break
                body += self._read_n(size, deadline)
                self._read_n(2, deadline)
        elif "content-length" in h:
            body = self._read_n(int(h["content-length"]), deadline)
        else:
            body = b""
            try:
                while True:
                    self._recv(deadline)
            except ConnectionClosed:
                body, self.buf = self.buf, b""
        return Reply(status, headers, body)

    def closed_by_peer(self, timeout):
        """True when the server closes the connection within timeout (data before the close is
        kept in buf)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._recv(deadline)
        except ConnectionClosed:
            return True
        except (socket.timeout, TimeoutError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_request_bytes(method, path, body=b"", headers=None, port=None):
    hdrs = {"Host": f"127.0.0.1:{port}" if port else "127.0.0.1"}
    hdrs.update(headers or {})
    if body is not None and not any(k.lower() in ("content-length", "transfer-encoding") for k in hdrs):
        hdrs["Content-Length"] = str(len(body))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    return head.encode("latin-1") + (body or b"")


# -- error shape ------------------------------------------------------------------------------
def error_problem(reply, status, codes=None):
    """None when reply is `status` with a JSON error body (the OpenAI shape, or TEI's on TEI
    routes) whose code is one of codes (a string or a list; None: any); else a sentence saying
    what is wrong."""
    statuses = status if isinstance(status, (list, tuple)) else [status]
    if reply.status not in statuses:
        return f"status {reply.status}, expected {status}; body {reply.text()[:200]!r}"
    if reply.status < 400:
        return None
    ctype = reply.headers.get("content-type", "")
    if not ctype.startswith("application/json"):
        return f"error reply Content-Type {ctype!r}, expected application/json"
    try:
        j = reply.json()
    except Exception as e:  # noqa: BLE001
        return f"error body is not JSON ({e}): {reply.body[:200]!r}"
    err = j.get("error") if isinstance(j, dict) else None
    if isinstance(err, str) and isinstance(j.get("error_type"), str):
        # text-embeddings-inference's shape, on its routes: {"error", "error_type", "code"}
        err = {"message": err, "type": j["error_type"], "param": None, "code": j.get("code")}
    if not isinstance(err, dict):
        return f"error body has no \"error\" object: {reply.text()[:200]!r}"
    for k in ("message", "type", "param", "code"):
        if k not in err:
            return f"error object lacks {k!r}: {err}"
    if not isinstance(err["message"], str) or not err["message"]:
        return f"error message empty or not a string: {err}"
    if not isinstance(err["type"], str) or not err["type"]:
        return f"error type empty or not a string: {err}"
    if err["param"] is not None and not isinstance(err["param"], str):
        return f"error param neither a string nor null: {err}"
    if codes is not None:
        want = codes if isinstance(codes, (list, tuple)) else [codes]
        if err["code"] not in want:
            return f"error code {err['code']!r}, expected {' or '.join(map(repr, want))} (message {err['message']!r})"
    return None


# -- Prometheus text format -------------------------------------------------------------------
_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$")
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


class Metrics:
    def __init__(self, text):
        self.text = text
        self.types = {}
        self.samples = []  # (name, labels dict, value)
        self.bad_lines = []
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("#"):
                p = line.split(None, 3)
                if len(p) >= 4 and p[1] == "TYPE":
                    self.types[p[2]] = p[3].strip()
                continue
            m = _SAMPLE_RE.match(line)
            if not m:
                self.bad_lines.append(line)
                continue
            labels = {}
            if m.group(2):
                rest = m.group(2).strip()
                pos = 0
                while pos < len(rest):
                    lm = _LABEL_RE.match(rest, pos)
                    if not lm:
                        self.bad_lines.append(line)
                        break
                    labels[lm.group(1)] = lm.group(2)
                    pos = lm.end()
            try:
                v = float(m.group(3))
            except ValueError:
                self.bad_lines.append(line)
                continue
            self.samples.append((m.group(1), labels, v))

    def find(self, name, **labels):
        return [(l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == str(x) for k, x in labels.items())]

    def value(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels` (0 when none)."""
        return sum(v for _, v in self.find(name, **labels))

    def has(self, name):
        return any(n == name for n, _, _ in self.samples)

    def label_values(self, name, label):
        return sorted({l.get(label) for n, l, _ in self.samples if n == name and label in l})

    def histogram(self, name, **labels):
        """(buckets [(le, cumulative count)], sum, count), summed over series matching labels."""
        acc = {}
        for l, v in self.find(name + "_bucket", **labels):
            le = float("inf") if l.get("le") in ("+Inf", "Inf", "inf") else float(l["le"])
            acc[le] = acc.get(le, 0) + v
        return sorted(acc.items()), self.value(name + "_sum", **labels), self.value(name + "_count", **labels)


def get_metrics(port, headers=None):
    r = http_request(port, "GET", "/metrics", headers=headers)
    if r.status != 200:
        raise ServerError(f"/metrics: {r}")
    return Metrics(r.text()), r


def route_labels(metrics, name, path):
    """The route label value the server uses for `path` (accepts "/v1/embeddings" or
    "v1/embeddings"); None when absent."""
    for v in metrics.label_values(name, "route"):
        if v == path or v == path.lstrip("/"):
            return v
    return None


# -- model files -------------------------------------------------------------------------------
def write_safetensors(path, tensors):
    """A safetensors file of float32 tensors (name -> numpy array), as the format describes it."""
    import numpy as np
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(a)), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# -- reference outputs through the CLI --------------------------------------------------------
def cli_env():
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def ref_embed(sutra, texts, extra=(), timeout=600):
    """The library's vectors for texts (float32 rows, input order) through
    `sutra embed --input F.jsonl --output F.npy` (one process for all of them)."""
    import numpy as np
    d = tempfile.mkdtemp(prefix="sutra-ref-")
    try:
        src, dst = os.path.join(d, "in.jsonl"), os.path.join(d, "out.npy")
        with open(src, "w", encoding="utf-8") as f:
            for i, t in enumerate(texts):
                f.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")
        p = subprocess.run([sutra, "embed", "--input", src, "--output", dst, "--on-error", "fail", *extra],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), timeout=timeout)
        if p.returncode != 0:
            raise ServerError(f"reference `sutra embed` failed ({p.returncode}): {p.stderr.decode()[-2000:]}")
        v = np.load(dst)
        with open(dst + ".ids") as f:
            ids = [json.loads(l)["id"] for l in f if l.strip()]
        if ids != list(range(len(texts))) or v.shape[0] != len(texts):
            raise ServerError(f"reference `sutra embed`: {v.shape[0]} rows, ids {ids[:5]}..., for {len(texts)} texts")
        return v.astype(np.float32)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def ref_tokenize(sutra, texts, extra=(), timeout=300):
    """The library's token ids (special tokens included, truncated to the model's limit or
    --max-length) through `sutra tokenize`, one text per stdin line (texts must hold no line
    breaks)."""
    for t in texts:
        if "\n" in t or "\r" in t:
            raise ValueError("ref_tokenize: texts must hold no line breaks")
    data = "".join(t + "\n" for t in texts).encode("utf-8")
    p = subprocess.run([sutra, "tokenize", *extra], input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=cli_env(), timeout=timeout)
    if p.returncode != 0:
        raise ServerError(f"reference `sutra tokenize` failed ({p.returncode}): {p.stderr.decode()[-2000:]}")
    out = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
    if len(out) != len(texts):
        raise ServerError(f"reference `sutra tokenize`: {len(out)} lines for {len(texts)} texts")
    return out


def cli_info(sutra, extra=()):
    p = subprocess.run([sutra, "info", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=cli_env(), timeout=120)
    if p.returncode != 0:
        return None, p.stderr.decode()
    return json.loads(p.stdout.decode()), ""


def has_serve(sutra):
    """(True, '') when the binary has the serve command, else (False, why)."""
    if not os.path.exists(sutra):
        return False, f"{sutra} does not exist (build it first)"
    p = subprocess.run([sutra, "serve", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    txt = (p.stdout + p.stderr).decode("utf-8", "replace")
    if "unknown command" in txt:
        return False, f"{sutra} has no `serve` command"
    return True, ""


def decode_b64_vector(s):
    import numpy as np
    return np.frombuffer(base64.b64decode(s), dtype="<f4").astype(np.float32)


def max_abs_diff(a, b):
    import numpy as np
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


class Watchdog:
    """Ends the process (status 1) when the whole run passes `seconds`, killing the servers
    it knows about first, so a hung server cannot hang the suite."""

    def __init__(self, seconds, servers):
        self.servers = servers
        self.t = threading.Timer(seconds, self._fire, args=(seconds,))
        self.t.daemon = True
        self.t.start()

    def _fire(self, seconds):
        print(f"FAIL: the run passed its time limit of {seconds} s; killing the servers", flush=True)
        for s in list(self.servers):
            try:
                print(f"--- {s.name} stderr tail:\n{s.log_tail(30)}", flush=True)
                s.kill()
            except Exception:  # noqa: BLE001
                pass
        os._exit(1)

    def cancel(self):
        self.t.cancel()
