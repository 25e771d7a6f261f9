"""Relaying: keep-alive, pipelining, bodies both ways, upgrades, upstream failures, limits.

Real gunicorn with the example apps where the app's behaviour is what matters; the
scripted upstream where the test needs to see or shape the exact bytes.
"""

import base64
import json
import os
import socket
import struct
import threading
import time
import zlib

import pytest

from conftest import (Addr, Client, assert_own_answer, build_request, build_response, chunked,
                      echo_target_handler, exchange, free_port, ok_handler, parse_response, sha256,
                      show_capture, wait_captures, wait_until)

HOST = ("Host", "test.local")


def get(target: str, headers=(), version: str = "HTTP/1.1", host: str | None = "test.local") -> bytes:
    return build_request("GET", target, headers=headers, version=version, host=host)



WORKERS = {"sync": (), "gthread": ("-k", "gthread", "--threads", "4")}


# ---------------------------------------------------------------------------------------
# Keep-alive and connection reuse
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("worker", ["sync", "gthread"])
@pytest.mark.parametrize("kind", ["django", "flask"])
def test_keep_alive_through_gunicorn(start_app, kind, worker):
    """Several requests on one client connection, whether gunicorn closes its side
    (sync: `Connection: close` on every response) or keeps it (gthread)."""
    hs = start_app(kind, *WORKERS[worker])
    with hs.client() as c:
        for i in range(4):
            c.send(get(f"/health/?n={i}"))
            r = c.read_response()
            assert r.status == 200 and r.body == b"ok", r
            assert "close" not in r.connection_tokens(), f"gunicorn's Connection: close leaked to the client: {r}"
        assert c.still_open(0.5), "the client connection was closed after keep-alive responses"


def test_upstream_connection_is_reused(proxied):
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        for i in range(5):
            c.send(get(f"/r{i}"))
            assert c.read_response().status == 200
    assert [r.target for r in up.requests] == [f"/r{i}" for i in range(5)]
    assert up.accepted == 1, f"{up.accepted} upstream connections for 5 sequential requests"


def test_upstream_connection_is_pooled_across_clients(proxied):
    hs, up = proxied(ok_handler, "--threads", "1")
    for i in range(3):
        with hs.client() as c:
            c.send(get(f"/c{i}"))
            assert c.read_response().status == 200
    assert up.accepted == 1, f"{up.accepted} upstream connections for 3 sequential clients"


def test_upstream_connection_close_is_honoured(proxied):
    """An upstream `Connection: close` ends that upstream connection, not the client's."""

    def handler(conn):
        req = conn.read_request()
        if req is not None:
            conn.respond(200, req.target.encode(), [("Connection", "close")])

    hs, up = proxied(handler)
    with hs.client() as c:
        for i in range(3):
            c.send(get(f"/x{i}"))
            r = c.read_response()
            assert r.status == 200 and r.body == f"/x{i}".encode(), r
            assert "close" not in r.connection_tokens(), r
    assert up.accepted == 3


def test_pooled_connection_closed_by_upstream_is_not_a_502(proxied):
    """gthread closes idle keep-alive connections (after 2 s by default): the next request
    must not be lost on the dead pooled connection."""

    def handler(conn):
        req = conn.read_request()
        if req is None:
            return
        conn.respond(200, b"first")
        time.sleep(0.2)  # then close while idle in the pool

    hs, up = proxied(handler)
    with hs.client() as c:
        c.send(get("/one"))
        assert c.read_response().body == b"first"
        assert wait_until(lambda: all(conn.eof or conn.sock.fileno() < 0 for conn in up.connections), 5)
        time.sleep(0.3)
        c.send(get("/two"))
        r = c.read_response()
    assert r.status == 200 and r.body == b"first", r
    assert up.accepted == 2


def test_post_is_not_sent_twice_when_a_reused_connection_dies(proxied):
    """An app that reads a POST on a kept-alive connection and dies without answering may
    have acted on it: the proxy answers 502 rather than sending it again."""

    def handler(conn):
        first = conn.read_request()
        if first is None:
            return
        conn.respond(200, b"first")
        conn.read_request()  # the POST: read, then the connection dies unanswered

    hs, up = proxied(handler)
    with hs.client() as c:
        c.send(get("/one"))
        assert c.read_response().body == b"first"
        c.send(build_request("POST", "/pay", body=b"amount=10"))
        assert_own_answer(c.read_response(), {502})
    time.sleep(0.2)
    posts = [q for q in up.requests if q.method == "POST"]
    assert len(posts) == 1, f"the POST reached the app {len(posts)} times"


def test_get_is_retried_once_when_a_reused_connection_dies(proxied):
    def handler(conn):
        first = conn.read_request()
        if first is None:
            return
        conn.respond(200, b"first")
        if conn.index == 0:
            conn.read_request()  # dies without answering the second request
            return
        while conn.read_request() is not None:
            conn.respond(200, b"again")

    hs, up = proxied(handler)
    with hs.client() as c:
        c.send(get("/one"))
        assert c.read_response().body == b"first"
        c.send(get("/two"))
        r = c.read_response()
    assert r.status == 200, r
    assert [q.target for q in up.requests].count("/two") == 2


# ---------------------------------------------------------------------------------------
# HTTP/1.0 clients
# ---------------------------------------------------------------------------------------


def test_http10_client_without_keep_alive(proxied):
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        c.send(get("/ten", version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"ok", r
        assert r.version in ("HTTP/1.0", "HTTP/1.1")
        assert c.wait_closed(10), "HTTP/1.0 without keep-alive: the proxy must close after the response"
    assert up.requests[0].version == "HTTP/1.1"


def test_http10_client_with_keep_alive(proxied):
    """RFC 9112 §9.3: a 1.0 connection persists only if the response says `Connection: keep-alive`."""
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        c.send(get("/ka1", version="HTTP/1.0", headers=[("Connection", "keep-alive")]))
        r = c.read_response()
        assert r.status == 200 and r.body == b"ok", r
        if "keep-alive" in r.connection_tokens():
            assert r.framing == "content-length", r
            c.send(get("/ka2", version="HTTP/1.0", headers=[("Connection", "keep-alive")]))
            r2 = c.read_response()
            assert r2.status == 200 and r2.body == b"ok", r2
        else:
            assert c.wait_closed(10), "no `Connection: keep-alive` in the answer, yet the connection stays open"
    assert not any(r.has("keep-alive") for r in up.requests)


def test_http10_client_gets_stream_close_delimited(any_app):
    hs = any_app
    with hs.client() as c:
        c.send(get("/stream/?chunks=4&delay=0.05", version="HTTP/1.0"))
        r = c.read_response()
        assert c.closed_by_peer, "a close-delimited response must end with the connection"
    assert r.status == 200, r
    assert not r.has("transfer-encoding"), f"chunked sent to an HTTP/1.0 client: {r}"
    assert r.framing == "close", r
    assert r.body == b"".join(b"line %d of 4\n" % n for n in range(1, 5))


# ---------------------------------------------------------------------------------------
# Pipelining
# ---------------------------------------------------------------------------------------


def test_pipelined_requests_answered_in_order(proxied):
    hs, up = proxied(echo_target_handler)
    raw = get("/a") + build_request("POST", "/b", body=b"12345") + get("/c")
    with hs.client() as c:
        c.send(raw)
        bodies = [c.read_response().body for _ in range(3)]
    assert bodies == [b"GET /a", b"POST /b", b"GET /c"]
    assert [r.body for r in up.requests] == [b"", b"12345", b""]


def test_pipelined_requests_through_django(django_app):
    with django_app.client() as c:
        c.send(get("/health/") + get("/environ/?n=2") + get("/health/?n=3"))
        r1, r2, r3 = (c.read_response() for _ in range(3))
    assert (r1.status, r1.body) == (200, b"ok")
    assert r2.status == 200 and r2.json()["QUERY_STRING"] == "n=2"
    assert (r3.status, r3.body) == (200, b"ok")


# ---------------------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------------------


def test_chunked_upload_to_flask(flask_app):
    payload = os.urandom(300_000)
    pieces = [payload[i:i + 7000] for i in range(0, len(payload), 7000)]
    with flask_app.client() as c:
        c.send(b"POST /upload/?name=blob.bin HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
               + chunked(*pieces))
        r = c.read_response(timeout=30)
    assert r.status == 200, r
    assert r.json() == {"name": "blob.bin", "size": len(payload), "sha256": sha256(payload)}


@pytest.mark.parametrize("kind", ["django", "flask"])
def test_content_length_upload(start_app, kind):
    hs = start_app(kind)
    payload = os.urandom(1_000_000)
    with hs.client() as c:
        c.send(build_request("POST", "/upload/?name=blob.bin", body=payload))
        r = c.read_response(timeout=30)
    assert r.status == 200, r
    assert r.json() == {"name": "blob.bin", "size": len(payload), "sha256": sha256(payload)}


@pytest.mark.parametrize("kind", ["django", "flask"])
def test_chunked_body_reaches_wsgi_input(start_app, kind):
    """Django's request.read() trusts CONTENT_LENGTH, so /environ/ (which reads
    wsgi.input itself) is the check that a chunked body arrives whole."""
    hs = start_app(kind)
    body = bytes(range(256)) * 40
    with hs.client() as c:
        c.send(b"POST /environ/ HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
               + chunked(body[:1000], body[1000:1001], body[1001:]))
        r = c.read_response(timeout=30)
    assert r.status == 200, r
    assert r.json()["body"].encode("latin-1") == body


@pytest.mark.parametrize("kind", ["django", "flask"])
def test_streamed_response_to_http11_client_is_chunked(start_app, kind):
    hs = start_app(kind)
    with hs.client() as c:
        c.send(get("/stream/?chunks=5&delay=0.05"))
        r = c.read_response(timeout=30)
        assert r.framing == "chunked", r
        assert r.complete
        assert r.body == b"".join(b"line %d of 5\n" % n for n in range(1, 6))
        # Still usable afterwards.
        c.send(get("/health/"))
        assert c.read_response().body == b"ok"


def test_stream_arrives_piece_by_piece(flask_app):
    """The first line reaches the client before the app has written the second one
    (the app pauses 2 s between lines): the response is streamed, not buffered."""
    with flask_app.client() as c:
        c.send(get("/stream/?chunks=2&delay=2"))
        received = c.read_until(b"line 1 of 2\n", timeout=20)
        assert received.startswith(b"HTTP/1.1 200")
        assert b"line 2" not in received + bytes(c.src.buf), "both lines arrived together: buffered"
        r_rest = c.read_until(b"line 2 of 2\n", timeout=20)
        assert r_rest


def test_close_delimited_upstream_reaches_http11_client_chunked(proxied):
    body = b"".join(b"piece %d\n" % i for i in range(100))

    def handler(conn):
        conn.read_request()
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        for i in range(0, len(body), 128):
            conn.send(body[i:i + 128])
            time.sleep(0.002)
        # the handler returns: the connection is closed, which ends the body

    hs, up = proxied(handler)
    with hs.client() as c:
        c.send(get("/cd"))
        r = c.read_response(timeout=20)
        assert r.status == 200
        assert r.framing == "chunked", f"expected the proxy to re-frame as chunked: {r}"
        assert r.complete and r.body == body
        c.send(get("/again"))
        r2 = c.read_response(timeout=20)
        assert r2.body == body


def test_close_delimited_upstream_reaches_http10_client_close_delimited(proxied):
    def handler(conn):
        conn.read_request()
        conn.send(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from 1.0")

    hs, up = proxied(handler)
    with hs.client() as c:
        c.send(get("/cd10", version="HTTP/1.0"))
        r = c.read_response(timeout=20)
    assert r.status == 200 and r.body == b"hello from 1.0"
    assert not r.has("transfer-encoding")


def _no_body_handler(conn):
    while True:
        req = conn.read_request()
        if req is None:
            return
        if req.method == "HEAD":
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n")
        elif req.target == "/204":
            conn.send(b"HTTP/1.1 204 No Content\r\nX-Kind: 204\r\n\r\n")
        elif req.target == "/304":
            conn.send(b'HTTP/1.1 304 Not Modified\r\nETag: "abc"\r\nContent-Length: 100\r\n\r\n')
        else:
            conn.respond(200, b"after")


def test_head_204_304_have_no_body(proxied):
    hs, up = proxied(_no_body_handler)
    with hs.client() as c:
        c.send(build_request("HEAD", "/h"))
        r = c.read_response(method="HEAD")
        assert r.status == 200 and r.body == b""
        assert r.header("content-length") == "100", f"HEAD must keep the GET's Content-Length: {r}"
        c.send(get("/204"))
        r = c.read_response()
        assert r.status == 204 and not r.has("transfer-encoding") and not r.has("content-length"), r
        c.send(get("/304"))
        r = c.read_response()
        assert r.status == 304 and not r.has("transfer-encoding") and r.header("etag") == '"abc"', r
        c.send(get("/after"))
        r = c.read_response()
        assert r.body == b"after", f"bytes after a body-less response were misread: {r}"
        assert c.still_open(0.3)
    assert bytes(c.src.buf) == b""


def test_head_through_django(django_app):
    with django_app.client() as c:
        c.send(build_request("HEAD", "/health/") + get("/health/"))
        r = c.read_response(method="HEAD")
        assert r.status == 200 and r.body == b""
        r2 = c.read_response()
        assert r2.status == 200 and r2.body == b"ok", r2


def test_expect_100_continue(proxied):
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        c.send(b"POST /e HTTP/1.1\r\nHost: test.local\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        interim = c.read_response(timeout=10)
        assert interim.status == 100, f"expected 100 Continue before the body: {interim}"
        c.send(b"hello")
        r = c.read_response()
        assert r.status == 200 and r.body == b"ok", r
    req = up.requests[0]
    assert req.body == b"hello"
    assert not req.has("expect"), f"Expect forwarded upstream: {req.headers}"


def test_expect_100_continue_body_sent_without_waiting(proxied):
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        c.send(b"POST /e HTTP/1.1\r\nHost: test.local\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
        interim, r = c.read_final_response()
        assert all(i.status == 100 for i in interim) and len(interim) <= 1
        assert r.status == 200, r
        c.send(get("/next"))
        assert c.read_response().status == 200
    assert [q.body for q in up.requests] == [b"hello", b""]


def test_expect_100_continue_through_flask(flask_app):
    payload = os.urandom(50_000)
    with flask_app.client() as c:
        c.send(b"POST /upload/?name=e.bin HTTP/1.1\r\nHost: test.local\r\nExpect: 100-continue\r\n"
               b"Content-Length: %d\r\n\r\n" % len(payload))
        assert c.read_response().status == 100
        c.send(payload)
        r = c.read_response(timeout=20)
    assert r.status == 200 and r.json()["sha256"] == sha256(payload), r


# ---------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------


def test_hop_by_hop_request_fields_are_removed(proxied):
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        c.send(get("/hop", headers=[("Connection", "X-Foo, keep-alive"), ("X-Foo", "1"),
                                    ("Keep-Alive", "timeout=5"), ("TE", "trailers"),
                                    ("Proxy-Connection", "keep-alive"), ("X-Keep", "yes")]))
        assert c.read_response().status == 200
    req = up.requests[0]
    for name in ("x-foo", "keep-alive", "te", "proxy-connection"):
        assert not req.has(name), f"{name} forwarded: {req.headers}"
    assert "x-foo" not in req.connection_tokens()
    assert req.header_values("x-keep") == ["yes"]


def test_hop_by_hop_response_fields_are_removed(proxied):
    def handler(conn):
        while conn.read_request() is not None:
            conn.respond(200, b"hop", [("Connection", "X-Bar"), ("X-Bar", "1"), ("Keep-Alive", "timeout=5"),
                                       ("Proxy-Connection", "keep-alive"), ("X-Keep", "yes")])

    hs, up = proxied(handler)
    with hs.client() as c:
        c.send(get("/hop"))
        r = c.read_response()
    assert r.body == b"hop"
    for name in ("x-bar", "keep-alive", "proxy-connection"):
        assert not r.has(name), f"{name} forwarded to the client: {r}"
    assert "x-bar" not in r.connection_tokens()
    assert r.header_values("x-keep") == ["yes"]


def test_x_forwarded_headers_reach_django(django_app):
    r = django_app.get("/environ/", headers=[("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https"),
                                             ("X-Forwarded-Host", "public.example")])
    env = r.json()
    assert [p.strip() for p in env["HTTP_X_FORWARDED_FOR"].split(",")] == ["203.0.113.7", "127.0.0.1"]
    assert env["HTTP_X_FORWARDED_PROTO"] == "https"
    assert env["HTTP_X_FORWARDED_HOST"] == "public.example"
    assert env["HTTP_HOST"] == "test.local"


def test_no_x_forwarded_for_for_unix_clients(upstream_factory, hindsight_factory, workdir):
    up = upstream_factory(ok_handler)
    hs = hindsight_factory(["--upstream", up.arg], listen=Addr.unix(workdir / "pub.sock"))
    with hs.client() as c:
        c.send(get("/u1"))
        assert c.read_response().status == 200
        c.send(get("/u2", headers=[("X-Forwarded-For", "198.51.100.1")]))
        assert c.read_response().status == 200
    r1, r2 = up.requests
    assert not r1.has("x-forwarded-for"), r1.headers
    assert r2.list_values("x-forwarded-for") == ["198.51.100.1"], r2.headers


# ---------------------------------------------------------------------------------------
# Upgrade (WebSocket) tunnel
# ---------------------------------------------------------------------------------------


def _websocket_handler(conn):
    conn.read_request()
    conn.send(build_response(101, b"", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                        ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")],
                             content_length=False) + b"welcome")
    while True:
        data = conn.read_some()
        if not data:
            break
        conn.send(data)
    conn.send(b"bye")


def test_websocket_upgrade_is_tunnelled(proxied):
    hs, up = proxied(_websocket_handler)
    with hs.client() as c:
        c.send(get("/ws", headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                   ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                   ("Sec-WebSocket-Version", "13")]))
        r = c.read_response()
        assert r.status == 101, r
        assert r.header("upgrade").lower() == "websocket"
        assert "upgrade" in r.connection_tokens()
        assert c.read_some(7) == b"welcome"
        for msg in (b"ping", b"\x00\xff" * 1000, b"x"):
            c.send(msg)
            assert c.read_some(len(msg)) == msg
        # Half-close: our EOF reaches the app, which still answers before closing.
        c.shutdown_write()
        assert c.read_until_close(10) == b"bye"
    req = up.requests[0]
    assert req.header("upgrade").lower() == "websocket", f"Upgrade not forwarded: {req.headers}"
    assert "upgrade" in req.connection_tokens()
    assert req.header("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ=="


def test_upgrade_refused_by_app_is_a_normal_response(proxied):
    def handler(conn):
        while conn.read_request() is not None:
            conn.respond(200, b"no upgrade here")

    hs, up = proxied(handler)
    with hs.client() as c:
        c.send(get("/ws", headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                   ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                   ("Sec-WebSocket-Version", "13")]))
        r = c.read_response()
        assert r.status == 200 and r.body == b"no upgrade here"
        c.send(get("/plain"))
        assert c.read_response().status == 200


# ---------------------------------------------------------------------------------------
# Upstream failures
# ---------------------------------------------------------------------------------------


def test_upstream_dies_mid_response(proxied):
    def handler(conn):
        req = conn.read_request()
        if req is None:
            return
        if req.target == "/partial":
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
            time.sleep(0.1)
            return  # closed with 990 bytes missing
        conn.respond(200, b"fine")

    hs, up = proxied(handler)
    with hs.client() as c:
        c.send(get("/partial"))
        r = c.read_response(timeout=10)
        assert r.status == 200
        assert not r.complete and r.body == b"0123456789", r
        assert c.closed_by_peer
    assert hs.get("/ok").body == b"fine"


def test_upstream_dies_mid_chunked_response(proxied):
    def handler(conn):
        conn.read_request()
        conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        time.sleep(0.1)

    hs, up = proxied(handler)
    with hs.client() as c:
        c.send(get("/partial"))
        r = c.read_response(timeout=10)
    assert r.status == 200 and not r.complete, "a truncated chunked response must not be terminated with 0\\r\\n"
    assert r.body == b"hello"


def test_no_listener_is_502(hindsight_factory, workdir):
    hs = hindsight_factory(["--upstream", f"unix:{workdir}/nobody.sock"])
    r = hs.get("/x")
    assert_own_answer(r, {502})
    # One proxy per data directory: the second gets its own.
    tcp = hindsight_factory(["--upstream", f"127.0.0.1:{free_port()}"], name="tcp", data=workdir / "data-tcp")
    assert_own_answer(tcp.get("/x"), {502})


def test_upstream_reset_before_responding_is_502(proxied):
    def handler(conn):
        conn.read_request()
        conn.reset()

    hs, up = proxied(handler, tcp_upstream=True)
    r = hs.get("/rst")
    assert_own_answer(r, {502})


def test_upstream_close_before_responding_is_502(proxied):
    def handler(conn):
        conn.read_request()

    hs, up = proxied(handler)
    assert_own_answer(hs.get("/eof"), {502})


@pytest.mark.parametrize("head", [
    b"NOT HTTP AT ALL\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Foo : bar\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Foo: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Foo: a\x00b\r\nContent-Length: 0\r\n\r\n",
], ids=["garbage", "status-4-digits", "cl-differing", "cl-and-te", "space-before-colon", "obs-fold",
        "cl-negative", "nul-in-value"])
def test_malformed_response_head_is_502(proxied, head):
    def handler(conn):
        conn.read_request()
        conn.send(head)
        conn.wait_eof(10)

    hs, up = proxied(handler)
    assert_own_answer(hs.get("/bad"), {502})


def test_upstream_timeout_is_504(proxied):
    def handler(conn):
        conn.read_request()
        conn.wait_eof(30)  # never answers; returns when the proxy gives up

    hs, up = proxied(handler, "--upstream-timeout", "1s")
    started = time.monotonic()
    r = hs.get("/sleepy", timeout=20)
    assert_own_answer(r, {504})
    assert time.monotonic() - started >= 0.9, "504 before --upstream-timeout passed"
    assert wait_until(lambda: up.connections[0].eof, 10), "the upstream connection was kept after the timeout"


# ---------------------------------------------------------------------------------------
# Large bodies stream through a bounded amount of memory
# ---------------------------------------------------------------------------------------

GIB = 1 << 30
RSS_LIMIT_KIB = 64 * 1024


def test_one_gib_upload_streams(proxied):
    def handler(conn):
        req = conn.read_head()
        n = int(req.header("content-length"))
        got, crc = 0, 0
        while got < n:
            data = conn.read_some()
            if not data:
                break
            data = data[: n - got]
            crc = zlib.crc32(data, crc)
            got += len(data)
        conn.respond(200, json.dumps({"bytes": got, "crc": crc}).encode(), [("Content-Type", "application/json")])

    hs, up = proxied(handler)
    block = os.urandom(1 << 20)
    crc = 0
    for _ in range(GIB // len(block)):
        crc = zlib.crc32(block, crc)
    with hs.client(timeout=300) as c:
        c.send(b"POST /big HTTP/1.1\r\nHost: test.local\r\nContent-Length: %d\r\n\r\n" % GIB)
        for _ in range(GIB // len(block)):
            c.sock.sendall(block)
        r = c.read_response(timeout=300)
    assert r.status == 200, r
    assert r.json() == {"bytes": GIB, "crc": crc}
    hwm = hs.status_field("VmHWM")
    assert hwm < RSS_LIMIT_KIB, f"hindsight peak RSS {hwm} KiB for a 1 GiB upload"


def test_large_download_to_slow_reader_is_bounded(proxied):
    size = 256 << 20
    block = os.urandom(1 << 20)

    def handler(conn):
        conn.read_request()
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // len(block)):
            conn.send(block)

    hs, up = proxied(handler)
    with hs.client(timeout=300) as c:
        c.send(get("/big"))
        time.sleep(2)  # read nothing for a while: the proxy must push back, not buffer
        hwm_paused = hs.status_field("VmHWM")
        head = c.read_until(b"\r\n\r\n", timeout=300)
        assert head.startswith(b"HTTP/1.1 200")
        got = len(c.src.buf)
        c.src.buf.clear()
        while got < size:
            data = c.sock.recv(1 << 20)
            if not data:
                break
            got += len(data)
    assert got == size
    assert hwm_paused < RSS_LIMIT_KIB, f"peak RSS {hwm_paused} KiB while the client did not read"
    assert hs.status_field("VmHWM") < RSS_LIMIT_KIB


# ---------------------------------------------------------------------------------------
# Timeouts and connection limits
# ---------------------------------------------------------------------------------------


def _closed_with_optional_408(client: Client) -> None:
    data = bytes(client.src.buf)
    if data:
        assert_own_answer(parse_response(data), {408})


def test_slow_header_is_dropped_and_others_are_served(proxied):
    hs, up = proxied(ok_handler, "--header-timeout", "1s")
    with hs.client() as slow:
        slow.send(b"GET /slow HTTP/1.1\r\nHost: te")
        r = hs.get("/fast")
        assert r.status == 200
        assert slow.wait_closed(10), "a half-sent head was kept open past --header-timeout 1s"
        _closed_with_optional_408(slow)
    assert [q.target for q in up.requests] == ["/fast"]


def test_trickling_header_does_not_reset_the_timeout(proxied):
    """The header timeout bounds the whole head, not the gap between two bytes."""
    hs, up = proxied(ok_handler, "--header-timeout", "1s")
    head = b"GET /trickle HTTP/1.1\r\nHost: test.local\r\n" + b"X-Pad: " + b"a" * 200
    with hs.client() as c:
        closed = False
        for i in range(len(head)):
            try:
                c.sock.sendall(head[i:i + 1])
            except OSError:
                closed = True
                break
            if not c.still_open(0.05):
                closed = True
                break
        assert closed, "a head trickling in for ~10 s was never cut off (--header-timeout 1s)"
    assert up.requests == []


def test_idle_keep_alive_connection_is_closed(proxied):
    hs, up = proxied(ok_handler, "--idle-timeout", "1s")
    with hs.client() as c:
        c.send(get("/one"))
        assert c.read_response().status == 200
        assert c.wait_closed(10), "an idle keep-alive connection outlived --idle-timeout 1s"
        _closed_with_optional_408(c)


def test_slow_body_is_dropped(proxied):
    hs, up = proxied(ok_handler, "--body-timeout", "1s")
    with hs.client() as c:
        c.send(b"POST /slowbody HTTP/1.1\r\nHost: test.local\r\nContent-Length: 100\r\n\r\n0123456789")
        assert c.wait_closed(15), "a stalled request body outlived --body-timeout 1s"
    time.sleep(0.2)
    assert all(not q.complete for q in up.requests), "the app got a complete request from a partial body"


def test_max_connections(proxied):
    hs, up = proxied(ok_handler, "--max-connections", "2")
    c1, c2 = hs.client(), hs.client()
    try:
        for c in (c1, c2):
            c.send(get("/held"))
            assert c.read_response().status == 200
        data, third = exchange(hs.listen, get("/third"), timeout=10)
        assert_own_answer(parse_response(data), {503})
        c1.close()
        # A freed slot is usable again (the close may take a moment to be noticed).
        deadline = time.monotonic() + 10
        while True:
            r = hs.get("/again")
            if r.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.status == 200, r
        c2.send(get("/still"))
        assert c2.read_response().status == 200
    finally:
        c1.close()
        c2.close()
    assert "/third" not in [q.target for q in up.requests]


# ---------------------------------------------------------------------------------------
# Desynchronisation: a response must only ever reach the request it answers
# ---------------------------------------------------------------------------------------


def test_client_connection_close_is_honoured(proxied):
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        c.send(get("/bye", headers=[("Connection", "close")]))
        r = c.read_response()
        assert r.status == 200 and "close" in r.connection_tokens(), r
        assert c.wait_closed(10)


def test_interim_103_is_relayed_before_the_final_response(proxied):
    """RFC 9110 §15.2: 1xx responses are forwarded to 1.1 clients; the final one follows."""

    def handler(conn):
        while conn.read_request() is not None:
            conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            conn.respond(200, b"final")

    hs, up = proxied(handler)
    with hs.client() as c:
        c.send(get("/hints"))
        interim, r = c.read_final_response()
        assert [i.status for i in interim] in ([], [103]), interim
        assert r.status == 200 and r.body == b"final", r
        c.send(get("/again"))
        interim, r = c.read_final_response()
        assert r.status == 200 and r.body == b"final", r


def test_client_abort_mid_body_does_not_poison_the_pool(proxied):
    """An upstream connection that carried half a request body is never reused."""
    hs, up = proxied(echo_target_handler)
    with hs.client() as c:
        c.send(b"POST /half HTTP/1.1\r\nHost: test.local\r\nContent-Length: 100\r\n\r\n0123456789")
        time.sleep(0.3)
    time.sleep(0.3)
    for i in range(3):
        r = hs.get(f"/next{i}")
        assert r.status == 200 and r.body == f"GET /next{i}".encode(), r
    assert sorted(q.target for q in up.requests if q.complete) == ["/next0", "/next1", "/next2"]


def test_abandoned_response_is_not_delivered_to_the_next_client(proxied):
    def handler(conn):
        while (req := conn.read_request()) is not None:
            if req.target == "/slow":
                time.sleep(1)
                conn.respond(200, b"late answer for /slow")
            else:
                conn.respond(200, req.target.encode())

    hs, up = proxied(handler, "--threads", "1")
    with hs.client() as c:
        c.send(get("/slow"))
        time.sleep(0.2)
    for i in range(5):
        r = hs.get(f"/n{i}")
        assert r.body == f"/n{i}".encode(), f"a response meant for another request: {r}"
        time.sleep(0.3)


def test_upstream_bytes_after_the_body_do_not_leak(proxied):
    """Extra bytes after a Content-Length body must not become the next response."""

    def handler(conn):
        while conn.read_request() is not None:
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                      b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED")

    hs, up = proxied(handler)
    with hs.client() as c:
        for i in range(3):
            c.send(get(f"/x{i}"))
            r = c.read_response()
            assert r.status == 200 and r.body == b"ok", r
    assert b"SMUGGLED" not in bytes(c.received)


def test_many_concurrent_clients(proxied):
    hs, up = proxied(echo_target_handler)
    errors = []

    def client(n):
        try:
            with hs.client(timeout=30) as c:
                for i in range(5):
                    c.send(get(f"/c{n}/{i}"))
                    r = c.read_response()
                    if r.body != f"GET /c{n}/{i}".encode():
                        errors.append((n, i, r))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((n, repr(e)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "clients still waiting after 60 s"
    assert errors == []
    assert len(up.requests) == 500


def test_app_dying_during_an_upload_answers_502_without_waiting_for_the_body(proxied):
    # The app reads the head and a little of the body, then dies. The client is still
    # uploading (slowly); it must get the 502 now, not after its upload or the body timeout.
    def handler(conn):
        conn.read_head()
        conn.read_exact(10)

    hs, up = proxied(handler, "--body-timeout", "30s")
    with hs.client() as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: test.local\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 10)
        # 15 s is half the body timeout: a 502 that waited for the upload misses it.
        r = c.read_response(timeout=15)
        assert_own_answer(r, {502})


def test_a_flood_of_empty_lines_is_refused(proxied):
    # Empty lines before a request line are tolerated (RFC 9112 §2.2), but not without
    # end: a stream of them once pinned a thread reading zero bytes forever.
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        c.send(b"\r\n" * 40000)
        assert_own_answer(c.read_response(), {400, 431})
        assert c.wait_closed(10)
    assert hs.get("/after").status == 200
    assert all(q.target == "/after" for q in up.requests)


def test_a_websocket_connection_is_never_pooled(proxied):
    # After a 101 the app's connection speaks another protocol; if the client goes away,
    # the next client's request must not be written into it.
    received_on_ws = []

    def handler(conn):
        req = conn.read_request()
        if req is None:
            return
        if req.header("upgrade"):
            conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            while True:
                try:
                    data = conn.read_some(10)
                except TimeoutError:
                    return
                if not data:
                    return
                received_on_ws.append(data)
        conn.respond(200, b"plain")

    hs, up = proxied(handler, "--threads", "1")
    c = hs.client()
    c.send(get("/ws", headers=[("Upgrade", "websocket"), ("Connection", "Upgrade")]))
    assert c.read_response().status == 101
    # The client vanishes abruptly: a TCP reset.
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    time.sleep(0.3)
    r = hs.get("/innocent")
    assert r.status == 200 and r.body == b"plain", r
    assert not any(b"/innocent" in d for d in received_on_ws), received_on_ws


def test_an_app_may_send_more_header_fields_than_a_client(proxied):
    def handler(conn):
        conn.read_request()
        conn.respond(200, b"ok", headers=[("Set-Cookie", f"c{i}=1") for i in range(8)])

    hs, up = proxied(handler, "--max-headers", "5")
    r = hs.get("/cookies")
    assert r.status == 200, r
    assert len(r.header_values("set-cookie")) == 8


def test_bytes_an_app_sends_after_a_bodiless_response_never_reach_the_next_request(proxied):
    # An app that answers HEAD with a body anyway, in a separate write: the stray bytes
    # must not be taken as the answer to the next request on that pooled connection.
    def handler(conn):
        while True:
            req = conn.read_request()
            if req is None:
                return
            if req.method == "HEAD":
                conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
                time.sleep(0.05)
                conn.send(b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n")
            else:
                conn.respond(200, b"real")

    hs, up = proxied(handler, "--threads", "1")
    with hs.client() as c:
        c.send(build_request("HEAD", "/h"))
        assert c.read_response(method="HEAD").status == 200
        time.sleep(0.2)
        c.send(get("/next"))
        r = c.read_response()
    assert r.status == 200 and r.body == b"real", r


# ---------------------------------------------------------------------------------------
# Large bodies: what the capture does not need goes from the app's socket to the
# client's by splice(2), never through the proxy's memory
# ---------------------------------------------------------------------------------------

LARGE = os.urandom(1 << 20)


def large_body_handler(conn):
    """/large: 1 MiB of random bytes; /cut: its first 200 KiB, then the app dies;
    /stall: its first 200 KiB, then nothing; /large-500: the same body with a 500."""
    while (req := conn.read_request()) is not None:
        if req.target in ("/large", "/large-500"):
            status = b"500 Internal Server Error" if req.target == "/large-500" else b"200 OK"
            conn.send(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n" % (status, len(LARGE)))
            for i in range(0, len(LARGE), 100_000):  # in pieces, as an app writes
                conn.send(LARGE[i:i + 100_000])
        elif req.target in ("/cut", "/stall"):
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(LARGE) + LARGE[:200 << 10])
            if req.target == "/stall":
                time.sleep(5)
            return
        else:
            conn.respond(200, req.target.encode())


def test_large_bodies_arrive_exactly_and_the_connections_are_reused(proxied):
    hs, up = proxied(large_body_handler)
    with hs.client() as c:
        for _ in range(3):
            c.send(get("/large"))
            r = c.read_response(timeout=20)
            assert r.status == 200 and r.complete and sha256(r.body) == sha256(LARGE), (r.status, len(r.body))
        c.send(get("/after"))
        assert c.read_response().body == b"/after"
    # One app connection carried all four exchanges: nothing was left in it.
    assert up.accepted == 1, up.accepted


def test_large_bodies_reach_a_unix_socket_client_exactly(upstream_factory, hindsight_factory, workdir):
    # As on Platform.sh, where the router connects to $SOCKET: splice into a unix socket.
    up = upstream_factory(large_body_handler)
    hs = hindsight_factory(["--upstream", up.arg], listen=Addr.unix(workdir / "pub.sock"))
    with hs.client() as c:
        for _ in range(2):
            c.send(get("/large"))
            r = c.read_response(timeout=20)
            assert r.status == 200 and r.complete and sha256(r.body) == sha256(LARGE), (r.status, len(r.body))


def test_app_dying_in_a_large_body_closes_the_client_and_is_captured(proxied):
    hs, up = proxied(large_body_handler)
    with hs.client() as c:
        c.send(get("/cut"))
        r = c.read_response(timeout=20)
        assert r.status == 200 and not r.complete and r.body == LARGE[:len(r.body)], len(r.body)
        assert len(r.body) == 200 << 10 and c.closed_by_peer
    assert hs.get("/next").body == b"/next"
    [row] = wait_captures(hs.data, 1)
    shown = show_capture(hs.data, row["id"])
    assert shown["upstream_error_kind"] == "closed", shown
    assert shown["response"]["body_size"] == 200 << 10, shown["response"]


def test_app_stalling_in_a_large_body_times_out(proxied):
    hs, up = proxied(large_body_handler, "--upstream-timeout", "1s")
    with hs.client() as c:
        c.send(get("/stall"))
        r = c.read_response(timeout=20)
        assert not r.complete and len(r.body) == 200 << 10 and c.closed_by_peer
    [row] = wait_captures(hs.data, 1)
    assert show_capture(hs.data, row["id"])["upstream_error_kind"] == "timeout"
    assert hs.get("/next").body == b"/next"


def test_client_leaving_in_a_large_body_does_not_disturb_the_next_exchange(proxied):
    hs, up = proxied(large_body_handler, "--threads", "1")
    for _ in range(3):
        with hs.client() as c:
            c.send(get("/large"))
            c.read_until(b"\r\n\r\n", timeout=10)
            c.sock.recv(50_000)
        # Closed with most of the body unread: whatever the pipe held is nobody's.
    with hs.client() as c:
        c.send(get("/large"))
        r = c.read_response(timeout=20)
        assert r.complete and sha256(r.body) == sha256(LARGE)


def test_a_large_failing_body_is_still_captured_in_full(proxied):
    hs, up = proxied(large_body_handler, "--capture-response-body", "512KiB")
    r = hs.get("/large-500")
    assert r.status == 500 and sha256(r.body) == sha256(LARGE)
    [row] = wait_captures(hs.data, 1)
    response = show_capture(hs.data, row["id"])["response"]
    assert base64.b64decode(response["body_base64"]) == LARGE[:512 << 10]
    assert response["body_size"] == len(LARGE) and response["body_truncated"] is True, response


def test_the_start_of_a_large_body_is_not_held_back_while_the_app_is_slow(proxied):
    # The head and the body's first bytes go out with MSG_MORE, so TCP puts them in one
    # segment with the spliced rest. When the rest is slow to come, the proxy pushes them
    # before it waits: here the app sends the rest only once the client has the start.
    # Without the push TCP lets held bytes go when its probe timer fires, 200 ms or more
    # later; with it they arrive within a millisecond or two. The bound below sits between
    # the two, on the median of five exchanges, so one slow moment cannot fail it.
    start = LARGE[:10_000]
    sent_at: list[float] = []
    client_has_start = threading.Event()

    def handler(conn):
        while (req := conn.read_request()) is not None:
            client_has_start.clear()
            sent_at.append(time.monotonic())  # before: the client may have the bytes first
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(LARGE) + start)
            client_has_start.wait(30)
            conn.send(LARGE[len(start):])

    hs, up = proxied(handler)
    delays = []
    with hs.client() as c:
        for _ in range(5):
            c.send(get("/slow"))
            c.read_until(b"\r\n\r\n", timeout=10)
            assert c.read_some(len(start), timeout=10) == start
            delays.append(time.monotonic() - sent_at[-1])
            client_has_start.set()
            rest = c.read_some(len(LARGE) - len(start), timeout=20)
            assert sha256(start + rest) == sha256(LARGE)
    assert sorted(delays)[2] < 0.1, delays


def test_the_start_of_a_large_body_reaches_the_client_when_the_app_dies_at_once(proxied):
    # The app sends a head and 10,000 bytes of a 1 MiB body, then closes. The client has
    # already sent its next request, which the proxy has not read: closing the connection
    # then resets it, and a reset throws away whatever the socket still held back — the
    # proxy must have pushed the response's start before.
    got_request = threading.Event()
    answer = threading.Event()
    start = LARGE[:10_000]

    def handler(conn):
        if conn.read_request() is None:
            return
        got_request.set()
        answer.wait(30)
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(LARGE) + start)

    hs, up = proxied(handler)
    with hs.client() as c:
        c.send(get("/dies"))
        assert got_request.wait(10)
        c.send(get("/next"))  # pipelined; the proxy reads it only after this exchange
        answer.set()
        head = c.read_until(b"\r\n\r\n", timeout=10)
        assert head.startswith(b"HTTP/1.1 200 "), head
        assert c.read_some(len(start), timeout=10) == start
