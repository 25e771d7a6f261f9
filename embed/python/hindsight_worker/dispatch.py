"""One frame in, one frame out: the worker's side of docs/worker-protocol.md. C++
reads and writes the frames and calls handle() for each one."""
import json
import os
import sys
import traceback

from . import loader, runner, traceback_model

try:
    from _hindsight_embedded import send_event as _send_event
except ImportError:  # imported outside the worker binary (nothing to tell)
    def _send_event(header):
        pass

PROTOCOL = 1


class _State:
    app = None
    spec = None
    chdir = None


def _header(obj):
    return json.dumps(obj, ensure_ascii=False, default=str)


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def hello():
    return (_header({
        "type": "hello",
        "protocol": PROTOCOL,
        "pid": os.getpid(),
        "python": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
    }),)


def _error(kind, message, exc=None, exit_after=False):
    model = traceback_model.exception_model(exc) if exc is not None else None
    return _header({"type": "error", "kind": kind, "message": message, "exception": model}), b"", exit_after


def _load(msg):
    spec = msg.get("app")
    if not isinstance(spec, str) or not spec:
        return _error("import", "load: no app spec given (\"app\": \"module:attribute\")")
    try:
        loader.prepare(msg.get("chdir"), msg.get("pythonpath"), msg.get("env"))
        app = loader.import_app(spec)
    except BaseException as exc:  # an app that cannot import is a result, not a crash
        if isinstance(exc, KeyboardInterrupt):
            raise
        # Shown once on the worker's stderr too, as gunicorn would log it.
        traceback.print_exc()
        return _error("import", "cannot load %s: %s: %s" % (spec, type(exc).__name__, traceback_model.safe_str(exc)), exc)
    _State.app, _State.spec, _State.chdir = app, spec, os.getcwd()
    return _header({"type": "loaded", "app": spec}), b"", False


def _discard_typed_ahead():
    """On a terminal kept from one request to the next (the proxy's live debugger), what
    was typed after the last prompt of the previous request must not become commands in
    this one."""
    try:
        if os.isatty(0):
            import termios
            termios.tcflush(0, termios.TCIFLUSH)
    except (OSError, ImportError):
        pass


def _request(msg, body):
    if _State.app is None:
        return _error("protocol", "request before load: send a load message first", exit_after=True)
    _discard_typed_ahead()
    try:
        fields, response_body = runner.run_request(_State.app, msg, body, _State.chdir,
                                                   on_prompt=lambda: _send_event(_header({"type": "debugger",
                                                                                          "event": "prompt"})))
    except Exception as exc:
        traceback.print_exc()
        return _error("app", "cannot run the request: %s: %s" % (type(exc).__name__, traceback_model.safe_str(exc)), exc)
    fields = dict(fields, type="response")
    if msg.get("capture_id") is not None:
        fields["capture_id"] = msg.get("capture_id")
    return _header(fields), response_body, False


def handle(header, body):
    """(header bytes, body bytes) → (header str, body bytes, exit after sending)."""
    try:
        try:
            msg = json.loads(header.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return _error("protocol", "frame header is not valid JSON: %s" % exc, exit_after=True)
        if not isinstance(msg, dict):
            return _error("protocol", "frame header is not a JSON object", exit_after=True)
        kind = msg.get("type")
        if kind == "load":
            return _load(msg)
        if kind == "request":
            return _request(msg, body)
        # Forward compatibility: an unknown type gets an answer, the worker stays.
        return _error("protocol", "unknown message type %r" % (kind,))
    finally:
        _flush()
