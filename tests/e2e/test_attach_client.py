"""`hindsight attach`, the developer's side of the attach socket (docs/attach-protocol.md).

The real binary runs in a real pseudo-terminal (pexpect) or on pipes. On the other end of
<data>/attach.sock is `FakeProxy`, a unix socket server written here that speaks the
protocol's frames: it stands in for the proxy's live debugger, which is tested end to end
with the real proxy in its own tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HINDSIGHT_BIN, children_of, clean_env, cmdline, describe_cli, hs_cli, wait_until

pexpect = pytest.importorskip("pexpect")

START = {"method": "GET", "target": "/orders/7?pdb=1", "client": "127.0.0.1", "rule": "pdb-q", "action": "pdb"}
COMPLETED = {"status": 200, "reason": "OK", "outcome": "completed", "message": "the response went to the client"}
TIMED_OUT = {"status": None, "reason": "", "outcome": "timeout",
             "message": "the request did not finish within 1 h: the debugger let it go"}


class AttachConn:
    """One accepted attach connection: frames out, frames in."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.seen: list[tuple[bytes, bytes]] = []  # frames passed over by expect()

    def send(self, kind: bytes, payload: bytes | str | dict = b"") -> None:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        if isinstance(payload, str):
            payload = payload.encode()
        self.sock.sendall(kind + struct.pack(">I", len(payload)) + payload)

    def frame(self, timeout: float = 10.0) -> tuple[bytes, bytes] | None:
        """The next frame, or None when the client closed the connection."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 5:
                (n,) = struct.unpack(">I", self.buf[1:5])
                if len(self.buf) >= 5 + n:
                    kind, payload = self.buf[:1], self.buf[5:5 + n]
                    self.buf = self.buf[5 + n:]
                    return kind, payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no whole frame within {timeout} s; have {self.buf!r}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                assert not self.buf, f"the connection closed in the middle of a frame: {self.buf!r}"
                return None
            self.buf += chunk

    def expect(self, kind: bytes, timeout: float = 10.0) -> bytes:
        """The payload of the next frame of this type; frames of other types are kept in `seen`."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.frame(max(0.01, deadline - time.monotonic()))
            assert f is not None, f"the connection closed before a {kind!r} frame; seen {self.seen}"
            if f[0] == kind:
                return f[1]
            self.seen.append(f)

    def window(self, timeout: float = 10.0) -> tuple[int, int]:
        payload = self.expect(b"W", timeout)
        assert len(payload) == 4, payload
        return struct.unpack(">HH", payload)

    def typed(self, expected: bytes, timeout: float = 10.0) -> None:
        """I frames until exactly `expected` arrived (window frames in between are fine)."""
        got = b""
        while len(got) < len(expected):
            got += self.expect(b"I", timeout)
            assert expected.startswith(got), f"typed {expected!r}, the proxy got {got!r}"
        assert got == expected

    def rest(self, timeout: float = 10.0) -> list[tuple[bytes, bytes]]:
        """Every frame until the client closes."""
        out = []
        while (f := self.frame(timeout)) is not None:
            out.append(f)
        return out

    def close(self) -> None:
        self.sock.close()


class FakeProxy:
    """Listens on <data>/attach.sock as the proxy does (mode 0600)."""

    def __init__(self, data: Path):
        self.path = data / "attach.sock"
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self.server.listen(8)
        self.conns: list[AttachConn] = []

    def accept(self, timeout: float = 10.0) -> AttachConn:
        self.server.settimeout(timeout)
        sock, _ = self.server.accept()
        conn = AttachConn(sock)
        self.conns.append(conn)
        return conn

    def close(self) -> None:
        for c in self.conns:
            c.close()
        self.server.close()


@pytest.fixture
def proxy(workdir):
    p = FakeProxy(workdir)
    yield p
    p.close()


@pytest.fixture
def spawned():
    children = []

    def spawn(*argv: str, rows: int = 24, cols: int = 80):
        child = pexpect.spawn(argv[0], list(argv[1:]), env=clean_env(), dimensions=(rows, cols), timeout=15)
        children.append(child)
        return child

    yield spawn
    for c in children:
        c.close(force=True)


def attach_argv(data: Path, *args: str) -> list[str]:
    return [HINDSIGHT_BIN, "attach", "--data", str(data), *args]


def under_shell(data: Path) -> list[str]:
    """attach, then its exit status and the terminal's settings, in the same terminal."""
    return ["/bin/sh", "-c", '"$0" attach --data "$1"; echo "attach-exit=$?"; stty -a', HINDSIGHT_BIN, str(data)]


def exit_status(child) -> int | None:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def assert_terminal_restored(stty_output: bytes) -> None:
    flags = stty_output.split()
    for flag in (b"icanon", b"echo", b"isig", b"icrnl", b"ixon"):
        assert flag in flags and b"-" + flag not in flags, stty_output


# ---------------------------------------------------------------------------------------
# Before the session
# ---------------------------------------------------------------------------------------


def test_notices_are_printed_and_a_close_without_end_exits_1(proxy, spawned, workdir):
    child = spawned(*attach_argv(workdir))
    conn = proxy.accept()
    conn.send(b"X", b"a frame of a later version")  # unknown types are ignored
    conn.send(b"N", "waiting for a debug request")
    child.expect_exact(b"hindsight: waiting for a debug request\r\n")
    conn.close()
    child.expect_exact(b"hindsight: the proxy closed the attach connection (it stopped or restarted)")
    assert exit_status(child) == 1


def test_ctrl_c_before_a_session_just_ends_attach(proxy, spawned, workdir):
    child = spawned(*attach_argv(workdir))
    conn = proxy.accept()
    conn.send(b"N", "waiting for a debug request")
    child.expect_exact(b"waiting for a debug request")
    child.sendintr()  # the terminal is not raw yet: Ctrl-C is SIGINT
    child.expect(pexpect.EOF)
    child.close()
    assert child.signalstatus == signal.SIGINT, (child.exitstatus, child.signalstatus)
    assert conn.rest() == []  # nothing typed before the session was sent


def test_wait_gives_up_when_no_session_starts(proxy, workdir):
    started = time.monotonic()
    p = hs_cli("attach", "--wait", "1s", data=workdir)
    elapsed = time.monotonic() - started
    assert p.returncode == 1, describe_cli(p)
    assert "hindsight: no debug request arrived within 1s" in p.stderr.decode(), describe_cli(p)
    assert 0.9 <= elapsed < 10, elapsed


# ---------------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------------


def test_a_session_relays_the_terminal_raw_both_ways(proxy, spawned, workdir):
    child = spawned(*attach_argv(workdir), rows=24, cols=80)
    conn = proxy.accept()
    conn.send(b"I", b"typed too early")  # a frame meant for the proxy: ignored
    conn.send(b"S", START)
    child.expect_exact(b"hindsight: debugging GET /orders/7?pdb=1 from 127.0.0.1 (rule 'pdb-q', pdb); "
                       b"Ctrl-D at the (Pdb) prompt detaches, c continues, Ctrl-C interrupts")
    assert conn.window() == (24, 80)

    conn.send(b"O", b"> /srv/app/views.py(12)total()\r\n-> return PRICES[sku]\r\n(Pdb) ")
    child.expect_exact(b"> /srv/app/views.py(12)total()")
    child.expect_exact(b"(Pdb) ")

    # Raw: each key goes out as typed, before any Enter, and is not echoed here.
    child.send(b"p sku")
    conn.typed(b"p sku")
    child.send(b"\r")
    conn.typed(b"\r")
    child.sendcontrol("c")
    conn.typed(b"\x03")
    child.sendcontrol("d")
    conn.typed(b"\x04")
    child.send("é".encode())
    conn.typed("é".encode())
    assert child.isalive()
    conn.send(b"O", b"\x1b[1m'A-1'\x1b[0m\r\n(Pdb) ")
    child.expect_exact(b"\x1b[1m'A-1'\x1b[0m\r\n(Pdb) ")
    assert b"p sku" not in child.before, child.before

    child.setwinsize(30, 100)
    assert conn.window() == (30, 100)

    conn.send(b"E", COMPLETED)
    child.expect_exact(b"hindsight: the response went to the client (status 200 OK)")
    assert exit_status(child) == 0
    assert conn.rest() == []  # attach closed its end after the E


def test_an_end_that_did_not_complete_exits_1_and_restores_the_terminal(proxy, spawned, workdir):
    child = spawned(*under_shell(workdir))
    conn = proxy.accept()
    conn.send(b"S", START)
    conn.window()
    conn.send(b"O", b"(Pdb) ")
    child.expect_exact(b"(Pdb) ")
    conn.send(b"E", TIMED_OUT)
    child.expect_exact(b"hindsight: the request did not finish within 1 h: the debugger let it go "
                       b"(timeout; no response status)")
    child.expect_exact(b"attach-exit=1")
    child.expect(pexpect.EOF)
    assert_terminal_restored(child.before)


def test_a_completed_end_restores_the_terminal(proxy, spawned, workdir):
    child = spawned(*under_shell(workdir))
    conn = proxy.accept()
    conn.send(b"S", START)
    conn.window()
    conn.send(b"E", COMPLETED)
    child.expect_exact(b"attach-exit=0")
    child.expect(pexpect.EOF)
    assert_terminal_restored(child.before)


def test_a_close_mid_session_restores_the_terminal_and_exits_1(proxy, spawned, workdir):
    child = spawned(*under_shell(workdir))
    conn = proxy.accept()
    conn.send(b"S", START)
    conn.window()
    conn.send(b"O", b"(Pdb) ")
    child.expect_exact(b"(Pdb) ")
    conn.close()
    child.expect_exact(b"hindsight: the proxy closed the attach connection before the session ended "
                       b"(it stopped or restarted)")
    child.expect_exact(b"attach-exit=1")
    child.expect(pexpect.EOF)
    assert_terminal_restored(child.before)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_while_raw_restores_the_terminal_and_exits_1(proxy, spawned, workdir, sig):
    child = spawned(*under_shell(workdir))
    conn = proxy.accept()
    conn.send(b"S", START)
    conn.window()
    child.expect_exact(b"Ctrl-C interrupts")

    def attach_pid():
        pids = [p for p in children_of(child.pid) if "attach" in cmdline(p)]
        return pids[0] if pids else None

    assert wait_until(lambda: attach_pid() is not None, 10)
    os.kill(attach_pid(), sig)
    child.expect_exact(f"hindsight: stopped by {sig.name}: the session goes back to the proxy".encode())
    child.expect_exact(b"attach-exit=1")
    child.expect(pexpect.EOF)
    assert_terminal_restored(child.before)
    assert conn.rest() == []


def test_pipes_carry_the_bytes_exactly_and_end_of_input_keeps_the_session(proxy, workdir):
    stdin, typing = os.pipe()
    p = subprocess.Popen(attach_argv(workdir), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=clean_env())
    os.close(stdin)
    try:
        conn = proxy.accept()
        conn.send(b"S", START)
        os.write(typing, b"p order\nc\n")
        os.close(typing)  # end of input: attach stops reading, the session goes on
        conn.typed(b"p order\nc\n")
        time.sleep(0.3)
        output = bytes(range(256)) + b"\r\n(Pdb) "
        conn.send(b"O", output)
        conn.send(b"E", COMPLETED)
        out, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert out == output
    assert "the response went to the client (status 200 OK)" in err.decode(), err
    # Not a terminal: no window size to send.
    assert [kind for kind, _ in conn.seen + conn.rest()] == []


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_no_socket_says_no_proxy_uses_the_data_directory(workdir):
    p = hs_cli("attach", data=workdir)
    err = p.stderr.decode()
    assert p.returncode == 1, describe_cli(p)
    assert f"hindsight: error: no `hindsight run` uses the data directory '{workdir}'" in err, err
    assert str(workdir / "attach.sock") in err and "--data" in err, err


def test_a_missing_data_directory_is_a_clear_error(workdir):
    p = hs_cli("attach", data=workdir / "nowhere")
    assert p.returncode == 1, describe_cli(p)
    assert f"no data directory at '{workdir / 'nowhere'}'" in p.stderr.decode(), describe_cli(p)


def test_a_socket_nobody_listens_on_names_the_proxy_gone(workdir):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(workdir / "attach.sock"))
    s.close()  # the file stays, as a killed proxy leaves it
    p = hs_cli("attach", data=workdir)
    err = p.stderr.decode()
    assert p.returncode == 1, describe_cli(p)
    assert f"nobody listens on {workdir / 'attach.sock'}" in err and "is gone" in err, err


def test_another_users_socket_says_whom_to_run_as(proxy, workdir):
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if not setpriv or not os.access(HINDSIGHT_BIN, os.X_OK):
            pytest.skip("needs setpriv to run attach as another user")
        argv = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", *attach_argv(workdir)]
    else:
        os.chmod(proxy.path, 0)
        argv = attach_argv(workdir)
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=clean_env(), timeout=30)
    err = p.stderr.decode()
    assert p.returncode == 1, describe_cli(p)
    assert "Permission denied" in err or "permission denied" in err, err
    assert "run `hindsight attach` as the user that runs `hindsight run`" in err, err


def test_an_oversized_frame_ends_attach(proxy, workdir):
    p = subprocess.Popen(attach_argv(workdir), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=clean_env())
    try:
        conn = proxy.accept()
        conn.sock.sendall(b"O" + struct.pack(">I", (1 << 20) + 1))
        out, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1 and b"larger than 1 MiB" in err, err


@pytest.mark.parametrize("wait", ["soon", "0", "-1s"])
def test_a_bad_wait_is_a_usage_error(workdir, wait):
    p = hs_cli("attach", "--wait", wait, data=workdir)
    assert p.returncode == 2, describe_cli(p)
    assert "--wait" in p.stderr.decode(), describe_cli(p)
