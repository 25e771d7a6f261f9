#!/usr/bin/python3
"""Open COUNT keep-alive connections to HOST:PORT, send one request on each,
read each response completely, then keep them all open (idle) until killed.

Usage: idle_conns.py HOST PORT COUNT PATH READY_FILE

Writes "ok COUNT" to READY_FILE once every connection has had its response
(or "error: ..." and exits 1).  Used by bench/run.sh to measure a server's
RSS with COUNT idle keep-alive connections.  Standard library only.
"""
import signal
import socket
import sys
import time


def read_response(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed before the response head")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = lines[0].split(b" ", 2)
    if len(status) < 2 or status[1] != b"200":
        raise OSError("unexpected status line %r" % lines[0])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"connection" and b"close" in value.lower():
            raise OSError("server answered Connection: close")
    if length is None:
        raise OSError("response without Content-Length")
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed mid-body")
        body += chunk


def main():
    host, port, count, path, ready_file = sys.argv[1:6]
    port, count = int(port), int(count)
    request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (path, host, port)).encode()
    socks = []
    try:
        for _ in range(count):
            s = socket.create_connection((host, port), timeout=10)
            s.sendall(request)
            read_response(s)
            socks.append(s)
    except Exception as e:  # noqa: BLE001 - reported to the caller
        with open(ready_file, "w") as f:
            f.write("error: after %d connections: %s\n" % (len(socks), e))
        return 1
    with open(ready_file, "w") as f:
        f.write("ok %d\n" % len(socks))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
