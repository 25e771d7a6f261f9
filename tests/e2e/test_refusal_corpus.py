"""Malformed requests hindsight must refuse before the app sees a byte.

Each case is raw bytes on the wire, the status(es) the RFC allows, and the rule it
enforces. For every refusal: an answer of hindsight's own (`Connection: close`,
`Server: hindsight`, a one-line `hindsight: ` body), the connection then closed by
the proxy, and zero bytes received by the upstream. A request that a proxy and the
app behind it could frame differently is how requests get smuggled, so "the app
never saw it" is the property that matters.

The positive controls at the end are valid but unusual requests: they must reach the
upstream, re-framed canonically.
"""

import time

import pytest

from conftest import (assert_own_answer, build_request, exchange, ok_handler,
                      parse_response)

HOST = b"Host: test.local\r\n"


def req(head: bytes, body: bytes = b"") -> bytes:
    return head + b"\r\n" + body


CASES = [
    # --- message framing: Content-Length and Transfer-Encoding ----------------------
    # RFC 9112 §6.1/§6.3 (3): CL with TE "ought to be handled as an error"; the classic
    # CL.TE smuggling vector. hindsight refuses it.
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                     b"0\r\n\r\n"), {400}, id="cl-with-te"),
    # Same, TE before CL and a body that would smuggle a second request (TE.CL).
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                     b"5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n"), {400}, id="te-with-cl"),
    # RFC 9112 §6.3 (5): differing Content-Length values are an unrecoverable error → 400.
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"),
                 {400}, id="cl-differing"),
    # RFC 9110 §8.6: repeated identical values MAY be rejected; a strict proxy does.
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"),
                 {400}, id="cl-repeated-fields"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 5, 5\r\n", b"hello"),
                 {400}, id="cl-comma-list"),
    # RFC 9110 §8.6: Content-Length = 1*DIGIT. Anything else is invalid → 400 (RFC 9112 §6.3 (5)).
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: +5\r\n", b"hello"), {400}, id="cl-plus-sign"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: -1\r\n", b"hello"), {400}, id="cl-negative"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 0x10\r\n", b"hello"), {400}, id="cl-hex"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length:  5 5\r\n", b"hello"), {400},
                 id="cl-internal-space"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: \r\n", b"hello"), {400}, id="cl-empty"),
    # RFC 9110 §8.6: a recipient MUST anticipate large numerals and prevent integer overflow.
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 99999999999999999999999999\r\n", b"hello"),
                 {400, 413}, id="cl-overflow"),
    # RFC 9112 §6.1: an unknown transfer coding SHOULD get 501; §6.3 (4): chunked not final
    # on a request MUST get 400. Either is right for `gzip` alone.
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip\r\n", b"hello"), {400, 501},
                 id="te-gzip"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"),
                 {400, 501}, id="te-chunked-not-final"),
    # RFC 9112 §7: a sender MUST NOT apply chunked more than once.
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"),
                 {400, 501}, id="te-chunked-twice"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                     b"0\r\n\r\n"), {400, 501}, id="te-chunked-two-fields"),
    # RFC 9112 §7: "identity" was removed from the registry; it is an unknown coding now.
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: identity\r\n", b"hello"), {400, 501},
                 id="te-identity"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"), {400, 501},
                 id="te-xchunked"),
    # RFC 9110 §5.5: CTLs are not field-vchars (a vertical tab is not OWS).
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding:\x0bchunked\r\n", b"0\r\n\r\n"),
                 {400, 501}, id="te-vertical-tab"),
    # RFC 9112 §6.1: TE in an HTTP/1.0 message MUST be treated as faulty framing.
    pytest.param(req(b"POST / HTTP/1.0\r\n" + HOST + b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
                 {400}, id="te-on-http10"),

    # --- field syntax -----------------------------------------------------------------
    # RFC 9112 §5.1: whitespace between field name and colon MUST be rejected with 400.
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"X-Foo : bar\r\n"), {400}, id="space-before-colon"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length\t: 5\r\n", b"hello"), {400},
                 id="tab-before-colon-cl"),
    # RFC 9112 §5.2: obs-fold in a request → reject with 400 (or unfold; hindsight refuses).
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"X-Foo: a\r\n  folded\r\n"), {400}, id="obs-fold"),
    # RFC 9112 §2.2: a bare CR is invalid in any protocol element.
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"X-Foo: a\rb\r\n"), {400}, id="bare-cr-in-value"),
    pytest.param(req(b"GET /a\rb HTTP/1.1\r\n" + HOST), {400}, id="bare-cr-in-request-line"),
    # RFC 9110 §5.5: NUL in a field value MUST be rejected or replaced; hindsight rejects.
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"X-Foo: a\x00b\r\n"), {400}, id="nul-in-value"),
    # RFC 9110 §5.5: field-value = *field-vchar (VCHAR / obs-text) with SP/HTAB inside: no CTLs.
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"X-Foo: a\x01b\r\n"), {400}, id="ctl-01-in-value"),
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"X-Foo: a\x7fb\r\n"), {400}, id="del-7f-in-value"),
    # RFC 9110 §5.1: field-name = token = 1*tchar.
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b": x\r\n"), {400}, id="empty-field-name"),
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"Foo Bar: x\r\n"), {400}, id="space-in-field-name"),
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"Foo@: x\r\n"), {400}, id="at-in-field-name"),
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"Foo(bar): x\r\n"), {400}, id="paren-in-field-name"),
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"X-Foo bar\r\n"), {400}, id="field-without-colon"),
    # RFC 9112 §2.2: whitespace between the start-line and the first field MUST be
    # rejected or the line ignored; hindsight rejects.
    pytest.param(req(b"GET / HTTP/1.1\r\n X-Foo: a\r\n" + HOST), {400}, id="whitespace-line-after-request-line"),

    # --- chunked bodies (head and bad chunk in one write) ------------------------------
    # RFC 9112 §7.1: chunk-size = 1*HEXDIG.
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n", b"xyz\r\nhello\r\n0\r\n\r\n"),
                 {400}, id="chunk-size-not-hex"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n", b"\r\nhello\r\n0\r\n\r\n"),
                 {400}, id="chunk-size-empty"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n", b"-1\r\nhello\r\n0\r\n\r\n"),
                 {400}, id="chunk-size-negative"),
    # RFC 9112 §7.1: recipients MUST anticipate large hex numerals and prevent overflow.
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n",
                     b"1" + b"0" * 19 + b"\r\nhello\r\n0\r\n\r\n"), {400, 413}, id="chunk-size-overflow"),
    # RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF.
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n", b"5\r\nhelloXX0\r\n\r\n"),
                 {400}, id="chunk-data-without-crlf"),
    # RFC 9112 §7.1: chunked-body ends with last-chunk trailer-section CRLF; a line that is
    # neither a field nor the final CRLF is invalid.
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n",
                     b"5\r\nhello\r\n0\r\nnot a trailer\r\n\r\n"), {400}, id="trailer-invalid-line"),
    # The final CRLF missing and a second request glued on: its request line is not a field.
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n",
                     b"5\r\nhello\r\n0\r\nGET /smuggled HTTP/1.1\r\n" + HOST + b"\r\n"), {400},
                 id="last-chunk-without-crlf"),
    # RFC 9110 §6.5.1: framing, routing fields cannot be trailers; a strict proxy refuses.
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n",
                     b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"), {400}, id="trailer-content-length"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n",
                     b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"), {400}, id="trailer-transfer-encoding"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n",
                     b"5\r\nhello\r\n0\r\nHost: evil.example\r\n\r\n"), {400}, id="trailer-host"),

    # --- request line and version -------------------------------------------------------
    # RFC 9110 §15.6.6 / interface: versions other than 1.0/1.1 → 505.
    pytest.param(req(b"GET / HTTP/1.2\r\n" + HOST), {505}, id="version-1.2"),
    pytest.param(req(b"GET / HTTP/2.0\r\n" + HOST), {505}, id="version-2.0"),
    # RFC 9112 §2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT, HTTP-name is case-sensitive.
    pytest.param(req(b"GET / HTTP/1\r\n" + HOST), {400, 505}, id="version-no-minor"),
    pytest.param(req(b"GET / http/1.1\r\n" + HOST), {400}, id="version-lowercase"),
    pytest.param(req(b"GET / HTTP/1.1x\r\n" + HOST), {400}, id="version-trailing-garbage"),
    # RFC 9112 §3: request-line = method SP request-target SP HTTP-version (no HTTP/0.9).
    pytest.param(b"GET /\r\n\r\n", {400}, id="http09-no-version"),
    pytest.param(req(b"GET /a b HTTP/1.1\r\n" + HOST), {400}, id="space-in-target"),
    # RFC 9112 §3.2.1: origin-form starts with "/".
    pytest.param(req(b"GET foo HTTP/1.1\r\n" + HOST), {400}, id="target-not-origin-form"),
    # RFC 9110 §9.1: method = token.
    pytest.param(req(b"GE(T / HTTP/1.1\r\n" + HOST), {400}, id="method-illegal-char"),
    pytest.param(req(b"G\x01T / HTTP/1.1\r\n" + HOST), {400}, id="method-ctl-char"),

    # --- Host -------------------------------------------------------------------------
    # RFC 9112 §3.2: 400 for a 1.1 request without Host, with more than one Host field
    # line, or with an invalid Host value.
    pytest.param(req(b"GET / HTTP/1.1\r\n"), {400}, id="host-missing"),
    pytest.param(req(b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n"), {400}, id="host-repeated"),
    pytest.param(req(b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n"), {400},
                 id="host-repeated-identical"),
    pytest.param(req(b"GET / HTTP/1.1\r\nHost: a b\r\n"), {400}, id="host-with-space"),
    pytest.param(req(b"GET / HTTP/1.1\r\nHost: host/path\r\n"), {400}, id="host-with-path"),
    pytest.param(req(b"GET / HTTP/1.1\r\nHost: a.example, b.example\r\n"), {400}, id="host-list"),

    # --- limits -------------------------------------------------------------------------
    # RFC 9112 §3: a request-target longer than the server parses → 414 (limit 8192).
    pytest.param(req(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + HOST), {414}, id="request-line-too-long"),
    # RFC 6585 §5: header section too large → 431 (limit 65536).
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"".join(b"X-Big-%d: %s\r\n" % (i, b"a" * 2000)
                                                           for i in range(40))), {431},
                 id="header-section-too-large"),
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"X-Huge: " + b"a" * 70000 + b"\r\n"), {431},
                 id="one-field-too-large"),
    # RFC 6585 §5: more than --max-headers (100) fields → 431.
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"".join(b"X-F%d: v\r\n" % i for i in range(120))), {431},
                 id="too-many-fields"),

    # --- methods and expectations ---------------------------------------------------------
    # Interface: CONNECT (RFC 9110 §9.3.6) is not proxied → 405.
    pytest.param(req(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"), {405}, id="connect"),
    # RFC 9110 §10.1.1: an unknown expectation MAY get 417; the interface says it does.
    pytest.param(req(b"GET / HTTP/1.1\r\n" + HOST + b"Expect: something-else\r\n"), {417}, id="expect-unknown"),
    pytest.param(req(b"POST / HTTP/1.1\r\n" + HOST + b"Expect: 100-continue, something\r\nContent-Length: 5\r\n",
                     b"hello"), {417}, id="expect-continue-and-unknown"),
]


def refuse(hs, raw: bytes):
    try:
        data, client = exchange(hs.listen, raw, timeout=10)
    except TimeoutError:
        pytest.fail("the proxy kept the connection open for 10 s after a malformed request")
    assert data, f"connection closed without any response (reset={client.reset})"
    return parse_response(data), data


@pytest.mark.parametrize("raw,statuses", CASES)
def test_refused_before_the_app(proxied, raw, statuses):
    hs, up = proxied(ok_handler)
    resp, data = refuse(hs, raw)
    assert_own_answer(resp, statuses)
    assert data == resp.raw, f"bytes after the refusal: {data[len(resp.raw):][:200]!r}"
    # Give a proxy that forwarded anything the time to be caught doing it.
    time.sleep(0.2)
    assert up.total_bytes() == 0, f"the app received bytes: {up.all_received()[:500]!r}"
    # The proxy is still serving after the refusal.
    ok = hs.get("/after")
    assert ok.status == 200 and ok.body == b"ok"


def test_corpus_size():
    assert len(CASES) >= 35
    assert len({p.id for p in CASES}) == len(CASES)


def test_refusal_after_a_good_pipelined_request(proxied):
    """The first (valid) request is served; the malformed second is refused and never forwarded."""
    hs, up = proxied(ok_handler)
    raw = (b"GET /first HTTP/1.1\r\n" + HOST + b"\r\n"
           b"GET /second HTTP/1.1\r\n" + HOST + b"X-Foo : bar\r\n\r\n")
    data, _ = exchange(hs.listen, raw, timeout=10)
    responses = []
    rest = data
    while rest:
        r = parse_response(rest)
        responses.append(r)
        rest = rest[len(r.raw):]
    assert [r.status for r in responses] == [200, 400], data
    assert_own_answer(responses[1], {400})
    time.sleep(0.2)
    assert [r.target for r in up.requests] == ["/first"]
    assert b"/second" not in up.all_received()


# ---------------------------------------------------------------------------------------
# Positive controls: valid, unusual, and forwarded with canonical framing
# ---------------------------------------------------------------------------------------

HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "te", "upgrade", "trailer")


def assert_canonical(r, body: bytes):
    """What the upstream received is HTTP/1.1 with exactly one framing and no hop-by-hop fields."""
    assert r.version == "HTTP/1.1", r.start_line
    cl, te = r.header_values("content-length"), r.list_values("transfer-encoding")
    assert not (cl and te), f"both Content-Length and Transfer-Encoding upstream: {r.headers}"
    assert len(cl) <= 1, r.headers
    if te:
        assert [t.lower() for t in te] == ["chunked"], r.headers
    elif body:
        assert cl == [str(len(body))], r.headers
    assert r.body == body
    assert len(r.header_values("host")) == 1, f"not exactly one Host upstream: {r.headers}"
    for name in HOP_BY_HOP:
        if name == "connection":
            # A `Connection: keep-alive`/`close` of the proxy's own is fine; nothing else.
            assert set(r.connection_tokens()) <= {"keep-alive", "close"}, r.headers
        else:
            assert not r.has(name), f"hop-by-hop {name} forwarded: {r.headers}"


CONTROLS = [
    # RFC 9110 §5.1: field names are case-insensitive; RFC 9112 §7: so are coding names.
    pytest.param(b"POST /c HTTP/1.1\r\nhost: test.local\r\ntransfer-encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n0\r\n\r\n", "POST", "/c", b"hello", id="lowercase-chunked"),
    pytest.param(b"POST /c HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: CHUNKED\r\n\r\n"
                 b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "POST", "/c", b"hello world", id="uppercase-chunked"),
    # RFC 9112 §7.1.1: chunk extensions are allowed (and may be ignored).
    pytest.param(b"POST /c HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
                 b"5;name=value;flag\r\nhello\r\n0;last=1\r\n\r\n", "POST", "/c", b"hello", id="chunk-extensions"),
    # RFC 9112 §7.1: hex digits in either case.
    pytest.param(b"POST /c HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
                 b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", "POST", "/c",
                 b"0123456789abcdefghij", id="chunk-size-hex-case"),
    # RFC 9112 §7.1.2: a trailer section with an ordinary field.
    pytest.param(b"POST /c HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n", "POST", "/c", b"hello", id="valid-trailer"),
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line.
    pytest.param(b"\r\nGET /lead HTTP/1.1\r\n" + HOST + b"\r\n", "GET", "/lead", b"", id="leading-empty-line"),
    pytest.param(b"GET /c HTTP/1.1\r\n" + HOST + b"Content-Length: 0\r\n\r\n", "GET", "/c", b"",
                 id="content-length-zero-get"),
    pytest.param(b"POST /c HTTP/1.1\r\n" + HOST + b"Content-Length: 0\r\n\r\n", "POST", "/c", b"",
                 id="content-length-zero-post"),
    pytest.param(b"POST /c HTTP/1.1\r\n" + HOST + b"Content-Length: 005\r\n\r\nhello", "POST", "/c", b"hello",
                 id="content-length-leading-zeros"),
    # RFC 9110 §5.6.3: OWS is SP or HTAB.
    pytest.param(b"GET /c HTTP/1.1\r\n" + HOST + b"X-Tabbed:\t value \t\r\n\r\n", "GET", "/c", b"",
                 id="tabs-in-ows"),
    # RFC 9110 §7.1: asterisk-form for OPTIONS.
    pytest.param(b"OPTIONS * HTTP/1.1\r\n" + HOST + b"\r\n", "OPTIONS", "*", b"", id="asterisk-form"),
    # RFC 9110 §5.5: obs-text (bytes >= 0x80) is allowed in values.
    pytest.param(b"GET /c HTTP/1.1\r\n" + HOST + b"X-Latin: caf\xe9\r\n\r\n", "GET", "/c", b"", id="obs-text-value"),
    # A query string with characters that are legal in a target.
    pytest.param(b"GET /p/a;b?q=1&r=%20x HTTP/1.1\r\n" + HOST + b"\r\n", "GET", "/p/a;b?q=1&r=%20x", b"",
                 id="query-and-params"),
    # RFC 6585 / interface: exactly 100 fields is within --max-headers 100.
    pytest.param(b"GET /c HTTP/1.1\r\n" + HOST + b"".join(b"X-F%d: v\r\n" % i for i in range(99)) + b"\r\n",
                 "GET", "/c", b"", id="exactly-100-fields"),
    # A long but allowed target (request line under 8192 bytes).
    pytest.param(b"GET /" + b"b" * 8000 + b" HTTP/1.1\r\n" + HOST + b"\r\n", "GET", "/" + "b" * 8000, b"",
                 id="long-target-under-limit"),
    # A head of about 60 KiB (under the 64 KiB limit).
    pytest.param(b"GET /c HTTP/1.1\r\n" + HOST + b"".join(b"X-Big-%d: %s\r\n" % (i, b"a" * 1900)
                                                           for i in range(30)) + b"\r\n",
                 "GET", "/c", b"", id="head-under-64k"),
]


@pytest.mark.parametrize("raw,method,target,body", CONTROLS)
def test_unusual_but_valid_is_forwarded(proxied, raw, method, target, body):
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        c.send(raw)
        resp = c.read_response(method=method)
    assert resp.status == 200 and resp.body == b"ok", resp
    reqs = up.wait_requests(1)
    assert len(reqs) == 1, reqs
    r = reqs[0]
    assert r.method == method
    if target is not None:
        assert r.target == target
    assert_canonical(r, body)
    if b"X-Tabbed" in raw:
        assert r.header_values("x-tabbed") == ["value"]
    if b"X-Latin" in raw:
        assert r.header_values("x-latin") == ["caf\xe9"]  # latin-1 decoded: the byte 0xE9 as sent
    if b"X-Checksum" in raw:
        # The trailer may be forwarded as a trailer or dropped, never moved into the head.
        assert not r.has("x-checksum")
    if b"X-F98" in raw:
        assert r.header_values("x-f98") == ["v"]


def test_http10_without_host_is_forwarded(proxied):
    """RFC 9112 §3.2: Host is only required on 1.1; upstream gets 1.1 with a Host field."""
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        c.send(b"GET /ten HTTP/1.0\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200 and resp.body == b"ok", resp
        assert c.wait_closed(10), "an HTTP/1.0 connection without keep-alive stays open"
    r = up.wait_requests(1)[0]
    assert r.target == "/ten"
    assert_canonical(r, b"")


@pytest.mark.parametrize("host_field", [b"example.com", b"other.example"], ids=["same-host", "different-host"])
def test_absolute_form_is_forwarded_in_origin_form(proxied, host_field):
    """RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host."""
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        c.send(b"GET http://example.com/path?q=1 HTTP/1.1\r\nHost: " + host_field + b"\r\n\r\n")
        resp = c.read_response()
    assert resp.status == 200, resp
    r = up.wait_requests(1)[0]
    assert r.target == "/path?q=1"
    assert r.header_values("host") == ["example.com"]
    assert_canonical(r, b"")


def test_absolute_form_with_port_and_empty_path(proxied):
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        c.send(b"GET http://example.com:8080 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")
        resp = c.read_response()
    assert resp.status == 200, resp
    r = up.wait_requests(1)[0]
    assert r.target == "/"
    assert r.header_values("host") == ["example.com:8080"]


def test_x_forwarded_for_appended_for_tcp_clients(proxied):
    hs, up = proxied(ok_handler)
    with hs.client() as c:
        c.send(build_request("GET", "/xff", headers=[("X-Forwarded-For", "203.0.113.7"),
                                                     ("X-Forwarded-Proto", "https"),
                                                     ("X-Forwarded-Host", "public.example")]))
        assert c.read_response().status == 200
        c.send(build_request("GET", "/xff2"))
        assert c.read_response().status == 200
    r1, r2 = up.wait_requests(2)
    assert r1.list_values("x-forwarded-for") == ["203.0.113.7", "127.0.0.1"], r1.headers
    assert r1.header_values("x-forwarded-proto") == ["https"]
    assert r1.header_values("x-forwarded-host") == ["public.example"]
    assert r2.list_values("x-forwarded-for") == ["127.0.0.1"], r2.headers
    assert not r2.has("x-forwarded-proto") and not r2.has("x-forwarded-host")
