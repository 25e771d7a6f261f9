"""Test-only: the example apps' /environ/ endpoint for every path (the examples route
only /environ/, and the oracle needs odd paths too). Same serialisation as
examples/flask/app.py's environ_view."""
import json


def _json_value(value):
    if isinstance(value, (str, int, bool, tuple)):
        return value
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else "%s.%s" % (cls.__module__, cls.__qualname__)


def app(environ, start_response):
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    body = stream.read(int(length)) if length and length.isdigit() else stream.read()
    result = {key: _json_value(value) for key, value in environ.items()}
    result["body"] = body.decode("latin-1")
    # Exercise readline/readlines/iteration on a second read: all at the end now.
    result["after_read"] = [stream.readline(), stream.readlines(), list(stream)] == [b"", [], []]
    data = json.dumps(result, sort_keys=True, default=_json_value).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
