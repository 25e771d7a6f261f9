"""End-to-end harness for `hindsight run` (see docs/run-interface.md).

Everything here talks to real processes over real sockets:

* `Hindsight` starts the binary (always with `--data` in a per-test directory), keeps
  its stdout and stderr in memory and in files, waits for `ready:`, and on teardown
  sends SIGTERM, waits, and kills whatever is left, including the supervised app.
* `ScriptedUpstream` is a socket server of our own that records every byte each
  connection receives and answers as the test's handler says: for the assertions a
  real app cannot give ("the app never saw a byte") and for answers a real app would
  not send (partial, malformed, slow).
* `Client` is a raw client: bytes in, bytes out, and a small response parser that
  follows the framing so keep-alive and pipelining can be checked byte for byte.
* Fixtures for gunicorn serving the example Django and Flask apps behind hindsight.

Only the Debian interpreter and stdlib are used: no `requests`, no PyPI.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import pytest

REPO = Path(__file__).resolve().parents[2]
E2E = Path(__file__).resolve().parent
HINDSIGHT_BIN = os.environ.get("HINDSIGHT_BIN") or str(REPO / "build" / "hindsight")
PYTHON = "/usr/bin/python3"
GUNICORN = "/usr/bin/gunicorn"
DJANGO_DIR = REPO / "examples" / "django"
FLASK_DIR = REPO / "examples" / "flask"
TINY_APP = E2E / "tiny_app.py"

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0


# ---------------------------------------------------------------------------------------
# Process bookkeeping
# ---------------------------------------------------------------------------------------

# Orphans of a dying hindsight (the supervised app, its workers) are re-parented to us
# instead of to init, so teardown can always find and reap them.
_PR_SET_CHILD_SUBREAPER = 36
try:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
except Exception:  # pragma: no cover - not Linux
    pass

# pids of processes the harness started with Popen (reaped by their Popen objects).
_OWN_POPEN_PIDS: set[int] = set()


@dataclass
class ProcInfo:
    pid: int
    ppid: int
    pgid: int
    state: str
    comm: str


def proc_info(pid: int) -> ProcInfo | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces and parentheses.
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    rest = stat[stat.rindex(")") + 2 :].split()
    return ProcInfo(pid=pid, ppid=int(rest[1]), pgid=int(rest[2]), state=rest[0], comm=comm)


def all_procs() -> list[ProcInfo]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            info = proc_info(int(name))
            if info is not None:
                out.append(info)
    return out


def children_of(pid: int) -> list[int]:
    return [p.pid for p in all_procs() if p.ppid == pid]


def descendants_of(pid: int) -> list[int]:
    procs = all_procs()
    by_parent: dict[int, list[int]] = {}
    for p in procs:
        by_parent.setdefault(p.ppid, []).append(p.pid)
    out, todo = [], [pid]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def is_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    info = proc_info(pid)
    return info is not None and info.state not in ("Z", "X")


def reap_if_ours(pid: int) -> None:
    if pid in _OWN_POPEN_PIDS:
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def kill_pids(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    """Kills processes and their process groups (never our own group)."""
    own_pgid = os.getpgid(0)
    for pid in pids:
        info = proc_info(pid)
        if info is None:
            continue
        if info.pgid not in (0, 1, own_pgid):
            try:
                os.killpg(info.pgid, sig)
            except OSError:
                pass
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def reap_orphans() -> None:
    """Kills and reaps processes re-parented to us that no Popen of ours owns."""
    me = os.getpid()
    for p in all_procs():
        if p.ppid == me and p.pid not in _OWN_POPEN_PIDS:
            if p.state not in ("Z", "X"):
                kill_pids([p.pid])
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    done, _ = os.waitpid(p.pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if done:
                    break
                time.sleep(0.02)


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Waits until none of `pids` is alive; returns those still alive at the deadline."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        for pid in pids:
            reap_if_ours(pid)
        alive = [pid for pid in pids if is_alive(pid)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def short_tmpdir() -> Path:
    """A short directory: unix socket paths are limited to 107 bytes."""
    return Path(tempfile.mkdtemp(prefix="hs-", dir="/tmp"))


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SOCKET", "PORT", "HINDSIGHT_DATA")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


# ---------------------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Addr:
    """A socket address as the tests use it: unix path or (host, port)."""

    path: str | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def tcp(cls, host: str, port: int) -> "Addr":
        return cls(host=host, port=port)

    @classmethod
    def unix(cls, path: str | os.PathLike) -> "Addr":
        return cls(path=str(path))

    @property
    def is_unix(self) -> bool:
        return self.path is not None

    def arg(self) -> str:
        """The form the command line takes."""
        if self.is_unix:
            return f"unix:{self.path}"
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    def connect(self, timeout: float = 10.0) -> socket.socket:
        if self.is_unix:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = self.path
        else:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            target = (self.host, self.port)
        s.settimeout(timeout)
        try:
            s.connect(target)
        except BaseException:
            s.close()
            raise
        return s

    def __str__(self) -> str:
        return self.arg()


# ---------------------------------------------------------------------------------------
# The hindsight process
# ---------------------------------------------------------------------------------------


class _StreamCollector:
    """Reads one pipe line by line in a thread; keeps the lines and appends them to a file."""

    def __init__(self, pipe, path: Path, sink: "Hindsight", name: str):
        self.lines: list[str] = []
        self._pipe = pipe
        self._path = path
        self._sink = sink
        self._name = name
        self.thread = threading.Thread(target=self._run, name=f"collect-{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with open(self._path, "ab") as log:
            for raw in iter(self._pipe.readline, b""):
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self._sink._cond:
                    self.lines.append(line)
                    self._sink._all_lines.append((self._name, line))
                    self._sink._cond.notify_all()
        with self._sink._cond:
            self._sink._cond.notify_all()


class Hindsight:
    """One `hindsight run` process.

    `args` are the arguments after `run` except `--data` and `--listen`, which are added
    from `data` (default `<workdir>/data`) and `listen` (default a free loopback port)
    unless `add_data=False` / `add_listen=False`. Use `start()` then `wait_ready()`.
    """

    def __init__(
        self,
        args: list[str],
        *,
        workdir: Path,
        listen: Addr | None = None,
        add_listen: bool = True,
        add_data: bool = True,
        data: Path | None = None,
        prefix: list[str] | None = None,
        env: dict[str, str] | None = None,
        name: str = "hindsight",
    ):
        self.workdir = Path(workdir)
        self.name = name
        self.data = Path(data) if data is not None else self.workdir / "data"
        self.listen = listen if listen is not None else Addr.tcp("127.0.0.1", free_port())
        self.args = list(args)
        self.add_listen = add_listen
        self.add_data = add_data
        self.prefix = list(prefix or [])  # e.g. a wrapper that execs the binary (same pid)
        self.env = clean_env(env)
        self.proc: subprocess.Popen | None = None
        self._cond = threading.Condition()
        self._all_lines: list[tuple[str, str]] = []
        self._stderr: _StreamCollector | None = None
        self._stdout: _StreamCollector | None = None
        self.stderr_path = self.workdir / f"{name}.stderr.log"
        self.stdout_path = self.workdir / f"{name}.stdout.log"
        self._known_descendants: set[int] = set()

    # -- life cycle -----------------------------------------------------------------

    @property
    def argv(self) -> list[str]:
        argv = [*self.prefix, HINDSIGHT_BIN, "run"]
        if self.add_listen:
            argv += ["--listen", self.listen.arg()]
        if self.add_data:
            argv += ["--data", str(self.data)]
        return argv + self.args  # a supervised command, after `--`, stays last

    def start(self) -> "Hindsight":
        if not os.access(HINDSIGHT_BIN, os.X_OK):
            pytest.fail(f"hindsight binary not found or not executable: {HINDSIGHT_BIN} "
                        "(build it, or set HINDSIGHT_BIN)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=str(self.workdir),
            start_new_session=True,
        )
        _OWN_POPEN_PIDS.add(self.proc.pid)
        self._stderr = _StreamCollector(self.proc.stderr, self.stderr_path, self, "stderr")
        self._stdout = _StreamCollector(self.proc.stdout, self.stdout_path, self, "stdout")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_for_line(self, pattern: str | re.Pattern, timeout: float = 10.0,
                      stream: str | None = "stderr", start: int = 0) -> str | None:
        """Waits for a line matching `pattern` (regex) on `stream` (None: either).

        Returns the line, or None on timeout or when the process exited without it.
        `start` skips the first `start` lines of the combined output.
        """
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for name, line in self._all_lines[start:]:
                    if (stream is None or name == stream) and rx.search(line):
                        return line
                exited = self.proc is not None and self.proc.poll() is not None
                if exited and self._collectors_done():
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.2))

    def _collectors_done(self) -> bool:
        return all(c is None or not c.thread.is_alive() for c in (self._stderr, self._stdout))

    def line_count(self) -> int:
        with self._cond:
            return len(self._all_lines)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> "Hindsight":
        line = self.wait_for_line(r"ready:", timeout=timeout, stream="stderr")
        if line is None:
            state = (f"exited with status {self.proc.returncode}" if self.proc.poll() is not None
                     else f"still running after {timeout:.0f} s")
            pytest.fail(f"hindsight never logged 'ready:' ({state}).\n"
                        f"command: {' '.join(self.argv)}\n{self.describe_output()}")
        self.snapshot_descendants()
        return self

    def wait_exit(self, timeout: float = 20.0) -> int | None:
        """Waits for the process to exit; returns its status or None on timeout."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        # Let the collector threads see EOF (a surviving grandchild can hold the pipes).
        for c in (self._stderr, self._stdout):
            if c is not None:
                c.thread.join(timeout=2)
        return rc

    def signal(self, sig: int) -> None:
        self.snapshot_descendants()
        self.proc.send_signal(sig)

    def snapshot_descendants(self) -> list[int]:
        if self.running():
            pids = descendants_of(self.pid)
            self._known_descendants.update(pids)
            return pids
        return []

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait, SIGKILL; then kill every process it left behind."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.snapshot_descendants()
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            rc = self.wait_exit(timeout)
            if rc is None:
                self.snapshot_descendants()
                self.proc.kill()
                rc = self.wait_exit(10)
        leftovers = [p for p in self._known_descendants if is_alive(p)]
        if leftovers:
            kill_pids(leftovers)
            wait_gone(leftovers, 5)
        reap_orphans()
        for pipe in (self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except Exception:
                pass
        return rc

    # -- output ---------------------------------------------------------------------

    @property
    def stderr_lines(self) -> list[str]:
        with self._cond:
            return list(self._stderr.lines) if self._stderr else []

    @property
    def stdout_lines(self) -> list[str]:
        with self._cond:
            return list(self._stdout.lines) if self._stdout else []

    def stderr_text(self) -> str:
        return "\n".join(self.stderr_lines)

    def output_text(self) -> str:
        """stdout and stderr lines together, in arrival order."""
        with self._cond:
            return "\n".join(line for _, line in self._all_lines)

    def describe_output(self, last: int = 80) -> str:
        with self._cond:
            lines = self._all_lines[-last:]
        body = "\n".join(f"  [{name}] {line}" for name, line in lines) or "  (no output)"
        return f"--- last {len(lines)} output lines of {self.name} ---\n{body}"

    # -- introspection ----------------------------------------------------------------

    def status_field(self, key: str) -> int:
        """A kB field of /proc/<pid>/status (e.g. VmHWM) in KiB."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)

    def app_root(self, marker: str | None = None, timeout: float = 10.0) -> int:
        """The pid of the supervised app: the child of hindsight (whose cmdline contains
        `marker`, if given). Fails the test if there is none within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            for pid in children_of(self.pid):
                if not is_alive(pid):
                    continue
                if marker is None or any(marker in a for a in cmdline(pid)):
                    self._known_descendants.add(pid)
                    return pid
            if time.monotonic() >= deadline:
                pytest.fail(f"no child process{' matching ' + marker if marker else ''} "
                            f"of hindsight {self.pid}: {children_of(self.pid)}")
            time.sleep(0.05)

    # -- client side ----------------------------------------------------------------

    def client(self, timeout: float = 10.0) -> "Client":
        return Client(self.listen, timeout=timeout)

    def request(self, raw: bytes, method: str | None = None, timeout: float = 10.0) -> "Response":
        """One request on a fresh connection; returns the first response."""
        with self.client(timeout) as c:
            c.send(raw)
            return c.read_response(method=method or raw.split(b" ", 1)[0].decode(), timeout=timeout)

    def get(self, target: str, host: str = "test.local", headers: Iterable[tuple[str, str]] = (),
            timeout: float = 10.0) -> "Response":
        return self.request(build_request("GET", target, host=host, headers=headers), timeout=timeout)


@pytest.fixture
def workdir():
    """A short per-test directory (unix socket paths must stay under 108 bytes)."""
    d = short_tmpdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def hindsight_factory(workdir, request):
    """Creates `Hindsight` processes; all of them are stopped at teardown.

    hindsight_factory(args, ready=True, **kwargs) -> Hindsight (started; ready if asked).
    """
    made: list[Hindsight] = []

    def make(args: list[str], *, ready: bool = True, name: str | None = None, **kwargs) -> Hindsight:
        name = name or f"hindsight{len(made) or ''}"
        hs = Hindsight(args, workdir=kwargs.pop("workdir", workdir), name=name, **kwargs)
        made.append(hs)
        hs.start()
        if ready:
            hs.wait_ready()
        return hs

    yield make
    for hs in made:
        hs.stop()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for hs in made:
            print(f"\ncommand: {' '.join(hs.argv)}\n{hs.describe_output(120)}")


# ---------------------------------------------------------------------------------------
# Raw client and response parsing
# ---------------------------------------------------------------------------------------


def build_request(method: str, target: str, *, host: str | None = "test.local",
                  headers: Iterable[tuple[str, str]] = (), body: bytes | None = None,
                  version: str = "HTTP/1.1") -> bytes:
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    for k, v in headers:
        lines.append(f"{k}: {v}")
    if body is not None and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def chunked(*pieces: bytes, trailers: bytes = b"") -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return out + b"0\r\n" + trailers + b"\r\n"


class Incomplete(Exception):
    """The peer closed (or the timeout passed) before a complete message arrived."""


@dataclass
class Message:
    """A parsed HTTP/1.x message (request or response) as bytes on the wire."""

    start_line: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    raw: bytes = b""          # head and body bytes exactly as received
    raw_head: bytes = b""
    complete: bool = True      # False when the body was cut short
    framing: str = "none"      # none | content-length | chunked | close
    trailers: list[tuple[str, str]] = field(default_factory=list)

    def header_values(self, name: str) -> list[str]:
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def header(self, name: str) -> str | None:
        vals = self.header_values(name)
        return ", ".join(vals) if vals else None

    def has(self, name: str) -> bool:
        return bool(self.header_values(name))

    def list_values(self, name: str) -> list[str]:
        """Comma-separated list field values, combined over all field lines, trimmed."""
        out = []
        for v in self.header_values(name):
            out += [p.strip() for p in v.split(",") if p.strip()]
        return out

    def connection_tokens(self) -> list[str]:
        return [t.lower() for t in self.list_values("connection")]


@dataclass
class Response(Message):
    version: str = ""
    status: int = 0
    reason: str = ""

    def json(self):
        return json.loads(self.body)

    def __str__(self) -> str:
        return f"{self.start_line} {self.headers} body={self.body[:300]!r}"


@dataclass
class Request(Message):
    method: str = ""
    target: str = ""
    version: str = ""


class ByteSource:
    """Something that yields more bytes: fetch() -> bytes, b'' at EOF, raises Incomplete on timeout."""

    def __init__(self, fetch: Callable[[], bytes], initial: bytes = b""):
        self._fetch = fetch
        self.buf = bytearray(initial)
        self.eof = False

    def more(self) -> bool:
        if self.eof:
            return False
        data = self._fetch()
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_until(self, delim: bytes, limit: int = 1 << 24) -> bytes:
        start = 0
        while True:
            i = self.buf.find(delim, start)
            if i >= 0:
                out = bytes(self.buf[: i + len(delim)])
                del self.buf[: i + len(delim)]
                return out
            start = max(0, len(self.buf) - len(delim) + 1)
            if len(self.buf) > limit:
                raise Incomplete(f"no {delim!r} within {limit} bytes")
            if not self.more():
                raise Incomplete(f"EOF before {delim!r}; have {bytes(self.buf[:200])!r}")

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self.more():
                out = bytes(self.buf)
                self.buf.clear()
                raise Incomplete(out)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_all(self) -> bytes:
        while self.more():
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out


def _parse_fields(lines: list[str]) -> list[tuple[str, str]]:
    out = []
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"field line without colon: {line!r}")
        out.append((name, value.strip(" \t")))
    return out


def _read_chunked(src: ByteSource, raw: bytearray) -> tuple[bytes, list[tuple[str, str]], bool]:
    body = bytearray()
    try:
        while True:
            line = src.read_until(b"\r\n", limit=4096)
            raw += line
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            data = src.read_exact(size + 2)
            raw += data
            if data[-2:] != b"\r\n":
                raise ValueError(f"chunk data not followed by CRLF: {data[-10:]!r}")
            body += data[:-2]
        trailer_lines = []
        while True:
            line = src.read_until(b"\r\n", limit=65536)
            raw += line
            if line == b"\r\n":
                break
            trailer_lines.append(line[:-2].decode("latin-1"))
        return bytes(body), _parse_fields(trailer_lines), True
    except Incomplete as e:
        if e.args and isinstance(e.args[0], bytes):
            raw += e.args[0]
        return bytes(body), [], False


def _read_head(src: ByteSource) -> tuple[bytes, str, list[tuple[str, str]]]:
    head = src.read_until(b"\r\n\r\n", limit=1 << 20)
    text = head[:-4].decode("latin-1")
    lines = text.split("\r\n")
    return head, lines[0], _parse_fields(lines[1:])


def read_response_from(src: ByteSource, method: str = "GET") -> Response:
    """Reads one response; follows RFC 9112 §6.3 to find its end."""
    head, start, headers = _read_head(src)
    parts = start.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"not a status line: {start!r}")
    resp = Response(start_line=start, headers=headers, raw_head=head, version=parts[0],
                    status=int(parts[1]), reason=parts[2] if len(parts) > 2 else "")
    raw = bytearray(head)
    te = [t.lower() for t in resp.list_values("transfer-encoding")]
    if method == "HEAD" or resp.status < 200 or resp.status in (204, 304) or (
            method == "CONNECT" and 200 <= resp.status < 300):
        resp.framing = "none"
    elif te:
        resp.framing = "chunked"
        resp.body, resp.trailers, resp.complete = _read_chunked(src, raw)
    elif resp.has("content-length"):
        resp.framing = "content-length"
        n = int(resp.header_values("content-length")[0])
        try:
            resp.body = src.read_exact(n)
        except Incomplete as e:
            resp.body, resp.complete = e.args[0], False
        raw += resp.body
    else:
        resp.framing = "close"
        resp.body = src.read_all()
        raw += resp.body
    resp.raw = bytes(raw)
    return resp


def read_request_from(src: ByteSource) -> Request:
    head, start, headers = _read_head(src)
    parts = start.split(" ")
    req = Request(start_line=start, headers=headers, raw_head=head)
    if len(parts) == 3:
        req.method, req.target, req.version = parts
    raw = bytearray(head)
    te = [t.lower() for t in req.list_values("transfer-encoding")]
    if te:
        req.framing = "chunked"
        req.body, req.trailers, req.complete = _read_chunked(src, raw)
    elif req.has("content-length"):
        req.framing = "content-length"
        n = int(req.header_values("content-length")[0])
        try:
            req.body = src.read_exact(n)
        except Incomplete as e:
            req.body, req.complete = e.args[0], False
        raw += req.body
    req.raw = bytes(raw)
    return req


def parse_response(data: bytes, method: str = "GET") -> Response:
    """Parses the first response in `data` (bytes already received)."""
    chunks = [bytes(data)]
    src = ByteSource(lambda: chunks.pop() if chunks else b"")
    return read_response_from(src, method)


def parse_responses(data: bytes, methods: Iterable[str] = ()) -> list[Response]:
    """Parses consecutive responses in `data`."""
    methods = list(methods)
    chunks = [bytes(data)]
    src = ByteSource(lambda: chunks.pop() if chunks else b"")
    out = []
    i = 0
    while True:
        src.more()
        if not src.buf:
            return out
        out.append(read_response_from(src, methods[i] if i < len(methods) else "GET"))
        i += 1


class Client:
    """A raw client connection: send bytes, read responses or everything until close."""

    def __init__(self, addr: Addr, timeout: float = 10.0, sock: socket.socket | None = None):
        self.addr = addr
        self.sock = sock if sock is not None else addr.connect(timeout)
        self.timeout = timeout
        self.reset = False           # the peer reset the connection
        self.closed_by_peer = False  # EOF or reset seen
        self.received = bytearray()  # every byte received, in order
        self._deadline: float | None = None
        self.src = ByteSource(self._fetch)
        self._sender: threading.Thread | None = None
        self.send_error: BaseException | None = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        if self._sender is not None:
            self._sender.join(timeout=5)

    def _fetch(self) -> bytes:
        if self.closed_by_peer:
            return b""
        if self._deadline is not None:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("client read timed out")
            self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(262144)
        except socket.timeout as e:
            raise TimeoutError("client read timed out") from e
        except ConnectionResetError:
            self.reset = True
            data = b""
        if not data:
            self.closed_by_peer = True
        self.received += data
        return data

    def send(self, data: bytes, pieces: Iterable[int] | None = None, pause: float = 0.0) -> None:
        """Sends `data`, optionally cut at the given offsets with a pause between pieces."""
        if pieces is None:
            self.sock.sendall(data)
            return
        last = 0
        for cut in list(pieces) + [len(data)]:
            if cut > last:
                self.sock.sendall(data[last:cut])
                last = cut
                if pause and last < len(data):
                    time.sleep(pause)

    def send_in_background(self, data: bytes | Iterable[bytes]) -> threading.Thread:
        """Sends while the test reads (the peer may stop reading and answer early)."""

        def run():
            try:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    self.sock.sendall(data)
                else:
                    for piece in data:
                        self.sock.sendall(piece)
            except OSError as e:
                self.send_error = e

        self._sender = threading.Thread(target=run, daemon=True)
        self._sender.start()
        return self._sender

    def shutdown_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def read_response(self, method: str = "GET", timeout: float | None = None) -> Response:
        self._deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        try:
            return read_response_from(self.src, method)
        finally:
            self._deadline = None

    def read_final_response(self, method: str = "GET", timeout: float | None = None) -> tuple[list[Response], Response]:
        """Skips interim (1xx other than 101) responses; returns (interim, final)."""
        interim = []
        while True:
            r = self.read_response(method, timeout)
            if 100 <= r.status < 200 and r.status != 101:
                interim.append(r)
                continue
            return interim, r

    def read_some(self, n: int, timeout: float | None = None) -> bytes:
        """Reads exactly n bytes (beyond the current buffer position)."""
        self._deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        try:
            return self.src.read_exact(n)
        finally:
            self._deadline = None

    def read_until(self, delim: bytes, timeout: float | None = None) -> bytes:
        """Reads up to and including `delim` (what follows stays buffered)."""
        self._deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        try:
            return self.src.read_until(delim)
        finally:
            self._deadline = None

    def read_until_close(self, timeout: float | None = None) -> bytes:
        """Reads until EOF/reset; returns the unparsed bytes. Raises TimeoutError if still open."""
        self._deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        try:
            return self.src.read_all()
        finally:
            self._deadline = None

    def wait_closed(self, timeout: float = 10.0) -> bool:
        """True if the peer closes (EOF or reset) within `timeout`; any data is kept in the buffer."""
        try:
            data = self.read_until_close(timeout)
        except TimeoutError:
            return False
        self.src.buf += data
        return True

    def still_open(self, wait: float = 0.3) -> bool:
        """True if no EOF/reset arrives within `wait` seconds (data that arrives is kept)."""
        return not self.wait_closed(wait)


def exchange(addr: Addr, raw: bytes, timeout: float = 10.0) -> tuple[bytes, Client]:
    """Sends `raw` on a new connection and reads until the peer closes.

    Returns (bytes received, client). Raises TimeoutError if the peer keeps the
    connection open past `timeout`.
    """
    c = Client(addr, timeout=timeout)
    try:
        c.send_in_background(raw)
        data = c.read_until_close(timeout)
    finally:
        c.close()
    return data, c


# ---------------------------------------------------------------------------------------
# Scripted upstream
# ---------------------------------------------------------------------------------------


class UpstreamConn:
    """One connection accepted by the scripted upstream.

    A reader thread records every byte received (`received`, first `record_limit`
    bytes; `nbytes` counts all) and queues it for the handler, which reads through
    `read_request()`, `read_exact()`, `read_until()`, `discard()`.
    """

    BUFFER_LIMIT = 4 << 20

    def __init__(self, sock: socket.socket, index: int, record_limit: int = 1 << 20):
        self.sock = sock
        self.index = index
        self.record_limit = record_limit
        self.received = bytearray()
        self.nbytes = 0
        self.requests: list[Request] = []
        self.eof = False
        self.error: BaseException | None = None
        self._buf = bytearray()
        self._cond = threading.Condition()
        self._closed = False
        self.src = ByteSource(self._fetch)
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()

    def _read_loop(self) -> None:
        while True:
            with self._cond:
                while len(self._buf) > self.BUFFER_LIMIT and not self._closed:
                    self._cond.wait(0.5)
                if self._closed:
                    break
            try:
                data = self.sock.recv(262144)
            except OSError as e:
                self.error = e
                data = b""
            with self._cond:
                if not data:
                    self.eof = True
                    self._cond.notify_all()
                    return
                self.nbytes += len(data)
                room = self.record_limit - len(self.received)
                if room > 0:
                    self.received += data[:room]
                self._buf += data
                self._cond.notify_all()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    def _fetch(self, timeout: float = 30.0) -> bytes:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._buf and not self.eof:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("upstream read timed out")
                self._cond.wait(min(remaining, 0.5))
            data = bytes(self._buf)
            self._buf.clear()
            self._cond.notify_all()
            return data

    # -- reading ----------------------------------------------------------------------

    def read_request(self) -> Request | None:
        """The next request, or None if the connection ended cleanly before one."""
        if not self.src.buf and not self.src.more():
            return None
        req = read_request_from(self.src)
        self.requests.append(req)
        return req

    def read_head(self) -> Request:
        """Only the head of the next request (the body stays unread)."""
        head, start, headers = _read_head(self.src)
        parts = start.split(" ")
        req = Request(start_line=start, headers=headers, raw_head=head, raw=head)
        if len(parts) == 3:
            req.method, req.target, req.version = parts
        self.requests.append(req)
        return req

    def read_exact(self, n: int) -> bytes:
        return self.src.read_exact(n)

    def read_until(self, delim: bytes) -> bytes:
        return self.src.read_until(delim)

    def read_some(self, timeout: float = 30.0) -> bytes:
        """Whatever is available (at least one byte), b'' at EOF."""
        if self.src.buf:
            out = bytes(self.src.buf)
            self.src.buf.clear()
            return out
        return self._fetch(timeout)

    def discard(self, n: int, digest=None) -> int:
        """Consumes n bytes without keeping them; returns how many arrived."""
        got = 0
        while got < n:
            if self.src.buf:
                take = min(n - got, len(self.src.buf))
                if digest is not None:
                    digest.update(self.src.buf[:take])
                del self.src.buf[:take]
                got += take
                continue
            if not self.src.more():
                break
        return got

    def wait_eof(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.eof:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.5))
            return True

    # -- writing ----------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def respond(self, status: int = 200, body: bytes = b"ok", headers: Iterable[tuple[str, str]] = (),
                reason: str | None = None, content_length: bool = True) -> None:
        self.send(build_response(status, body, headers, reason=reason, content_length=content_length))

    def shutdown_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def reset(self) -> None:
        """Closes with a TCP RST (SO_LINGER 0). On a unix socket this is a plain close."""
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        # Wake the reader blocked in recv() first: the socket is only released (and the
        # RST sent) once no system call holds it.
        try:
            self.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass
        self.sock.close()


def build_response(status: int = 200, body: bytes = b"ok", headers: Iterable[tuple[str, str]] = (),
                   reason: str | None = None, content_length: bool = True, version: str = "HTTP/1.1") -> bytes:
    reason = reason if reason is not None else {200: "OK", 101: "Switching Protocols", 204: "No Content",
                                                304: "Not Modified", 404: "Not Found",
                                                500: "Internal Server Error"}.get(status, "Status")
    lines = [f"{version} {status} {reason}"]
    headers = list(headers)
    for k, v in headers:
        lines.append(f"{k}: {v}")
    if content_length and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def ok_handler(conn: UpstreamConn) -> None:
    """Answers every request with 200 and the body `ok`, keeping the connection."""
    while True:
        req = conn.read_request()
        if req is None:
            return
        conn.respond(200, b"ok", [("Content-Type", "text/plain")])


def echo_target_handler(conn: UpstreamConn) -> None:
    """Answers every request with its method and target as body."""
    while True:
        req = conn.read_request()
        if req is None:
            return
        conn.respond(200, f"{req.method} {req.target}".encode(), [("Content-Type", "text/plain")])


class ScriptedUpstream:
    """A socket server whose connections are run by `handler(conn)`, one thread each."""

    def __init__(self, handler: Callable[[UpstreamConn], None], *, directory: Path | None = None,
                 tcp: bool = False, record_limit: int = 1 << 20):
        self.handler = handler
        self.record_limit = record_limit
        self.connections: list[UpstreamConn] = []
        self.errors: list[BaseException] = []
        self.handler_bugs: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._own_dir = None
        if tcp:
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind(("127.0.0.1", 0))
            self.addr = Addr.tcp("127.0.0.1", self.listener.getsockname()[1])
        else:
            self._own_dir = None if directory else short_tmpdir()
            directory = directory or self._own_dir
            path = Path(directory) / f"up{id(self) % 10000}.sock"
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(str(path))
            self.addr = Addr.unix(path)
        self.listener.listen(256)
        self.listener.settimeout(0.2)
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    @property
    def arg(self) -> str:
        return self.addr.arg()

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(None)
            with self._lock:
                conn = UpstreamConn(sock, len(self.connections), self.record_limit)
                self.connections.append(conn)
            t = threading.Thread(target=self._run_handler, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _run_handler(self, conn: UpstreamConn) -> None:
        try:
            self.handler(conn)
        except (Incomplete, TimeoutError, OSError) as e:
            # The proxy closed or stalled: often what the test provokes.
            self.errors.append(e)
        except BaseException as e:
            # A bug in the test's handler: it must not pass as "the app failed".
            self.handler_bugs.append(e)
            traceback.print_exc()
        finally:
            try:
                conn.close()
            except OSError:
                pass

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self.connections)

    def total_bytes(self) -> int:
        with self._lock:
            return sum(c.nbytes for c in self.connections)

    def all_received(self) -> bytes:
        with self._lock:
            return b"".join(bytes(c.received) for c in self.connections)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return [r for c in self.connections for r in c.requests]

    def wait_requests(self, n: int, timeout: float = 10.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.requests

    def stop(self) -> None:
        self._stopping = True
        try:
            self.listener.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self.connections)
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=2)
        self._accept_thread.join(timeout=2)
        if self.addr.is_unix:
            try:
                os.unlink(self.addr.path)
            except OSError:
                pass
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)


@pytest.fixture
def upstream_factory(workdir):
    """upstream_factory(handler, tcp=False) -> ScriptedUpstream, stopped at teardown."""
    made: list[ScriptedUpstream] = []

    def make(handler: Callable[[UpstreamConn], None] = ok_handler, **kwargs) -> ScriptedUpstream:
        up = ScriptedUpstream(handler, directory=workdir, **kwargs)
        made.append(up)
        return up

    yield make
    for up in made:
        up.stop()
    bugs = [e for up in made for e in up.handler_bugs]
    if bugs:
        pytest.fail(f"a scripted upstream handler raised (a malformed request from the proxy, or a test bug): {bugs!r}")


@pytest.fixture
def proxied(upstream_factory, hindsight_factory):
    """proxied(handler, *extra_args, tcp_upstream=False, listen=None) -> (hindsight, upstream)."""

    def make(handler: Callable[[UpstreamConn], None] = ok_handler, *extra: str, tcp_upstream: bool = False,
             **kwargs):
        up = upstream_factory(handler, tcp=tcp_upstream)
        hs = hindsight_factory(["--upstream", up.arg, *extra], **kwargs)
        return hs, up

    return make


# ---------------------------------------------------------------------------------------
# gunicorn behind hindsight
# ---------------------------------------------------------------------------------------


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        pytest.fail(f"{what} not found at {path}")


def gunicorn_args(port: int, chdir: Path, app: str, *extra: str, workers: int = 2) -> list[str]:
    return ["--", GUNICORN, "--chdir", str(chdir), "-b", f"127.0.0.1:{port}", "-w", str(workers),
            *extra, app]


def make_venv_app(root: Path, status: str = "200 OK", system_site_packages: bool = False) -> tuple[Path, Path]:
    """(venv, app_dir): a virtualenv of PYTHON holding a module only it has, and a
    directory whose `venv_app:app` imports that module and answers `status` with
    "MARK|sys.prefix" — it imports only where the venv's packages are seen."""
    venv = root / "venv"
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", *(["--system-site-packages"] if system_site_packages else []),
                    str(venv)], check=True)
    [site] = (venv / "lib").glob("python3.*/site-packages")
    (site / "only_in_the_venv.py").write_text("MARK = 'from the venv'\n")
    app_dir = root / "app"
    app_dir.mkdir()
    (app_dir / "venv_app.py").write_text(
        "import sys, only_in_the_venv\n"
        "def app(environ, start_response):\n"
        f"    start_response({status!r}, [('Content-Type', 'text/plain')])\n"
        "    return [(only_in_the_venv.MARK + '|' + sys.prefix).encode()]\n")
    return venv, app_dir


@pytest.fixture
def start_app(hindsight_factory, workdir):
    """start_app('django'|'flask', *gunicorn_extra, hs_args=[...]) -> Hindsight in front of gunicorn.

    The example apps get their SQLite databases in the test's directory (they create
    and migrate them at start), so tests share no state and write nothing in the repo.
    """

    def make(kind: str, *extra: str, hs_args: Iterable[str] = (), workers: int = 2, **kwargs) -> Hindsight:
        chdir, app = {"django": (DJANGO_DIR, "myapp.wsgi"), "flask": (FLASK_DIR, "app:app")}[kind]
        _require_dir(chdir, f"example {kind} app")
        port = free_port()
        args = [*hs_args, *gunicorn_args(port, chdir, app, *extra, workers=workers)]
        env = {"HINDSIGHT_EXAMPLE_DB": str(workdir / "django.sqlite3"),
               "HINDSIGHT_EXAMPLE_FLASK_DB": str(workdir / "flask.sqlite3"),
               **kwargs.pop("env", {})}
        return hindsight_factory(args, listen=Addr.tcp("127.0.0.1", port), env=env, **kwargs)

    return make


@pytest.fixture
def django_app(start_app) -> Hindsight:
    return start_app("django")


@pytest.fixture
def flask_app(start_app) -> Hindsight:
    return start_app("flask")


@pytest.fixture
def django_gthread(start_app) -> Hindsight:
    return start_app("django", "-k", "gthread", "--threads", "4")


@pytest.fixture
def flask_gthread(start_app) -> Hindsight:
    return start_app("flask", "-k", "gthread", "--threads", "4")


@pytest.fixture(params=["django", "flask"])
def any_app(request, start_app) -> Hindsight:
    return start_app(request.param)


# ---------------------------------------------------------------------------------------
# Assertions shared by the test modules
# ---------------------------------------------------------------------------------------


def assert_own_answer(resp: Response, statuses: Iterable[int]) -> None:
    """An answer hindsight produced itself (docs/run-interface.md, 'Answers of its own')."""
    statuses = set(statuses)
    assert resp.status in statuses, f"expected status in {sorted(statuses)}, got: {resp}"
    assert "close" in resp.connection_tokens(), f"no 'Connection: close': {resp}"
    assert resp.header("server") == "hindsight", f"Server is not 'hindsight': {resp}"
    ctype = (resp.header("content-type") or "").replace(" ", "").lower()
    assert ctype == "text/plain;charset=utf-8", f"Content-Type: {resp}"
    assert resp.body.startswith(b"hindsight: "), f"body does not start with 'hindsight: ': {resp}"
    assert resp.body.rstrip(b"\r\n").count(b"\n") == 0, f"body is not one line: {resp}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wait_until(pred: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# ---------------------------------------------------------------------------------------
# capture helpers (issue 3: the capture store and `hindsight list/show/status/prune`)
# ---------------------------------------------------------------------------------------

ISO_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def hs_cli(*args, data: Path | str | None = None, env: dict[str, str] | None = None,
           timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Runs `hindsight ARGS... [--data DATA]`; stdout and stderr as bytes."""
    if not os.access(HINDSIGHT_BIN, os.X_OK):
        pytest.fail(f"hindsight binary not found or not executable: {HINDSIGHT_BIN}")
    argv = [HINDSIGHT_BIN, *map(str, args)]
    if data is not None:
        argv += ["--data", str(data)]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=clean_env(env),
                          timeout=timeout)


def describe_cli(p: subprocess.CompletedProcess) -> str:
    return (f"$ {' '.join(map(str, p.args))}\nexit {p.returncode}\n"
            f"stdout: {p.stdout[:3000].decode('utf-8', 'replace')}\n"
            f"stderr: {p.stderr[:3000].decode('utf-8', 'replace')}")


def cli_json(*args, data: Path | str | None = None, env: dict[str, str] | None = None):
    """Runs `hindsight ARGS... --json`, asserts exit 0, returns the parsed output."""
    p = hs_cli(*args, "--json", data=data, env=env)
    assert p.returncode == 0, describe_cli(p)
    try:
        return json.loads(p.stdout)
    except ValueError:
        pytest.fail(f"not JSON:\n{describe_cli(p)}")


def list_captures(data, *filters) -> list[dict]:
    return cli_json("list", "--limit", "0", *filters, data=data)


def show_capture(data, capture_id, *flags) -> dict:
    return cli_json("show", capture_id, *flags, data=data)


def show_raw(data, capture_id) -> bytes:
    p = hs_cli("show", capture_id, "--raw", data=data)
    assert p.returncode == 0, describe_cli(p)
    return p.stdout


def store_status(data) -> dict:
    return cli_json("status", data=data)


def wait_captures(data, n: int, *filters, timeout: float = 20.0, exact: bool = False) -> list[dict]:
    """Polls `hindsight list --json` until it shows at least (or, with exact, exactly) n captures."""
    last: list = []
    errors: list[str] = []

    def enough() -> bool:
        nonlocal last
        p = hs_cli("list", "--limit", "0", *filters, "--json", data=data)
        if p.returncode != 0:
            errors[:] = [describe_cli(p)]
            return False
        last = json.loads(p.stdout)
        return len(last) == n if exact else len(last) >= n

    if not wait_until(enough, timeout, interval=0.1):
        pytest.fail(f"expected {'exactly' if exact else 'at least'} {n} captures{' ' + str(filters) if filters else ''}"
                    f" within {timeout:.0f} s, have {len(last)}: "
                    f"{[(c.get('id'), c.get('status'), c.get('target')) for c in last]}\n{''.join(errors)}")
    return last


def failing_handler(status: int = 500, body: bytes = b"it failed", headers: Iterable[tuple[str, str]] = (),
                    reason: str | None = None) -> Callable[["UpstreamConn"], None]:
    """A scripted app that reads each request whole and answers `status` (or NNN for a
    target containing `/status/NNN`) with `body`, keeping the connection."""

    def handler(conn: "UpstreamConn") -> None:
        while True:
            req = conn.read_request()
            if req is None:
                return
            m = re.search(r"/status/(\d{3})", req.target)
            st = int(m.group(1)) if m else status
            conn.respond(st, body, headers, reason=reason if st == status else None)

    return handler


def database_files(data) -> list[Path]:
    """captures.db and its WAL / shared-memory companions, those that exist."""
    base = Path(data) / "captures.db"
    return [p for p in (base, Path(str(base) + "-wal"), Path(str(base) + "-journal")) if p.exists()]


def sqlite_integrity(db: Path | str) -> str:
    """`PRAGMA integrity_check` with Python's sqlite3 (recovers a WAL left by a killed writer)."""
    import sqlite3
    conn = sqlite3.connect(str(db), timeout=10)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "\n".join(str(r[0]) for r in rows)


# ---------------------------------------------------------------------------------------
# worker helpers (tests/e2e/test_worker.py)
# ---------------------------------------------------------------------------------------

def free_port_for_worker_tests() -> int:
    """A TCP port free on 127.0.0.1 right now, for a gunicorn the worker tests start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
