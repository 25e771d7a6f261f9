"""Trigger rules and debug tokens (issue 5, first part), through the real proxy and CLI.

`hindsight rules add` while `hindsight run` runs: the proxy reloads within a second and
logs `rules: N loaded (M enabled)` once the new set is in force, so tests wait for that
line instead of sleeping. Captures are asynchronous: a failing request sent afterwards
(the writer stores in arrival order) shows that something was NOT captured.

Debug actions (pdb, break, ...) send the request to a live debug session; here only
whether they fire is checked (test_live_debug.py follows the sessions themselves).
"""

import base64
import json
import re
import time

import pytest

from conftest import (build_request, describe_cli, failing_handler, hs_cli, list_captures, show_capture, wait_captures,
                      wait_until)

RULES_LOADED = r"rules: (\d+) loaded \((\d+) enabled\)"


def cli(hs, *args):
    return hs_cli(*args, data=hs.data)


def cli_ok(hs, *args) -> str:
    p = cli(hs, *args)
    assert p.returncode == 0, describe_cli(p)
    return p.stdout.decode()


def cli_json(hs, *args):
    return json.loads(cli_ok(hs, *args, "--json"))


def change_rules(hs, *args, loaded: int, enabled: int) -> str:
    """Runs `hindsight rules ARGS` and waits until the proxy has the result in force."""
    start = hs.line_count()
    out = cli_ok(hs, "rules", *args)
    line = hs.wait_for_line(rf"rules: {loaded} loaded \({enabled} enabled\)", timeout=10, start=start)
    assert line, f"the proxy did not reload the rules after `rules {' '.join(args)}`\n{hs.describe_output()}"
    return out


def token(hs, ttl="1h") -> str:
    return cli_json(hs, "token", "--ttl", ttl)["token"]


def expired_token(hs) -> str:
    t = token(hs, "1s")
    assert wait_until(lambda: cli_json(hs, "rules", "test", "/", "--token", t)["token"] == "expired", 5), t
    return t


def forged(t: str) -> str:
    payload, mac = t.split(".")
    return payload + "." + ("A" if mac[0] != "A" else "B") + mac[1:]


def sentinel(hs):
    """A failing request whose capture shows that everything sent before it was stored."""
    marker = f"/status/500/sentinel-{time.monotonic_ns()}"
    assert hs.get(marker).status == 500
    wait_captures(hs.data, 1, "--path", marker)


def paths(hs, glob):
    return sorted(c["target"] for c in list_captures(hs.data, "--path", glob))


@pytest.fixture
def proxy(proxied):
    """hindsight in front of a scripted app: 200 `ok`, or NNN for /status/NNN."""
    hs, up = proxied(failing_handler(status=200, body=b"ok"))
    return hs, up


def test_capture_rule_stores_a_200_without_restart(proxy):
    hs, _ = proxy
    assert hs.get("/ok/before").status == 200
    change_rules(hs, "add", "--path", "/ok/*", "--do", "capture", loaded=1, enabled=1)
    resp = hs.get("/ok/after?x=1")
    assert resp.status == 200 and resp.body == b"ok"
    assert hs.get("/other").status == 200
    [c] = wait_captures(hs.data, 1, "--path", "/ok/*")
    assert c["target"] == "/ok/after?x=1"
    shown = show_capture(hs.data, c["id"])
    assert shown["captured_because"] == "rule"
    assert shown["response"]["status"] == 200
    assert base64.b64decode(shown["response"]["body_base64"]) == b"ok"  # kept in full
    sentinel(hs)
    assert paths(hs, "/ok/*") == ["/ok/after?x=1"]
    assert paths(hs, "/other") == []
    rules = cli_json(hs, "rules", "list")
    assert [(r["name"], r["action"], r["path"], r["expires"], r["state"]) for r in rules] == \
        [("capture-1", "capture", "/ok/*", None, "enabled")]
    assert wait_until(lambda: cli_json(hs, "rules", "list")[0]["hits"] == 1, 5)


def test_a_regex_too_costly_for_a_clients_value_is_no_match(proxy):
    # A capture rule needs no token: its expression meets whatever clients send. One the
    # engine gives up on must neither hang the connection nor leak it.
    hs, _ = proxy
    change_rules(hs, "add", "--header", "X-B=re:a.*b.*c", "--do", "capture", loaded=1, enabled=1)
    for _ in range(5):
        with hs.client() as c:
            c.send(build_request("GET", "/costly", headers=[("X-B", "a" * 20000)]))
            r = c.read_response(timeout=20)
            assert r.status == 200 and r.body == b"ok", r
    with hs.client() as c:
        c.send(build_request("GET", "/cheap", headers=[("X-B", "a-b-c")]))
        assert c.read_response(timeout=20).status == 200
    sentinel(hs)
    assert paths(hs, "/c*") == ["/cheap"]
    # Every connection was closed and counted out: a clean stop has none left to drain.
    start = hs.line_count()
    hs.stop()
    assert hs.wait_for_line(r"for 0 open connection", timeout=10, start=start), hs.describe_output()


def test_max_hits_is_exact(proxy):
    hs, _ = proxy
    change_rules(hs, "add", "--name", "twice", "--path", "/m/*", "--do", "capture", "--max-hits", "2",
                 loaded=1, enabled=1)
    for i in range(5):
        assert hs.get(f"/m/{i}").status == 200
    sentinel(hs)
    assert paths(hs, "/m/*") == ["/m/0", "/m/1"]
    assert wait_until(lambda: cli_json(hs, "rules", "list")[0]["hits"] == 2, 5)
    [r] = cli_json(hs, "rules", "list")
    assert r["state"] == "exhausted" and r["max_hits"] == 2
    why = cli_json(hs, "rules", "test", "/m/9")
    assert why["fires"] is None and why["rules"][0]["verdict"] == "max_hits", why


def test_expired_rule_stops_firing(proxy):
    hs, _ = proxy
    change_rules(hs, "add", "--name", "brief", "--path", "/e/*", "--do", "capture", "--ttl", "2s",
                 loaded=1, enabled=1)
    assert hs.get("/e/early").status == 200
    wait_captures(hs.data, 1, "--path", "/e/*")
    assert wait_until(lambda: cli_json(hs, "rules", "list")[0]["state"] == "expired", 10)
    assert hs.get("/e/late").status == 200
    sentinel(hs)
    assert paths(hs, "/e/*") == ["/e/early"]
    assert cli_json(hs, "rules", "test", "/e/x")["rules"][0]["verdict"] == "expired"


def test_disable_enable_and_rm(proxy):
    hs, _ = proxy
    change_rules(hs, "add", "--name", "d", "--path", "/d/*", "--do", "capture", loaded=1, enabled=1)
    out = change_rules(hs, "disable", "d", loaded=1, enabled=0)
    assert "disabled rule 'd'" in out
    assert hs.get("/d/while-disabled").status == 200
    change_rules(hs, "enable", "1", loaded=1, enabled=1)
    assert hs.get("/d/enabled").status == 200
    change_rules(hs, "rm", "d", loaded=0, enabled=0)
    assert hs.get("/d/removed").status == 200
    sentinel(hs)
    assert paths(hs, "/d/*") == ["/d/enabled"]
    assert cli_json(hs, "rules", "list") == []
    p = cli(hs, "rules", "rm", "d")
    assert p.returncode == 1 and b"no rule named 'd'" in p.stderr, describe_cli(p)


def test_rules_test_with_a_capture_and_a_url(proxy):
    hs, _ = proxy
    cli_ok(hs, "rules", "add", "--name", "cap", "--path", "/ok/*", "--method", "GET", "--do", "capture")
    cli_ok(hs, "rules", "add", "--name", "dbg", "--query", "pdb=1", "--do", "pdb")
    cli_ok(hs, "rules", "add", "--name", "hdr", "--header", "X-Debug=re:^y", "--do", "post-mortem")
    cli_ok(hs, "rules", "add", "--name", "net", "--client", "10.0.0.0/8", "--do", "capture")
    assert hs.get("/status/500/x").status == 500
    [c] = wait_captures(hs.data, 1)

    by_capture = cli_json(hs, "rules", "test", c["id"])
    assert by_capture["fires"] is None
    why = {r["name"]: (r["verdict"], r["why"]) for r in by_capture["rules"]}
    assert why["cap"] == ("no_match", "--path '/ok/*' does not match"), why
    assert why["dbg"][0] == "no_match" and why["hdr"][0] == "no_match"
    assert why["net"][0] == "no_match" and "client 127.0.0.1" in why["net"][1]

    url = cli_json(hs, "rules", "test", "http://example.test/ok/1?pdb=1", "-H", "X-Debug: yes")
    assert url["fires"]["name"] == "cap"
    why = {r["name"]: (r["verdict"], r["why"]) for r in url["rules"]}
    assert why["dbg"] == ("no_token", "no valid debug token: none given (--token, or the X-Hindsight-Token header, "
                                      "hindsight_debug cookie or hindsight_token parameter)"), why
    assert why["hdr"][0] == "no_token"

    good = token(hs)
    with_token = cli_json(hs, "rules", "test", "/x?pdb=1", "--token", good)
    assert with_token["token"] == "valid" and with_token["fires"]["name"] == "dbg"
    # The token may also travel in the request itself, as the proxy takes it.
    in_query = cli_json(hs, "rules", "test", f"/x?pdb=1&hindsight_token={good}")
    assert in_query["fires"]["name"] == "dbg" and in_query["request"]["target"] == "/x?pdb=1"
    bad = cli_json(hs, "rules", "test", "/x?pdb=1", "--token", forged(good))
    assert bad["token"] == "forged" and bad["fires"] is None
    assert "forged" in {r["name"]: r["why"] for r in bad["rules"]}["dbg"]
    old = cli_json(hs, "rules", "test", "/x?pdb=1", "--token", expired_token(hs))
    assert old["token"] == "expired" and "expired at" in {r["name"]: r["why"] for r in old["rules"]}["dbg"]
    text = cli_ok(hs, "rules", "test", "http://example.test/ok/1?pdb=1")
    assert "fires: rule 'cap'" in text and "not 'dbg' (id 2): no valid debug token" in text, text
    assert cli_json(hs, "rules", "test", "/x", "--client", "10.1.2.3")["fires"]["name"] == "net"


@pytest.mark.parametrize("args, message", [
    (["--path", "re:a(b"], "--path 're:a(b': regex error at position 3: "),
    (["--header", "X-A=re:x{2,1}"], "--header 'X-A=re:x{2,1}': regex error at position"),
    (["--client", "10.0.0.0/33"], "--client '10.0.0.0/33': the prefix length must be a number from 0 to 32 (at position 9)"),
    (["--path", "/a/[bc"], "'[' without its closing ']' (at position 3)"),
    (["--path", "/x", "--do", "break views.py"], "break needs FILE:LINE[:COND]"),
    ([], "a rule needs at least one of"),
])
def test_malformed_rules_are_refused_with_the_position(proxy, args, message):
    hs, _ = proxy
    do = [] if "--do" in args else ["--do", "capture"]
    p = cli(hs, "rules", "add", *args, *do)
    assert p.returncode == 2, describe_cli(p)
    err = p.stderr.decode()
    assert message in err, err
    if "position" in message:
        # The value, then a caret under the error (a regex's position counts from after re:).
        value, caret = err.splitlines()[1:3]
        at = int(re.search(r"position (\d+)", err).group(1))
        if "regex" in message:
            at += value.index("re:") - 2 + len("re:")
        assert caret.index("^") == 2 + at, err
    assert cli_json(hs, "rules", "list") == []


def test_token_is_stripped_before_the_app_byte_exact(proxied):
    hs, up = proxied()
    good = token(hs)
    for t in (good, "not-a-token"):
        raw = (f"GET /p?a=1&hindsight_token={t}&b=2 HTTP/1.1\r\nHost: test.local\r\n"
               f"Cookie: a=1;  hindsight_debug={t}; b=\"x y\"\r\nX-Hindsight-Token: {t}\r\nX-Other:  v \r\n\r\n")
        resp = hs.request(raw.encode())
        assert resp.status == 200
        seen = up.connections[-1].requests[-1]
        assert seen.target == "/p?a=1&b=2"
        # The other cookies byte for byte, each after the separator that preceded it.
        assert seen.header_values("cookie") == ["a=1; b=\"x y\""]
        assert not seen.has("x-hindsight-token")
        assert seen.header_values("x-other") == ["v"]
        assert t.encode() not in seen.raw
        # The header's token is the one used: no cookie is set for it.
        assert resp.header("set-cookie") is None, resp
    # Nor does the access log show it.
    assert good not in hs.output_text()


def test_one_time_query_token_sets_the_cookie(proxy):
    hs, _ = proxy
    good = token(hs, "1h")
    resp = hs.get(f"/?hindsight_token={good}")
    assert resp.status == 200
    cookie = resp.header("set-cookie")
    m = re.fullmatch(rf"hindsight_debug={re.escape(good)}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=(\d+)",
                     cookie or "")
    assert m and 3590 <= int(m.group(1)) <= 3600, cookie
    # The page's URL holds the token: the browser must not send it on in a Referer.
    assert resp.header_values("referrer-policy")[-1:] == ["no-referrer"], resp
    for t in (forged(good), expired_token(hs)):
        bad = hs.get(f"/?hindsight_token={t}")
        assert bad.header("set-cookie") is None
        # Valid or not, a token in the address is kept out of Referer.
        assert bad.header_values("referrer-policy")[-1:] == ["no-referrer"], bad
    # A browser still holding an older, expired cookie: the link's token wins and
    # replaces it.
    stale = expired_token(hs)
    resp = hs.request(build_request("GET", f"/?hindsight_token={good}", headers=[("Cookie", f"hindsight_debug={stale}")]))
    assert (resp.header("set-cookie") or "").startswith(f"hindsight_debug={good};"), resp
    assert resp.header_values("referrer-policy")[-1:] == ["no-referrer"], resp
    # Without a token in the address, nothing is added.
    plain = hs.get("/")
    assert plain.header("set-cookie") is None and plain.header("referrer-policy") is None


def test_debug_rule_needs_a_valid_token(start_app):
    # Nobody attaches: the session's prompt is left after a second and the request runs on.
    hs = start_app("flask", hs_args=["--attach-wait", "1s"])
    change_rules(hs, "add", "--query", "pdb=1", "--do", "pdb", loaded=1, enabled=1)
    fired = r"rule 'pdb-1' fired \(pdb\): debug session on worker 1"

    def environ(target, headers=()):
        resp = hs.get(target, headers=headers)
        assert resp.status == 200, resp
        return resp.json()

    # No token: ?pdb=1 is just a query parameter the app gets, and nothing fires.
    env = environ("/environ/?pdb=1")
    assert env["QUERY_STRING"] == "pdb=1"
    for t in (forged(token(hs)), expired_token(hs)):
        env = environ("/environ/?pdb=1", [("X-Hindsight-Token", t)])
        assert env["QUERY_STRING"] == "pdb=1" and "HTTP_X_HINDSIGHT_TOKEN" not in env
    assert not re.search(fired, hs.output_text())
    assert cli_json(hs, "rules", "list")[0]["hits"] == 0

    # A valid token: the rule fires, is counted, says so, and the app (in the debug
    # worker) answers as usual, without the token.
    good = token(hs)
    start = hs.line_count()
    env = environ("/environ/?pdb=1", [("Cookie", f"sid=1; hindsight_debug={good}")])
    assert env["QUERY_STRING"] == "pdb=1" and env["HTTP_COOKIE"] == "sid=1"
    assert hs.wait_for_line(fired, timeout=5, start=start), hs.describe_output()
    assert wait_until(lambda: cli_json(hs, "rules", "list")[0]["hits"] == 1, 5)


def test_token_command_prints_a_curl_line_and_a_url(proxy):
    hs, _ = proxy
    out = cli_json(hs, "token", "--ttl", "30m")
    base = f"http://{hs.listen.arg()}"
    assert out["url"] == f"{base}/?hindsight_token={out['token']}" and out["url_is_placeholder"] is False
    assert out["curl"] == f"curl -H 'X-Hindsight-Token: {out['token']}' '{base}/'"
    text = cli_ok(hs, "token")
    assert "curl -H 'X-Hindsight-Token: " in text and "?hindsight_token=" in text
    assert (hs.data / "secret").stat().st_mode & 0o777 == 0o600
    p = hs_cli("token", "--ttl", "0", data=hs.data)
    assert p.returncode == 2, describe_cli(p)


def test_capture_off_writes_no_database_until_a_rule_is_added(proxied):
    hs, _ = proxied(failing_handler(status=200, body=b"ok"), "--capture", "off")
    assert hs.get("/").status == 200
    assert not (hs.data / "captures.db").exists()
    # `rules add` creates the store; the running proxy finds it and loads the rule.
    change_rules(hs, "add", "--query", "pdb=1", "--do", "pdb", loaded=1, enabled=1)
