"""Faults around the capture store (issue 3): kill -9 of the proxy in the middle of a
capture storm, twenty times on the same data directory; a database that cannot grow;
a capture queue that overflows; a data directory that cannot be written."""

import base64
import os
import random
import sqlite3
import subprocess
import threading
from collections import Counter

import pytest

from conftest import (Client, Incomplete, build_request, describe_cli, failing_handler, hs_cli, list_captures,
                      show_capture, sqlite_integrity, store_status, wait_captures, wait_until)


class Storm:
    """Client threads sending failing requests on keep-alive connections until stopped
    (or, with `per_thread`, that many requests each)."""

    def __init__(self, addr, threads: int = 4, per_thread: int | None = None, body: bytes = b"",
                 prefix: str = "/storm"):
        self.addr = addr
        self.per_thread = per_thread
        self.body = body
        self.prefix = prefix
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.bodies: Counter = Counter()
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    @property
    def answered(self) -> int:
        with self.lock:
            return sum(self.statuses.values())

    def start(self) -> "Storm":
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=30)

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=120)

    def _run(self, index: int) -> None:
        n = 0
        while not self.stopping.is_set() and (self.per_thread is None or n < self.per_thread):
            try:
                c = Client(self.addr, timeout=30)
            except OSError as e:
                with self.lock:
                    self.errors.append(e)
                if self.per_thread is not None:
                    return
                self.stopping.wait(0.01)
                continue
            try:
                while not self.stopping.is_set() and (self.per_thread is None or n < self.per_thread):
                    c.send(build_request("POST", f"{self.prefix}/{index}/{n}?i={n}", body=self.body,
                                         headers=[("Content-Type", "application/octet-stream")]))
                    r = c.read_response(method="POST")
                    n += 1
                    with self.lock:
                        self.statuses[r.status] += 1
                        self.bodies[len(r.body)] += 1
                    if "close" in r.connection_tokens():
                        break
            except (OSError, Incomplete, TimeoutError, ValueError) as e:
                with self.lock:
                    self.errors.append(e)
                if self.per_thread is not None:
                    return
            finally:
                c.close()


def check_store(data) -> list[dict]:
    """The database is intact and every capture in it is whole; returns `list --json`."""
    db = data / "captures.db"
    assert db.exists(), f"no database in {data}"
    result = sqlite_integrity(db)
    assert result == "ok", f"PRAGMA integrity_check: {result}"
    conn = sqlite3.connect(str(db), timeout=10)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
        # White-box (store/schema.cpp): no capture without its headers and bodies, and
        # body sizes that agree with the truncation flags. (Valid for the storm's
        # octet-stream bodies only: a redacted body may differ in length from body_size.)
        if {"captures", "capture_bodies"} <= tables:
            orphans = conn.execute("SELECT count(*) FROM captures c LEFT JOIN capture_bodies b ON b.id = c.id "
                                   "WHERE b.id IS NULL").fetchone()[0]
            assert orphans == 0, f"{orphans} captures without their bodies"
            bad = conn.execute(
                "SELECT c.id FROM captures c JOIN capture_bodies b ON b.id = c.id WHERE "
                "(c.request_body_truncated = 0 AND length(b.request_body) != c.request_body_size) OR "
                "(c.response_body_truncated = 0 AND length(b.response_body) != c.response_body_size) OR "
                "(c.request_body_truncated = 1 AND length(b.request_body) >= c.request_body_size) OR "
                "(c.response_body_truncated = 1 AND length(b.response_body) >= c.response_body_size) OR "
                "length(b.request_headers) = 0").fetchall()
            assert not bad, f"captures with inconsistent bodies: {bad}"
            if "totals" in tables:
                rows, = conn.execute("SELECT count(*) FROM captures").fetchone()
                counted, = conn.execute("SELECT rows FROM totals").fetchone()
                assert rows == counted, f"totals.rows {counted} but {rows} captures"
    finally:
        conn.close()
    rows = list_captures(data)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) and ids == sorted(ids, reverse=True), ids
    for r in rows[:3]:  # the newest: the most likely to have been half written
        c = show_capture(data, r["id"])
        for side in ("request", "response"):
            part = c[side]
            n = len(base64.b64decode(part["body_base64"]))
            if part["body_truncated"]:
                assert n < part["body_size"], (side, c)
            else:
                assert n == part["body_size"], (side, c)
        assert c["request"]["method"] == "POST" and c["request"]["target"].startswith("/storm/"), c
        assert c["response"]["status"] == 500, c
    return rows


# ---------------------------------------------------------------------------------------
# kill -9 in a capture storm
# ---------------------------------------------------------------------------------------


def test_kill9_in_a_capture_storm_twenty_times(upstream_factory, hindsight_factory, workdir):
    answer = bytes(i % 256 for i in range(3000))
    up = upstream_factory(failing_handler(500, answer))
    data = workdir / "data"
    rng = random.Random(20240603)
    body = bytes(rng.randrange(256) for _ in range(1500))
    counts = []
    for round_ in range(20):
        hs = hindsight_factory(["--upstream", up.arg, "--access-log", "off"], data=data, name=f"hs{round_}")
        storm = Storm(hs.listen, threads=4, body=body).start()
        threshold = rng.randint(5, 60)
        try:
            assert wait_until(lambda: storm.answered >= threshold, 30, 0.005), \
                f"round {round_}: only {storm.answered} answers\n{hs.describe_output()}"
            hs.proc.kill()
            assert hs.wait_exit(10) is not None
        finally:
            storm.stop()
        assert set(storm.statuses) == {500}, f"round {round_}: {storm.statuses}"
        assert set(storm.bodies) == {len(answer)}, f"round {round_}: bodies cut short before the kill: {storm.bodies}"
        rows = check_store(data)
        counts.append(len(rows))
        st = store_status(data)
        assert st["proxy"] is None, f"round {round_}: a killed proxy is reported as running: {st['proxy']}"
        assert st["store"]["rows"] == len(rows)
    assert counts == sorted(counts), f"committed captures were lost by a later kill: {counts}"
    assert counts[-1] > 0, "nothing was ever captured"


# ---------------------------------------------------------------------------------------
# A database that cannot grow
# ---------------------------------------------------------------------------------------


def test_database_that_cannot_grow_keeps_the_newest_then_prune(proxied):
    big = bytes(i % 251 for i in range(60 * 1024))
    cap = 256 * 1024
    # --retain-bytes (1 GiB by default) far above --store-max-size: the writer keeps the
    # captures under 80% of the cap, and makes room when the cap stops an insert anyway.
    hs, _ = proxied(failing_handler(500, big), "--store-max-size", "256KiB")
    assert hs.wait_for_line(r"retaining at most .*--store-max-size", 5), hs.describe_output()
    with hs.client() as c:
        for i in range(12):
            c.send(build_request("GET", f"/big/{i}"))
            r = c.read_response()
            assert r.status == 500 and r.body == big, f"request {i}: {r}"
    writer = {}

    def accounted() -> bool:
        nonlocal writer
        writer = store_status(hs.data)["proxy"]["writer"]
        return writer["stored"] + sum(writer["dropped"].values()) == 12

    assert wait_until(accounted, 20, 0.1), f"every capture is either stored or counted as dropped: {writer}"
    assert writer["stored"] >= 6, f"capturing stopped at the cap: {writer}"
    assert (hs.data / "captures.db").stat().st_size <= cap, "the database grew beyond --store-max-size"

    # Still serving, and still capturing the newest failures, without a prune.
    for i in range(3):
        r = hs.get(f"/while-full/{i}")
        assert r.status == 500 and r.body == big
        rows = wait_captures(hs.data, 1, "--path", f"/while-full/{i}")
    assert 0 < len(list_captures(hs.data)) < 12
    assert (hs.data / "captures.db").stat().st_size <= cap

    p = hs_cli("prune", "--all", data=hs.data)
    assert p.returncode == 0, describe_cli(p)
    assert hs.get("/after-prune/").status == 500
    rows = wait_captures(hs.data, 1, "--path", "/after-prune/")
    c = show_capture(hs.data, rows[0]["id"])
    assert c["response"]["body_size"] == len(big)


# ---------------------------------------------------------------------------------------
# A small file system that fills up
# ---------------------------------------------------------------------------------------


@pytest.fixture
def small_fs(workdir):
    """A 24 MiB tmpfs (root only: mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = workdir / "small"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=700", "tmpfs", str(mnt)], capture_output=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.decode(errors='replace')}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def free_bytes(path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_a_small_file_system_is_never_filled_and_prune_always_works(proxied, small_fs):
    answer = bytes(i % 251 for i in range(512 * 1024))
    data = small_fs / "data"
    hs, _ = proxied(failing_handler(500, answer), "--capture-response-body", "1MiB", "--retain-bytes", "0",
                    "--access-log", "off", data=data)
    with hs.client(timeout=30) as c:
        for i in range(60):  # 30 MiB of captures for a 24 MiB file system
            c.send(build_request("GET", f"/big/{i}"))
            r = c.read_response()
            assert r.status == 500 and len(r.body) == len(answer), f"request {i}: {r}"
    writer = {}

    def accounted() -> bool:
        nonlocal writer
        writer = store_status(data)["proxy"]["writer"]
        return writer["stored"] + sum(writer["dropped"].values()) == 60

    assert wait_until(accounted, 30, 0.2), f"stored + dropped != 60: {writer}"
    assert writer["dropped"]["database_full"] > 0, writer
    assert "nearly full" in writer["last_error"], writer
    assert hs.wait_for_line(r"captures are being dropped: .*nearly full", 15), hs.describe_output()
    assert free_bytes(small_fs) >= 4 << 20, f"hindsight filled the file system: {free_bytes(small_fs)} bytes free"
    assert sqlite_integrity(data / "captures.db") == "ok"

    # Deleting needs room in WAL mode: there is some, so prune works, and capturing resumes.
    p = hs_cli("prune", "--all", data=data)
    assert p.returncode == 0, describe_cli(p)
    assert hs.get("/after-prune/").status == 500
    wait_captures(data, 1, "--path", "/after-prune/")

    # Something else fills the file system to the last byte: prune says what to do.
    filler = small_fs / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    try:
        for i in range(3):
            assert hs.get(f"/no-room/{i}").status == 500  # still proxying
        p = hs_cli("prune", "--all", data=data)
        if p.returncode != 0:
            err = p.stderr.decode(errors="replace")
            assert "free some space" in err and "captures.db*" in err, describe_cli(p)
    finally:
        filler.unlink()
    p = hs_cli("prune", "--all", data=data)
    assert p.returncode == 0, describe_cli(p)
    assert hs.get("/room-again/").status == 500
    wait_captures(data, 1, "--path", "/room-again/")


# ---------------------------------------------------------------------------------------
# Database files and data directory readable by others
# ---------------------------------------------------------------------------------------


def test_database_files_are_owner_only_in_an_existing_data_dir(proxied, workdir):
    data = workdir / "shared"
    data.mkdir()
    data.chmod(0o755)
    old = os.umask(0o022)
    try:
        hs, _ = proxied(failing_handler(500), data=data)
    finally:
        os.umask(old)
    assert hs.get("/x/", headers=[("Authorization", "Bearer secret")]).status == 500
    wait_captures(data, 1)
    for name in ("captures.db", "captures.db-wal", "captures.db-shm"):
        mode = (data / name).stat().st_mode & 0o777
        assert mode == 0o600, f"{name} has mode {mode:o}"
    err = hs.stderr_text()
    assert "accessible to other users" in err and f"chmod 700 {data}" in err, err
    assert data.stat().st_mode & 0o777 == 0o755, "the directory's mode is the user's to change"


# ---------------------------------------------------------------------------------------
# A full capture queue
# ---------------------------------------------------------------------------------------


def test_capture_queue_full_drops_counted_and_every_request_answered(proxied):
    answer = b"z" * (64 * 1024)
    hs, _ = proxied(failing_handler(500, answer), "--capture-queue", "1", "--access-log", "off")
    total = 0
    writer = {}
    for _ in range(6):
        storm = Storm(hs.listen, threads=8, per_thread=50, body=b"q" * 4096)
        storm.start()
        storm.join()
        assert not storm.errors, storm.errors[:5]
        assert storm.statuses == Counter({500: 400}), storm.statuses
        assert storm.bodies == Counter({len(answer): 400}), storm.bodies
        total += 400
        writer = store_status(hs.data)["proxy"]["writer"]
        if writer["dropped"]["queue_full"] > 0:
            break
    assert writer["dropped"]["queue_full"] > 0, f"no queue_full drops with --capture-queue 1 after {total}: {writer}"

    def accounted() -> bool:
        nonlocal writer
        writer = store_status(hs.data)["proxy"]["writer"]
        return writer["stored"] + sum(writer["dropped"].values()) == total

    assert wait_until(accounted, 30, 0.2), f"stored + dropped != {total}: {writer}"
    assert len(list_captures(hs.data)) == writer["stored"]
    assert hs.running()


# ---------------------------------------------------------------------------------------
# A data directory that cannot be written
# ---------------------------------------------------------------------------------------


def expect_start_error(hs, *needles) -> str:
    rc = hs.wait_exit(20)
    err = hs.stderr_text()
    assert rc == 1, f"exit status {rc}\n{hs.describe_output()}"
    assert "hindsight: error:" in err, err
    for n in needles:
        assert str(n) in err, f"{n!r} not in:\n{err}"
    return err


def test_data_dir_inside_a_regular_file(hindsight_factory, workdir):
    (workdir / "file").write_text("x")
    data = workdir / "file" / "data"
    hs = hindsight_factory(["--upstream", f"unix:{workdir}/up.sock"], data=data, ready=False)
    expect_start_error(hs, data)


def test_data_dir_without_write_permission(hindsight_factory, workdir):
    if os.geteuid() == 0:
        pytest.skip("root ignores permission bits")
    data = workdir / "ro"
    data.mkdir()
    data.chmod(0o500)
    try:
        hs = hindsight_factory(["--upstream", f"unix:{workdir}/up.sock"], data=data, ready=False)
        expect_start_error(hs, data)
    finally:
        data.chmod(0o700)


def test_database_path_that_is_a_directory(hindsight_factory, workdir):
    data = workdir / "data"
    (data / "captures.db").mkdir(parents=True)
    hs = hindsight_factory(["--upstream", f"unix:{workdir}/up.sock"], data=data, ready=False)
    expect_start_error(hs, "captures.db")


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_read_only_data_dir_with_an_existing_store(proxied, hindsight_factory, workdir):
    """A data directory that held captures becomes read-only (root included: a read-only bind mount)."""
    if not _unshare_works():
        pytest.skip("cannot create a mount namespace here (unshare --mount)")
    hs, up = proxied(failing_handler(500))
    assert hs.get("/x/").status == 500
    wait_captures(hs.data, 1)
    assert hs.stop() == 0
    d = str(hs.data)
    wrapper = ["unshare", "--mount", "sh", "-c",
               f'mount --bind "{d}" "{d}" && mount -o remount,bind,ro "{d}" && exec "$0" "$@"']
    again = hindsight_factory(["--upstream", up.arg], data=hs.data, prefix=wrapper, name="ro", ready=False)
    expect_start_error(again, d)
    assert len(list_captures(hs.data)) == 1, "the store is still readable"


# ---------------------------------------------------------------------------------------
# A database locked by another process
# ---------------------------------------------------------------------------------------


def test_database_locked_by_another_process(proxied):
    hs, _ = proxied(failing_handler(500))
    assert hs.get("/before/").status == 500
    wait_captures(hs.data, 1)
    locker = sqlite3.connect(str(hs.data / "captures.db"), timeout=10, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with hs.client() as c:
            for i in range(20):
                c.send(build_request("GET", f"/locked/{i}"))
                assert c.read_response().status == 500, "proxying must not wait for the database"
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    writer = {}

    def accounted() -> bool:
        nonlocal writer
        writer = store_status(hs.data)["proxy"]["writer"]
        return writer["stored"] + sum(writer["dropped"].values()) == 21

    assert wait_until(accounted, 30, 0.2), f"stored + dropped != 21: {writer}"
    assert hs.get("/after-lock/").status == 500
    rows = wait_captures(hs.data, 1, "--path", "/after-lock/")
    assert rows[0]["target"] == "/after-lock/"
    assert sqlite_integrity(hs.data / "captures.db") == "ok"
