"""The PEP 3333 environ for a captured request, built as gunicorn 20.1 builds it
(gunicorn/http/message.py and wsgi.py are the reference) for the same bytes."""
import io
import os
import re
import sys
import urllib.parse

# gunicorn's default secure_scheme_headers; forwarded_allow_ips trusts them for
# unix-socket peers and 127.0.0.1, which is where hindsight's proxy connects from.
SECURE_SCHEME_HEADERS = {"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https", "X-FORWARDED-SSL": "on"}


def _server_software():
    try:
        from gunicorn import SERVER_SOFTWARE
        return SERVER_SOFTWARE
    except Exception:
        return "gunicorn/20.1.0"


def as_latin1(text):
    """The protocol's strings carry one byte per code point (latin-1). A string that
    was decoded as UTF-8 instead (code points above U+00FF) is turned back into its bytes."""
    if text is None:
        return ""
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("latin-1")


def split_request_uri(uri):
    # gunicorn.util.split_request_uri: "//x" is a path, not a network location.
    if uri.startswith("//"):
        parts = urllib.parse.urlsplit("." + uri)
        return parts._replace(path=parts.path[1:])
    return urllib.parse.urlsplit(uri)


def decode_chunked(data):
    """RFC 9112 §7.1 chunked coding → the payload; None when data is not chunked."""
    out = bytearray()
    pos = 0
    try:
        while True:
            eol = data.index(b"\r\n", pos)
            size_text = data[pos:eol].split(b";", 1)[0].strip()
            size = int(size_text, 16)
            pos = eol + 2
            if size == 0:
                return bytes(out)  # trailers, if any, are not part of the body
            if pos + size + 2 > len(data) or data[pos + size:pos + size + 2] != b"\r\n":
                return None
            out += data[pos:pos + size]
            pos += size + 2
    except ValueError:
        return None


class Body:
    """wsgi.input: gunicorn.http.body.Body's interface over the whole body in memory."""

    def __init__(self, data):
        self._buf = io.BytesIO(data)

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration()
        return line

    next = __next__

    @staticmethod
    def _size(size):
        if size is None:
            return -1
        if not isinstance(size, int):
            raise TypeError("size must be an integral type")
        return size

    def read(self, size=None):
        size = self._size(size)
        if size == 0:
            return b""
        return self._buf.read(size if size > 0 else -1)

    def readline(self, size=None):
        size = self._size(size)
        if size == 0:
            return b""
        return self._buf.readline(size if size > 0 else -1)

    def readlines(self, size=None):
        ret = []
        data = self.read()
        while data:
            pos = data.find(b"\n")
            if pos < 0:
                ret.append(data)
                data = b""
            else:
                line, data = data[:pos + 1], data[pos + 1:]
                ret.append(line)
        return ret


class FileWrapper:
    """gunicorn.http.wsgi.FileWrapper."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __getitem__(self, key):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise IndexError


class ErrorsStream(io.RawIOBase):
    """wsgi.errors: the worker's stderr, where the parent collects the app's log."""

    def write(self, data):
        try:
            sys.stderr.write(data)
        except (UnicodeError, TypeError):
            sys.stderr.write(data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data))
        sys.stderr.flush()
        return len(data)

    def writable(self):
        return True


def _is_unix_socket(host):
    # gunicorn's listener name for a unix socket is its path; "unix" stands for one
    # whose path is unknown.
    return isinstance(host, str) and ("/" in host or host == "unix" or host.startswith("unix:"))


def request_headers(request):
    """[(NAME, value)] as gunicorn's parse_headers leaves them: names upper-cased,
    values with leading blanks stripped."""
    out = []
    for name, value in request.get("headers") or []:
        out.append((as_latin1(name).upper(), as_latin1(value).lstrip(" \t")))
    return out


def request_body(headers, body):
    chunked = any(n == "TRANSFER-ENCODING" and v.lower() == "chunked" for n, v in headers)
    if chunked and body:
        # The capture may hold the body as it came over the wire; the app sees it decoded.
        decoded = decode_chunked(body)
        if decoded is not None:
            return decoded
    return body


def environ_from_request(request, body):
    headers = request_headers(request)
    uri = as_latin1(request.get("target") or "/")
    parts = split_request_uri(uri)
    version = request.get("version") or "HTTP/1.1"
    match = re.fullmatch(r"HTTP/(\d+)\.(\d+)", version)
    if match:
        version = "HTTP/%s.%s" % (int(match.group(1)), int(match.group(2)))

    environ = {
        "wsgi.errors": ErrorsStream(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": bool(request.get("multiprocess", False)),
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.input_terminated": True,
        "SERVER_SOFTWARE": _server_software(),
        "wsgi.input": Body(request_body(headers, body)),
        "REQUEST_METHOD": as_latin1(request.get("method") or "GET").upper(),
        "QUERY_STRING": parts.query or "",
        "RAW_URI": uri,
        "SERVER_PROTOCOL": version,
    }

    host = None
    script_name = os.environ.get("SCRIPT_NAME", "")
    header_scheme = None
    for name, value in headers:
        if name in SECURE_SCHEME_HEADERS and header_scheme is None:
            header_scheme = "https" if value == SECURE_SCHEME_HEADERS[name] else "http"
        if name == "HOST":
            host = value
        elif name == "SCRIPT_NAME":
            script_name = value
        elif name == "CONTENT-TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        elif name == "CONTENT-LENGTH":
            environ["CONTENT_LENGTH"] = value
            continue
        key = "HTTP_" + name.replace("-", "_")
        if key in environ:
            value = "%s,%s" % (environ[key], value)
        environ[key] = value

    scheme = request.get("scheme") or header_scheme or "http"
    environ["wsgi.url_scheme"] = scheme

    remote_addr = request.get("remote_addr")
    remote_port = request.get("remote_port")
    environ["REMOTE_ADDR"] = "" if remote_addr is None else str(remote_addr)
    if remote_port not in (None, ""):
        # Over TCP gunicorn sets both; over a unix socket it sets REMOTE_ADDR to "" only.
        environ["REMOTE_PORT"] = str(remote_port)

    server = request.get("server")
    if isinstance(server, (list, tuple)) and server and _is_unix_socket(server[0]):
        server = str(server[0])  # [path, port]: still a unix socket, whatever the port says
    if isinstance(server, (list, tuple)) and len(server) == 2 and server[0] not in (None, ""):
        # gunicorn bound to TCP: SERVER_* name the listening socket, not the Host.
        server_name, server_port = str(server[0]), str(server[1])
    else:
        # A unix socket (or unknown): gunicorn derives SERVER_* from Host.
        if host:
            split = host.split(":")
            if len(split) == 1:
                split.append({"http": 80, "https": 443}.get(scheme, ""))
        else:
            split = [server if isinstance(server, str) else "", ""]
        server_name, server_port = split[0], split[1]
    environ["SERVER_NAME"] = server_name
    environ["SERVER_PORT"] = str(server_port)

    path_info = parts.path or ""
    if script_name:
        path_info = path_info.split(script_name, 1)[1]
    environ["PATH_INFO"] = urllib.parse.unquote_to_bytes(path_info).decode("latin-1")
    environ["SCRIPT_NAME"] = script_name
    return environ
