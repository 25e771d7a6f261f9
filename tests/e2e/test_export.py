"""`hindsight export` and `hindsight replay --upstream / --diff` (issue 5, "Export and
compare") end to end: real gunicorn serving the example Flask app behind the real proxy.
Each export format is judged by the tool it is for — the curl line run by real curl, the
raw bytes sent over a socket, the Python snippet run by /usr/bin/python3 with requests —
and the app's /environ/ echo says whether the app received the same request."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import HINDSIGHT_BIN, build_request, describe_cli, hs_cli, wait_captures

WORKER_BIN = Path(HINDSIGHT_BIN).parent / "hindsight-worker"

# A body no shell or Python literal carries by accident: NUL, quotes, %, backslash, 0xff.
BINARY_BODY = b"MZ\x00\x01'\"%s\\n\xff\r\n$HOME`id`"
QUERY = "q=caf%C3%A9+au+lait&plus=1%2B1&empty="
SECRET = "Bearer s3cr3t-token"

# The environ keys that say what the app received for one request. REMOTE_PORT and the
# wsgi/gunicorn objects belong to the connection, not the request.
REQUEST_KEYS = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH", "SERVER_PROTOCOL",
                "wsgi.url_scheme", "body")


def app_saw(environ: dict) -> dict:
    """What the app received: the request keys and every HTTP_* field."""
    return {k: v for k, v in environ.items() if k in REQUEST_KEYS or k.startswith("HTTP_")}


def export(data, capture_id, fmt, *flags):
    return hs_cli("export", capture_id, "--format", fmt, *flags, data=data)


def exported(data, capture_id, fmt, *flags) -> bytes:
    p = export(data, capture_id, fmt, *flags)
    assert p.returncode == 0, describe_cli(p)
    return p.stdout


@pytest.fixture
def flask_all(start_app):
    """The Flask example behind hindsight, every status captured (the /environ/ echo is a 200)."""
    return start_app("flask", hs_args=["--capture-status", "200-599"])


def send_echo(hs, headers=(), body=BINARY_BODY, method="POST") -> tuple[dict, dict]:
    """One request to /environ/ through the proxy; returns (what the app saw, its capture)."""
    host = f"127.0.0.1:{hs.listen.port}"
    target = f"/environ/?{QUERY}"
    r = hs.request(build_request(method, target, host=host, headers=headers, body=body))
    assert r.status == 200, r
    rows = wait_captures(hs.data, 1, "--path", "/environ/")
    [row] = [c for c in rows if c["target"] == target]
    return app_saw(r.json()), row


ECHO_HEADERS = [("Content-Type", "application/octet-stream"), ("Authorization", SECRET),
                ("X-Quote", "it's \"quoted\" $HOME `id` \\"), ("Accept", "application/json"),
                ("Cookie", "session=abc123; theme=dark")]


def test_the_curl_line_run_by_curl_reaches_the_app_as_the_original_did(flask_all):
    original, row = send_echo(flask_all, ECHO_HEADERS)
    line = exported(flask_all.data, row["id"], "curl", "--reveal").decode("latin-1")
    assert line.count("\n") == 1 and line.endswith("\n"), line
    assert "--http1.1" in line and "--data-binary @-" in line, line
    run = subprocess.run(["/bin/sh", "-c", line.rstrip("\n") + " --silent --show-error"], capture_output=True, timeout=30)
    assert run.returncode == 0, run
    assert app_saw(json.loads(run.stdout)) == original
    assert original["body"].encode("latin-1") == BINARY_BODY
    assert original["QUERY_STRING"] == QUERY


def test_the_curl_line_masks_credentials_unless_revealed(flask_all):
    _, row = send_echo(flask_all, ECHO_HEADERS)
    p = export(flask_all.data, row["id"], "curl")
    assert p.returncode == 0, describe_cli(p)
    assert b"s3cr3t" not in p.stdout and b"abc123" not in p.stdout
    assert b"-H 'Authorization: [masked]'" in p.stdout and b"-H 'Cookie: [masked]'" in p.stdout, p.stdout
    assert b"credential headers masked: Authorization, Cookie (--reveal includes them)" in p.stderr, p.stderr
    assert SECRET.encode() in exported(flask_all.data, row["id"], "curl", "--reveal")


def test_a_text_body_reaches_the_app_the_same_through_curl(flask_all):
    original, row = send_echo(flask_all, [("Content-Type", "application/json"), ("X-Empty", "")],
                              body=b'{"name": "caf\xc3\xa9", "note": "it\'s"}')
    line = exported(flask_all.data, row["id"], "curl", "--reveal").decode("utf-8")
    assert "--data-binary '{" in line, line
    run = subprocess.run(["/bin/sh", "-c", line.rstrip("\n") + " --silent --show-error"], capture_output=True, timeout=30)
    assert run.returncode == 0, run
    assert app_saw(json.loads(run.stdout)) == original
    assert original["HTTP_X_EMPTY"] == ""


def test_raw_bytes_sent_over_a_socket_get_the_same_answer(flask_all):
    original, row = send_echo(flask_all, ECHO_HEADERS)
    raw = exported(flask_all.data, row["id"], "raw", "--reveal")
    assert raw.endswith(b"\r\n\r\n" + BINARY_BODY)
    with flask_all.client() as c:  # a socket, as nc would open
        c.send(raw)
        response = c.read_response("POST")
    assert response.status == 200, response
    assert app_saw(response.json()) == original

    masked = exported(flask_all.data, row["id"], "raw")
    assert b"\r\nAuthorization: [masked]\r\n" in masked and b"s3cr3t" not in masked


def test_raw_of_a_failing_request_gives_the_captured_failure(start_app):
    hs = start_app("flask")
    r = hs.get("/orders/7/total/")
    assert r.status == 500
    [row] = wait_captures(hs.data, 1)
    captured = json.loads(hs_cli("show", row["id"], "--json", data=hs.data).stdout)
    with hs.client() as c:
        c.send(exported(hs.data, row["id"], "raw"))
        again = c.read_response()
    assert again.status == 500
    assert again.body == base64.b64decode(captured["response"]["body_base64"])


def test_the_python_snippet_run_by_python_reaches_the_app_as_the_original_did(flask_all, workdir):
    probe = subprocess.run(["/usr/bin/python3", "-c", "import requests"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("python3-requests is not installed (scripts/install-deps.sh installs it)")
    original, row = send_echo(flask_all, ECHO_HEADERS)
    script = workdir / "replay.py"
    script.write_bytes(exported(flask_all.data, row["id"], "python", "--reveal"))
    source = script.read_text()
    assert "requests.request(" in source and 'data=b"MZ\\x00\\x01' in source, source
    run = subprocess.run(["/usr/bin/python3", str(script)], capture_output=True, timeout=30)
    assert run.returncode == 0, run
    status_line, _, body = run.stdout.partition(b"\n")
    assert status_line == b"200 OK", run.stdout[:300]
    assert app_saw(json.loads(body)) == original

    masked = exported(flask_all.data, row["id"], "python").decode()
    assert '"Authorization": "[masked]"' in masked and "s3cr3t" not in masked


def check_har_1_2(har: dict) -> None:
    """The fields HAR 1.2 requires (http://www.softwareishard.com/blog/har-12-spec/), with their types."""
    log = har["log"]
    assert log["version"] == "1.2"
    assert isinstance(log["creator"]["name"], str) and isinstance(log["creator"]["version"], str)
    assert isinstance(log["entries"], list) and log["entries"]
    for e in log["entries"]:
        assert isinstance(e["startedDateTime"], str) and e["startedDateTime"].endswith("Z")
        assert isinstance(e["time"], (int, float)) and e["time"] >= 0
        req, resp = e["request"], e["response"]
        for k, t in {"method": str, "url": str, "httpVersion": str, "cookies": list, "headers": list,
                     "queryString": list, "headersSize": int, "bodySize": int}.items():
            assert isinstance(req[k], t), (k, req.get(k))
        for k, t in {"status": int, "statusText": str, "httpVersion": str, "cookies": list, "headers": list,
                     "content": dict, "redirectURL": str, "headersSize": int, "bodySize": int}.items():
            assert isinstance(resp[k], t), (k, resp.get(k))
        assert isinstance(resp["content"]["size"], int) and isinstance(resp["content"]["mimeType"], str)
        for nv in req["headers"] + resp["headers"] + req["queryString"] + req["cookies"] + resp["cookies"]:
            assert isinstance(nv["name"], str) and isinstance(nv["value"], str)
        if "postData" in req:
            assert isinstance(req["postData"]["mimeType"], str) and isinstance(req["postData"]["text"], str)
        assert isinstance(e["cache"], dict)
        for k in ("send", "wait", "receive"):
            assert isinstance(e["timings"][k], (int, float)) and e["timings"][k] >= 0
        total = sum(v for k, v in e["timings"].items() if k != "ssl" and v >= 0)
        assert abs(total - e["time"]) < 0.01


def test_har_is_a_valid_1_2_document_with_the_exact_bodies(flask_all, workdir):
    original, row = send_echo(flask_all, ECHO_HEADERS)
    out = workdir / "capture.har"
    p = export(flask_all.data, row["id"], "har", "-o", out)
    assert p.returncode == 0 and p.stdout == b"", describe_cli(p)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    har = json.loads(out.read_text())
    check_har_1_2(har)
    [entry] = har["log"]["entries"]
    req = entry["request"]
    assert req["method"] == "POST"
    assert req["url"] == f"http://127.0.0.1:{flask_all.listen.port}/environ/?{QUERY}"
    assert {q["name"]: q["value"] for q in req["queryString"]} == {"q": "café au lait", "plus": "1+1", "empty": ""}
    assert req["postData"]["encoding"] == "base64"
    assert base64.b64decode(req["postData"]["text"]) == BINARY_BODY
    assert req["bodySize"] == len(BINARY_BODY)
    headers = {h["name"]: h["value"] for h in req["headers"]}
    assert headers["Authorization"] == "[masked]"
    assert {c["name"]: c["value"] for c in req["cookies"]} == {"session": "[masked]", "theme": "[masked]"}
    resp = entry["response"]
    assert resp["status"] == 200
    assert resp["content"]["mimeType"] == "application/json"
    assert app_saw(json.loads(resp["content"]["text"])) == original
    # The echo in the response body holds the secret (the app printed it); the request does not.
    assert "s3cr3t" not in json.dumps(entry["request"]) and "abc123" not in json.dumps(entry["request"])

    revealed = json.loads(exported(flask_all.data, row["id"], "har", "--reveal"))
    check_har_1_2(revealed)
    rh = {h["name"]: h["value"] for h in revealed["log"]["entries"][0]["request"]["headers"]}
    assert rh["Authorization"] == SECRET


def test_a_body_cut_at_capture_is_said_to_be_cut(start_app):
    hs = start_app("flask", hs_args=["--capture-status", "200-599", "--capture-response-body", "100"])
    r = hs.get("/environ/", host=f"127.0.0.1:{hs.listen.port}")
    assert r.status == 200 and len(r.body) > 100
    [row] = wait_captures(hs.data, 1)
    har = json.loads(exported(hs.data, row["id"], "har"))
    content = har["log"]["entries"][0]["response"]["content"]
    assert content["size"] == len(r.body)
    assert len(content["text"]) == 100
    assert f"the first 100 of {len(r.body)} bytes" in content["comment"], content


def test_export_errors_are_clear(flask_all, workdir):
    _, row = send_echo(flask_all)
    p = export(flask_all.data, 999999, "curl")
    assert p.returncode == 1, describe_cli(p)
    assert b"no capture 999999 in " in p.stderr and b"the newest is" in p.stderr, p.stderr
    assert b"`hindsight list` shows the captures there" in p.stderr, p.stderr

    p = export(flask_all.data, row["id"], "postman")
    assert p.returncode == 2, describe_cli(p)
    assert b"postman" in p.stderr and b"hindsight export --help" in p.stderr, p.stderr

    p = hs_cli("export", row["id"], data=flask_all.data)
    assert p.returncode == 2 and b"--format" in p.stderr, describe_cli(p)

    target = workdir / "no-such-dir" / "out.har"
    p = export(flask_all.data, row["id"], "har", "-o", target)
    assert p.returncode == 1, describe_cli(p)
    assert f"cannot write the export to '{target}'".encode() in p.stderr and b"No such file" in p.stderr, p.stderr


# ---------------------------------------------------------------------------------------
# replay --upstream and --diff
# ---------------------------------------------------------------------------------------


def replay(data, capture_id, *args, timeout=120.0):
    return hs_cli("replay", capture_id, *args, data=data, timeout=timeout)


def capture_bug(hs) -> dict:
    r = hs.get("/orders/7/total/")
    assert r.status == 500
    rows = wait_captures(hs.data, 1, "--path", "/orders/*")
    return rows[0]


def test_replay_upstream_sends_the_request_to_the_running_app(start_app):
    hs = start_app("flask")
    row = capture_bug(hs)
    captured = json.loads(hs_cli("show", row["id"], "--json", data=hs.data).stdout)
    p = replay(hs.data, row["id"], "--upstream", "--json")
    assert p.returncode == 0, describe_cli(p)
    result = json.loads(p.stdout)
    inner = json.loads(hs_cli("status", "--json", data=hs.data).stdout)["proxy"]["upstream"]
    assert result["target"] == "upstream" and result["upstream"] == inner
    assert result["outcome"] == "completed" and result["status"] == 500
    assert base64.b64decode(result["body_base64"]) == base64.b64decode(captured["response"]["body_base64"])
    assert any(name.lower() == "content-type" for name, _ in result["headers"])
    assert isinstance(result["replay_id"], int)
    assert "diff" not in result

    # The text form, to an explicit address: the app itself, not the proxy.
    p = replay(hs.data, row["id"], f"--upstream={inner}")
    assert p.returncode == 0, describe_cli(p)
    out = p.stdout.decode()
    assert out.startswith(f"replay {result['replay_id'] + 1} of capture {row['id']} by the app at {inner}: 500"), out
    assert "rolled back" not in out


def test_replay_diff_finds_the_same_failure_by_worker_and_by_the_app(start_app, workdir):
    hs = start_app("flask")
    row = capture_bug(hs)
    p = replay(hs.data, row["id"], "--upstream", "--diff", "--json")
    assert p.returncode == 0, describe_cli(p)
    diff = json.loads(p.stdout)["diff"]
    assert diff["same"] is True and diff["status"] == {"captured": 500, "replayed": 500, "same": True}, diff
    assert "date" in diff["ignored_headers"] and "server" in diff["ignored_headers"]

    p = replay(hs.data, row["id"], "--upstream", "--diff")
    assert p.returncode == 0, describe_cli(p)
    assert "status: same (500)" in p.stdout.decode() and "same response" in p.stdout.decode(), p.stdout

    if not os.access(WORKER_BIN, os.X_OK):
        pytest.skip(f"hindsight-worker not built next to {HINDSIGHT_BIN}")
    env = {"HINDSIGHT_EXAMPLE_FLASK_DB": str(workdir / "flask.sqlite3")}
    p = hs_cli("replay", row["id"], "--diff", "--json", data=hs.data, env=env, timeout=120)
    assert p.returncode == 0, describe_cli(p)
    result = json.loads(p.stdout)
    assert result["target"] == "worker" and result["diff"]["same"] is True, result["diff"]


def test_replay_diff_reports_what_changed_and_exits_3(flask_all):
    hs = flask_all
    listed = hs.get("/api/items/")
    assert listed.status == 200, listed
    items = listed.json()["items"]
    next_id = max([i["id"] for i in items], default=0) + 1
    missing = hs.get(f"/api/items/{next_id}/")
    assert missing.status == 500, missing  # the deliberate bug: no 404 for an unknown id
    rows = wait_captures(hs.data, 2)
    by_target = {r["target"]: r for r in rows}
    # The data changes under the captured requests: the item now exists.
    created = hs.request(build_request("POST", "/api/items/", headers=[("Content-Type", "application/json")],
                                       body=b'{"name": "widget", "price_cents": 250}'))
    assert created.status == 201 and created.json()["id"] == next_id, created

    p = replay(hs.data, by_target["/api/items/"]["id"], "--upstream", "--diff", "--json")
    assert p.returncode == 3, describe_cli(p)
    diff = json.loads(p.stdout)["diff"]
    assert diff["same"] is False and diff["status"]["same"] is True and diff["headers"] == [], diff
    assert diff["body"]["kind"] == "json"
    assert diff["body"]["changes"] == [{"path": f"$.items[{len(items)}]", "change": "added", "captured": None,
                                        "replayed": json.dumps({"id": next_id, "name": "widget", "price_cents": 250},
                                                               separators=(",", ":"))}], diff

    p = replay(hs.data, by_target[f"/api/items/{next_id}/"]["id"], "--upstream", "--diff")
    assert p.returncode == 3, describe_cli(p)
    out = p.stdout.decode()
    assert "status: 500 → 200" in out, out
    assert "content-type changed: text/html; charset=utf-8 → application/json" in out, out
    assert "body: text differs" in out and "--- captured\n+++ replayed\n@@ " in out, out
    assert "the responses differ" in out, out


def test_replay_upstream_without_a_proxy_or_address_says_what_to_give(start_app):
    hs = start_app("flask")
    row = capture_bug(hs)
    hs.stop()
    p = replay(hs.data, row["id"], "--upstream")
    assert p.returncode == 1, describe_cli(p)
    err = p.stderr.decode()
    assert "cannot tell where the app listens" in err and "--upstream=127.0.0.1:8000" in err, err

    p = replay(hs.data, row["id"], "--upstream=unix:/nonexistent/app.sock", "--timeout", "5s")
    assert p.returncode == 1, describe_cli(p)
    assert "cannot connect to the app at unix:/nonexistent/app.sock" in p.stderr.decode(), p.stderr

    p = replay(hs.data, row["id"], "--upstream=nowhere", "--json")
    assert p.returncode == 2, describe_cli(p)
    assert b"--upstream: invalid address 'nowhere'" in p.stderr, p.stderr

    p = replay(hs.data, row["id"], "--upstream", "--pdb")
    assert p.returncode == 2, describe_cli(p)
