"""A small HTTP app for supervisor tests, stdlib only (run as `python3 tiny_app.py ...`).

It listens where hindsight tells it to: the address given with `--bind` (or
`--bind=`) if any, else `$SOCKET` (unix), else `127.0.0.1:$PORT`. Options:

  --delay S        sleep S seconds before listening (a slow start)
  --marker FILE    create FILE right after listen() succeeded
  --argv-file FILE write {"argv": [...], "SOCKET": ..., "PORT": ...} as JSON at start
  --exit-after S   exit(3) S seconds after listening (a crashing app)
  --state FILE --restart-delay S
                   if FILE exists (an earlier run created it), sleep S more before
                   listening: a restart that takes a while
  --ignore-term    ignore SIGTERM (an app that does not stop)

It prints one line to stdout and one to stderr at start. Endpoints: `/` (200 `tiny`),
`/pid` (its pid), `/slow?seconds=N`.
"""

import argparse
import json
import os
import signal
import socketserver
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/pid":
            body = str(os.getpid()).encode()
        elif url.path == "/slow":
            seconds = float(urllib.parse.parse_qs(url.query).get("seconds", ["1"])[0])
            time.sleep(seconds)
            body = b"slept"
        else:
            body = b"tiny"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("tiny-app access: " + (fmt % args) + "\n")


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        sock, _ = self.socket.accept()
        return sock, ("unix", 0)


class TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def parse_addr(text):
    if text.startswith("unix:"):
        return ("unix", text[5:])
    if text.startswith("tcp:"):
        text = text[4:]
    host, _, port = text.rpartition(":")
    return ("tcp", (host.strip("[]") or "127.0.0.1", int(port)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bind", "-b")
    p.add_argument("--delay", type=float, default=0)
    p.add_argument("--marker")
    p.add_argument("--argv-file")
    p.add_argument("--exit-after", type=float)
    p.add_argument("--state")
    p.add_argument("--restart-delay", type=float, default=0)
    p.add_argument("--ignore-term", action="store_true")
    p.add_argument("extra", nargs="*")
    args = p.parse_args()

    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    if args.argv_file:
        with open(args.argv_file, "w") as f:
            json.dump({"argv": sys.argv, "SOCKET": os.environ.get("SOCKET"),
                       "PORT": os.environ.get("PORT")}, f)
    print(f"tiny-app stdout hello pid={os.getpid()}", flush=True)
    print(f"tiny-app stderr hello pid={os.getpid()}", file=sys.stderr, flush=True)

    if args.bind:
        kind, where = parse_addr(args.bind)
    elif os.environ.get("SOCKET"):
        kind, where = "unix", os.environ["SOCKET"]
    elif os.environ.get("PORT"):
        kind, where = "tcp", ("127.0.0.1", int(os.environ["PORT"]))
    else:
        print("tiny-app: nowhere to listen", file=sys.stderr, flush=True)
        sys.exit(2)

    time.sleep(args.delay)
    if args.state:
        if os.path.exists(args.state):
            time.sleep(args.restart_delay)
        open(args.state, "a").close()
    if kind == "unix":
        try:
            os.unlink(where)
        except FileNotFoundError:
            pass
        server = UnixServer(where, Handler)
    else:
        server = TcpServer(where, Handler)
    if args.marker:
        open(args.marker, "w").close()
    print(f"tiny-app listening on {where}", file=sys.stderr, flush=True)
    if args.exit_after is not None:
        threading.Timer(args.exit_after, lambda: os._exit(3)).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
