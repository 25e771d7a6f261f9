"""End-to-end tests of hindsight-worker (docs/worker-protocol.md): the real binary,
driven over a real socketpair by a small protocol client, running the real example
Django and Flask apps and test-only apps in worker_apps/. The environ oracle is a real
gunicorn serving the same app."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (DJANGO_DIR, FLASK_DIR, GUNICORN, HINDSIGHT_BIN, PYTHON, E2E, free_port_for_worker_tests,
                      make_venv_app)

WORKER_BIN = os.environ.get("HINDSIGHT_WORKER_BIN") or str(Path(HINDSIGHT_BIN).parent / "hindsight-worker")
APPS = E2E / "worker_apps"
SERVER_OBJECTS = {"wsgi.input", "wsgi.errors", "wsgi.file_wrapper", "gunicorn.socket", "werkzeug.request"}


# ---------------------------------------------------------------------------------------
# A protocol client
# ---------------------------------------------------------------------------------------

class Worker:
    """hindsight-worker on one end of a socketpair; stderr kept in a file."""

    def __init__(self, tmp_path: Path, args=(), env=None, stdin=subprocess.DEVNULL):
        assert os.access(WORKER_BIN, os.X_OK), f"{WORKER_BIN} is not built (cmake --build … --target hindsight-worker)"
        self.sock, child = socket.socketpair()
        self.stderr_path = tmp_path / f"worker-stderr-{time.monotonic_ns()}.txt"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [WORKER_BIN, "--fd", str(child.fileno()), *args], pass_fds=[child.fileno()],
            stdin=stdin, stdout=self._stderr, stderr=self._stderr, env=env if env is not None else os.environ.copy())
        child.close()
        self.sock.settimeout(60)

    def send(self, header: dict, body: bytes = b"") -> None:
        data = json.dumps(header).encode()
        self.sock.sendall(struct.pack(">I", len(data)) + data + struct.pack(">I", len(body)) + body)

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError(f"worker closed the socket; stderr:\n{self.stderr()}")
            buf += chunk
        return buf

    def recv(self) -> tuple[dict, bytes]:
        (n,) = struct.unpack(">I", self._exact(4))
        header = json.loads(self._exact(n))
        (m,) = struct.unpack(">I", self._exact(4))
        return header, self._exact(m)

    def hello(self) -> dict:
        header, _ = self.recv()
        assert header["type"] == "hello", header
        return header

    def load(self, app: str, chdir, env=None, pythonpath=None) -> dict:
        msg = {"type": "load", "app": app, "chdir": str(chdir), "env": env or {}}
        if pythonpath:
            msg["pythonpath"] = [str(p) for p in pythonpath]
        self.send(msg)
        return self.recv()[0]

    def request(self, target="/", method="GET", headers=None, body=b"", **fields) -> tuple[dict, bytes]:
        msg = {"type": "request", "method": method, "target": target, "version": "HTTP/1.1",
               "headers": headers if headers is not None else [["Host", "localhost"]],
               "scheme": "http", "remote_addr": "127.0.0.1", "remote_port": "40000", **fields}
        self.send(msg, body)
        header, response_body = self.recv()
        while header["type"] == "debugger":  # a prompt opened: its event comes first
            header, response_body = self.recv()
        assert header["type"] == "response", header
        return header, response_body

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text("utf-8", "replace")

    def close(self, timeout=20) -> int:
        self.sock.close()
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._stderr.close()


@pytest.fixture
def worker_factory(tmp_path):
    workers = []

    def start(**kwargs) -> Worker:
        w = Worker(tmp_path, **kwargs)
        workers.append(w)
        w.hello()
        return w

    yield start
    for w in workers:
        if w.proc.poll() is None:
            w.close()


def django_env(tmp_path):
    return {"DJANGO_SETTINGS_MODULE": "myapp.settings", "HINDSIGHT_EXAMPLE_DB": str(tmp_path / "django.sqlite3")}


def flask_env(tmp_path):
    return {"HINDSIGHT_EXAMPLE_FLASK_DB": str(tmp_path / "flask.sqlite3")}


@pytest.fixture
def django_worker(worker_factory, tmp_path):
    w = worker_factory()
    assert w.load("myapp.wsgi", DJANGO_DIR, django_env(tmp_path))["type"] == "loaded"
    return w


@pytest.fixture
def flask_worker(worker_factory, tmp_path):
    w = worker_factory()
    assert w.load("app:app", FLASK_DIR, flask_env(tmp_path))["type"] == "loaded"
    return w


@pytest.fixture
def plain_worker(worker_factory):
    w = worker_factory()
    assert w.load("plain_app", APPS)["type"] == "loaded"
    return w


def source_line_of(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


def last_app_frame(exc: dict) -> dict:
    frames = [f for f in exc["frames"] if f["app"]]
    assert frames, exc
    return frames[-1]


# ---------------------------------------------------------------------------------------
# hello, load, request
# ---------------------------------------------------------------------------------------

def test_unknown_message_type_is_answered_and_the_worker_stays(worker_factory):
    w = worker_factory()
    w.send({"type": "nonsense"})
    err, _ = w.recv()
    assert err["type"] == "error" and err["kind"] == "protocol" and "nonsense" in err["message"]
    assert w.load("plain_app", APPS)["type"] == "loaded"
    assert w.close() == 0


def test_hello_fields(tmp_path):
    w = Worker(tmp_path)
    hello = w.hello()
    assert hello["protocol"] == 1 and hello["pid"] == w.proc.pid
    assert hello["python"].startswith("%d.%d." % sys.version_info[:2])
    assert hello["executable"] == "/usr/bin/python3" and hello["prefix"] == "/usr"
    assert w.close() == 0


def test_flask_round_trip(flask_worker):
    response, body = flask_worker.request("/health/")
    assert response["status"] == "200 OK" and body == b"ok"
    assert ["Content-Type", "text/plain; charset=utf-8"] in response["headers"]
    assert response["exception"] is None and response["body_size"] == 2 and not response["body_truncated"]
    assert response["rolled_back"] == [] and response["not_contained"]
    assert response["debugger_used"] is False and response["duration_ms"] >= 0
    # Several requests on one worker.
    for _ in range(3):
        assert flask_worker.request("/health/")[1] == b"ok"
    assert flask_worker.close() == 0


def test_django_round_trip(django_worker):
    response, body = django_worker.request("/health/", capture_id=42)
    assert response["status"] == "200 OK" and body == b"ok" and response["capture_id"] == 42
    assert response["rolled_back"] == ["database default", "mail (0 messages)"]
    assert django_worker.close() == 0


def test_factory_spec_with_arguments(worker_factory):
    w = worker_factory()
    assert w.load("plain_app:create('hi', punctuation='?')", APPS)["type"] == "loaded"
    assert w.request("/")[1] == b"hi?"


def test_flask_factory_spec(worker_factory, tmp_path):
    w = worker_factory()
    assert w.load("app:create_app()", FLASK_DIR, flask_env(tmp_path))["type"] == "loaded"
    assert w.request("/health/")[1] == b"ok"


def test_import_error_is_a_structured_error_and_the_worker_survives(worker_factory):
    w = worker_factory()
    err = w.load("broken_import:app", APPS)
    assert err["type"] == "error" and err["kind"] == "import"
    assert err["exception"]["type"] == "JSONDecodeError" and err["exception"]["module"] == "json.decoder"
    frame = last_app_frame(err["exception"])
    assert frame["file"] == str(APPS / "broken_import.py")
    assert frame["line"] == source_line_of(APPS / "broken_import.py", "IMPORT_ERROR_LINE")
    # Still usable: a good spec loads afterwards.
    assert w.load("plain_app", APPS)["type"] == "loaded"


def test_missing_module_and_attribute(worker_factory):
    w = worker_factory()
    err = w.load("no_such_module_here:app", APPS)
    assert err["kind"] == "import" and err["exception"]["type"] == "ModuleNotFoundError"
    err = w.load("plain_app:nope", APPS)
    assert err["kind"] == "import" and "nope" in err["message"]


def test_request_before_load_is_a_protocol_error(worker_factory):
    w = worker_factory()
    w.send({"type": "request", "method": "GET", "target": "/", "headers": []})
    err, _ = w.recv()
    assert err["kind"] == "protocol"
    assert w.proc.wait(10) != 0


def test_malformed_frame_closes_the_worker(worker_factory):
    w = worker_factory()
    w.sock.sendall(struct.pack(">I", 5) + b"[1,2]" + struct.pack(">I", 0))
    err, _ = w.recv()
    assert err["type"] == "error" and err["kind"] == "protocol"
    assert w.proc.wait(10) == 1


def test_python_version_mismatch_is_a_clear_error(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to("/usr/bin/python3")
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.9.18\n")
    w = Worker(tmp_path, args=["--python", str(venv / "bin" / "python")])
    err, _ = w.recv()
    assert err["type"] == "error" and err["kind"] == "internal"
    assert "3.9" in err["message"] and "3.11" in err["message"] and "HINDSIGHT_WORKER_PYTHON" in err["message"]
    assert w.proc.wait(10) == 3


def test_virtualenv_packages_are_visible(worker_factory, tmp_path):
    venv, app_dir = make_venv_app(tmp_path)
    for args, env in (([], dict(os.environ, VIRTUAL_ENV=str(venv))),
                      (["--python", str(venv / "bin" / "python")], None)):
        w = worker_factory(args=args, env=env)
        assert w.load("venv_app:app", app_dir)["type"] == "loaded"
        assert w.request("/")[1] == f"from the venv|{venv}".encode()


# ---------------------------------------------------------------------------------------
# Running the app: start_response, write(), iterables
# ---------------------------------------------------------------------------------------

def test_write_and_iterable_are_joined(plain_worker):
    response, body = plain_worker.request("/write/")
    assert response["status"] == "200 OK" and body == b"written and iterated"


def test_body_limit_truncates_and_reports_the_size(plain_worker):
    response, body = plain_worker.request("/big/", body_limit=1500)
    assert body == b"a" * 1000 + b"b" * 500
    assert response["body_size"] == 2000 and response["body_truncated"] is True


def test_close_is_called(plain_worker):
    response, body = plain_worker.request("/close/")
    assert body == b"body"
    assert "CLOSE CALLED" in plain_worker.stderr()


def test_exc_info_before_headers_replaces_them(plain_worker):
    response, body = plain_worker.request("/exc-info/")
    assert response["status"] == "500 Internal Server Error" and body == b"replaced"
    assert response["exception"] is None


def test_exc_info_after_headers_reraises(plain_worker):
    response, body = plain_worker.request("/exc-info-late/")
    assert response["exception"]["type"] == "OSError" and response["exception"]["message"] == "too late"
    assert body == b"partial"


def test_timeout_stops_the_request(plain_worker):
    started = time.monotonic()
    response, _ = plain_worker.request("/loop/", timeout_s=2)
    assert time.monotonic() - started < 5
    assert response["timed_out"] is True and response["exception"]["type"] == "RequestTimeout"
    # The worker is still usable.
    assert plain_worker.request("/write/")[1] == b"written and iterated"


# ---------------------------------------------------------------------------------------
# Tracebacks of the example apps' deliberate bugs, though the framework answers a 500
# ---------------------------------------------------------------------------------------

DJANGO_VIEWS = DJANGO_DIR / "shop" / "views.py"
FLASK_APP = FLASK_DIR / "app.py"


def _bug_cases():
    # (target, method, headers, body, exception type, needle on the raising line)
    return [
        ("/boom/", "GET", [], b"", "ZeroDivisionError", "return 100 * saved / list_price_cents"),
        ("/orders/1/total/", "GET", [], b"", "KeyError", "= PRICE_LIST_CENTS[sku]"),
        ("/api/items/", "POST", [["Content-Type", "application/json"], ["Content-Length", "9"]], b"{not json",
         "JSONDecodeError", None),
        ("/api/items/999/", "GET", [], b"", None, None),
        ("/session/?reset=1", "GET", [], b"", "KeyError", 'del session["visit_count"]'),
    ]


def _check_bug(response, exc_type, file, needle):
    if not file.read_text().count(needle or ""):
        file = DJANGO_DIR / "shop" / "orders.py"  # Django keeps order pricing apart
    assert response["status"].startswith("500"), response["status"]
    exc = response["exception"]
    assert exc is not None
    if exc_type:
        assert exc["type"] == exc_type
    if needle:
        frame = last_app_frame(exc)
        assert frame["file"] == str(file)
        assert frame["line"] == source_line_of(file, needle)
        assert [frame["line"], next(l for n, l in frame["source"] if n == frame["line"])] in frame["source"]
        assert len(frame["source"]) == 11


@pytest.mark.parametrize("case", range(5))
def test_flask_bug_traceback(flask_worker, case):
    target, method, headers, body, exc_type, needle = _bug_cases()[case]
    response, _ = flask_worker.request(target, method=method, headers=[["Host", "localhost"], *headers], body=body)
    _check_bug(response, exc_type, FLASK_APP, needle)


@pytest.mark.parametrize("case", range(5))
def test_django_bug_traceback_with_debug_false(django_worker, case):
    target, method, headers, body, exc_type, needle = _bug_cases()[case]
    response, response_body = django_worker.request(target, method=method, headers=[["Host", "localhost"], *headers],
                                                    body=body)
    if target == "/api/items/999/":
        # Django's view uses Item.objects.get: DoesNotExist, answered with a 500.
        assert response["exception"]["type"] == "Item.DoesNotExist"
    elif target == "/session/?reset=1":
        assert response["exception"]["type"] == "KeyError"
    else:
        _check_bug(response, exc_type, DJANGO_VIEWS, needle)
    assert b"Traceback" not in response_body  # DEBUG stayed off: a plain 500 page


def test_django_boom_frames_are_app_and_library(django_worker):
    response, _ = django_worker.request("/boom/")
    frames = response["exception"]["frames"]
    assert frames[0]["app"] is False and "django" in frames[0]["file"]
    assert [f["function"] for f in frames if f["app"]][-1] == "_discount_percent"
    assert last_app_frame(response["exception"])["locals"] == {
        "list_price_cents": "0", "sale_price_cents": "0", "saved": "0"}
    assert not any(f["file"].startswith("<hindsight>") for f in frames)


def test_locals_are_bounded_and_a_broken_repr_is_contained(plain_worker):
    response, _ = plain_worker.request("/locals/")
    frame = last_app_frame(response["exception"])
    assert frame["line"] == source_line_of(APPS / "plain_app.py", "LOCALS_LINE")
    loc = frame["locals"]
    assert loc["broken"].startswith("<repr failed: RuntimeError: repr exploded")
    assert len(loc["long_text"]) <= 200 and len(loc["big_list"]) <= 200
    assert loc["big_list"].count(",") <= 20
    assert "'e'" not in loc["nested"] and "..." in loc["nested"]
    assert "start_response" in loc and "environ" in loc


def test_chain_and_notes(plain_worker):
    response, _ = plain_worker.request("/chain/")
    exc = response["exception"]
    assert exc["type"] == "ValueError" and exc["notes"] == ["order 7 came from the EU shop"]
    assert [(c["relation"], c["type"], c["message"]) for c in exc["chain"]] == [("cause", "KeyError", "'missing'")]
    assert exc["chain"][0]["frames"][-1]["function"] == "_chained"


def test_traceback_hide_is_honoured(plain_worker):
    response, _ = plain_worker.request("/hidden/")
    functions = [f["function"] for f in response["exception"]["frames"]]
    assert functions == ["application"]


# ---------------------------------------------------------------------------------------
# Rollback (Django)
# ---------------------------------------------------------------------------------------

def _count_items(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM shop_item").fetchone()[0]


@pytest.fixture
def rollback_worker(worker_factory, tmp_path):
    w = worker_factory()
    (tmp_path / "mail").mkdir()
    env = dict(django_env(tmp_path), DJANGO_SETTINGS_MODULE="rollback_settings",
               HINDSIGHT_TEST_MAIL_DIR=str(tmp_path / "mail"))
    loaded = w.load("myapp.wsgi", DJANGO_DIR, env, pythonpath=[APPS])
    assert loaded["type"] == "loaded", loaded
    return w, tmp_path / "django.sqlite3"


def test_rollback_contains_inserts_and_mail(rollback_worker):
    w, db = rollback_worker
    before = _count_items(db)
    response, _ = w.request("/insert-then-raise/")
    assert response["exception"]["type"] == "RuntimeError" and response["status"].startswith("500")
    assert response["rolled_back"] == ["database default", "mail (1 message)"]
    response, body = w.request("/insert-ok/")
    assert body == b"inserted" and response["rolled_back"] == ["database default", "mail (1 message)"]
    assert _count_items(db) == before
    assert list((db.parent / "mail").iterdir()) == []


def test_rollback_false_commits(rollback_worker):
    w, db = rollback_worker
    before = _count_items(db)
    response, _ = w.request("/insert-then-raise/", rollback=False)
    assert response["rolled_back"] == [] and response["exception"]["type"] == "RuntimeError"
    response, body = w.request("/insert-ok/", rollback=False)
    assert body == b"inserted"
    assert _count_items(db) == before + 2
    assert len(list((db.parent / "mail").iterdir())) >= 1


# ---------------------------------------------------------------------------------------
# Crashes
# ---------------------------------------------------------------------------------------

def test_segfault_kills_the_worker_with_the_python_stack_on_stderr(plain_worker):
    plain_worker.send({"type": "request", "method": "GET", "target": "/segfault/", "headers": []})
    with pytest.raises(EOFError):
        plain_worker.recv()
    assert plain_worker.proc.wait(20) == -signal.SIGSEGV
    stderr = plain_worker.stderr()
    assert "Fatal Python error: Segmentation fault" in stderr
    assert re.search(r'File "%s", line \d+ in application' % re.escape(str(APPS / "plain_app.py")), stderr), stderr


# ---------------------------------------------------------------------------------------
# pdb, in a real pseudo-terminal
# ---------------------------------------------------------------------------------------

def _pdb_session(app, chdir, request, env=None):
    pexpect = pytest.importorskip("pexpect")
    args = [str(APPS / "pdb_parent.py"), WORKER_BIN, app, str(chdir), json.dumps(request)]
    if env:
        args.append(json.dumps(env))
    return pexpect.spawn(PYTHON, args, timeout=30, encoding="utf-8", env=dict(os.environ, TERM="dumb"))


def _response_of(child):
    child.expect(r"RESPONSE (\{.*\})\r\n")
    return json.loads(child.match.group(1))


def test_pdb_stops_in_the_django_view(tmp_path):
    child = _pdb_session("myapp.wsgi", DJANGO_DIR,
                         {"method": "GET", "target": "/boom/", "headers": [["Host", "localhost"]], "mode": "pdb"},
                         django_env(tmp_path))
    child.expect(r"> .*shop/views\.py\(\d+\)boom\(\)")
    child.expect(r"\(Pdb\) ")
    child.sendline("p request.path")
    child.expect("'/boom/'")
    child.expect(r"\(Pdb\) ")
    child.sendline("c")
    response = _response_of(child)
    assert response["status"].startswith("500") and response["debugger_used"] is True
    assert response["exception"]["type"] == "ZeroDivisionError"
    child.expect(pexpect_eof())


def test_pdb_stops_in_the_flask_view_not_in_before_request(tmp_path):
    child = _pdb_session("app:app", FLASK_DIR,
                         {"method": "GET", "target": "/boom/?x=1", "headers": [["Host", "localhost"]], "mode": "pdb"},
                         flask_env(tmp_path))
    child.expect(r"> .*flask/app\.py\(\d+\)boom\(\)")
    child.expect(r"\(Pdb\) ")
    child.sendline("p request.path, request.args['x']")
    child.expect(r"\('/boom/', '1'\)")
    child.sendline("c")
    response = _response_of(child)
    assert response["status"].startswith("500") and response["debugger_used"] is True


def pexpect_eof():
    import pexpect
    return pexpect.EOF


def test_pdb_conditional_breakpoint(tmp_path):
    line = source_line_of(APPS / "plain_app.py", "BREAK_LINE")
    child = _pdb_session("plain_app", APPS, {
        "method": "GET", "target": "/break/", "headers": [],
        "breaks": [{"file": "plain_app.py", "line": line, "condition": "order_id == 7"}]})
    child.expect(r"plain_app\.py\(%d\)application\(\)" % line)
    child.expect(r"\(Pdb\) ")
    child.sendline("p order_id, total")
    child.expect(r"\(7, 21\)")
    child.sendline("c")
    response = _response_of(child)
    assert response["body"] == "45" and response["debugger_used"] is True


def test_ctrl_d_detaches_and_the_request_runs_to_its_end(tmp_path):
    # A breakpoint hit ten times: after Ctrl-D at the first stop, none of the others stop.
    line = source_line_of(APPS / "plain_app.py", "BREAK_LINE")
    child = _pdb_session("plain_app", APPS, {
        "method": "GET", "target": "/break/", "headers": [],
        "breaks": [{"file": "plain_app.py", "line": line}]})
    child.expect(r"\(Pdb\) ")
    child.sendcontrol("d")
    child.expect("detached: the request continues without the debugger")
    response = _response_of(child)
    assert response["status"] == "200 OK" and response["body"] == "45", response
    assert response["exception"] is None and response["debugger_used"] is True


def test_the_apps_own_set_trace_without_a_terminal_lets_the_request_finish(plain_worker):
    # stdin is /dev/null: pdb reads end of input at once, which detaches.
    response, body = plain_worker.request("/set-trace/")
    assert response["status"] == "200 OK" and body == b"own-set-trace", response
    assert response["exception"] is None


def test_post_mortem_on_a_flask_500(tmp_path):
    child = _pdb_session("app:app", FLASK_DIR, {"method": "GET", "target": "/boom/", "headers": [["Host", "x"]],
                                                "mode": "post_mortem"}, flask_env(tmp_path))
    child.expect(r"_discount_percent\(\)")
    child.expect(r"\(Pdb\) ")
    child.sendline("p list_price_cents")
    child.expect(r"\r\n0\r\n")
    child.sendline("c")
    response = _response_of(child)
    assert response["debugger_used"] is True and response["exception"]["type"] == "ZeroDivisionError"


def test_the_apps_own_set_trace_opens_pdb(tmp_path):
    child = _pdb_session("plain_app", APPS, {"method": "GET", "target": "/set-trace/", "headers": []})
    child.expect(r"\(Pdb\) ")
    child.sendline("p marker")
    child.expect("'own-set-trace'")
    child.sendline("c")
    response = _response_of(child)
    assert response["body"] == "own-set-trace" and response["debugger_used"] is True
    assert response["events"] == [{"type": "debugger", "event": "prompt"}], response


def test_breakpoint_importing_pdb_mid_request_is_a_debugger_session(tmp_path):
    # timeout_s is shorter than the time spent at the prompt: the soft timeout must be
    # disarmed by the prompt even though pdb was first imported by breakpoint() itself.
    child = _pdb_session("breakpoint_app:app", APPS, {"method": "GET", "target": "/", "headers": [], "timeout_s": 1})
    child.expect(r"\(Pdb\) ")
    child.sendline("p marker")
    child.expect("'builtin-breakpoint'")
    child.expect(r"\(Pdb\) ")
    time.sleep(1.5)
    child.sendline("c")
    response = _response_of(child)
    assert response["body"] == "builtin-breakpoint", response
    assert response["debugger_used"] is True and response["timed_out"] is False, response


def test_run_mode_opens_no_debugger(plain_worker):
    response, _ = plain_worker.request("/break/")
    assert response["debugger_used"] is False


# ---------------------------------------------------------------------------------------
# The environ oracle: the same bytes through a live gunicorn and through the worker
# ---------------------------------------------------------------------------------------

MULTIPART = (b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
             b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
             b"Content-Type: application/octet-stream\r\n\r\n\x00\x01\xff binary\r\n--XyZ--\r\n")
CHUNKED = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"


def _raw(line: str, headers=(), body: bytes = b"") -> bytes:
    head = line + "\r\n" + "".join(f"{h}\r\n" for h in headers) + "\r\n"
    return head.encode("latin-1") + body


def environ_requests(path: str) -> list[bytes]:
    """Varied raw requests whose target routes to `path` (the environ endpoint)."""
    p = path
    return [
        _raw(f"GET {p} HTTP/1.1", ["Host: localhost"]),
        _raw(f"GET {p} HTTP/1.1", ["Host: example.com:8080"]),
        _raw(f"GET {p} HTTP/1.1", ["Host: example.com"]),
        _raw(f"GET {p} HTTP/1.0"),
        _raw(f"GET {p}?a=1&b=2 HTTP/1.1", ["Host: h"]),
        _raw(f"GET {p}?q=a+b&q=c%20d&q=%2B HTTP/1.1", ["Host: h"]),
        _raw(f"GET {p}?x=1&x=2&x=3&empty=&flag HTTP/1.1", ["Host: h"]),
        _raw(f"GET {p}?caf%C3%A9=%E2%82%AC&raw=\xc3\xa9 HTTP/1.1", ["Host: h"]),
        _raw(f"GET {p}? HTTP/1.1", ["Host: h"]),
        _raw(f"GET {p.replace('e', '%65', 1)} HTTP/1.1", ["Host: h"]),
        _raw(f"GET {p} HTTP/1.1", ["Host: h", "Accept: text/html", "Accept: application/json"]),
        _raw(f"GET {p} HTTP/1.1", ["Host: h", "X-Dup: one", "X-Dup: two", "x-dup: three"]),
        _raw(f"GET {p} HTTP/1.1", ["Host: h", "Cookie: a=1", "Cookie: b=2"]),
        _raw(f"GET {p} HTTP/1.1", ["Host: h", "X-Long: " + "L" * 4000]),
        _raw(f"GET {p} HTTP/1.1", ["Host: h", "X-Latin: caf\xe9", "X-Spaces:    padded"]),
        _raw(f"GET {p} HTTP/1.1", ["Host: h", "X-Under_Score: u", "x-lower-case: l"]),
        _raw(f"GET {p} HTTP/1.1", ["Host: h", "Connection: keep-alive", "Keep-Alive: timeout=5", "TE: trailers",
                                   "Proxy-Connection: keep-alive", "Upgrade-Insecure-Requests: 1"]),
        _raw(f"GET {p} HTTP/1.1", ["Host: h", "X-Forwarded-Proto: https", "X-Forwarded-For: 203.0.113.7"]),
        _raw(f"GET {p} HTTP/1.1", ["Host: h", "X-Forwarded-Proto: http"]),
        _raw(f"GET {p} HTTP/1.1", ["Host: h", "Authorization: Bearer abc.def", "User-Agent: curl/7.88"]),
        _raw(f"GET http://absolute.example{p}?abs=1 HTTP/1.1", ["Host: absolute.example"]),
        _raw(f"GET {p} HTTP/1.1", ["Host: h", "Accept-Encoding: gzip, br", 'If-None-Match: "abc"']),
        _raw(f"DELETE {p}?id=3 HTTP/1.1", ["Host: h"]),
        _raw(f"OPTIONS {p} HTTP/1.1", ["Host: h"]),
        _raw(f"POST {p} HTTP/1.1", ["Host: h", "Content-Length: 0"]),
        _raw(f"POST {p} HTTP/1.1", ["Host: h", "Content-Type: application/x-www-form-urlencoded",
                                    "Content-Length: 15"], b"a=1&b=caf%C3%A9"),
        _raw(f"POST {p} HTTP/1.1", ["Host: h", "Content-Type: application/json; charset=utf-8",
                                    "Content-Length: 19"], b'{"k": "caf\xc3\xa9", "n": 1}'[:19]),
        _raw(f"POST {p} HTTP/1.1", ["Host: h", "Content-Type: multipart/form-data; boundary=XyZ",
                                    f"Content-Length: {len(MULTIPART)}"], MULTIPART),
        _raw(f"POST {p} HTTP/1.1", ["Host: h", "Transfer-Encoding: chunked", "Content-Type: text/plain"], CHUNKED),
        _raw(f"PUT {p} HTTP/1.1", ["Host: h", "Content-Length: 12", "Expect: 100-continue"], b"line1\nline2\n"),
        _raw(f"PATCH {p} HTTP/1.1", ["Host: h", "Content-Length: 6"], b"\x00\x01\x02\xfe\xff\n"),
        _raw(f"GET {p} HTTP/1.1", ["Host: h", "Content-Type: text/plain"]),
        _raw(f"GET {p} HTTP/1.1", ["Host: [::1]:8000"]),
    ]


ECHO_ONLY_TARGETS = ["/caf%C3%A9/na%20me", "/caf\xc3\xa9/raw", "//double//slash", "/semi;colon=1/x",
                     "/a%2Fb/%25literal", "/plus+sign/", "/frag?x=1#fragment", "/pct%zz/"]


def split_raw(raw: bytes):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = [[n, v.lstrip(" \t")] for n, v in (line.split(":", 1) for line in lines[1:])]
    return method, target, version, headers, body


def exchange(address, raw: bytes) -> bytes:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(address)
        # Connection: close is added by the test client (the same bytes go to the worker).
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    while data.startswith(b"HTTP/1.1 100"):
        data = data.partition(b"\r\n\r\n")[2]
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"200", head
    return body


class Gunicorn:
    def __init__(self, tmp_path, spec, chdir, bind, env=None, pythonpath=None):
        args = [GUNICORN, "-w", "1", "-b", bind, "--chdir", str(chdir), "--log-level", "warning"]
        if pythonpath:
            args += ["--pythonpath", str(pythonpath)]
        self.log = open(tmp_path / f"gunicorn-{time.monotonic_ns()}.log", "wb")
        self.proc = subprocess.Popen(args + [spec], env=dict(os.environ, **(env or {})),
                                     stdout=self.log, stderr=self.log)
        self.address = bind[5:] if bind.startswith("unix:") else (bind.split(":")[0], int(bind.split(":")[1]))
        deadline = time.monotonic() + 20
        while True:
            try:
                family = socket.AF_UNIX if isinstance(self.address, str) else socket.AF_INET
                with socket.socket(family) as s:
                    s.connect(self.address)
                break
            except OSError:
                assert self.proc.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def compare_environ(worker, live_address, server, raw, remote_addr_tcp=True):
    live = json.loads(exchange(live_address, raw))
    method, target, version, headers, body = split_raw(raw)
    xfp = next((v for n, v in headers if n.lower() == "x-forwarded-proto"), None)
    response, replay_body = worker.request(
        target, method=method, headers=headers, body=body, version=version,
        scheme="https" if xfp == "https" else "http",
        remote_addr=live["REMOTE_ADDR"], remote_port=live.get("REMOTE_PORT", ""), server=server)
    assert response["exception"] is None, response["exception"]
    replay = json.loads(replay_body)
    live_keys = {k: v for k, v in live.items() if k not in SERVER_OBJECTS}
    replay_keys = {k: v for k, v in replay.items() if k not in SERVER_OBJECTS}
    assert replay_keys == live_keys, raw[:200]
    # Every key gunicorn sets is there, server objects included; only the socket is not.
    assert set(live) - {"gunicorn.socket"} == set(replay)
    return live


@pytest.fixture
def live_flask(tmp_path):
    port = free_port_for_worker_tests()
    g = Gunicorn(tmp_path, "app:app", FLASK_DIR, f"127.0.0.1:{port}", flask_env(tmp_path))
    yield g
    g.stop()


def with_close(raw: bytes) -> bytes:
    head, sep, body = raw.partition(b"\r\n\r\n")
    return head + b"\r\nConnection: close" + sep + body


def test_environ_matches_live_gunicorn_flask_tcp(live_flask, flask_worker):
    requests = [with_close(r) for r in environ_requests("/environ/")]
    assert len(requests) >= 30
    seen = []
    for raw in requests:
        seen.append(compare_environ(flask_worker, live_flask.address, list(live_flask.address), raw))
    # The oracle really varied: these differ between requests.
    assert {e["wsgi.url_scheme"] for e in seen} == {"http", "https"}
    assert any(e["body"] == "hello, world" for e in seen)  # the chunked body, decoded
    assert any("HTTP_X_DUP" in e and e["HTTP_X_DUP"] == "one,two,three" for e in seen)


def test_environ_matches_live_gunicorn_unix_socket_and_odd_paths(tmp_path, worker_factory):
    sock = str(tmp_path / "echo.sock")
    g = Gunicorn(tmp_path, "environ_echo:app", APPS, f"unix:{sock}", env={"SCRIPT_NAME": ""})
    try:
        w = worker_factory()
        assert w.load("environ_echo:app", APPS)["type"] == "loaded"
        raws = [with_close(_raw(f"GET {t} HTTP/1.1", ["Host: h.example:81"])) for t in ECHO_ONLY_TARGETS]
        raws += [with_close(r) for r in environ_requests("/any/")[:12]]
        for i, raw in enumerate(raws):
            # `server` as a path, or as [path, port] as hindsight replay sends it.
            live = compare_environ(w, sock, sock if i % 2 else [sock, "80"], raw)
            assert live["REMOTE_ADDR"] == "" and "REMOTE_PORT" not in live
            assert live["after_read"] is True
    finally:
        g.stop()


def test_environ_script_name_from_the_environment(tmp_path, worker_factory):
    sock = str(tmp_path / "echo.sock")
    g = Gunicorn(tmp_path, "environ_echo:app", APPS, f"unix:{sock}", env={"SCRIPT_NAME": "/mount"})
    try:
        w = worker_factory()
        assert w.load("environ_echo:app", APPS, env={"SCRIPT_NAME": "/mount"})["type"] == "loaded"
        for t in ["/mount/x/y?z=1", "/mount/", "/mount/%C3%A9"]:
            live = compare_environ(w, sock, sock, with_close(_raw(f"GET {t} HTTP/1.1", ["Host: h"])))
            assert live["SCRIPT_NAME"] == "/mount"
    finally:
        g.stop()


def test_environ_matches_live_gunicorn_django(tmp_path, django_worker):
    sock = str(tmp_path / "django.sock")
    g = Gunicorn(tmp_path, "myapp.wsgi", DJANGO_DIR, f"unix:{sock}", django_env(tmp_path))
    try:
        # Not the HTTP/1.0 request without Host: Django answers 400 for the unix socket path.
        for raw in environ_requests("/environ/")[:3] + environ_requests("/environ/")[4:6] + \
                environ_requests("/environ/")[25:29]:
            compare_environ(django_worker, sock, sock, with_close(raw))
    finally:
        g.stop()


def test_a_breakpoint_on_a_missing_line_is_a_warning(plain_worker):
    response, body = plain_worker.request("/break/", breaks=[{"file": "plain_app.py", "line": 99999}])
    assert body == b"45" and response["debugger_used"] is False
    assert len(response["warnings"]) == 1 and "99999" in response["warnings"][0]
