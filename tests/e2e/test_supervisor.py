"""The supervised app, start-up errors, shutdown, logs: `hindsight run ... -- COMMAND`."""

import json
import os
import re
import signal
import socket
import stat
import subprocess
import time

import pytest

from conftest import (PYTHON, TINY_APP, Addr, Client, assert_own_answer, build_request,
                      children_of, cmdline, descendants_of, exchange, free_port, ok_handler,
                      parse_response, wait_gone, wait_until)


def tiny(*args) -> list:
    return ["--", PYTHON, str(TINY_APP), *map(str, args)]



def get(target, **kw):
    return build_request("GET", target, **kw)


# ---------------------------------------------------------------------------------------
# Start-up and readiness
# ---------------------------------------------------------------------------------------


def test_ready_only_after_the_app_listens(hindsight_factory, workdir):
    marker = workdir / "listening"
    hs = hindsight_factory(tiny("--delay", 2, "--marker", marker), ready=False)
    line = hs.wait_for_line(r"ready:", timeout=20)
    listened = marker.exists()
    assert line is not None, hs.describe_output()
    assert listened, "hindsight said ready: before the app listened"
    r = hs.get("/")
    assert r.status == 200 and r.body == b"tiny", r


def test_connection_before_ready_waits_for_the_app(hindsight_factory, workdir):
    """The public socket is bound before the app starts; an early client waits, it is not refused."""
    marker = workdir / "listening"
    hs = hindsight_factory(tiny("--delay", 2, "--marker", marker), ready=False)
    sock = None
    deadline = time.monotonic() + 10
    while sock is None:
        try:
            sock = hs.listen.connect(timeout=20)
        except OSError:
            assert time.monotonic() < deadline, "the public address was never bound"
            time.sleep(0.05)
    c = Client(hs.listen, timeout=30, sock=sock)
    assert not marker.exists(), "the app was already listening; the test proves nothing"
    c.send(get("/"))
    r = c.read_response(timeout=30)
    c.close()
    assert r.status == 200 and r.body == b"tiny", r


@pytest.mark.parametrize("kind", ["django", "flask"])
def test_requests_reach_the_app(start_app, kind):
    hs = start_app(kind)
    r = hs.get("/health/")
    assert r.status == 200 and r.body == b"ok", r
    boom = hs.get("/boom/")
    assert boom.status == 500, boom
    assert boom.header("server") != "hindsight", "the app's 500 was replaced by one of hindsight's own"
    env = hs.get("/environ/?q=1").json()
    assert env["QUERY_STRING"] == "q=1" and env["REQUEST_METHOD"] == "GET"


def test_app_output_passes_through(hindsight_factory):
    hs = hindsight_factory(tiny())
    assert hs.wait_for_line(r"tiny-app stdout hello", timeout=10, stream=None), hs.describe_output()
    assert hs.wait_for_line(r"tiny-app stderr hello", timeout=10, stream=None), hs.describe_output()


def test_gunicorn_output_passes_through(django_app):
    assert django_app.wait_for_line(r"Booting worker with pid", timeout=10, stream=None), \
        django_app.describe_output()


def test_app_gets_socket_and_rewritten_bind(hindsight_factory, workdir):
    port = free_port()
    other = f"127.0.0.1:{free_port()}"
    argv_file = workdir / "argv.json"
    hs = hindsight_factory(tiny("--argv-file", argv_file, "-b", f"127.0.0.1:{port}", other),
                           listen=Addr.tcp("127.0.0.1", port))
    seen = json.loads(argv_file.read_text())
    inner = str(hs.data / "app.sock")
    assert seen["SOCKET"] == inner
    b = seen["argv"][seen["argv"].index("-b") + 1]
    assert b != f"127.0.0.1:{port}" and inner in b, f"-b not rewritten to the inner socket: {seen['argv']}"
    assert other in seen["argv"], f"an address with another port was rewritten: {seen['argv']}"
    assert hs.get("/").body == b"tiny"


@pytest.mark.parametrize("form", ["tcp:127.0.0.1:{port}", "--bind=127.0.0.1:{port}"])
def test_other_bind_forms_are_rewritten(hindsight_factory, workdir, form):
    port = free_port()
    argv_file = workdir / "argv.json"
    arg = form.format(port=port)
    args = ["--argv-file", argv_file] + (["-b", arg] if not arg.startswith("--") else [arg])
    hs = hindsight_factory(tiny(*args), listen=Addr.tcp("127.0.0.1", port))
    seen = json.loads(argv_file.read_text())
    assert arg not in seen["argv"], f"not rewritten: {seen['argv']}"
    assert str(hs.data / "app.sock") in " ".join(seen["argv"])
    assert hs.get("/").body == b"tiny"


def test_unix_listen_path_is_rewritten(hindsight_factory, workdir):
    public = workdir / "public.sock"
    argv_file = workdir / "argv.json"
    hs = hindsight_factory(tiny("--argv-file", argv_file, "-b", f"unix:{public}"), listen=Addr.unix(public))
    seen = json.loads(argv_file.read_text())
    b = seen["argv"][seen["argv"].index("-b") + 1]
    assert b == f"unix:{hs.data / 'app.sock'}", seen["argv"]
    assert hs.get("/").body == b"tiny"


def test_inner_tcp(hindsight_factory, workdir):
    port = free_port()
    argv_file = workdir / "argv.json"
    hs = hindsight_factory(["--inner", "tcp", *tiny("--argv-file", argv_file, "-b", f"127.0.0.1:{port}")],
                           listen=Addr.tcp("127.0.0.1", port))
    seen = json.loads(argv_file.read_text())
    assert seen["PORT"] and int(seen["PORT"]) != port
    assert f"127.0.0.1:{seen['PORT']}" in seen["argv"], seen["argv"]
    assert hs.get("/").body == b"tiny"


def test_socket_env_as_listen_default(hindsight_factory, workdir):
    """Platform.sh: the router talks to $SOCKET; the app gets its own inner SOCKET."""
    public = workdir / "router.sock"
    argv_file = workdir / "argv.json"
    hs = hindsight_factory(tiny("--argv-file", argv_file), listen=Addr.unix(public), add_listen=False,
                           env={"SOCKET": str(public)})
    assert public.exists()
    seen = json.loads(argv_file.read_text())
    assert seen["SOCKET"] == str(hs.data / "app.sock")
    assert hs.get("/").body == b"tiny"


def test_port_env_as_listen_default(proxied, workdir):
    port = free_port()
    hs, up = proxied(ok_handler, listen=Addr.tcp("127.0.0.1", port), add_listen=False, env={"PORT": str(port)})
    assert hs.get("/").body == b"ok"


def test_data_dir_default_from_env_and_created_0700(upstream_factory, hindsight_factory, workdir):
    up = upstream_factory(ok_handler)
    data = workdir / "from-env" / "data"
    hs = hindsight_factory(["--upstream", up.arg], add_data=False, env={"HINDSIGHT_DATA": str(data)})
    assert data.is_dir()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert hs.get("/").body == b"ok"


@pytest.mark.parametrize("listen_arg,addr", [
    ("tcp:127.0.0.1:{port}", ("127.0.0.1",)),
    ("127.0.0.1:{port}", ("127.0.0.1",)),
    ("[::1]:{port}", ("::1",)),
], ids=["tcp-prefix", "host-port", "ipv6"])
def test_listen_address_forms(proxied, listen_arg, addr):
    port = free_port(addr[0])
    hs, up = proxied(ok_handler, "--listen", listen_arg.format(port=port),
                     listen=Addr.tcp(addr[0], port), add_listen=False)
    assert hs.get("/").body == b"ok"


@pytest.mark.parametrize("dur", ["10", "10s", "500ms", "2m", "1h"])
def test_duration_forms(proxied, dur):
    hs, up = proxied(ok_handler, "--idle-timeout", dur)
    assert hs.get("/").body == b"ok"


# ---------------------------------------------------------------------------------------
# The app dies
# ---------------------------------------------------------------------------------------

SIGNAL_LOG = r"(?i)(SIGKILL|signal 9\b|killed)"


def test_gunicorn_killed_is_logged_and_restarted(start_app):
    hs = start_app("django")
    master = hs.app_root("gunicorn")
    workers = children_of(master)
    assert workers, "gunicorn has no workers"
    mark = hs.line_count()
    for pid in [master, *workers]:
        os.kill(pid, signal.SIGKILL)
    assert hs.wait_for_line(SIGNAL_LOG, timeout=10, start=mark), \
        f"no log line naming the signal that killed the app\n{hs.describe_output()}"
    statuses = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = hs.get("/health/", timeout=30)
        statuses.append(r.status)
        if r.status == 200:
            break
        assert_own_answer(r, {502})
        time.sleep(0.2)
    assert statuses[-1] == 200, f"the app never came back: {statuses}\n{hs.describe_output()}"
    new_master = hs.app_root("gunicorn")
    assert new_master != master
    assert hs.running()


def test_requests_get_502_while_the_app_is_down(hindsight_factory, workdir):
    hs = hindsight_factory(tiny("--state", workdir / "started", "--restart-delay", 4))
    first = int(hs.get("/pid").body)
    mark = hs.line_count()
    os.kill(first, signal.SIGKILL)
    assert hs.wait_for_line(SIGNAL_LOG, timeout=10, start=mark), hs.describe_output()
    r = hs.get("/pid")
    assert_own_answer(r, {502})
    assert b"hindsight: " in r.body
    deadline = time.monotonic() + 60
    while True:
        r = hs.get("/pid", timeout=30)
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status == 200, hs.describe_output()
    assert int(r.body) != first


def test_app_that_exits_is_restarted(hindsight_factory):
    hs = hindsight_factory(tiny("--exit-after", 1))
    first = int(hs.get("/pid").body)
    assert wait_gone([first], 20) == [], "the app did not exit as told"
    deadline = time.monotonic() + 60
    while True:
        r = hs.get("/pid", timeout=30)
        if (r.status == 200 and int(r.body) != first) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status == 200 and int(r.body) != first, hs.describe_output()
    assert re.search(r"\b3\b", hs.stderr_text()), "the app's exit status (3) is not logged"


def test_app_that_never_listens(hindsight_factory):
    code = 'import sys,time; print("boom: cannot import settings", file=sys.stderr, flush=True); time.sleep(60)'
    hs = hindsight_factory(["--ready-timeout", "2s", "--", PYTHON, "-c", code], ready=False)
    app = hs.app_root("python3", timeout=10)
    rc = hs.wait_exit(30)
    assert rc is not None, "hindsight still running 30 s after --ready-timeout 2s"
    assert rc != 0
    err = hs.stderr_text()
    assert "hindsight: error:" in err, err
    assert str(hs.data / "app.sock") in err, f"the message does not name the address waited on:\n{err}"
    assert "boom: cannot import settings" in err, f"the app's last stderr line is not shown:\n{err}"
    assert wait_gone([app], 10) == [], "the app was left running"


def test_command_not_found(hindsight_factory):
    hs = hindsight_factory(["--", "/nonexistent/hindsight-e2e-cmd", "--flag"], ready=False)
    rc = hs.wait_exit(30)
    assert rc == 1, f"exit status {rc}\n{hs.describe_output()}"
    err = hs.stderr_text()
    assert "hindsight: error:" in err and "/nonexistent/hindsight-e2e-cmd" in err, err


# ---------------------------------------------------------------------------------------
# Shutdown
# ---------------------------------------------------------------------------------------


def test_sigterm_drains_in_flight_requests(start_app):
    hs = start_app("django")
    app_pids = [hs.app_root("gunicorn")]
    app_pids += descendants_of(app_pids[0])
    slow = hs.client(timeout=30)
    slow.send(get("/slow/?seconds=2"))
    time.sleep(0.7)  # the request is with the app now
    hs.signal(signal.SIGTERM)
    time.sleep(0.5)
    # New connections are refused (or at least never served) once draining started.
    try:
        data, _ = exchange(hs.listen, get("/health/"), timeout=10)
        assert not data or parse_response(data).status != 200, f"served a new request while draining: {data!r}"
    except (ConnectionRefusedError, ConnectionResetError, FileNotFoundError):
        pass
    r = slow.read_response(timeout=30)
    slow.close()
    assert r.status == 200 and r.body.startswith(b"slept 2"), r
    rc = hs.wait_exit(40)
    assert rc == 0, f"exit status {rc}\n{hs.describe_output()}"
    assert wait_gone(app_pids, 10) == [], "gunicorn processes survived hindsight"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_app_and_exits_0(hindsight_factory, sig):
    hs = hindsight_factory(tiny())
    app = hs.app_root("tiny_app.py")
    hs.signal(sig)
    assert hs.wait_exit(30) == 0, hs.describe_output()
    assert wait_gone([app], 10) == []


def test_app_ignoring_sigterm_is_killed_after_stop_timeout(hindsight_factory):
    hs = hindsight_factory(["--stop-timeout", "1s", *tiny("--ignore-term")])
    app = hs.app_root("tiny_app.py")
    hs.signal(signal.SIGTERM)
    assert hs.wait_exit(30) == 0, hs.describe_output()
    assert wait_gone([app], 10) == []


# ---------------------------------------------------------------------------------------
# Start-up and usage errors
# ---------------------------------------------------------------------------------------


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _expect_data_dir_error(hs, path) -> str:
    rc = hs.wait_exit(20)
    err = hs.stderr_text()
    assert rc == 1, f"exit status {rc}\n{err}"
    assert err.startswith("hindsight: error:") or "\nhindsight: error:" in err, err
    assert str(path) in err, err
    return err


def test_read_only_data_dir_asks_for_a_writable_mount(hindsight_factory, workdir):
    """As on Platform.sh after the build: the data directory is on a read-only file system.
    (root ignores permission bits, so a read-only tmpfs in a private mount namespace it is.)"""
    if not _unshare_works():
        pytest.skip("cannot create a mount namespace here (unshare --mount)")
    ro = workdir / "ro"
    ro.mkdir()
    data = ro / "data"
    wrapper = ["unshare", "--mount", "sh", "-c", f'mount -t tmpfs -o ro tmpfs "{ro}" && exec "$0" "$@"']
    hs = hindsight_factory(["--upstream", f"unix:{workdir}/up.sock"], data=data, prefix=wrapper, ready=False)
    err = _expect_data_dir_error(hs, data)
    assert "writable mount" in err.lower(), err


def test_data_dir_where_mkdir_is_not_permitted(hindsight_factory, workdir):
    data = f"/sys/hindsight-e2e-{os.getpid()}"
    hs = hindsight_factory(["--upstream", f"unix:{workdir}/up.sock"], data=data, ready=False)
    err = _expect_data_dir_error(hs, data)
    assert "writable mount" in err.lower(), err


def test_data_dir_under_a_file(hindsight_factory, workdir):
    (workdir / "file").write_text("not a directory")
    bad = workdir / "file" / "sub"
    hs = hindsight_factory(["--upstream", f"unix:{workdir}/up.sock"], data=bad, ready=False)
    _expect_data_dir_error(hs, bad)


def test_listen_address_in_use(hindsight_factory, workdir):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        hs = hindsight_factory(["--upstream", f"unix:{workdir}/up.sock"], listen=Addr.tcp("127.0.0.1", port),
                               ready=False)
        rc = hs.wait_exit(20)
    finally:
        taken.close()
    err = hs.stderr_text()
    assert rc == 1, f"exit status {rc}\n{err}"
    assert "hindsight: error:" in err and f"127.0.0.1:{port}" in err, err


def test_stale_unix_socket_is_replaced(proxied, workdir):
    path = workdir / "stale.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()  # the file stays; nobody listens
    hs, up = proxied(ok_handler, listen=Addr.unix(path))
    assert hs.get("/").body == b"ok"


def test_live_unix_socket_is_not_taken_over(hindsight_factory, workdir):
    path = workdir / "live.sock"
    live = socket.socket(socket.AF_UNIX)
    live.bind(str(path))
    live.listen(1)
    try:
        hs = hindsight_factory(["--upstream", f"unix:{workdir}/up.sock"], listen=Addr.unix(path), ready=False)
        rc = hs.wait_exit(20)
        err = hs.stderr_text()
        assert rc == 1, f"exit status {rc}\n{err}"
        assert "hindsight: error:" in err and str(path) in err, err
        # The other server's socket still works.
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(5)
        c.connect(str(path))
        c.close()
    finally:
        live.close()


@pytest.mark.parametrize("args,needle", [
    (["--no-such-flag"], "--no-such-flag"),
    (["--idle-timeout", "soon"], "soon"),
    (["--idle-timeout", "10parsecs"], "10parsecs"),
    (["--log-format", "xml"], "xml"),
    (["--log-level", "loud"], "loud"),
    (["--listen", "not an address"], "not an address"),
    (["--max-connections", "many"], "many"),
], ids=["unknown-flag", "bad-duration", "bad-duration-unit", "bad-log-format", "bad-log-level", "bad-address",
        "bad-number"])
def test_usage_errors_exit_2(hindsight_factory, workdir, args, needle):
    hs = hindsight_factory(["--upstream", f"unix:{workdir}/up.sock", *args], ready=False,
                           add_listen="--listen" not in args)
    rc = hs.wait_exit(20)
    err = hs.stderr_text()
    assert rc == 2, f"exit status {rc}\n{err}"
    assert needle in err, err


def test_neither_upstream_nor_command_is_an_error(hindsight_factory):
    hs = hindsight_factory([], ready=False)
    rc = hs.wait_exit(20)
    assert rc in (1, 2), hs.describe_output()


# ---------------------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------------------

ACCESS_FIELDS = ("client", "method", "target", "version", "status", "bytes_in", "bytes_out", "duration_ms",
                 "upstream_ms")


def test_json_log_format(proxied):
    def handler(conn):
        while conn.read_request() is not None:
            conn.respond(201, b"created!")

    hs, up = proxied(handler, "--log-format", "json")
    with hs.client() as c:
        c.send(build_request("POST", "/thing?x=1", body=b"hello"))
        assert c.read_response().status == 201
    assert hs.wait_for_line(r"/thing\?x=1", timeout=10), hs.describe_output()
    assert hs.stop() == 0
    lines = [line for line in hs.stderr_lines if line.strip()]
    assert lines
    objs = []
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            pytest.fail(f"stderr line is not JSON: {line!r}")
        assert isinstance(obj, dict), line
        for key in ("time", "level", "msg"):
            assert key in obj, f"{key} missing: {line}"
        objs.append(obj)
    assert any("ready:" in o["msg"] for o in objs)
    access = [o for o in objs if o.get("target") == "/thing?x=1"]
    assert len(access) == 1, objs
    a = access[0]
    for key in ACCESS_FIELDS:
        assert key in a, f"access field {key} missing: {a}"
    assert a["method"] == "POST"
    assert "127.0.0.1" in str(a["client"])
    assert str(a["version"]) in ("HTTP/1.1", "1.1")
    assert a["status"] == 201
    assert isinstance(a["bytes_in"], int) and a["bytes_in"] >= 5
    assert isinstance(a["bytes_out"], int) and a["bytes_out"] >= len(b"created!")
    assert isinstance(a["duration_ms"], (int, float)) and a["duration_ms"] >= 0
    assert isinstance(a["upstream_ms"], (int, float)) and 0 <= a["upstream_ms"] <= a["duration_ms"] + 1


def test_text_access_log_one_line_per_exchange(proxied):
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        for i in range(3):
            c.send(get(f"/logged-{i}"))
            assert c.read_response().status == 200
    for i in range(3):
        assert hs.wait_for_line(rf"/logged-{i}\b", timeout=10), hs.describe_output()
    assert hs.stop() == 0
    for i in range(3):
        assert sum(f"/logged-{i}" in line for line in hs.stderr_lines) == 1


def test_log_level_warn_silences_access_log(proxied):
    hs, up = proxied(ok_handler, "--log-level", "warn", ready=False)
    # `ready:` is logged at info, so it may be silenced too: wait for the socket instead.
    assert wait_until(lambda: _connects(hs.listen), 20), hs.describe_output()
    assert hs.get("/quiet").body == b"ok"
    assert hs.stop() == 0
    assert not any("/quiet" in line for line in hs.stderr_lines), hs.stderr_lines


def test_access_log_off_keeps_the_rest_of_the_log(proxied):
    hs, up = proxied(ok_handler, "--access-log", "off")  # waits for `ready:`, an info line
    assert hs.get("/unlogged").body == b"ok"
    assert_own_answer(hs.request(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), {400})
    assert hs.stop() == 0
    assert not any("/unlogged" in line for line in hs.stderr_lines), hs.stderr_lines
    assert any("received SIGTERM" in line for line in hs.stderr_lines), hs.stderr_lines


def _connects(addr) -> bool:
    try:
        addr.connect(1).close()
        return True
    except OSError:
        return False


def test_refused_request_is_logged(proxied):
    hs, up = proxied(ok_handler, "--log-format", "json")
    data, _ = exchange(hs.listen, b"GET /refused-here HTTP/1.1\r\nHost: a b\r\n\r\n")
    assert parse_response(data).status == 400
    assert hs.wait_for_line(r'"status": ?400', timeout=10), hs.describe_output()


def test_stop_while_the_app_waits_to_restart(hindsight_factory):
    # The app leaves behind a child that ignores SIGTERM and holds the app's stderr, then
    # exits. Stopping hindsight during the restart back-off once waited for that child
    # forever; now the app's whole group goes when the app exits.
    script = f'trap "" TERM; sleep 1000 & exec {PYTHON} {TINY_APP} --exit-after 1'
    hs = hindsight_factory(["--", "/bin/sh", "-c", script])
    sleeper = [p for p in descendants_of(hs.pid) if cmdline(p)[:2] == ["sleep", "1000"]]
    assert sleeper, "the app's child did not start"
    assert hs.wait_for_line(r"restarting it in", timeout=20), hs.describe_output()
    hs.signal(signal.SIGTERM)  # during the 1 s back-off
    assert hs.wait_exit(20) == 0, hs.describe_output()
    assert wait_gone(sleeper, 5) == [], "the exited app's child outlived hindsight"
