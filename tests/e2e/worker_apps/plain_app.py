"""Test-only WSGI apps for tests/e2e/test_worker.py: each path exercises one thing the
worker must get right when it runs an app (no framework in between)."""
import ctypes
import pdb  # noqa: F401  (the app's own pdb.set_trace())
import sys


class BrokenRepr:
    def __repr__(self):
        raise RuntimeError("repr exploded")


def _hidden_helper():
    __traceback_hide__ = True  # noqa: F841
    raise LookupError("raised under a hidden frame")


def _chained():
    try:
        {}["missing"]
    except KeyError as exc:
        err = ValueError("bad order id")
        err.add_note("order 7 came from the EU shop")
        raise err from exc


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/locals/":
        big_list = list(range(1000))
        long_text = "x" * 5000
        nested = {"a": {"b": {"c": {"d": {"e": 1}}}}}
        broken = BrokenRepr()
        raise RuntimeError("locals demo")  # LOCALS_LINE
    if path == "/chain/":
        _chained()
    if path == "/hidden/":
        _hidden_helper()
    if path == "/write/":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"and ", b"iterated"]
    if path == "/big/":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [b"a" * 1000, b"b" * 1000]
    if path == "/close/":
        class Body:
            def __iter__(self):
                yield b"body"

            def close(self):
                sys.stderr.write("CLOSE CALLED\n")
        start_response("200 OK", [])
        return Body()
    if path == "/exc-info/":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise OSError("disk on fire")
        except OSError:
            # Headers not sent yet: replacing them is allowed.
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"replaced"]
    if path == "/exc-info-late/":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"partial")
        try:
            raise OSError("too late")
        except OSError:
            # Headers already sent: start_response must re-raise.
            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"never"]
    if path == "/loop/":
        n = 0
        while True:
            n += 1
    if path == "/segfault/":
        ctypes.string_at(0)
    if path == "/set-trace/":
        marker = "own-set-trace"
        pdb.set_trace()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [marker.encode()]
    if path == "/break/":
        total = 0
        for order_id in range(10):
            total += order_id  # BREAK_LINE
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(total).encode()]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"unknown path"]


def create(greeting="hello", punctuation="!"):
    """A factory, loaded as plain_app:create('hi', punctuation='?')."""
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [(greeting + punctuation).encode()]
    return app
