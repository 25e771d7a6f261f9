"""`hindsight replay` (issue 4) end to end: the example Flask and Django apps served by
real gunicorn behind the real proxy, each deliberate bug captured, then replayed in the
real hindsight-worker. The app's own log is the oracle: the replay must raise the same
exception at the same file and line.

Needs hindsight-worker next to the hindsight binary under test (HINDSIGHT_BIN).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from conftest import (HINDSIGHT_BIN, build_request, clean_env, describe_cli, hs_cli, make_venv_app, wait_captures,
                      wait_until)

WORKER_BIN = Path(HINDSIGHT_BIN).parent / "hindsight-worker"
WORKER_APPS = Path(__file__).resolve().parent / "worker_apps"

pytestmark = pytest.mark.skipif(not os.access(WORKER_BIN, os.X_OK),
                                reason=f"hindsight-worker not built next to {HINDSIGHT_BIN}")


# The deliberate bugs: (method, target, body, content type, exception type) per app.
BUGS = {
    "flask": [
        ("GET", "/boom/", b"", None, "ZeroDivisionError"),
        ("GET", "/orders/7/total/", b"", None, "KeyError"),
        ("POST", "/signup/", b"username=admin", "application/x-www-form-urlencoded", "IntegrityError"),
        ("POST", "/upload/?name=evil.exe", b"MZ\x00\x01", "application/octet-stream", "ValueError"),
        ("POST", "/api/items/", b"{not json", "application/json", "JSONDecodeError"),
    ],
    "django": [
        ("GET", "/boom/", b"", None, "ZeroDivisionError"),
        ("GET", "/orders/7/total/", b"", None, "KeyError"),
        ("POST", "/upload/?name=evil.exe", b"MZ\x00\x01", "application/octet-stream", "ValueError"),
    ],
}

TRACEBACK_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)\s*$')


def logged_exceptions(log: str) -> list[tuple[str, str, int]]:
    """(exception type, file, line) of the innermost frame of every traceback in a log."""
    out = []
    last_frame = None
    in_traceback = False
    for line in log.splitlines():
        if line.startswith("Traceback (most recent call last):"):
            in_traceback, last_frame = True, None
            continue
        if not in_traceback:
            continue
        m = TRACEBACK_FRAME.match(line)
        if m:
            last_frame = (m.group(1), int(m.group(2)))
            continue
        if line.startswith(" "):
            continue  # a source line
        type_name = line.split(":", 1)[0].strip().rsplit(".", 1)[-1]
        if last_frame and re.fullmatch(r"\w+", type_name):
            out.append((type_name, *last_frame))
        in_traceback = False
    return out


def app_env(workdir: Path) -> dict[str, str]:
    """What start_app gives the app: the replay imports it with the same databases."""
    return {"HINDSIGHT_EXAMPLE_DB": str(workdir / "django.sqlite3"),
            "HINDSIGHT_EXAMPLE_FLASK_DB": str(workdir / "flask.sqlite3")}


def replay(data, capture_id, *args, env=None, timeout=120.0):
    return hs_cli("replay", capture_id, *args, data=data, env=env, timeout=timeout)


def replay_json(data, capture_id, *args, env=None) -> dict:
    p = replay(data, capture_id, "--json", *args, env=env)
    assert p.returncode == 0, describe_cli(p)
    return json.loads(p.stdout)


def trigger(hs, method, target, body, ctype):
    headers = [("Content-Type", ctype)] if ctype else []
    r = hs.request(build_request(method, target, headers=headers, body=body))
    assert r.status == 500, r
    return r


def innermost(exception: dict) -> tuple[str, int]:
    frame = exception["frames"][-1]
    return frame["file"], frame["line"]


@pytest.mark.parametrize("kind", ["flask", "django"])
def test_each_deliberate_bug_replays_with_the_logged_exception(start_app, workdir, kind):
    hs = start_app(kind)
    bugs = BUGS[kind]
    for method, target, body, ctype, _ in bugs:
        trigger(hs, method, target, body, ctype)
    rows = wait_captures(hs.data, len(bugs))
    by_target = {r["target"]: r for r in rows}
    assert wait_until(lambda: len(logged_exceptions(hs.stderr_text())) >= len(bugs), 10), hs.stderr_text()[-3000:]
    logged = logged_exceptions(hs.stderr_text())

    for method, target, body, ctype, exc_type in bugs:
        row = by_target[target]
        # The app spec comes from the running proxy's gunicorn command line.
        result = replay_json(hs.data, row["id"], env=app_env(workdir))
        assert result["capture_id"] == row["id"]
        assert result["status"] == 500, result
        assert isinstance(result["replay_id"], int)
        exc = result["exception"]
        assert exc is not None, f"{target}: no exception in {result}"
        assert exc["type"] == exc_type, f"{target}: {exc['type']}: {exc.get('message')}"
        file, line = innermost(exc)
        assert (exc_type, file, line) in logged, f"{target}: replay raised at {file}:{line}; the app logged {logged}"
        app_frames = [f for f in exc["frames"] if f["app"]]
        assert app_frames and all(isinstance(f["locals"], dict) for f in app_frames), exc["frames"]
        assert base64.b64decode(result["body_base64"]) is not None
        assert isinstance(result["rolled_back"], list) and isinstance(result["headers"], list)


def test_text_output_prints_the_traceback_like_python(start_app, workdir):
    hs = start_app("flask")
    trigger(hs, "GET", "/orders/7/total/", b"", None)
    [row] = wait_captures(hs.data, 1)
    p = replay(hs.data, row["id"], env=app_env(workdir))
    assert p.returncode == 0, describe_cli(p)
    out = p.stdout.decode()
    assert re.search(r"^replay \d+ of capture %d: 500 " % row["id"], out, re.M), out
    assert "Traceback (most recent call last):" in out, out
    assert re.search(r'^  File ".*app\.py", line \d+, in unit_price$', out, re.M), out
    assert "KeyError: 'GIFT-WRAP'" in out, out
    assert re.search(r"^      sku = 'GIFT-WRAP'$", out, re.M), out  # the locals of the app's frame


def test_explicit_app_after_the_proxy_stopped(start_app, workdir):
    hs = start_app("flask")
    trigger(hs, "GET", "/boom/", b"", None)
    [row] = wait_captures(hs.data, 1)
    hs.stop()

    p = replay(hs.data, row["id"], "--json", env=app_env(workdir))
    assert p.returncode == 1, describe_cli(p)
    err = p.stderr.decode()
    assert "--app" in err and "no proxy runs" in err, err

    flask_dir = Path(__file__).resolve().parents[2] / "examples" / "flask"
    result = replay_json(hs.data, row["id"], "--app", "app:app", "--chdir", flask_dir, env=app_env(workdir))
    assert result["status"] == 500 and result["exception"]["type"] == "ZeroDivisionError", result


def test_every_attempt_is_stored(start_app, workdir):
    hs = start_app("flask")
    trigger(hs, "GET", "/boom/", b"", None)
    [row] = wait_captures(hs.data, 1)
    first = replay_json(hs.data, row["id"], env=app_env(workdir))
    second = replay_json(hs.data, row["id"], env=app_env(workdir))
    assert second["replay_id"] > first["replay_id"]
    import sqlite3
    db = sqlite3.connect(f"file:{hs.data / 'captures.db'}?mode=ro", uri=True)
    rows = db.execute("SELECT capture_id, outcome, status, mode, app_spec, json_extract(exception_json, '$.type') "
                      "FROM replays ORDER BY id").fetchall()
    assert rows == [(row["id"], "completed", 500, "run", "app:app", "ZeroDivisionError")] * 2, rows


def test_show_lists_the_replays_and_shows_a_stored_one_again(start_app, workdir):
    hs = start_app("flask")
    trigger(hs, "GET", "/boom/", b"", None)
    trigger(hs, "GET", "/orders/7/total/", b"", None)
    rows = wait_captures(hs.data, 2)
    boom = next(r for r in rows if r["target"] == "/boom/")
    other = next(r for r in rows if r["target"] != "/boom/")

    p = hs_cli("show", boom["id"], data=hs.data)
    assert p.returncode == 0 and f"Not replayed yet: hindsight replay {boom['id']}" in p.stdout.decode(), describe_cli(p)

    ok = replay_json(hs.data, boom["id"], env=app_env(workdir))
    failed = replay(hs.data, boom["id"], "--app", "no_such_module:app")
    assert failed.returncode == 1, describe_cli(failed)

    p = hs_cli("show", boom["id"], data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    out = p.stdout.decode()
    assert f"hindsight show {boom['id']} --replay N" in out, out
    listed = [line.split() for line in out.splitlines() if re.match(r"^\s*\d+\s+\d{4}-", line)]
    assert [(int(f[0]), f[2], f[3], f[4]) for f in listed] == [
        (ok["replay_id"] + 1, "run", "-", "error"), (ok["replay_id"], "run", "500", "completed")], out
    assert listed[1][5] == "ZeroDivisionError", out

    shown = hs_cli("show", boom["id"], "--json", data=hs.data)
    replays = json.loads(shown.stdout)["replays"]
    assert [(r["id"], r["outcome"], r["status"], r["exception_type"]) for r in replays] == [
        (ok["replay_id"] + 1, "error", None, "ModuleNotFoundError"),
        (ok["replay_id"], "completed", 500, "ZeroDivisionError")], replays

    # The stored replay, as replay printed it: the same JSON fields, the same traceback.
    p = hs_cli("show", boom["id"], "--replay", ok["replay_id"], "--json", data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    again = json.loads(p.stdout)
    for key in ("capture_id", "replay_id", "status", "headers", "body_base64", "exception", "rolled_back", "outcome"):
        assert again[key] == ok[key], key
    assert again["mode"] == "run" and again["app"] == "app:app" and again["time"].endswith("Z"), again
    p = hs_cli("show", boom["id"], "--replay", ok["replay_id"], data=hs.data)
    text = p.stdout.decode()
    assert p.returncode == 0 and f"replay {ok['replay_id']} of capture {boom['id']}" in text, describe_cli(p)
    assert "ZeroDivisionError" in text and re.search(r'File ".*app\.py", line \d+', text), text

    # Another capture's replay, or none at all: a clear error.
    p = hs_cli("show", other["id"], "--replay", ok["replay_id"], data=hs.data)
    assert p.returncode == 1 and f"capture {other['id']} has no replay {ok['replay_id']}" in p.stderr.decode(), \
        describe_cli(p)
    assert f"hindsight replay {other['id']}" in p.stderr.decode(), describe_cli(p)


CHROMIUM = shutil.which("chromium")


def rendered_dom(page: Path, tmp_path: Path) -> str:
    """The page's DOM after a real browser loaded it (and ran whatever it would run)."""
    import subprocess
    assert CHROMIUM, "chromium is not installed: scripts/install-deps.sh installs it"
    p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'chromium'}",
                        "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-2000:]
    return p.stdout.decode()


def test_the_traceback_page_shows_markup_from_the_request_as_text(start_app, workdir, tmp_path):
    hs = start_app("flask", hs_args=["--capture-status", "400-599"])
    payload = ("<script>document.body.setAttribute('data-pwned','script')</script>"
               "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">")
    from urllib.parse import quote
    r = hs.request(build_request("GET", "/xss/?" + quote(payload, safe="")))
    assert r.status == 404, r
    [row] = wait_captures(hs.data, 1)
    result = replay_json(hs.data, row["id"], "--app", "xss_app:app", "--chdir", str(WORKER_APPS), env={})
    assert result["exception"]["type"] == "ValueError", result

    p = hs_cli("show", row["id"], "--replay", result["replay_id"], "--html", data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    page = tmp_path / "traceback.html"
    page.write_bytes(p.stdout)
    dom = rendered_dom(page, tmp_path)
    assert "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0], "the payload ran in the page"
    assert "<script>document" not in dom and "<img src" not in dom, dom[:3000]
    # Shown as text: the message, and the local variable in the app's frame.
    assert dom.count("&lt;script&gt;document.body.setAttribute") >= 2, dom[:3000]
    assert "xss_app.py" in dom and "<title>ValueError:" in dom

    # Nothing to show for a replay that raised nothing; --html needs --replay.
    ok = replay_json(hs.data, row["id"], "--app", "plain_app", "--chdir", str(WORKER_APPS), env={})
    p = hs_cli("show", row["id"], "--replay", ok["replay_id"], "--html", data=hs.data)
    assert p.returncode == 1 and "raised no exception" in p.stderr.decode(), describe_cli(p)
    p = hs_cli("show", row["id"], "--html", data=hs.data)
    assert p.returncode == 2 and "--replay" in p.stderr.decode(), describe_cli(p)


def test_missing_worker_is_a_clear_error(start_app, workdir, tmp_path):
    hs = start_app("flask")
    trigger(hs, "GET", "/boom/", b"", None)
    [row] = wait_captures(hs.data, 1)
    lonely = tmp_path / "hindsight"
    shutil.copy(HINDSIGHT_BIN, lonely)
    p = hs_cli_with(lonely, "replay", row["id"], "--data", hs.data)
    assert p.returncode == 1, describe_cli(p)
    err = p.stderr.decode()
    assert "hindsight-worker" in err and str(tmp_path / "hindsight-worker") in err and "build" in err, err


def hs_cli_with(binary, *args):
    import subprocess
    return subprocess.run([str(binary), *map(str, args)], stdin=subprocess.DEVNULL, capture_output=True,
                          env=clean_env(), timeout=60)


def test_timeout_stops_the_worker(start_app, workdir):
    hs = start_app("flask", hs_args=["--capture-slow", "1s"])
    r = hs.get("/slow/?seconds=3", timeout=20)
    assert r.status == 200, r
    [row] = wait_captures(hs.data, 1)
    p = replay(hs.data, row["id"], "--timeout", "1s", env=app_env(workdir))
    assert p.returncode == 1, describe_cli(p)
    err = p.stderr.decode()
    # The worker stops the request itself where Python can (else the parent kills it).
    assert re.search(r"the request did not finish within 1 s; the worker (was stopped|stopped it) "
                     r"\(--timeout to allow longer\)", err), err
    out = p.stdout.decode()
    assert re.search(r'File ".*app\.py", line \d+, in slow', out), f"no traceback of where it stopped: {out}"
    result = json.loads(replay(hs.data, row["id"], "--timeout", "1s", "--json", env=app_env(workdir)).stdout)
    assert result["outcome"] == "timeout" and result["error"].startswith("the request did not finish"), result


def test_pdb_stops_in_the_view_and_continues(start_app, workdir):
    pexpect = pytest.importorskip("pexpect")
    hs = start_app("flask")
    trigger(hs, "GET", "/orders/7/total/", b"", None)
    [row] = wait_captures(hs.data, 1)
    child = pexpect.spawn(HINDSIGHT_BIN, ["replay", str(row["id"]), "--pdb", "--data", str(hs.data)],
                          env=clean_env(app_env(workdir)), timeout=60, encoding="utf-8")
    try:
        child.expect(r"\(Pdb\) ")
        assert "app.py" in child.before, child.before
        child.sendline("p request.path")
        child.expect(r"'/orders/7/total/'")
        child.expect(r"\(Pdb\) ")
        child.sendline("c")
        child.expect(r"replay \d+ of capture %d: 500" % row["id"])
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before


def test_ctrl_d_at_the_prompt_lets_the_replay_finish(start_app, workdir):
    import pexpect
    hs = start_app("flask")
    trigger(hs, "GET", "/orders/7/total/", b"", None)
    [row] = wait_captures(hs.data, 1)
    child = spawn_replay(hs.data, row["id"], "--pdb", env=app_env(workdir))
    try:
        child.expect(r"\(Pdb\) ")
        child.sendcontrol("d")
        child.expect("detached: the request continues without the debugger")
        child.expect(r"replay \d+ of capture %d: 500" % row["id"])
        child.expect("KeyError: 'GIFT-WRAP'")  # the app's own failure, not BdbQuit
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before


def spawn_replay(data, capture_id, *args, env):
    pexpect = pytest.importorskip("pexpect")
    return pexpect.spawn(HINDSIGHT_BIN, ["replay", str(capture_id), "--data", str(data), *args],
                         env=clean_env(env), timeout=60, encoding="utf-8")


def test_post_mortem_opens_pdb_on_the_exception(start_app, workdir):
    import pexpect
    hs = start_app("flask")
    trigger(hs, "GET", "/orders/7/total/", b"", None)
    [row] = wait_captures(hs.data, 1)
    child = spawn_replay(hs.data, row["id"], "--post-mortem", env=app_env(workdir))
    try:
        child.expect(r"app\.py\(\d+\)unit_price\(\)")
        child.expect(r"\(Pdb\) ")
        child.sendline("p sku")
        child.expect("'GIFT-WRAP'")
        child.expect(r"\(Pdb\) ")
        child.sendline("c")
        child.expect(r"replay \d+ of capture %d: 500" % row["id"])
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_conditional_breakpoint_stops_only_where_it_holds(start_app, workdir):
    import pexpect
    hs = start_app("flask")
    trigger(hs, "GET", "/orders/7/total/", b"", None)
    [row] = wait_captures(hs.data, 1)
    app_py = Path(__file__).resolve().parents[2] / "examples" / "flask" / "app.py"
    line = next(i for i, text in enumerate(app_py.read_text().splitlines(), 1)
                if "base_cents = PRICE_LIST_CENTS[sku]" in text)
    child = spawn_replay(hs.data, row["id"], "--break", f"app.py:{line}:sku == 'GADGET'", env=app_env(workdir))
    try:
        child.expect(r"\(Pdb\) ")
        child.sendline("p sku")
        child.expect("'GADGET'")  # WIDGET came first and did not stop
        child.expect(r"\(Pdb\) ")
        child.sendline("c")
        child.expect(r"replay \d+ of capture %d: 500" % row["id"])
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_an_app_that_does_not_import_is_a_clear_error(start_app, workdir):
    hs = start_app("flask")
    trigger(hs, "GET", "/boom/", b"", None)
    [row] = wait_captures(hs.data, 1)
    p = replay(hs.data, row["id"], "--app", "no_such_module:app", env=app_env(workdir))
    assert p.returncode == 1, describe_cli(p)
    err = p.stderr.decode()
    assert "'no_such_module:app' could not be loaded" in err and "no_such_module" in err, err
    result = json.loads(replay(hs.data, row["id"], "--app", "no_such_module:app", "--json").stdout)
    assert result["outcome"] == "error" and result["status"] is None, result


def test_a_segfault_in_the_app_is_reported_as_a_crash(start_app, workdir, tmp_path):
    hs = start_app("flask")
    trigger(hs, "GET", "/boom/", b"", None)
    [row] = wait_captures(hs.data, 1)
    (tmp_path / "crashing.py").write_text(
        "import ctypes, sys\n"
        "def app(environ, start_response):\n"
        "    print('about to read address 0', file=sys.stderr, flush=True)\n"
        "    ctypes.string_at(0)\n")
    p = replay(hs.data, row["id"], "--app", "crashing:app", "--chdir", tmp_path)
    assert p.returncode == 1, describe_cli(p)
    err = p.stderr.decode()
    assert "worker crashed (SIGSEGV)" in err and "about to read address 0" in err, err


def test_django_database_work_is_rolled_back_unless_commit(start_app, workdir):
    import sqlite3
    hs = start_app("django", hs_args=["--capture-status", "200-599"])
    r = hs.request(build_request("POST", "/signup/", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                                 body=b"username=replayed"))
    assert r.status == 200, r
    [row] = wait_captures(hs.data, 1)
    db_path = workdir / "django.sqlite3"

    def members() -> int:
        with sqlite3.connect(db_path) as db:
            return db.execute("SELECT count(*) FROM shop_member WHERE username = 'replayed'").fetchone()[0]

    with sqlite3.connect(db_path) as db:
        db.execute("DELETE FROM shop_member WHERE username = 'replayed'")
    assert members() == 0
    result = replay_json(hs.data, row["id"], env=app_env(workdir))
    assert result["status"] == 200 and result["exception"] is None, result
    assert any("database" in what for what in result["rolled_back"]), result
    assert members() == 0, "the replay's insert was not rolled back"
    result = replay_json(hs.data, row["id"], "--commit", env=app_env(workdir))
    assert result["status"] == 200 and result["rolled_back"] == [], result
    assert members() == 1, "--commit did not keep the insert"


def test_django_pdb_stops_in_the_view(start_app, workdir):
    import pexpect
    hs = start_app("django")
    trigger(hs, "GET", "/orders/7/total/", b"", None)
    [row] = wait_captures(hs.data, 1)
    child = spawn_replay(hs.data, row["id"], "--pdb", env=app_env(workdir))
    try:
        child.expect(r"shop/views\.py\(\d+\)order_total\(\)")
        child.expect(r"\(Pdb\) ")
        child.sendline("p request.path")
        child.expect("'/orders/7/total/'")
        child.expect(r"\(Pdb\) ")
        child.sendline("c")
        child.expect(r"replay \d+ of capture %d: 500" % row["id"])
        child.expect("KeyError: 'GIFT-WRAP'")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_the_apps_own_set_trace_opens_pdb_in_the_terminal(start_app, workdir):
    import pexpect
    hs = start_app("flask", hs_args=["--capture-status", "400-599"])
    r = hs.request(build_request("GET", "/set-trace/"))
    assert r.status == 404, r
    [row] = wait_captures(hs.data, 1)
    # The app is one whose code calls pdb.set_trace() itself (no --pdb given).
    child = spawn_replay(hs.data, row["id"], "--app", "plain_app", "--chdir", str(WORKER_APPS), env={})
    try:
        child.expect(r"plain_app\.py\(\d+\)application\(\)")
        child.expect(r"\(Pdb\) ")
        child.sendline("p marker")
        child.expect("'own-set-trace'")
        child.expect(r"\(Pdb\) ")
        child.sendline("c")
        child.expect(r"replay \d+ of capture %d: 200" % row["id"])
        child.expect("own-set-trace")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before


def test_the_apps_virtualenv_is_inferred_from_the_supervised_command(hindsight_factory, workdir, tmp_path):
    from conftest import Addr, free_port, store_status
    # With the system's packages (gunicorn): the app runs from the venv's python.
    venv, app_dir = make_venv_app(tmp_path, "500 Internal Server Error", system_site_packages=True)
    port = free_port()
    hs = hindsight_factory(["--", str(venv / "bin" / "python"), "-m", "gunicorn", "--chdir", str(app_dir),
                            "-b", f"127.0.0.1:{port}", "-w", "1", "venv_app:app"],
                           listen=Addr.tcp("127.0.0.1", port))
    r = hs.request(build_request("GET", "/venv/"))
    assert r.status == 500 and r.body == f"from the venv|{venv}".encode(), r
    [row] = wait_captures(hs.data, 1)
    assert store_status(hs.data)["proxy"]["app"]["python"] == str(venv / "bin" / "python")
    # No --app, no --python, no $VIRTUAL_ENV: all from the running proxy.
    result = replay_json(hs.data, row["id"], env={})
    assert result["status"] == 500, result
    assert base64.b64decode(result["body_base64"]).decode() == f"from the venv|{venv}", result


def test_a_virtualenv_given_with_python_provides_its_packages(start_app, workdir, tmp_path):
    hs = start_app("flask")
    trigger(hs, "GET", "/boom/", b"", None)
    [row] = wait_captures(hs.data, 1)
    venv, app_dir = make_venv_app(tmp_path)
    args = ["--app", "venv_app:app", "--chdir", str(app_dir)]
    # Without the venv the module is missing: a clear import error, not a crash.
    p = replay(hs.data, row["id"], *args, env={})
    assert p.returncode == 1 and "only_in_the_venv" in p.stderr.decode(), describe_cli(p)
    result = replay_json(hs.data, row["id"], *args, "--python", str(venv / "bin" / "python"), env={})
    assert result["status"] == 200, result
    assert base64.b64decode(result["body_base64"]).decode() == f"from the venv|{venv}", result
