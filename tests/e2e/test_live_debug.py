"""Live debug sessions (issue 5): the manual procedure — a one-worker gunicorn, pdb behind
`?pdb=1`, the prompt in the developer's SSH terminal — done by `hindsight run`, a rule, a
debug token and `hindsight attach`, with real processes throughout: hindsight in front of
gunicorn serving the example Django app, the debug worker it starts, and the real
`hindsight attach` in a pseudo-terminal (pexpect).

Requests that wait for a debugger run in background threads; the test drives the
attached terminal and then checks what the client got.
"""

import json
import os
import signal
import threading
import time

import pytest

from conftest import (HINDSIGHT_BIN, build_request, chunked, clean_env, cmdline, descendants_of, failing_handler, hs_cli,
                      wait_captures, wait_until)
from test_rules import change_rules, cli_json, expired_token, forged, token

pexpect = pytest.importorskip("pexpect")

# At the start of a line: attach's own banner mentions "the (Pdb) prompt".
PROMPT = r"(?m)^\(Pdb\) "


class Pending:
    """A request sent in the background; `.response` once it is answered."""

    def __init__(self, hs, target, headers=(), timeout=90.0):
        self.response = None
        self.error = None
        self.started = time.monotonic()
        self.took = None

        def run():
            try:
                self.response = hs.get(target, headers=headers, timeout=timeout)
            except Exception as e:  # noqa: BLE001 - reported by wait()
                self.error = e
            self.took = time.monotonic() - self.started

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def wait(self, timeout=60.0):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the request is still waiting for its answer"
        assert self.error is None, repr(self.error)
        return self.response

    def answered(self) -> bool:
        return not self.thread.is_alive()


def live_django(start_app, *hs_args):
    return start_app("django", hs_args=list(hs_args))


def attach(hs, *args, wait_banner=True):
    child = pexpect.spawn(HINDSIGHT_BIN, ["attach", "--data", str(hs.data), *args], env=clean_env(),
                          timeout=30, encoding="utf-8", codec_errors="replace", dimensions=(40, 120))
    if wait_banner:
        child.expect("waiting for a debug request")
    return child


def finish(child, expect_exit=0):
    child.expect(pexpect.EOF, timeout=30)
    child.close()
    assert child.exitstatus == expect_exit, child.before
    return child


def with_token(hs, ttl="1h"):
    return [("X-Hindsight-Token", token(hs, ttl))]


def pdb_on_query(start_app, *hs_args):
    """Django behind hindsight with the manual procedure's rule (`?pdb=1` stops in pdb),
    and the headers of a request with a valid debug token."""
    hs = live_django(start_app, *hs_args)
    change_rules(hs, "add", "--query", "pdb=1", "--do", "pdb", loaded=1, enabled=1)
    return hs, with_token(hs)


def worker_pids(hs):
    return [p for p in descendants_of(hs.pid) if any("hindsight-worker" in a for a in cmdline(p)[:1])]


def live_replay(hs, capture_id):
    """The live session stored with a capture (`show --replay N --json`)."""
    shown = cli_json(hs, "show", str(capture_id))
    [session] = [r for r in shown["replays"] if r.get("trigger")]
    return cli_json(hs, "show", str(capture_id), "--replay", str(session["id"]))


def test_pdb_rule_stops_a_live_request_for_the_attached_terminal(start_app):
    hs = live_django(start_app)
    change_rules(hs, "add", "--name", "pdb-q", "--query", "pdb=1", "--do", "pdb", loaded=1, enabled=1)
    headers = with_token(hs)
    child = attach(hs)
    try:
        pending = Pending(hs, "/?pdb=1&who=dev", headers)
        child.expect(r"debugging GET /\?pdb=1&who=dev from 127\.0\.0\.1 \(rule 'pdb-q', pdb\)")
        # Stopped at the view's first line, in the app's own code.
        child.expect(r"shop/views\.py\(\d+\)index\(\)")
        child.expect(PROMPT)
        child.sendline("p request.GET")
        child.expect(r"<QueryDict: \{'pdb': \['1'\], 'who': \['dev'\]\}>")
        child.expect(PROMPT)

        # While the session is stopped, everyone else is served by the app as usual.
        for _ in range(5):
            assert hs.get("/health/", timeout=10).status == 200
        assert not pending.answered()

        child.sendline("c")
        resp = pending.wait()
        assert resp.status == 200 and b"hindsight Django example" in resp.body, resp
        child.expect(r"the client got 200 OK")
        finish(child, 0)
    finally:
        child.close(force=True)

    # The exchange is kept with its session: the terminal's transcript, the rule.
    [row] = wait_captures(hs.data, 1)
    assert row["status"] == 200 and row["target"] == "/?pdb=1&who=dev", row
    session = live_replay(hs, row["id"])
    assert session["trigger"] == "pdb-q" and session["outcome"] == "completed", session
    assert "(Pdb) p request.GET" in session["transcript"] and "<QueryDict" in session["transcript"], session
    # Hits reach the store within a second of the request.
    assert wait_until(lambda: cli_json(hs, "rules", "list")[0]["hits"] == 1, 5)


def test_without_a_valid_token_the_request_reaches_the_app_unchanged(start_app):
    hs = live_django(start_app, "--attach-wait", "30s")
    change_rules(hs, "add", "--query", "pdb=1", "--do", "pdb", "--max-hits", "1", loaded=1, enabled=1)

    def environ(headers=()):
        started = time.monotonic()
        resp = hs.get("/environ/?pdb=1", headers=headers, timeout=20)
        assert resp.status == 200, resp
        return resp.json(), time.monotonic() - started

    for headers in ([], [("X-Hindsight-Token", forged(token(hs)))], [("X-Hindsight-Token", expired_token(hs))]):
        env, _ = environ(headers)
        assert env["QUERY_STRING"] == "pdb=1" and "HTTP_X_HINDSIGHT_TOKEN" not in env, env
    assert not worker_pids(hs), "a debug worker started for a request without a valid token"
    assert cli_json(hs, "rules", "list")[0]["hits"] == 0

    # The one hit allowed: the session opens (nobody attaches; Ctrl-D from a terminal
    # that attaches lets it go), then the rule is spent and the app answers directly.
    good = [("X-Hindsight-Token", token(hs))]
    pending = Pending(hs, "/environ/?pdb=1", good)
    child = attach(hs, wait_banner=False)
    try:
        child.expect(PROMPT)
        child.sendcontrol("d")
        child.expect("detached")
        resp = pending.wait()
        assert resp.status == 200 and resp.json()["QUERY_STRING"] == "pdb=1", resp
        finish(child, 0)
    finally:
        child.close(force=True)
    env, _ = environ(good)
    assert env["QUERY_STRING"] == "pdb=1"
    # Hits reach the store within a second of the request.
    assert wait_until(lambda: cli_json(hs, "rules", "list")[0]["hits"] == 1, 5)


def test_a_prompt_waits_for_attach_then_the_request_runs_on(start_app):
    hs, headers = pdb_on_query(start_app, "--attach-wait", "1s")
    start = hs.line_count()
    resp = hs.get("/orders/4/total/?pdb=1", headers=headers, timeout=30)
    # The app's own answer: Django's 500 for the KeyError deep in the helper.
    assert resp.status == 500, resp
    assert hs.wait_for_line(r"nobody attached within 1 s to the debug session of GET /orders/4/total/\?pdb=1",
                            timeout=5, start=start), hs.describe_output()


def test_a_request_waiting_for_a_terminal_is_picked_up_by_a_late_attach(start_app):
    hs, headers = pdb_on_query(start_app, "--attach-wait", "30s")
    start = hs.line_count()
    pending = Pending(hs, "/orders/4/total/?pdb=1", headers)
    assert hs.wait_for_line(r"a pdb prompt is open; it waits 30 s for `hindsight attach`", timeout=20, start=start)
    child = attach(hs, wait_banner=False)
    try:
        # What the session wrote before the terminal came: where it stopped, the prompt.
        child.expect(r"shop/views\.py\(\d+\)order_total\(\)")
        child.expect(PROMPT)
        child.sendline("p order_id")
        child.expect(r"\r\n4\r\n")
        child.sendline("c")
        assert pending.wait().status == 500
        child.expect("the client got 500 Internal Server Error")
        finish(child, 0)
    finally:
        child.close(force=True)


def test_break_with_a_condition_stops_only_where_it_holds(start_app):
    hs = live_django(start_app, "--attach-wait", "30s")
    change_rules(hs, "add", "--path", "/orders/*", "--do", "break shop/orders.py:50:region == 'uk'",
                 loaded=1, enabled=1)
    headers = with_token(hs)
    # Order 6 is in region 'eu': the breakpoint's condition is false, nothing stops.
    resp = hs.get("/orders/6/total/", headers=headers, timeout=30)
    assert resp.status == 500, resp
    child = attach(hs)
    try:
        pending = Pending(hs, "/orders/7/total/", headers)  # region 'uk'
        child.expect(r"shop/orders\.py\(50\)line_total\(\)")
        child.expect(PROMPT)
        child.sendline("p line['sku'], region")
        child.expect(r"\('WIDGET', 'uk'\)")
        # The breakpoint holds for the order's other lines too (GADGET, then GIFT-WRAP).
        for sku in ("GADGET", "GIFT-WRAP"):
            child.sendline("c")
            child.expect(r"shop/orders\.py\(50\)line_total\(\)")
            child.expect(PROMPT)
            child.sendline("p line['sku']")
            child.expect(f"'{sku}'")
            child.expect(PROMPT)
        child.sendline("c")
        assert pending.wait().status == 500
        finish(child, 0)
    finally:
        child.close(force=True)


def test_post_mortem_opens_at_the_exception(start_app):
    hs = live_django(start_app, "--attach-wait", "30s")
    change_rules(hs, "add", "--path", "/boom/", "--do", "post-mortem", loaded=1, enabled=1)
    headers = with_token(hs)
    child = attach(hs)
    try:
        pending = Pending(hs, "/boom/", headers)
        child.expect(r"shop/views\.py\(\d+\)_discount_percent\(\)")
        child.expect(PROMPT)
        child.sendline("p list_price_cents, saved")
        child.expect(r"\(0, 0\)")
        child.sendline("c")
        assert pending.wait().status == 500
        finish(child, 0)
    finally:
        child.close(force=True)


def test_ctrl_c_interrupts_the_running_code_and_ctrl_d_detaches(start_app):
    hs, headers = pdb_on_query(start_app, "--attach-wait", "30s")
    child = attach(hs)
    try:
        pending = Pending(hs, "/slow/?seconds=2&pdb=1", headers)
        child.expect(r"slow\(\)")
        child.expect(PROMPT)
        child.sendline("c")
        time.sleep(0.5)
        child.sendcontrol("c")  # SIGINT through the terminal: pdb stops the running view
        child.expect(PROMPT, timeout=20)
        child.sendline("p seconds")
        child.expect(r"2\.0")
        child.expect(PROMPT)
        child.sendcontrol("d")  # detach: the request finishes without the debugger
        resp = pending.wait()
        assert resp.status == 200 and resp.body == b"slept 2 seconds\n", resp
        finish(child, 0)
    finally:
        child.close(force=True)


def test_a_second_debug_request_gets_503_while_the_worker_is_busy(start_app):
    hs, headers = pdb_on_query(start_app, "--attach-wait", "30s")
    child = attach(hs)
    try:
        first = Pending(hs, "/?pdb=1", headers)
        child.expect(PROMPT)
        busy = hs.get("/environ/?pdb=1", headers=headers, timeout=10)
        assert busy.status == 503, busy
        assert busy.header("retry-after") == "30", busy
        assert b"every debug worker is busy" in busy.body and b"--debug-workers 1" in busy.body, busy
        # Requests without a token are not debug requests: the app serves them.
        assert hs.get("/environ/?pdb=1", timeout=10).status == 200
        child.sendline("c")
        assert first.wait().status == 200
        finish(child, 0)
    finally:
        child.close(force=True)


def test_a_worker_killed_mid_session_gives_502_and_the_next_request_a_fresh_worker(start_app):
    hs, headers = pdb_on_query(start_app, "--attach-wait", "30s")
    child = attach(hs)
    try:
        pending = Pending(hs, "/?pdb=1", headers)
        child.expect(PROMPT)
        [pid] = worker_pids(hs)
        os.kill(pid, signal.SIGKILL)
        resp = pending.wait()
        assert resp.status == 502, resp
        assert b"the debug worker crashed (SIGKILL) in the middle of the request" in resp.body, resp
        # The terminal is told, and attach says the session did not complete.
        child.expect(r"crashed \(SIGKILL\)")
        finish(child, 1)
    finally:
        child.close(force=True)
    assert hs.running()

    child = attach(hs)
    try:
        pending = Pending(hs, "/?pdb=1", headers)
        child.expect(PROMPT)
        assert worker_pids(hs) and worker_pids(hs) != [pid]
        child.sendline("c")
        assert pending.wait().status == 200
        finish(child, 0)
    finally:
        child.close(force=True)


def test_traceback_action_serves_the_page_with_everything_escaped(start_app):
    hs = live_django(start_app)
    change_rules(hs, "add", "--path", "/boom/", "--do", "traceback", loaded=1, enabled=1)
    payload = "<script>alert(1)</script>"
    resp = hs.get(f"/boom/?q={payload}", headers=with_token(hs), timeout=30)
    assert resp.status == 500, resp
    assert resp.header("content-type") == "text/html; charset=utf-8"
    csp = resp.header("content-security-policy") or ""
    assert "default-src 'none'" in csp and "script-src" not in csp, csp
    page = resp.body.decode()
    assert "ZeroDivisionError" in page and "_discount_percent" in page, page[:2000]
    # The path is in the request line and in the `request` local's repr: text, not markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    # Without a token the app answers as it does for everyone: its own plain 500.
    plain = hs.get(f"/boom/?q={payload}")
    assert plain.status == 500 and b"ZeroDivisionError" not in plain.body
    # The traceback is kept with the capture of the debug request (the first one).
    rows = wait_captures(hs.data, 2)
    session = live_replay(hs, min(r["id"] for r in rows))
    assert session["exception"]["type"] == "ZeroDivisionError", session


def test_sigterm_ends_a_session_promptly(start_app):
    # A session held for the drain period would keep the proxy for 300 s.
    hs, headers = pdb_on_query(start_app, "--attach-wait", "30s", "--drain", "300s")
    child = attach(hs)
    try:
        pending = Pending(hs, "/?pdb=1", headers)
        child.expect(PROMPT)
        hs.signal(signal.SIGTERM)
        resp = pending.wait()
        assert resp.status == 503 and b"hindsight is stopping (SIGTERM)" in resp.body, resp
        child.expect("hindsight is stopping")
        finish(child, 1)
        assert hs.wait_exit(60) == 0
    finally:
        child.close(force=True)


def test_a_terminal_that_drops_gives_the_session_back(start_app):
    hs, headers = pdb_on_query(start_app, "--attach-wait", "30s")
    first = attach(hs)
    pending = Pending(hs, "/?pdb=1", headers)
    try:
        first.expect(PROMPT)
        start = hs.line_count()
    finally:
        first.close(force=True)  # the SSH connection drops
    assert hs.wait_for_line(r"hindsight attach left the debug session of GET /\?pdb=1", timeout=10, start=start)
    assert not pending.answered()
    second = attach(hs, wait_banner=False)
    try:
        # The new terminal shows where the session is, and takes it over.
        second.expect(r"shop/views\.py\(\d+\)index\(\)")
        second.expect(PROMPT)
        second.sendline("c")
        assert pending.wait().status == 200
        finish(second, 0)
    finally:
        second.close(force=True)


def test_a_link_token_sets_the_cookie_on_the_debug_answer(start_app):
    hs = live_django(start_app)
    change_rules(hs, "add", "--path", "/health/", "--do", "traceback", loaded=1, enabled=1)
    good = token(hs)
    resp = hs.get(f"/health/?hindsight_token={good}", timeout=30)
    # No exception: the app's own answer, through the debug worker.
    assert resp.status == 200 and resp.body == b"ok", resp
    assert (resp.header("set-cookie") or "").startswith(f"hindsight_debug={good};"), resp
    assert resp.header_values("referrer-policy")[-1:] == ["no-referrer"], resp
    [row] = wait_captures(hs.data, 1)
    assert good not in json.dumps(cli_json(hs, "show", str(row["id"]), "--reveal")), "the token was stored"


def test_a_hung_request_gets_504_and_the_next_one_a_fresh_worker(start_app):
    hs = live_django(start_app, "--upstream-timeout", "2s")
    change_rules(hs, "add", "--path", "/slow/", "--do", "traceback", loaded=1, enabled=1)
    headers = with_token(hs)
    resp = hs.get("/slow/?seconds=20", headers=headers, timeout=30)
    assert resp.status == 504, resp
    assert b"the request did not finish within 2 s in the debug worker (--upstream-timeout)" in resp.body, resp
    resp = hs.get("/slow/?seconds=0", headers=headers, timeout=30)
    assert resp.status == 200 and resp.body == b"slept 0 seconds\n", resp
    assert hs.running()


def test_an_app_the_worker_cannot_import_gets_502_with_the_reason(start_app):
    hs, headers = pdb_on_query(start_app, "--debug-app", "no_such_module:app")
    for _ in range(2):  # each debug request tries again: the app may have been fixed
        resp = hs.get("/?pdb=1", headers=headers, timeout=30)
        assert resp.status == 502, resp
        assert b"the debug worker could not import the app 'no_such_module:app'" in resp.body, resp
        assert b"No module named 'no_such_module'" in resp.body, resp
    # Everyone else is served as usual.
    assert hs.get("/?pdb=1").status == 200


def test_an_idle_worker_is_stopped_after_debug_idle(start_app):
    hs = live_django(start_app, "--debug-idle", "1s")
    change_rules(hs, "add", "--path", "/health/", "--do", "traceback", loaded=1, enabled=1)
    start = hs.line_count()
    assert hs.get("/health/", headers=with_token(hs), timeout=30).status == 200
    assert hs.wait_for_line(r"debug worker 1 idle for 1 s: stopped \(--debug-idle\)", timeout=10, start=start)
    assert wait_until(lambda: not worker_pids(hs), 5), worker_pids(hs)
    status = cli_json(hs, "status")["proxy"]["debug"]
    assert status == {"enabled": True, "app": "myapp.wsgi", "workers": 1, "warm": 0, "busy": 0,
                      "terminals_waiting": 0, "sessions": 1}, status
    text = hs_cli("status", data=hs.data).stdout.decode()
    assert "live sessions of myapp.wsgi: 1 worker(s), 0 warm, 0 busy" in text, text


def test_status_says_why_live_debugging_is_off(proxied):
    # --upstream: hindsight cannot tell which app to import.
    hs, _ = proxied(failing_handler(status=200, body=b"ok"))
    debug = cli_json(hs, "status")["proxy"]["debug"]
    assert debug["enabled"] is False and "give --debug-app MODULE:ATTR" in debug["off_reason"], debug
    assert "live debugging is off" in hs.output_text()
    # `hindsight attach` says the same, rather than that no proxy runs.
    p = hs_cli("attach", "--wait", "1s", data=hs.data)
    err = p.stderr.decode()
    assert p.returncode == 1 and "has live debugging off" in err and "--debug-app" in err, err


def test_bodies_framing_and_connections_of_debug_requests(start_app):
    hs = live_django(start_app)
    change_rules(hs, "add", "--path", "/environ/", "--do", "traceback", loaded=1, enabled=1)
    tok = token(hs)
    # A chunked body whose content itself looks chunked reaches the app as sent, once decoded.
    inner = b"5\r\nhello\r\n0\r\n\r\n"
    raw = build_request("POST", "/environ/", headers=[("X-Hindsight-Token", tok), ("Transfer-Encoding", "chunked")],
                        body=chunked(inner))
    resp = hs.request(raw, timeout=30)
    assert resp.status == 200 and resp.json()["body"] == inner.decode(), resp
    # Two requests on one connection, the first a POST whose body arrives after a large
    # head and starts with "HEAD": both answered in full, in order.
    padding = [("X-Padding", "p" * 8000)] * 6
    with hs.client(timeout=30) as c:
        c.send(build_request("POST", "/environ/", headers=[("X-Hindsight-Token", tok), *padding,
                                                          ("Content-Length", "4000")]))
        time.sleep(0.2)
        c.send(b"HEAD" * 1000)
        first = c.read_response("POST")
        assert first.status == 200 and first.json()["body"] == "HEAD" * 1000, first
        c.send(build_request("GET", "/health/", headers=[("X-Hindsight-Token", tok)]))
        second = c.read_response("GET")
        assert second.status == 200 and second.body == b"ok", second
    # Connection: close is honoured: the client sees the end of the connection, which
    # the debug worker (a process of its own) must not hold open.
    with hs.client(timeout=30) as c:
        c.send(build_request("GET", "/environ/", headers=[("X-Hindsight-Token", tok), ("Connection", "close")]))
        assert c.read_response("GET").status == 200
        assert c.wait_closed(timeout=10)
    [pid] = worker_pids(hs)
    sockets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    assert sum(1 for s in sockets if s.startswith("socket:")) == 1, sockets  # its own protocol socket only


def test_keys_typed_ahead_do_not_reach_the_next_session(start_app):
    hs, headers = pdb_on_query(start_app, "--attach-wait", "2s")
    child = attach(hs)
    try:
        pending = Pending(hs, "/?pdb=1", headers)
        child.expect(PROMPT)
        # `c`, and at once a command meant for a prompt that will not come in this request.
        child.send("c\r!import os; os.write(2, b'TYPED-AHEAD' + b'-RAN\\n')\r")
        assert pending.wait().status == 200
        finish(child, 0)
    finally:
        child.close(force=True)
    start = hs.line_count()
    # The next session on the same warm worker stops at its own prompt (nobody attached:
    # it waits, then runs on), and the typed-ahead line never ran.
    assert hs.get("/?pdb=1", headers=headers, timeout=30).status == 200
    assert hs.wait_for_line(r"nobody attached within 2 s", timeout=5, start=start), hs.describe_output()
    assert "TYPED-AHEAD-RAN" not in hs.output_text()
