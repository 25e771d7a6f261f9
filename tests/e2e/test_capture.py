"""Capture of failing exchanges into <data>/captures.db (issue 3), through the real proxy.

What is stored (exact bytes, headers in order with their case and duplicates, the raw
target, de-chunked bodies, truncation flags), what is not (successes, --capture off),
the proxy's own failures (unreachable, timeout, crashed app), slow and status policies,
redaction and masking, grouping, retention, and the JSON interface of `list` / `show`.

Captures are written asynchronously: every test polls `hindsight list --json` (through
`wait_captures`) instead of sleeping. To show that something was NOT captured, a
failing request is sent after it and waited for: the writer stores in arrival order.
"""

import base64
import json
import os
import signal
import urllib.parse

import pytest

from conftest import (ISO_MS_UTC, assert_own_answer, build_request, children_of, chunked,
                      database_files, describe_cli, failing_handler, hs_cli, list_captures, ok_handler,
                      show_capture, show_raw, store_status, wait_captures, wait_until)

LIST_FIELDS = {"id", "time", "status", "method", "target", "path", "duration_ms", "group", "replayable"}
SHOW_FIELDS = {"id", "time", "request", "response", "upstream_error", "upstream_error_kind", "duration_ms",
               "upstream_ms", "group", "redacted", "replayable", "client", "scheme", "host", "captured_because",
               "app_restarted"}
REQUEST_FIELDS = {"method", "target", "version", "headers", "body_base64", "body_truncated", "body_size"}
RESPONSE_FIELDS = {"status", "reason", "headers", "body_base64", "body_truncated", "body_size"}
GROUP_FIELDS = {"id", "fingerprint", "method", "route", "status", "upstream_error_kind", "count", "first_seen",
                "last_seen"}
ERROR_KINDS = {"unreachable", "timeout", "reset", "closed", "malformed", "crashed"}


def b64(data: str) -> bytes:
    return base64.b64decode(data)


def pairs(headers) -> list[tuple[str, str]]:
    return [tuple(h) for h in headers]


def only(captures: list[dict], **match) -> dict:
    found = [c for c in captures if all(c.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected one capture with {match}, got {found} of {captures}"
    return found[0]


def no_error_kind(value) -> bool:
    return value in (None, "")


def check_show_shape(c: dict) -> None:
    assert SHOW_FIELDS <= set(c), f"show --json lacks {SHOW_FIELDS - set(c)}: {sorted(c)}"
    assert REQUEST_FIELDS <= set(c["request"]), f"request lacks {REQUEST_FIELDS - set(c['request'])}"
    assert RESPONSE_FIELDS <= set(c["response"]), f"response lacks {RESPONSE_FIELDS - set(c['response'])}"
    assert isinstance(c["id"], int) and isinstance(c["group"], int)
    assert ISO_MS_UTC.match(c["time"]), c["time"]
    assert isinstance(c["request"]["headers"], list)
    assert all(isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h)
               for h in c["request"]["headers"] + c["response"]["headers"]), c
    assert isinstance(c["redacted"], list) and all(isinstance(x, str) for x in c["redacted"])
    assert c["upstream_error"] is None or isinstance(c["upstream_error"], str)
    assert isinstance(c["replayable"], bool) and isinstance(c["app_restarted"], bool)
    assert isinstance(c["request"]["body_truncated"], bool) and isinstance(c["response"]["body_truncated"], bool)
    assert isinstance(c["duration_ms"], (int, float)) and c["duration_ms"] >= 0
    assert c["captured_because"] in {"status", "error", "slow", "sample"}, c["captured_because"]
    assert no_error_kind(c["upstream_error_kind"]) or c["upstream_error_kind"] in ERROR_KINDS, c["upstream_error_kind"]
    assert (c["captured_because"] == "error") == (c["upstream_error_kind"] in ERROR_KINDS), c


def check_list_shape(row: dict) -> None:
    assert LIST_FIELDS <= set(row), f"list --json lacks {LIST_FIELDS - set(row)}: {sorted(row)}"
    assert isinstance(row["id"], int) and isinstance(row["status"], int) and isinstance(row["group"], int)
    assert ISO_MS_UTC.match(row["time"]), row["time"]
    assert isinstance(row["replayable"], bool)
    assert isinstance(row["duration_ms"], (int, float)) and row["duration_ms"] >= 0


def gunicorn_worker(hs) -> tuple[int, int]:
    """(master, its one worker) of the supervised gunicorn."""
    master = hs.app_root("gunicorn")
    assert wait_until(lambda: len(children_of(master)) == 1, 20), f"gunicorn workers: {children_of(master)}"
    return master, children_of(master)[0]


def socket_fds(pid: int) -> int:
    n = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


# ---------------------------------------------------------------------------------------
# Exact bytes
# ---------------------------------------------------------------------------------------

BINARY_BODY = bytes(range(256)) * 3 + b"\x00\x00end\x00"
NON_ASCII_TARGET = "/caf%C3%A9/%E2%9C%93/r%C3%A9sum%C3%A9?q=%C3%BC%20x&empty=&flag"


def test_failing_request_stored_with_its_exact_bytes(proxied):
    resp_body = b"\x00app \xff failed\r\n\x00"
    resp_headers = [("Content-Type", "application/octet-stream"), ("X-Trace", "one"), ("x-trace", "two"),
                    ("X-Mixed-CASE", "Value")]
    hs, up = proxied(failing_handler(500, resp_body, resp_headers, reason="Internal Server Error"))
    sent_headers = [("Host", "shop.example"), ("X-Forwarded-Proto", "https"), ("X-Dup", "first"),
                    ("x-dup", "second"), ("X-Mixed-CASE", "MiXeD value"), ("Accept", "*/*"),
                    ("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BINARY_BODY)))]
    raw = build_request("POST", NON_ASCII_TARGET, host=None, headers=sent_headers, body=BINARY_BODY)
    r = hs.request(raw)
    assert r.status == 500 and r.body == resp_body, r
    assert up.requests[0].body == BINARY_BODY

    [row] = wait_captures(hs.data, 1)
    check_list_shape(row)
    assert row["status"] == 500 and row["method"] == "POST" and row["target"] == NON_ASCII_TARGET, row
    raw_path = NON_ASCII_TARGET.split("?")[0]
    assert row["path"] in (raw_path, urllib.parse.unquote(raw_path)), row
    assert row["replayable"] is True, row

    c = show_capture(hs.data, row["id"])
    check_show_shape(c)
    assert c["id"] == row["id"] and c["group"] == row["group"] and c["time"] == row["time"]
    req = c["request"]
    assert req["method"] == "POST" and req["target"] == NON_ASCII_TARGET and req["version"] == "HTTP/1.1", req
    assert pairs(req["headers"]) == sent_headers, "headers not stored as received (order, case, duplicates)"
    assert b64(req["body_base64"]) == BINARY_BODY
    assert req["body_truncated"] is False and req["body_size"] == len(BINARY_BODY)
    resp = c["response"]
    assert resp["status"] == 500 and resp["reason"] == "Internal Server Error", resp
    got = pairs(resp["headers"])
    assert [h for h in got if h[0].lower() in ("x-trace", "x-mixed-case", "content-type")] == resp_headers, got
    assert b64(resp["body_base64"]) == resp_body
    assert resp["body_truncated"] is False and resp["body_size"] == len(resp_body)
    assert c["scheme"] == "https" and c["host"] == "shop.example", (c["scheme"], c["host"])
    assert "127.0.0.1" in c["client"], c["client"]
    assert c["captured_because"] == "status" and c["upstream_error"] is None and no_error_kind(c["upstream_error_kind"])
    assert c["app_restarted"] is False and c["replayable"] is True and c["redacted"] == []

    # --raw: the request exactly as it would be sent again (it had one Content-Length, last).
    assert show_raw(hs.data, row["id"]) == raw


def test_flask_500_stored_with_binary_body_and_its_answer(start_app):
    """A real app: Flask's /upload/ reads the whole binary body, then raises for a name
    ending in .exe (500). The name is non-ASCII, percent-encoded in the query."""
    hs = start_app("flask")
    target = "/upload/?name=%C3%A9vil%20%E2%9C%93.exe"
    headers = [("Content-Type", "application/octet-stream"), ("X-Request-Id", "abc"), ("x-request-id", "def"),
               ("User-Agent", "e2e/1.0")]
    raw = build_request("POST", target, headers=headers, body=BINARY_BODY)
    r = hs.request(raw)
    assert r.status == 500 and r.header("server") != "hindsight", r

    [row] = wait_captures(hs.data, 1)
    c = show_capture(hs.data, row["id"])
    check_show_shape(c)
    assert c["request"]["target"] == target
    assert pairs(c["request"]["headers"]) == [("Host", "test.local"), *headers,
                                              ("Content-Length", str(len(BINARY_BODY)))]
    assert b64(c["request"]["body_base64"]) == BINARY_BODY
    assert c["response"]["status"] == 500
    assert b64(c["response"]["body_base64"]) == r.body, "the stored answer is not what the client got"
    assert c["response"]["body_size"] == len(r.body) and c["response"]["body_truncated"] is False
    assert c["scheme"] == "http", "no X-Forwarded-Proto: the scheme is http"
    assert c["captured_because"] == "status"
    assert show_raw(hs.data, row["id"]) == raw


def test_chunked_request_body_stored_dechunked(proxied):
    hs, up = proxied(failing_handler(500))
    pieces = [b"hello ", b"\x00wor", b"ld\r\n\x00"]
    body = b"".join(pieces)
    head = [("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked")]
    raw = build_request("POST", "/chunked/", headers=head) + chunked(*pieces)
    r = hs.request(raw)
    assert r.status == 500, r
    [row] = wait_captures(hs.data, 1)
    c = show_capture(hs.data, row["id"])
    assert b64(c["request"]["body_base64"]) == body
    assert c["request"]["body_size"] == len(body) and c["request"]["body_truncated"] is False
    assert pairs(c["request"]["headers"]) == [("Host", "test.local"), *head], "stored headers are the received ones"
    assert c["replayable"] is True
    expected = build_request("POST", "/chunked/", headers=[("Content-Type", "application/octet-stream"),
                                                           ("Content-Length", str(len(body)))], body=body)
    assert show_raw(hs.data, row["id"]) == expected, "--raw: Transfer-Encoding not replaced by one Content-Length"


def test_successful_requests_are_not_stored(start_app):
    hs = start_app("flask")
    assert hs.get("/health/").status == 200
    assert hs.get("/api/items/").status == 200
    assert hs.request(build_request("POST", "/environ/", body=b"x=1")).status == 200
    assert hs.get("/nope/").status == 404
    assert hs.get("/boom/").status == 500  # the barrier: stored after all of the above
    wait_captures(hs.data, 1)  # the writer stores in arrival order: the barrier came last
    rows = list_captures(hs.data)
    assert [(r["status"], r["path"]) for r in rows] == [(500, "/boom/")], rows


def test_a_retry_that_succeeds_is_not_a_failure(proxied):
    """A kept-alive app connection closed just as it is reused: the GET is retried on a
    new connection and succeeds. The failed first attempt must not make it a capture."""
    import time

    def answers_then_closes(conn):
        req = conn.read_request()
        if req is None:
            return
        if req.target == "/barrier":
            conn.respond(500, b"barrier")
            return
        conn.respond(200, b"fine")
        time.sleep(0.05)
        conn.close()

    hs, _ = proxied(answers_then_closes, "--threads", "1", "--log-level", "debug")
    assert hs.get("/first").status == 200
    time.sleep(0.3)  # the app has closed the pooled connection meanwhile
    assert hs.get("/second").status == 200
    assert hs.get("/barrier").status == 500  # stored after the two above, if they were
    rows = wait_captures(hs.data, 1)
    assert [r["path"] for r in rows] == ["/barrier"], rows
    assert "retrying on a new one" in hs.stderr_text(), "the scenario did not retry"


def test_scheme_defaults_to_http_and_host_as_received(proxied):
    hs, _ = proxied(failing_handler(503))
    assert hs.get("/x", host="Example.COM:8080").status == 503
    [row] = wait_captures(hs.data, 1)
    c = show_capture(hs.data, row["id"])
    assert c["scheme"] == "http" and c["host"] == "Example.COM:8080", (c["scheme"], c["host"])


# ---------------------------------------------------------------------------------------
# The proxy's own failures: always captured
# ---------------------------------------------------------------------------------------


def test_app_unreachable_502_stored(proxied):
    hs, up = proxied(ok_handler)
    up.stop()  # nothing listens at the upstream address any more
    r = hs.get("/unreachable/")
    assert_own_answer(r, {502})
    [row] = wait_captures(hs.data, 1)
    assert row["status"] == 502 and row["target"] == "/unreachable/"
    c = show_capture(hs.data, row["id"])
    check_show_shape(c)
    assert c["upstream_error_kind"] == "unreachable", c
    assert isinstance(c["upstream_error"], str) and c["upstream_error"], c
    assert c["captured_because"] == "error", c["captured_because"]
    assert c["response"]["status"] == 502
    assert b64(c["response"]["body_base64"]) == r.body, "the stored answer is not the one the client got"


def test_upstream_timeout_504_stored(proxied):
    def never_answers(conn):
        conn.read_request()
        conn.wait_eof(timeout=60)

    hs, _ = proxied(never_answers, "--upstream-timeout", "1s")
    r = hs.get("/wait/", timeout=30)
    assert_own_answer(r, {504})
    [row] = wait_captures(hs.data, 1)
    c = show_capture(hs.data, row["id"])
    assert c["response"]["status"] == 504 and c["upstream_error_kind"] == "timeout", c
    assert c["upstream_error"] and c["captured_because"] == "error"


@pytest.mark.parametrize("kind", ["closed", "reset", "malformed"])
def test_app_failing_to_answer_502_stored_with_its_kind(proxied, kind):
    def handler(conn):
        conn.read_request()
        if kind == "closed":
            conn.close()
        elif kind == "reset":
            conn.reset()
        else:
            conn.send(b"HTTP/1.1 two hundred OK\r\n\r\n")
            conn.close()

    hs, _ = proxied(handler, tcp_upstream=(kind == "reset"))
    r = hs.get(f"/{kind}/")
    assert_own_answer(r, {502})
    [row] = wait_captures(hs.data, 1)
    c = show_capture(hs.data, row["id"])
    expected = {"closed": {"closed"}, "reset": {"reset", "closed"}, "malformed": {"malformed"}}[kind]
    assert c["upstream_error_kind"] in expected, (kind, c["upstream_error_kind"], c["upstream_error"])
    assert c["upstream_error"] and c["captured_because"] == "error"


def test_gunicorn_worker_killed_mid_request(start_app):
    hs = start_app("flask", workers=1)
    master, worker = gunicorn_worker(hs)
    idle = socket_fds(worker)
    c = hs.client(timeout=60)
    c.send(build_request("GET", "/slow/?seconds=30"))
    assert wait_until(lambda: socket_fds(worker) > idle, 20), "the request never reached the worker"
    os.kill(worker, signal.SIGKILL)
    r = c.read_response(timeout=30)
    c.close()
    assert_own_answer(r, {502})
    [row] = wait_captures(hs.data, 1)
    assert row["target"] == "/slow/?seconds=30" and row["status"] == 502
    cap = show_capture(hs.data, row["id"])
    assert cap["upstream_error_kind"] in {"closed", "reset"}, cap
    assert cap["upstream_error"], cap
    assert cap["app_restarted"] is False, "only a worker died: the supervised app (gunicorn's master) did not restart"


def test_app_killed_mid_request_is_crashed_and_restarted(start_app):
    hs = start_app("flask", workers=1)
    master, worker = gunicorn_worker(hs)
    idle = socket_fds(worker)
    c = hs.client(timeout=60)
    c.send(build_request("GET", "/slow/?seconds=30"))
    assert wait_until(lambda: socket_fds(worker) > idle, 20), "the request never reached the worker"
    # Only the master: hindsight sees its app exit and kills what it left (the worker
    # holding the request), so the exchange ends because the app crashed.
    os.kill(master, signal.SIGKILL)
    r = c.read_response(timeout=30)
    c.close()
    assert_own_answer(r, {502})
    [row] = wait_captures(hs.data, 1)
    cap = show_capture(hs.data, row["id"])
    assert cap["upstream_error_kind"] == "crashed", cap
    assert cap["upstream_error"], cap
    assert cap["app_restarted"] is True, f"the app died and was restarted around this exchange: {cap}"
    assert cap["captured_because"] == "error"


# ---------------------------------------------------------------------------------------
# Policies: slow, status list, off
# ---------------------------------------------------------------------------------------


def test_capture_slow(start_app):
    hs = start_app("flask", hs_args=["--capture-slow", "200ms"])
    assert hs.get("/slow/?seconds=0.5").status == 200
    assert hs.get("/health/").status == 200
    assert hs.get("/boom/").status == 500
    rows = wait_captures(hs.data, 2)
    slow = only(rows, path="/slow/")
    assert slow["status"] == 200 and slow["duration_ms"] >= 500, slow
    c = show_capture(hs.data, slow["id"])
    assert c["captured_because"] == "slow" and c["response"]["status"] == 200
    assert b64(c["response"]["body_base64"]) == b"slept 0.5 seconds\n"
    boom = show_capture(hs.data, only(rows, path="/boom/")["id"])
    assert boom["captured_because"] == "status", "a 500 that is fast is captured for its status"
    for r in rows:  # /health/ is captured only if it really was slower than the threshold
        if r["path"] == "/health/":
            assert r["duration_ms"] >= 200, r


def test_capture_status_list_replaces_the_default(proxied):
    hs, _ = proxied(failing_handler(500), "--capture-status", "404")
    assert hs.get("/status/500").status == 500
    assert hs.get("/status/200").status == 200
    assert hs.get("/status/404").status == 404
    rows = wait_captures(hs.data, 1)
    rows = list_captures(hs.data)
    assert [(r["status"], r["target"]) for r in rows] == [(404, "/status/404")], rows
    assert show_capture(hs.data, rows[0]["id"])["captured_because"] == "status"


def test_capture_status_classes_and_ranges(proxied, workdir):
    hs, up = proxied(failing_handler(500), "--capture-status", "5xx,429")
    for st in (503, 404, 429, 200, 500):
        assert hs.get(f"/status/{st}").status == st
    rows = wait_captures(hs.data, 3)
    assert sorted(r["status"] for r in rows) == [429, 500, 503], rows
    # The proxy's own failures are captured whatever the list says.
    hs2, up2 = proxied(failing_handler(500), "--capture-status", "429", data=workdir / "data2", name="second")
    up2.stop()
    assert hs2.get("/down/").status == 502
    [row] = wait_captures(hs2.data, 1)
    assert row["status"] == 502


def test_capture_off_stores_nothing(proxied):
    hs, _ = proxied(failing_handler(500), "--capture", "off")
    for _ in range(3):
        assert hs.get("/boom/").status == 500
    st = store_status(hs.data)
    assert st["proxy"] is not None and st["proxy"]["capture"]["enabled"] is False, st
    assert hs.stop() == 0
    assert not database_files(hs.data), f"--capture off created {database_files(hs.data)}"
    p = hs_cli("list", "--json", data=hs.data)
    if p.returncode == 0:
        assert json.loads(p.stdout) == [], describe_cli(p)


def test_capture_sample_all(proxied):
    hs, _ = proxied(failing_handler(200), "--capture-sample", "1")
    assert hs.get("/sampled/").status == 200
    [row] = wait_captures(hs.data, 1)
    assert row["status"] == 200
    assert show_capture(hs.data, row["id"])["captured_because"] == "sample"


# ---------------------------------------------------------------------------------------
# Truncation
# ---------------------------------------------------------------------------------------


def test_truncation_flags(proxied):
    resp_body = bytes(range(100))
    hs, _ = proxied(failing_handler(500, resp_body), "--capture-request-body", "10",
                    "--capture-response-body", "10")
    long_body = b"0123456789abcdefghij" * 5
    assert hs.request(build_request("POST", "/long/", body=long_body)).status == 500
    assert hs.request(build_request("POST", "/short/", body=b"tiny")).status == 500
    rows = wait_captures(hs.data, 2)
    long_row, short_row = only(rows, path="/long/"), only(rows, path="/short/")
    assert long_row["replayable"] is False and short_row["replayable"] is True, rows

    c = show_capture(hs.data, long_row["id"])
    assert c["replayable"] is False
    assert c["request"]["body_truncated"] is True and c["request"]["body_size"] == len(long_body)
    assert b64(c["request"]["body_base64"]) == long_body[:10]
    assert c["response"]["body_truncated"] is True and c["response"]["body_size"] == len(resp_body)
    assert b64(c["response"]["body_base64"]) == resp_body[:10]

    c = show_capture(hs.data, short_row["id"])
    assert c["replayable"] is True
    assert c["request"]["body_truncated"] is False and b64(c["request"]["body_base64"]) == b"tiny"
    assert c["request"]["body_size"] == 4
    assert c["response"]["body_truncated"] is True and b64(c["response"]["body_base64"]) == resp_body[:10]


def test_response_body_exactly_at_the_limit_is_not_truncated(proxied):
    hs, _ = proxied(failing_handler(500, b"x" * 10), "--capture-response-body", "10", "--capture-request-body", "10")
    assert hs.request(build_request("POST", "/exact/", body=b"y" * 10)).status == 500
    [row] = wait_captures(hs.data, 1)
    c = show_capture(hs.data, row["id"])
    assert c["request"]["body_truncated"] is False and c["response"]["body_truncated"] is False, c
    assert c["replayable"] is True


# ---------------------------------------------------------------------------------------
# Redaction and masking
# ---------------------------------------------------------------------------------------

CARD = "4111111111111111"       # Luhn-valid
NOT_CARD = "4111111111111112"   # Luhn-invalid


def secrets_absent_from_database(data, *secrets: str) -> None:
    for path in database_files(data):
        blob = path.read_bytes()
        for s in secrets:
            assert s.encode() not in blob, f"{s!r} is stored in {path.name}: redaction must happen before writing"


def test_redaction_of_form_json_query_and_card_numbers(proxied):
    hs, _ = proxied(failing_handler(500))
    form = f"username=bob&password=hunter2pw-a-long-pass-phrase&note={CARD}&ref={NOT_CARD}".encode()
    hs.request(build_request("POST", "/signup/?api_key=KEY12345&q=1", body=form,
                             headers=[("Content-Type", "application/x-www-form-urlencoded")]))
    doc = {"user": {"name": "bob", "password": "s3cretJSON"}, "comment": CARD, "count": 3}
    hs.request(build_request("POST", "/api/users/", body=json.dumps(doc).encode(),
                             headers=[("Content-Type", "application/json")]))
    rows = wait_captures(hs.data, 2)
    form_row, json_row = only(rows, path="/signup/"), only(rows, path="/api/users/")

    assert form_row["target"] == "/signup/?api_key=%5Bredacted%5D&q=1", form_row["target"]
    c = show_capture(hs.data, form_row["id"])
    assert c["request"]["target"] == "/signup/?api_key=%5Bredacted%5D&q=1"
    stored = b64(c["request"]["body_base64"])
    fields = urllib.parse.parse_qsl(stored.decode(), keep_blank_values=True)
    assert fields == [("username", "bob"), ("password", "[redacted]"), ("note", "[redacted]"), ("ref", NOT_CARD)], stored
    assert b"password=%5Bredacted%5D" in stored, stored
    assert c["request"]["body_size"] == len(form) and c["request"]["body_truncated"] is False, \
        "a scrubbed body is not a cut one"
    assert "form:password" in c["redacted"] and "query:api_key" in c["redacted"], c["redacted"]
    assert any(x.startswith("form:note") and x.endswith("(card)") for x in c["redacted"]), c["redacted"]
    assert not any(x.startswith("form:ref") for x in c["redacted"]), c["redacted"]
    assert not any(x.startswith("form:username") for x in c["redacted"]), c["redacted"]
    # The replayable bytes carry the stored (scrubbed) body with a Content-Length that fits it.
    raw = show_raw(hs.data, form_row["id"])
    head, _, body = raw.partition(b"\r\n\r\n")
    assert body == stored and f"\r\nContent-Length: {len(stored)}".encode() in head, raw

    c = show_capture(hs.data, json_row["id"])
    got = json.loads(b64(c["request"]["body_base64"]))
    assert got == {"user": {"name": "bob", "password": "[redacted]"}, "comment": "[redacted]", "count": 3}, got
    assert "json:user.password" in c["redacted"], c["redacted"]
    assert any(x.startswith("json:comment") and x.endswith("(card)") for x in c["redacted"]), c["redacted"]

    secrets_absent_from_database(hs.data, "hunter2pw", "s3cretJSON", "KEY12345", CARD)


def test_redact_adds_and_keep_removes_a_name(proxied):
    hs, _ = proxied(failing_handler(500), "--redact", "session_token", "--keep", "password")
    form = b"session_token=TOK999&password=visiblepw&secret=hidden77"
    hs.request(build_request("POST", "/f/", body=form, headers=[("Content-Type", "application/x-www-form-urlencoded")]))
    [row] = wait_captures(hs.data, 1)
    c = show_capture(hs.data, row["id"])
    fields = dict(urllib.parse.parse_qsl(b64(c["request"]["body_base64"]).decode()))
    assert fields == {"session_token": "[redacted]", "password": "visiblepw", "secret": "[redacted]"}, fields
    assert "form:session_token" in c["redacted"] and "form:secret" in c["redacted"], c["redacted"]
    assert "form:password" not in c["redacted"], c["redacted"]
    secrets_absent_from_database(hs.data, "TOK999", "hidden77")


def test_credential_headers_masked_unless_revealed(proxied):
    hs, _ = proxied(failing_handler(500))
    headers = [("Authorization", "Bearer topsecret-token"), ("Cookie", "sessionid=cookie-value-42"),
               ("X-Plain", "visible")]
    raw = build_request("GET", "/private/", headers=headers)
    assert hs.request(raw).status == 500
    [row] = wait_captures(hs.data, 1)

    masked = show_capture(hs.data, row["id"])
    got = dict(pairs(masked["request"]["headers"]))
    assert got["Authorization"] == "[masked]" and got["Cookie"] == "[masked]", got
    assert got["X-Plain"] == "visible"
    assert [h[0] for h in masked["request"]["headers"]] == ["Host", "Authorization", "Cookie", "X-Plain"]

    text = hs_cli("show", row["id"], data=hs.data)
    assert text.returncode == 0, describe_cli(text)
    assert b"topsecret-token" not in text.stdout and b"cookie-value-42" not in text.stdout, text.stdout
    assert b"[masked]" in text.stdout and b"visible" in text.stdout

    revealed = show_capture(hs.data, row["id"], "--reveal")
    assert pairs(revealed["request"]["headers"]) == [("Host", "test.local"), *headers]
    text = hs_cli("show", row["id"], "--reveal", data=hs.data)
    assert b"topsecret-token" in text.stdout and b"cookie-value-42" in text.stdout

    assert show_raw(hs.data, row["id"]) == raw, "--raw must send the real credentials again"


# ---------------------------------------------------------------------------------------
# Grouping
# ---------------------------------------------------------------------------------------


def test_grouping_by_route(start_app):
    hs = start_app("flask")
    for target in ("/orders/1/total/", "/orders/2/total/", "/orders/1/total/", "/boom/"):
        assert hs.get(target).status == 500
    rows = wait_captures(hs.data, 4)
    orders = [r for r in rows if r["path"].startswith("/orders/")]
    assert len({r["group"] for r in orders}) == 1, orders
    boom = only(rows, path="/boom/")
    assert boom["group"] != orders[0]["group"]

    groups = list_captures(hs.data, "--groups")
    assert len(groups) == 2, groups
    for g in groups:
        assert GROUP_FIELDS <= set(g), f"groups lack {GROUP_FIELDS - set(g)}"
        assert ISO_MS_UTC.match(g["first_seen"]) and ISO_MS_UTC.match(g["last_seen"]), g
        assert g["first_seen"] <= g["last_seen"]
        assert no_error_kind(g["upstream_error_kind"])
    og = only(groups, id=orders[0]["group"])
    assert og["route"] == "/orders/{int}/total/" and og["count"] == 3 and og["method"] == "GET" and og["status"] == 500
    bg = only(groups, id=boom["group"])
    assert bg["route"] == "/boom/" and bg["count"] == 1

    in_group = list_captures(hs.data, "--group", og["id"])
    assert sorted(r["id"] for r in in_group) == sorted(r["id"] for r in orders)


def test_groups_split_by_method_status_and_error_kind(proxied):
    hs, up = proxied(failing_handler(500))
    hs.get("/items/7/status/500")
    hs.get("/items/8/status/500")
    hs.get("/items/8/status/503")
    hs.request(build_request("POST", "/items/9/status/500", body=b""))
    hs.get("/items/550e8400-e29b-41d4-a716-446655440000/status/500")
    rows = wait_captures(hs.data, 5)
    by_target = {r["target"]: r["group"] for r in rows}
    assert by_target["/items/7/status/500"] == by_target["/items/8/status/500"]
    assert by_target["/items/8/status/503"] != by_target["/items/8/status/500"], "status is part of the fingerprint"
    assert len(set(by_target.values())) >= 3, by_target
    post = only(rows, method="POST")
    assert post["group"] != by_target["/items/7/status/500"], "method is part of the fingerprint"


# ---------------------------------------------------------------------------------------
# Retention
# ---------------------------------------------------------------------------------------


def test_retain_rows_keeps_the_newest(proxied):
    hs, _ = proxied(failing_handler(500), "--retain-rows", "5")
    with hs.client() as c:
        for i in range(20):
            c.send(build_request("GET", f"/r/{i}"))
            assert c.read_response().status == 500
    last: list = []

    def pruned() -> bool:
        nonlocal last
        last = list_captures(hs.data)
        return 0 < len(last) <= 5 and last[0]["target"] == "/r/19"

    assert wait_until(pruned, 20, 0.1), f"retention did not bring the store to 5 rows: {[r['target'] for r in last]}"
    targets = [r["target"] for r in last]
    expected = [f"/r/{i}" for i in range(19, 19 - len(targets), -1)]
    assert targets == expected, f"not the newest ones, newest first: {targets}"
    st = store_status(hs.data)
    assert st["store"]["rows"] <= 5, st["store"]


# ---------------------------------------------------------------------------------------
# list filters and JSON
# ---------------------------------------------------------------------------------------


def test_list_filters_and_order(proxied):
    hs, _ = proxied(failing_handler(500), "--capture-status", "5xx,429")
    sent = [("GET", "/a/1/status/500"), ("POST", "/a/2/status/502"), ("GET", "/b/x/status/503"),
            ("GET", "/c/status/429"), ("DELETE", "/a/3/status/500")]
    with hs.client() as c:
        for method, target in sent:
            c.send(build_request(method, target, body=b"" if method == "POST" else None))
            assert c.read_response(method=method).status == int(target[-3:])
    rows = wait_captures(hs.data, 5)
    for r in rows:
        check_list_shape(r)
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids, reverse=True), "not newest first"
    assert [r["target"] for r in rows] == [t for _, t in reversed(sent)]
    assert [r["time"] for r in rows] == sorted((r["time"] for r in rows), reverse=True)

    def targets(*filters):
        return [r["target"] for r in list_captures(hs.data, *filters)]

    assert targets("--status", "503") == ["/b/x/status/503"]
    assert targets("--status", "500-502") == ["/a/3/status/500", "/a/2/status/502", "/a/1/status/500"]
    assert targets("--status", "5xx") == ["/a/3/status/500", "/b/x/status/503", "/a/2/status/502", "/a/1/status/500"]
    assert targets("--status", "429,503") == ["/c/status/429", "/b/x/status/503"]
    assert targets("--method", "POST") == ["/a/2/status/502"]
    assert targets("--method", "delete") == ["/a/3/status/500"], "--method is case-insensitive"
    assert targets("--path", "/a/*") == ["/a/3/status/500", "/a/2/status/502", "/a/1/status/500"]
    assert targets("--path", "/c/*") == ["/c/status/429"]
    assert targets("--path", "/nothing/*") == []
    assert targets("--method", "GET", "--status", "500") == ["/a/1/status/500"]
    assert targets("--since", "1h") == [t for _, t in reversed(sent)]
    group = only(rows, target="/b/x/status/503")["group"]
    assert targets("--group", group) == ["/b/x/status/503"]
    limited = cli_list_limit(hs.data, 2)
    assert [r["target"] for r in limited] == ["/a/3/status/500", "/c/status/429"]
    # Time moves on: eventually nothing is newer than a second ago.
    assert wait_until(lambda: targets("--since", "1s") == [], 15, 0.2)


def cli_list_limit(data, n):
    p = hs_cli("list", "--limit", n, "--json", data=data)
    assert p.returncode == 0, describe_cli(p)
    return json.loads(p.stdout)


def test_json_interface_field_names(proxied):
    hs, _ = proxied(failing_handler(500, b"{}", [("Content-Type", "application/json")]))
    hs.request(build_request("PUT", "/api/thing/12?x=1", body=b'{"a":1}',
                             headers=[("Content-Type", "application/json")]))
    [row] = wait_captures(hs.data, 1)
    check_list_shape(row)
    assert row["path"] == "/api/thing/12" and row["target"] == "/api/thing/12?x=1" and row["method"] == "PUT"
    c = show_capture(hs.data, row["id"])
    check_show_shape(c)
    assert c["upstream_ms"] is None or isinstance(c["upstream_ms"], (int, float))
    assert c["request"]["body_size"] == 7 and c["response"]["body_size"] == 2
    # Every field of list is the same in show.
    for k in ("id", "time", "group", "replayable"):
        assert row[k] == c[k], k
    assert row["status"] == c["response"]["status"] and row["method"] == c["request"]["method"]
    assert row["target"] == c["request"]["target"]


# ---------------------------------------------------------------------------------------
# More exchanges whose bytes must come out as they went in
# ---------------------------------------------------------------------------------------


def test_pipelined_failures_captured_with_their_own_bodies(proxied):
    def echo_500(conn):
        while True:
            req = conn.read_request()
            if req is None:
                return
            conn.respond(500, b"answer to " + req.body, [("Content-Type", "text/plain")])

    hs, _ = proxied(echo_500)
    bodies = [f"body-{i}:".encode() * (i + 1) for i in range(4)]
    with hs.client() as c:
        c.send(b"".join(build_request("POST", f"/pipe/{i}", body=b) for i, b in enumerate(bodies)))
        for i in range(4):
            r = c.read_response(method="POST")
            assert r.status == 500 and r.body == b"answer to " + bodies[i], r
    rows = wait_captures(hs.data, 4)
    assert [r["target"] for r in rows] == ["/pipe/3", "/pipe/2", "/pipe/1", "/pipe/0"]
    for r in rows:
        i = int(r["target"].rsplit("/", 1)[1])
        c = show_capture(hs.data, r["id"])
        assert b64(c["request"]["body_base64"]) == bodies[i], (i, c["request"])
        assert b64(c["response"]["body_base64"]) == b"answer to " + bodies[i], (i, c["response"])


def test_chunked_response_stored_dechunked(proxied):
    def chunked_500(conn):
        while True:
            req = conn.read_request()
            if req is None:
                return
            n = 100 if req.target == "/big" else 30
            body = bytes(range(n))
            conn.send(b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
                      + chunked(body[:7], body[7:]))

    hs, _ = proxied(chunked_500, "--capture-response-body", "50")
    for t in ("/small", "/big"):
        r = hs.get(t)
        assert r.status == 500 and r.framing == "chunked", r
    rows = wait_captures(hs.data, 2)
    small = show_capture(hs.data, only(rows, target="/small")["id"])["response"]
    assert b64(small["body_base64"]) == bytes(range(30)) and small["body_size"] == 30 and not small["body_truncated"]
    big = show_capture(hs.data, only(rows, target="/big")["id"])["response"]
    assert b64(big["body_base64"]) == bytes(range(50)) and big["body_size"] == 100 and big["body_truncated"] is True
    assert ["Transfer-Encoding", "chunked"] in big["headers"], big["headers"]


def test_default_body_limits(proxied):
    answer = bytes(i % 256 for i in range(100 * 1024))
    hs, _ = proxied(failing_handler(500, answer))
    body = bytes((i * 7) % 256 for i in range(1536 * 1024))
    r = hs.request(build_request("POST", "/huge/", body=body), timeout=30)
    assert r.status == 500 and r.body == answer
    [row] = wait_captures(hs.data, 1)
    assert row["replayable"] is False
    c = show_capture(hs.data, row["id"])
    assert c["request"]["body_truncated"] is True and c["request"]["body_size"] == len(body)
    assert b64(c["request"]["body_base64"]) == body[:1 << 20], "the default request limit is 1 MiB"
    assert c["response"]["body_truncated"] is True and c["response"]["body_size"] == len(answer)
    assert b64(c["response"]["body_base64"]) == answer[:64 << 10], "the default response limit is 64 KiB"


def test_http10_request_and_bytes_beyond_ascii_in_a_field(proxied):
    hs, _ = proxied(failing_handler(500))
    raw = (b"GET /old?x=1 HTTP/1.0\r\nHost: test.local\r\nX-Name: caf\xe9 \x80\xff\r\n"
           b"User-Agent: old/1\r\n\r\n")
    r = hs.request(raw)
    assert r.status == 500, r
    [row] = wait_captures(hs.data, 1)
    c = show_capture(hs.data, row["id"])
    assert c["request"]["version"] == "HTTP/1.0"
    names = [h[0] for h in c["request"]["headers"]]
    assert names == ["Host", "X-Name", "User-Agent"], names
    assert show_raw(hs.data, row["id"]) == raw, "--raw must give back the field's bytes as received"


def test_partial_response_from_the_app_is_captured(proxied):
    def dies_mid_body(conn):
        conn.read_request()
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n" + b"p" * 100)
        conn.close()

    hs, _ = proxied(dies_mid_body)
    with hs.client() as c:
        c.send(build_request("GET", "/partial/"))
        r = c.read_response()
        assert r.status == 200 and not r.complete, r
    [row] = wait_captures(hs.data, 1)
    cap = show_capture(hs.data, row["id"])
    assert cap["captured_because"] == "error" and cap["upstream_error_kind"] == "closed", cap
    assert cap["upstream_error"], cap
    resp = cap["response"]
    assert resp["status"] == 200 and resp["body_size"] == 100, resp
    assert ["Content-Length", "1000"] in resp["headers"], resp["headers"]
    stored = b64(resp["body_base64"])
    assert stored == b"p" * len(stored) and (len(stored) < 100) == resp["body_truncated"], resp


def test_partial_response_body_is_kept(proxied):
    """The issue: the proxy tees the first --capture-response-body bytes of each exchange
    and decides at the end. An app that dies mid-body (status 200) is captured for the
    error; the bytes it did send tell where it stopped."""
    def dies_mid_body(conn):
        conn.read_request()
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n" + b"p" * 100)
        conn.close()

    hs, _ = proxied(dies_mid_body)
    with hs.client() as c:
        c.send(build_request("GET", "/partial/"))
        assert not c.read_response().complete
    [row] = wait_captures(hs.data, 1)
    resp = show_capture(hs.data, row["id"])["response"]
    assert b64(resp["body_base64"]) == b"p" * 100 and resp["body_truncated"] is False, resp


def test_sigterm_stores_the_captures_already_queued(proxied):
    hs, _ = proxied(failing_handler(500, b"e" * 2048))
    with hs.client() as c:
        for i in range(40):
            c.send(build_request("POST", f"/q/{i}", body=b"b" * 1024))
            assert c.read_response(method="POST").status == 500
    assert hs.stop() == 0
    rows = list_captures(hs.data)
    assert len(rows) == 40, f"a clean stop lost queued captures: {len(rows)} of 40 stored"


def test_retain_bytes(proxied):
    answer = b"r" * (20 * 1024)
    hs, _ = proxied(failing_handler(500, answer), "--retain-bytes", "100KiB")
    with hs.client() as c:
        for i in range(15):
            c.send(build_request("GET", f"/rb/{i}"))
            assert c.read_response().status == 500
    st = {}

    def within() -> bool:
        nonlocal st
        st = store_status(hs.data)
        rows = list_captures(hs.data)
        # The proxy's counters follow its commits a moment later: wait for both.
        writer = st["proxy"]["writer"]
        return (st["store"]["bytes"] <= 100 * 1024 and bool(rows) and rows[0]["target"] == "/rb/14"
                and writer["stored"] == 15 and writer["pruned"] >= 15 - len(rows))

    assert wait_until(within, 20, 0.1), f"the store stays above --retain-bytes 100KiB: {st.get('store')} {st.get('proxy')}"
    rows = list_captures(hs.data)
    assert 0 < len(rows) < 15, len(rows)
    assert [r["target"] for r in rows] == [f"/rb/{i}" for i in range(14, 14 - len(rows), -1)]


def test_json_redaction_keeps_the_other_values(proxied):
    hs, _ = proxied(failing_handler(500))
    text = ('{"password": "pw1secret", "amount": 12345678901234567890123, "price": 0.1, '
            '"id": 9007199254740993, "name": "caf\\u00e9", "items": [1, 2.5, {"k": null}], "ok": true}')
    hs.request(build_request("POST", "/pay/", body=text.encode(), headers=[("Content-Type", "application/json")]))
    [row] = wait_captures(hs.data, 1)
    c = show_capture(hs.data, row["id"])
    stored = json.loads(b64(c["request"]["body_base64"]))
    expected = json.loads(text)
    expected["password"] = "[redacted]"
    assert stored == expected, f"redaction changed values it did not scrub:\n{b64(c['request']['body_base64'])!r}"
    assert c["redacted"] == ["json:password"], c["redacted"]


def test_multipart_form_redaction(proxied):
    hs, _ = proxied(failing_handler(500))
    boundary = "----e2eBoundary7MA4YWxk"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nbob\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nmultiPW77\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n\x00\x01file bytes\r\n"
            f"--{boundary}--\r\n").encode("latin-1")
    hs.request(build_request("POST", "/upload/", body=body,
                             headers=[("Content-Type", f"multipart/form-data; boundary={boundary}")]))
    [row] = wait_captures(hs.data, 1)
    c = show_capture(hs.data, row["id"])
    stored = b64(c["request"]["body_base64"])
    assert stored == body.replace(b"multiPW77", b"[redacted]"), stored
    assert any(x.endswith(":password") for x in c["redacted"]), c["redacted"]
    assert c["request"]["body_size"] == len(body), "body_size is what the client sent"
    secrets_absent_from_database(hs.data, "multiPW77")
