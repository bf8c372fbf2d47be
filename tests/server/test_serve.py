"""`python -m server serve` as an operator runs it, in a subprocess: the embedded default keeps
every audit entry (drained while it runs and at a stop, durable across a restart), and a worker
killed with kill -9 is replaced."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import PrivateRedis, free_port

ROOT = Path(__file__).resolve().parents[2]
BACKEND = os.environ.get("TEST_BACKEND", "embedded")


class Served:
    def __init__(self, tmp: Path, **env: str) -> None:
        self.port = free_port()
        self.db = tmp / "credit.sqlite3"
        self.log = tmp / "serve.log"
        self.env = {
            **os.environ,
            "APP_ENV": "development",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "DATABASE_URL": f"sqlite://{self.db}",
            "REDIS_URL": "fakeredis://",
            "KEY_FILE": str(tmp / "keys.json"),
            "UPLOAD_DIR": str(tmp / "uploads"),
            "DEMO": "true",
            "WECHAT_API_BASE": "builtin",
            **env,
        }
        self.env.pop("SANIC_WORKER_NAME", None)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server", "serve"], cwd=ROOT, env=self.env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        if wait:
            self.wait_ready()

    def wait_ready(self, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    # Sanic 25.12's manager may still be waiting for the workers' start-up
                    # acknowledgement; a signal inside that wait would cost the stop the
                    # supervisor's grace (test_a_stop_during_start_up_does_not_hang).
                    time.sleep(1.5)
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"not ready in {seconds} s:\n{self.log.read_text()[-3000:]}")

    def request(self, method: str, path: str, body=None, token: str | None = None):  # type: ignore[no-untyped-def]
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def login(self, code: str) -> str:
        status, body = self.request("POST", "/api/v1/auth/wechat-login", {"code": code})
        assert status == 200, body
        return str(body["token"])

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            self.process.wait(60)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
            self.process = None

    def children(self) -> dict[str, int]:
        """Sanic's processes under the main one: worker name -> pid."""
        assert self.process is not None
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) != self.process.pid:
                    continue
                environ = (stat.parent / "environ").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            for entry in environ:
                if entry.startswith(b"SANIC_WORKER_NAME="):
                    found[entry.split(b"=", 1)[1].decode()] = int(stat.parent.name)
        return found


def audit_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM audit_entry").fetchone()[0])


@pytest.mark.skipif(BACKEND != "embedded", reason="the embedded default's own behaviour")
def test_embedded_serve_keeps_every_audit_entry_without_anyone_reading_them(tmp_path):
    served = Served(tmp_path)
    served.start()
    try:
        token = served.login("demo-citizen")
        before = audit_rows(served.db)
        for _ in range(20):
            assert served.request("GET", "/api/v1/me/credit", token=token)[0] == 200
        # Drained while it runs: nobody reads /me/credit/queries, no stop needed.
        deadline = time.monotonic() + 10
        while audit_rows(served.db) < before + 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert audit_rows(served.db) == before + 20
        for _ in range(20):  # and these just before a stop: drained on the way out
            assert served.request("GET", "/api/v1/merchant-codes/DemoTuoling01")[0] == 200
    finally:
        served.stop()
    assert audit_rows(served.db) == before + 40
    served.start()  # a restart: they are still there, and the citizen sees the 20 reads
    try:
        token = served.login("demo-citizen")
        status, body = served.request("GET", "/api/v1/me/credit/queries?limit=50", token=token)
        assert status == 200, body
        assert audit_rows(served.db) >= before + 40
    finally:
        served.stop()


@pytest.mark.skipif(BACKEND != "postgres", reason="two workers need a real Redis (that pass)")
def test_a_worker_killed_with_kill_9_is_replaced(tmp_path):
    redis = PrivateRedis(tmp_path)
    redis.start()
    served = Served(tmp_path, WORKERS="2", REDIS_URL=redis.url)
    try:
        served.start()
        processes = served.children()
        workers = sorted(name for name in processes if name.startswith("Sanic-Server"))
        assert len(workers) == 2, processes
        drainers = [name for name in processes if "AuditDrainer" in name]
        assert len(drainers) == 1, processes
        for name in (workers[0], drainers[0]):
            os.kill(processes[name], signal.SIGKILL)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                now = served.children()
                if name in now and now[name] != processes[name]:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"{name} not replaced:\n{served.log.read_text()[-3000:]}")
        served.wait_ready()
        assert len([n for n in served.children() if n.startswith("Sanic-Server")]) == 2
        token = served.login("demo-citizen")
        for _ in range(10):
            assert served.request("GET", "/api/v1/me/credit", token=token)[0] == 200
        assert "died with exit code -9" in served.log.read_text()
    finally:
        served.stop()
        redis.stop()


def _running(pids: list[int]) -> list[int]:
    """Those of `pids` still running (a zombie, dead but not yet reaped by init, is not)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def _processes_of(served: Served) -> list[int]:
    """Every process started for this serve, whoever its parent is now: they carry its
    environment (its KEY_FILE is the test's own)."""
    marker = f"KEY_FILE={served.env['KEY_FILE']}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return _running(found)


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (alive := _running(pids)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


@pytest.mark.skipif(BACKEND != "postgres", reason="two workers need a real Redis (that pass)")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_no_worker_outlives_the_manager(tmp_path, signum):
    """kill -9 of the main process once left its workers and the drainer running, orphaned,
    holding the port and a CPU; SIGTERM (what systemd and docker send) stops everything."""
    redis = PrivateRedis(tmp_path)
    redis.start()
    served = Served(tmp_path, WORKERS="2", REDIS_URL=redis.url)
    children: list[int] = []
    try:
        served.start()
        children = list(served.children().values())
        assert len(children) == 3, served.children()  # two workers and the audit drainer
        assert served.process is not None
        os.kill(served.process.pid, signum)
        served.process.wait(20)
        left = _gone_within(children, 30)  # a loaded machine: the SQLite close waits 5 s
        assert not left, f"still running: {left}\n{served.log.read_text()[-3000:]}"
        if signum == signal.SIGTERM:  # a stop: nothing at all is left
            assert not _gone_within(_processes_of(served), 10)
    finally:
        # Sanic's state manager, which kill -9 of the main process leaves idle (its parent
        # death cannot be signalled to it), and anything else of this serve.
        for pid in _processes_of(served):
            os.kill(pid, signal.SIGKILL)
        served.process = None
        redis.stop()


def _record_count(served: Served, uscc: str) -> int:
    status, body = served.request("GET", f"/api/v1/subjects/{uscc}")
    assert status == 200, body
    return sum(len(records) for records in body["records"].values())


@pytest.mark.skipif(BACKEND != "embedded", reason="the embedded default's own behaviour")
def test_an_import_beside_the_embedded_serve_refreshes_its_cached_views(tmp_path):
    """`./dev import` runs in a process of its own, which cannot reach the in-process cache of
    `./dev serve`: its notes in the store (credit/store_changes.py) reach it instead, so the
    public view shows the new penalty within seconds, not when the cached view expires."""
    uscc = "91152921MA0Q8DEM0M"  # the demo restaurant
    served = Served(tmp_path)
    served.start()
    try:
        before = _record_count(served, uscc)
        assert _record_count(served, uscc) == before  # now answered from the cache
        data = ROOT / "tests" / "data" / "penalties_sample.csv"
        with data.open(encoding="utf-8", newline="") as handle:
            header, first, *_ = list(csv.reader(handle))
        row = dict(zip(header, first, strict=True)) | {
            "行政相对人名称": "阿拉善左旗驼铃餐饮有限公司",
            "行政相对人代码_1(统一社会信用代码)": uscc,
            "行政处罚决定书文号": "阿测罚字〔2026〕7001号",
            "处罚决定日期": "2026/11/20",
            "处罚有效期": "2027/11/20",
            "公示截止期": "2027/11/20",
        }
        feed = tmp_path / "penalties.csv"
        with feed.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            writer.writerow(row)
        imported = subprocess.run(
            [sys.executable, "-m", "server", "import", "penalties", str(feed), "--no-progress"],
            cwd=ROOT, env=served.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert imported.returncode == 0, imported.stderr
        assert "新增 1" in imported.stdout, imported.stdout
        deadline = time.monotonic() + 10
        while (now := _record_count(served, uscc)) == before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert now == before + 1
    finally:
        served.stop()


@pytest.mark.skipif(BACKEND != "postgres", reason="two workers need a real Redis (that pass)")
def test_a_stop_during_start_up_does_not_hang(tmp_path):
    """Ctrl-C while the workers start: Sanic 25.12's manager waited for their start-up
    acknowledgements forever; the supervisor ends it once every worker has stopped."""
    from server.supervisor import SHUTDOWN_GRACE

    redis = PrivateRedis(tmp_path)
    redis.start()
    served = Served(tmp_path, WORKERS="2", REDIS_URL=redis.url)
    try:
        served.start(wait=False)
        deadline = time.monotonic() + 60
        while len([n for n in served.children() if n.startswith("Sanic-Server")]) < 2:
            assert time.monotonic() < deadline, served.log.read_text()[-3000:]
            time.sleep(0.05)
        assert served.process is not None
        served.process.send_signal(signal.SIGINT)
        served.process.wait(SHUTDOWN_GRACE + 20)
        assert not _gone_within(_processes_of(served), 10)  # Sanic's state manager too
    finally:
        if served.process is not None and served.process.poll() is None:
            os.killpg(served.process.pid, signal.SIGKILL)
        served.process = None
        redis.stop()
