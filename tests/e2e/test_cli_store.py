"""`hindsight list / show / status / prune` on a data directory (issue 3): happy paths,
their errors (unknown id, missing data directory, a database from a newer hindsight,
usage errors), `status` with and without a running proxy, and the refusal of a
second `hindsight run` on a data directory that one already uses."""

import json
import os
import re
import shutil
import sqlite3

import pytest

from conftest import (ISO_MS_UTC, build_request, describe_cli, failing_handler, hs_cli,
                      list_captures, show_capture, store_status, wait_captures, wait_until)


def fill(hs, targets):
    with hs.client() as c:
        for t in targets:
            c.send(build_request("GET", t))
            assert c.read_response().status >= 500
    return wait_captures(hs.data, len(targets))


def err_text(p) -> str:
    return p.stderr.decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------
# Happy paths
# ---------------------------------------------------------------------------------------


def test_list_and_show_text(proxied):
    hs, _ = proxied(failing_handler(500, b"the app's own error page"))
    rows = fill(hs, ["/orders/17/pay", "/orders/18/pay", "/health-check/status/503"])
    p = hs_cli("list", data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    out = p.stdout.decode()
    for r in rows:
        assert str(r["id"]) in out and r["path"] in out, out
    assert "500" in out and "503" in out and "GET" in out

    p = hs_cli("list", "--groups", data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    assert "/orders/{int}/pay" in p.stdout.decode(), p.stdout

    newest = rows[0]
    p = hs_cli("show", newest["id"], data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    out = p.stdout.decode()
    assert "GET" in out and newest["target"] in out and "503" in out and "the app's own error page" in out, out


def test_list_respects_hindsight_data_env(proxied):
    hs, _ = proxied(failing_handler(500))
    [row] = fill(hs, ["/env/"])
    p = hs_cli("list", "--json", env={"HINDSIGHT_DATA": str(hs.data)})
    assert p.returncode == 0, describe_cli(p)
    assert [r["id"] for r in json.loads(p.stdout)] == [row["id"]]


def test_status_with_a_running_proxy(proxied):
    hs, up = proxied(failing_handler(500), "--capture-request-body", "64KiB", "--capture-response-body", "1KiB",
                     "--capture-status", "500-599,429", "--capture-slow", "2s", "--retain-rows", "123",
                     "--retain-days", "3", "--capture-queue", "77")
    fill(hs, ["/a/", "/b/"])
    # The proxy counts a batch a moment after committing it.
    st = {}

    def counted() -> bool:
        nonlocal st
        st = store_status(hs.data)
        return (st.get("proxy") or {}).get("writer", {}).get("stored") == 2

    assert wait_until(counted, 10, 0.05), st
    assert set(st) >= {"proxy", "store"}, st
    proxy = st["proxy"]
    assert proxy is not None, st
    assert proxy["pid"] == hs.pid
    assert isinstance(proxy["version"], str) and proxy["version"]
    assert ISO_MS_UTC.match(proxy["started"]) or "T" in proxy["started"], proxy["started"]
    assert proxy["uptime_s"] >= 0
    assert str(hs.listen.port) in str(proxy["listen"]), proxy["listen"]
    assert str(up.addr.path) in str(proxy["upstream"]), proxy["upstream"]
    assert proxy["app"]["supervised"] is False
    cap = proxy["capture"]
    assert cap["enabled"] is True
    assert cap["request_body_limit"] == 64 * 1024 and cap["response_body_limit"] == 1024, cap
    assert cap["slow_ms"] == 2000 and cap["queue_capacity"] == 77, cap
    statuses = json.dumps(cap["statuses"])
    assert "429" in statuses and "500" in statuses and "599" in statuses, cap["statuses"]
    writer = proxy["writer"]
    assert writer["stored"] == 2, writer
    assert set(writer["dropped"]) >= {"queue_full", "database_full", "database_error", "database_busy"}, writer
    assert all(v == 0 for v in writer["dropped"].values()), writer
    assert writer["last_error"] in (None, ""), writer
    assert proxy["retention"]["rows"] == 123 and proxy["retention"]["days"] == 3, proxy["retention"]
    assert proxy["retention"]["bytes"] == 1 << 30, proxy["retention"]
    store = st["store"]
    assert store["rows"] == 2 and store["groups"] == 2 and store["bytes"] > 0, store

    p = hs_cli("status", data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    out = p.stdout.decode()
    assert str(hs.pid) in out and "2" in out, out


def test_status_defaults(proxied):
    hs, _ = proxied(failing_handler(500))
    proxy = store_status(hs.data)["proxy"]
    cap = proxy["capture"]
    assert cap["enabled"] is True
    assert cap["request_body_limit"] == 1 << 20 and cap["response_body_limit"] == 64 << 10, cap
    assert cap["sample"] in (0, 0.0, None), cap
    assert cap["slow_ms"] in (None, 0), cap
    assert proxy["retention"] == {"rows": 100000, "bytes": 1 << 30, "days": 14}, proxy["retention"]


def test_status_of_a_supervised_app(start_app):
    hs = start_app("flask")
    proxy = store_status(hs.data)["proxy"]
    assert proxy["pid"] == hs.pid and proxy["app"]["supervised"] is True and proxy["app"]["restarts"] == 0, proxy


def test_status_without_a_running_proxy(proxied):
    hs, _ = proxied(failing_handler(500))
    fill(hs, ["/x/", "/y/", "/z/"])
    assert hs.stop() == 0
    st = store_status(hs.data)
    assert st["proxy"] is None, st
    assert st["store"]["rows"] == 3 and st["store"]["groups"] == 3, st["store"]
    p = hs_cli("status", data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    assert b"3" in p.stdout
    # list and show still work from the file alone.
    rows = list_captures(hs.data)
    assert len(rows) == 3 and show_capture(hs.data, rows[0]["id"])["request"]["target"] == "/z/"


def test_status_of_an_empty_data_dir(workdir):
    data = workdir / "empty"
    data.mkdir()
    p = hs_cli("status", "--json", data=data)
    assert p.returncode == 0, describe_cli(p)
    assert json.loads(p.stdout)["proxy"] is None


def test_prune_applies_retention_and_all_empties(proxied):
    hs, _ = proxied(failing_handler(500))
    fill(hs, [f"/p/{i}" for i in range(6)])
    p = hs_cli("prune", "--retain-rows", "2", data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    rows = list_captures(hs.data)
    assert [r["target"] for r in rows] == ["/p/5", "/p/4"], rows

    p = hs_cli("prune", "--all", data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    assert list_captures(hs.data) == []
    assert list_captures(hs.data, "--groups") == []
    assert store_status(hs.data)["store"]["rows"] == 0
    # The running proxy keeps capturing into the emptied store.
    assert hs.get("/after/").status == 500
    [row] = wait_captures(hs.data, 1)
    assert row["target"] == "/after/"


def test_prune_without_proxy(proxied):
    hs, _ = proxied(failing_handler(500))
    fill(hs, ["/1/", "/2/", "/3/"])
    hs.stop()
    p = hs_cli("prune", "--retain-rows", "1", data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    assert [r["target"] for r in list_captures(hs.data)] == ["/3/"]


def test_prune_without_proxy_uses_the_retention_the_last_proxy_recorded(proxied):
    """Not the built-in 14 days: the proxy kept captures for 90."""
    hs, _ = proxied(failing_handler(500), "--retain-days", "90", "--retain-rows", "50")
    fill(hs, ["/1/", "/2/", "/3/"])
    assert hs.stop() == 0
    conn = sqlite3.connect(str(hs.data / "captures.db"), timeout=10)
    with conn:
        conn.execute("UPDATE captures SET time_us = time_us - 30 * 86400 * 1000000")  # a month old
    conn.close()
    p = hs_cli("prune", data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    out = p.stdout.decode()
    assert "50 rows" in out and "90 days" in out and "recorded" in out, out
    assert len(list_captures(hs.data)) == 3, out
    # An option replaces its part only.
    p = hs_cli("prune", "--retain-rows", "1", data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    assert "1 row, 1 GiB, 90 days" in p.stdout.decode(), p.stdout
    assert [r["target"] for r in list_captures(hs.data)] == ["/3/"]


def test_prune_without_proxy_or_recorded_retention_says_it_uses_the_defaults(proxied):
    hs, _ = proxied(failing_handler(500))
    fill(hs, ["/1/"])
    assert hs.stop() == 0
    conn = sqlite3.connect(str(hs.data / "captures.db"), timeout=10)
    with conn:
        conn.execute("DELETE FROM counters WHERE name LIKE 'retain_%'")  # as an older hindsight left it
    conn.close()
    p = hs_cli("prune", data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    out = p.stdout.decode()
    assert "100000 rows, 1 GiB, 14 days" in out and "defaults" in out, out


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_show_unknown_id(proxied):
    hs, _ = proxied(failing_handler(500))
    [row] = fill(hs, ["/only/"])
    missing = row["id"] + 1000
    for args in (["show", missing], ["show", missing, "--json"], ["show", missing, "--raw"]):
        p = hs_cli(*args, data=hs.data)
        assert p.returncode != 0, describe_cli(p)
        assert str(missing) in err_text(p) and p.stdout == b"", describe_cli(p)


def test_show_marks_a_live_debug_session_and_prints_its_transcript(proxied):
    # The proxy's live debugger stores its sessions with the capture; written here as it
    # would write one, into a store the real proxy made.
    hs, _ = proxied(failing_handler(500))
    [row] = fill(hs, ["/orders/7/total"])
    transcript = (b"> /srv/shop/views.py(12)total()\r\n(Pdb) p sku\r\n'A-\xc3\xa91'\r\n"
                  b"\x1b[31mred\x1b[0m\x07\r\n(Pdb) c\r\n")
    conn = sqlite3.connect(str(hs.data / "captures.db"), timeout=10)
    with conn:
        conn.execute("INSERT INTO replays (capture_id, time_us, mode, app_spec, status, body, duration_ms, outcome, "
                     "error) VALUES (?, 1764000000000000, 'run', 'shop.wsgi:application', 500, x'', 3.5, "
                     "'completed', '')", (row["id"],))
        live = conn.execute("INSERT INTO replays (capture_id, time_us, mode, app_spec, status, body, duration_ms, "
                            "outcome, error, transcript, trigger) VALUES (?, 1764000001000000, 'pdb', "
                            "'shop.wsgi:application', 500, x'', 4200, 'completed', '', ?, 'pdb-q')",
                            (row["id"], transcript)).lastrowid
    conn.close()

    p = hs_cli("show", row["id"], data=hs.data)
    out = p.stdout.decode()
    assert p.returncode == 0, describe_cli(p)
    assert "Replays and live debug sessions (newest first" in out, out
    assert re.search(rf"^\s*{live}\s+\S+\s+live \(rule 'pdb-q'\)\s+500\s+completed", out, re.M), out
    assert re.search(r"^\s*\d+\s+\S+\s+run\s+500\s+completed", out, re.M), out

    p = hs_cli("show", row["id"], "--replay", live, data=hs.data)
    out = p.stdout.decode()
    assert p.returncode == 0, describe_cli(p)
    assert f"live session {live} of capture {row['id']} (rule 'pdb-q'): " in out, out
    heading = out.index("--- the debug session's terminal")
    assert out[heading:].split("\n", 1)[1] == (
        "> /srv/shop/views.py(12)total()\n(Pdb) p sku\n'A-\u00e91'\n\\x1b[31mred\\x1b[0m\\x07\n(Pdb) c\n"), out
    assert "\x1b" not in out and "\x07" not in out

    shown = json.loads(hs_cli("show", row["id"], "--json", data=hs.data).stdout)
    assert [(r["id"], r["trigger"]) for r in shown["replays"]] == [(live, "pdb-q"), (live - 1, None)], shown
    one = json.loads(hs_cli("show", row["id"], "--replay", live, "--json", data=hs.data).stdout)
    assert one["trigger"] == "pdb-q" and one["transcript"].encode("latin-1") == transcript, one
    other = json.loads(hs_cli("show", row["id"], "--replay", live - 1, "--json", data=hs.data).stdout)
    assert other["trigger"] is None and other["transcript"] is None, other


@pytest.mark.parametrize("command", [["list"], ["list", "--json"], ["show", "1"], ["status"], ["prune", "--all"]])
def test_missing_data_dir(workdir, command):
    missing = workdir / "does-not-exist"
    p = hs_cli(*command, data=missing)
    assert p.returncode != 0, describe_cli(p)
    assert str(missing) in err_text(p), describe_cli(p)
    assert not missing.exists(), "a read command created the data directory"


def test_database_from_a_newer_hindsight(proxied, hindsight_factory, workdir):
    hs, _ = proxied(failing_handler(500))
    fill(hs, ["/v/"])
    hs.stop()
    copy = workdir / "newer"
    copy.mkdir()
    for f in os.listdir(hs.data):
        if f.startswith("captures.db"):
            shutil.copy2(hs.data / f, copy / f)
    conn = sqlite3.connect(str(copy / "captures.db"))
    conn.execute("PRAGMA user_version=999")
    conn.commit()
    conn.close()
    for command in (["list"], ["list", "--json"], ["list", "--groups"], ["show", "1"], ["status"], ["prune", "--all"]):
        p = hs_cli(*command, data=copy)
        assert p.returncode != 0, describe_cli(p)
        err = err_text(p)
        assert "newer" in err.lower() and "999" in err, describe_cli(p)
    # `run` refuses it too, before touching it.
    run = hindsight_factory(["--upstream", f"unix:{workdir}/none.sock"], data=copy, name="newer", ready=False)
    rc = run.wait_exit(20)
    assert rc == 1, f"exit {rc}\n{run.describe_output()}"
    assert "newer" in run.stderr_text().lower(), run.describe_output()
    conn = sqlite3.connect(str(copy / "captures.db"))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 999
    conn.close()


@pytest.mark.parametrize("args", [
    ["list", "--status", "abc"],
    ["list", "--status", "600"],
    ["list", "--status", "500-"],
    ["list", "--since", "yesterday-ish"],
    ["list", "--limit", "many"],
    ["show"],
    ["show", "not-a-number"],
    ["list", "--no-such-flag"],
], ids=["status-abc", "status-600", "status-open-range", "since", "limit", "show-no-id", "show-bad-id", "unknown-flag"])
def test_cli_usage_errors_exit_2(proxied, args):
    hs, _ = proxied(failing_handler(500))
    fill(hs, ["/u/"])
    p = hs_cli(*args, data=hs.data)
    assert p.returncode == 2, describe_cli(p)
    assert p.stderr, describe_cli(p)


@pytest.mark.parametrize("args", [
    ["--capture-status", "abc"],
    ["--capture-status", "5yy"],
    ["--capture", "maybe"],
    ["--capture-request-body", "lots"],
    ["--capture-slow", "soon"],
    ["--capture-sample", "2"],
    ["--retain-bytes", "1XB"],
    ["--store-max-size", "big"],
], ids=["status", "status-class", "capture", "request-body", "slow", "sample", "retain-bytes", "max-size"])
def test_run_capture_usage_errors_exit_2(hindsight_factory, workdir, args):
    hs = hindsight_factory(["--upstream", f"unix:{workdir}/up.sock", *args], ready=False)
    rc = hs.wait_exit(20)
    assert rc == 2, f"exit {rc}\n{hs.describe_output()}"
    assert args[1] in hs.stderr_text(), hs.describe_output()


# ---------------------------------------------------------------------------------------
# One proxy per data directory
# ---------------------------------------------------------------------------------------


def test_second_proxy_on_the_same_data_dir_is_refused(proxied, hindsight_factory, workdir):
    hs, up = proxied(failing_handler(500))
    other = hindsight_factory(["--upstream", up.arg], data=hs.data, name="second", ready=False)
    rc = other.wait_exit(20)
    assert rc == 1, f"exit {rc}\n{other.describe_output()}"
    err = other.stderr_text()
    assert "hindsight: error:" in err, err
    assert str(hs.pid) in err or str(hs.listen.port) in err, f"the message does not name the running proxy:\n{err}"
    # The first one is unaffected: still serving and capturing, still answering status.
    assert hs.running()
    assert hs.get("/still/").status == 500
    assert wait_captures(hs.data, 1)[0]["target"] == "/still/"
    assert store_status(hs.data)["proxy"]["pid"] == hs.pid


def test_data_dir_free_again_after_a_clean_stop(proxied, hindsight_factory):
    hs, up = proxied(failing_handler(500))
    fill(hs, ["/first/"])
    assert hs.stop() == 0
    again = hindsight_factory(["--upstream", up.arg], data=hs.data, name="again")
    assert again.get("/second/").status == 500
    rows = wait_captures(again.data, 2)
    assert [r["target"] for r in rows] == ["/second/", "/first/"]
    assert store_status(again.data)["proxy"]["pid"] == again.pid
