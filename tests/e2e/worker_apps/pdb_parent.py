"""Test-only parent for the worker's pdb tests: run under a pty by pexpect, it hands
the worker that terminal as stdin/stdout, sends load and one request, and prints
the response as one `RESPONSE {json}` line, with the events that came before it in
its "events" field.

usage: pdb_parent.py WORKER APP CHDIR REQUEST_JSON [ENV_JSON]"""
import json
import os
import socket
import struct
import subprocess
import sys


def send(sock, header, body=b""):
    data = json.dumps(header).encode()
    sock.sendall(struct.pack(">I", len(data)) + data + struct.pack(">I", len(body)) + body)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("worker closed the socket")
        buf += chunk
    return buf


def recv(sock):
    (n,) = struct.unpack(">I", recv_exact(sock, 4))
    header = json.loads(recv_exact(sock, n))
    (m,) = struct.unpack(">I", recv_exact(sock, 4))
    return header, recv_exact(sock, m)


def main():
    worker, app, chdir, request = sys.argv[1:5]
    env = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    parent, child = socket.socketpair()
    proc = subprocess.Popen([worker, "--fd", str(child.fileno())], pass_fds=[child.fileno()])
    child.close()
    recv(parent)  # hello
    send(parent, {"type": "load", "app": app, "chdir": chdir, "env": env})
    loaded, _ = recv(parent)
    if loaded["type"] != "loaded":
        print("LOAD FAILED", json.dumps(loaded), flush=True)
        return 1
    send(parent, dict(json.loads(request), type="request"))
    events = []
    response, body = recv(parent)
    while response["type"] == "debugger":  # a prompt opened: events come before the response
        events.append(response)
        response, body = recv(parent)
    response["body"] = body.decode("latin-1")
    response["events"] = events
    print("RESPONSE " + json.dumps(response), flush=True)
    parent.close()
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
