"""Running one request through the WSGI app as gunicorn's sync worker does:
start_response (with exc_info), write(), the iterable and its close()."""
import signal
import sys
import time

from . import debugger, hooks, traceback_model
from .environ import environ_from_request
from .rollback import Containment

DEFAULT_BODY_LIMIT = 1 << 20


class RequestTimeout(BaseException):
    """Raised in the app when timeout_s is nearly up. BaseException: the app's own
    `except Exception` must not swallow it."""


class _Response:
    def __init__(self, body_limit):
        self.status = None
        self.headers = []
        self.headers_sent = False
        self.body = bytearray()
        self.body_size = 0
        self.body_limit = body_limit

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.status and self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("Response headers already set!")
        if not isinstance(status, str):
            raise TypeError("%r is not a string" % (status,))
        checked = []
        for name, value in headers:
            if not isinstance(name, str):
                raise TypeError("%r is not a string" % (name,))
            if not isinstance(value, str):
                raise TypeError("%r is not a string" % (value,))
            checked.append([name, value])
        self.status = status
        self.headers = checked
        return self.write

    def write(self, data):
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("%r is not a byte" % (data,))
        if self.status is None:
            raise AssertionError("write() before start_response()")
        if data:
            self.headers_sent = True
        self.body_size += len(data)
        room = self.body_limit - len(self.body)
        if room > 0:
            self.body += data[:room]


def _soft_timeout(seconds):
    """Arms SIGALRM to raise RequestTimeout a little before the parent's hard kill."""
    if not seconds or seconds <= 0:
        return None

    def fire(signum, frame):
        raise RequestTimeout("request stopped after %gs (timeout_s)" % seconds)

    previous = signal.signal(signal.SIGALRM, fire)
    soft = max(0.05, seconds - min(1.0, seconds * 0.1))
    signal.setitimer(signal.ITIMER_REAL, soft)
    return previous


def _disarm(previous):
    signal.setitimer(signal.ITIMER_REAL, 0)
    if previous is not None:
        signal.signal(signal.SIGALRM, previous)


def run_request(app, request, body, chdir=None, on_prompt=None):
    """→ (response header dict without "type", response body bytes). on_prompt runs
    when the request's first pdb prompt opens (the parent then allows a developer's
    time instead of the request's)."""
    mode = request.get("mode") or "run"
    if mode not in ("run", "pdb", "post_mortem"):
        raise ValueError("unknown mode %r: expected run, pdb or post_mortem" % mode)
    body_limit = request.get("body_limit")
    if not isinstance(body_limit, int) or body_limit < 0:
        body_limit = DEFAULT_BODY_LIMIT
    rollback = request.get("rollback", True) is not False

    environ = environ_from_request(request, body)
    response = _Response(body_limit)
    hooks.install()
    hooks.reset()
    raised = None
    session = debugger.Session(mode, request.get("breaks"), chdir)
    # No soft stop while a developer may sit at a prompt; the parent's timeout (an
    # hour by default for debugger modes) still applies.
    timer = _soft_timeout(request.get("timeout_s")) if mode == "run" and not request.get("breaks") else None
    prompted = []

    def on_enter():
        signal.setitimer(signal.ITIMER_REAL, 0)
        if not prompted:
            prompted.append(True)
            if on_prompt is not None:
                on_prompt()

    debugger.reset(on_enter=on_enter)
    containment = Containment(rollback)
    started = time.monotonic()
    try:
        with containment:
            try:
                session.start()
                try:
                    result = app(environ, response.start_response)
                    try:
                        for chunk in result:
                            if chunk:
                                if response.status is None:
                                    raise AssertionError("the app yielded body data before calling start_response()")
                                response.write(chunk)
                    finally:
                        if hasattr(result, "close"):
                            result.close()
                finally:
                    session.stop()
            except BaseException as exc:  # the app's outcome, whatever it is
                raised = exc
            if raised is None or not isinstance(raised, RequestTimeout):
                captured = raised or hooks.first_captured()
                if mode == "post_mortem" and captured is not None:
                    _disarm(timer)
                    timer = None
                    debugger.post_mortem(captured)
    finally:
        _disarm(timer)
        sys.settrace(None)
    duration_ms = (time.monotonic() - started) * 1000.0

    # The exception the framework answered with a 500 comes first: the one that
    # propagated (if any) is what the server would have seen.
    exc = raised if raised is not None else hooks.first_captured()
    hooks.reset()
    return {
        "status": response.status,
        "headers": response.headers,
        "body_size": response.body_size,
        "body_truncated": response.body_size > len(response.body),
        "exception": traceback_model.exception_model(exc) if exc is not None else None,
        "timed_out": isinstance(raised, RequestTimeout),
        "rolled_back": containment.rolled_back,
        "not_contained": containment.not_contained,
        "warnings": session.warnings,
        "duration_ms": round(duration_ms, 3),
        "debugger_used": debugger.used(),
    }, bytes(response.body)
