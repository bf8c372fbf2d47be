"""Small helpers the tests share."""

from __future__ import annotations

import uuid
from typing import Any

from stdnum.cn import ric

_serial = iter(range(100, 999))
# The session runtime's field cipher (set by the runtime fixture), for rows helpers write as the
# service would: a legal representative's name encrypted.
CIPHER: Any = None


def unique_code(name: str = "citizen") -> str:
    """A fresh demo login: any demo-<name> the demo data does not know is a new citizen."""
    return f"demo-{name}-{uuid.uuid4().hex[:8]}"


def fresh_id_number(birth: str = "19880808") -> str:
    base = f"152922{birth}{next(_serial):03d}"
    return base + ric.calc_check_digit(base + "0")  # stdnum takes the full 18 characters


async def start(client, headers, name="乌云", id_number=None, consent=True, consent_version=None):  # type: ignore[no-untyped-def]
    """Starts identity verification (consent to the current text + getverifyid)."""
    from credit.identity import identity_consent

    body = {
        "name": name,
        "id_number": id_number or fresh_id_number(),
        "consent": consent,
        "consent_version": consent_version or identity_consent().version,
    }
    return await client.post("/api/v1/me/identity/verify-session", headers=headers, json=body)


async def bind(client, headers, name="乌云", id_number=None):  # type: ignore[no-untyped-def]
    """Binds the logged-in user to a fresh person (the fake face check passes)."""
    started = await start(client, headers, name=name, id_number=id_number)
    assert started.status_code == 200, started.text
    return await client.post(
        "/api/v1/me/identity", headers=headers, json={"verify_id": started.json()["verify_id"]}
    )


async def bound_citizen(client, login):  # type: ignore[no-untyped-def]
    """A new citizen with a bound identity: (headers, user id, person subject id, openid)."""
    from credit.models import IdentityBinding
    from infra.models import User

    code = unique_code()
    headers = await login(code)
    bound = await bind(client, headers)
    assert bound.status_code == 200, bound.text
    me = (await client.get("/api/v1/me", headers=headers)).json()
    binding = await IdentityBinding.get(user_id=me["id"])
    user = await User.get(id=me["id"])
    return headers, me["id"], binding.subject_id, user.openid


async def make_record(subject_id: int, **overrides):  # type: ignore[no-untyped-def]
    """A published general penalty decided 150 days ago: past its 3-month minimum period."""
    from datetime import timedelta

    from credit.calendar_dates import add_months, today
    from credit.models import Record

    decided_on = overrides.pop("decided_on", today() - timedelta(days=150))
    key = f"test|{uuid.uuid4().hex}"
    values = {
        "subject_id": subject_id,
        "record_class": "general_dishonesty",
        "type": "penalty",
        "title": "行政处罚：测试违法行为",
        "severity": "general",
        "decided_on": decided_on,
        "publish_min_until": add_months(decided_on, 3),
        "publish_max_until": add_months(decided_on, 12),
        "authority": "阿拉善左旗交通运输局",
        "document_no": key,
        "natural_key": key,
        "content_hash": key,
    }
    values.update(overrides)
    return await Record.create(**values)


async def make_enterprise(  # type: ignore[no-untyped-def]
    name: str | None = None, *, represented_by: int | None = None, kind: str = "enterprise"
):
    """A fresh market entity in the credit store, with a valid USCC; `represented_by`: the person
    subject whose ID number the platform gives as its legal representative's (as the importer
    stores it: the blind index only)."""
    import secrets

    from stdnum.cn import uscc

    from credit.models import Subject
    from credit.person_names import person_name, seal_legal_representative

    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    prefix = "91152921MA" if kind == "enterprise" else "92152921MA"
    base = prefix + "".join(secrets.choice(alphabet) for _ in range(7))
    code = base + uscc.calc_check_digit(base)
    person = await Subject.get(id=represented_by) if represented_by else None
    representative: tuple[str | None, str | None] = (None, None)
    if person is not None:
        representative = seal_legal_representative(CIPHER, person_name(person, CIPHER))
    return await Subject.create(
        natural_key=f"uscc:{code}",
        kind=kind,
        name=name or f"阿拉善测试商贸有限公司{code[-4:]}",
        uscc=code,
        region="152921",
        legal_representative=representative[0],
        legal_representative_enc=representative[1],
        legal_representative_id_index=person.id_number_index if person else None,
    )


async def represented_enterprise(client, headers, person_subject_id: int, **kwargs):  # type: ignore[no-untyped-def]
    """A fresh enterprise whose legal representative is this bound person, linked to them the
    way a user does it: POST /api/v1/me/enterprises."""
    enterprise = await make_enterprise(represented_by=person_subject_id, **kwargs)
    linked = await client.post(
        "/api/v1/me/enterprises", headers=headers, json={"uscc": enterprise.uscc}
    )
    assert linked.status_code == 201, linked.text
    return enterprise


async def subscribe(client, headers, fake, openid, template="application_status", result="accept"):  # type: ignore[no-untyped-def]
    """The user answers wx.requestSubscribeMessage for one template: WeChat (the fake) counts
    it and the mini-program reports it (POST /api/v1/me/subscriptions)."""
    from infra.notifications import default_rules

    template_id = default_rules().template(template).template_id
    told = fake.user_subscribes(openid, {template_id: result})
    reported = await client.post(
        "/api/v1/me/subscriptions", headers=headers, json={"results": told}
    )
    assert reported.status_code == 200, reported.text
    return reported.json()


def read_database_file(path) -> bytes:  # type: ignore[no-untyped-def]
    """The bytes of one of the suite's live SQLite files, read by a child process: a file this
    process opens and closes drops every POSIX lock it holds on that file, SQLite's included,
    after which other processes (a `python -m server` command a test runs) read stale pages and
    new connections fail with "disk I/O error"."""
    import subprocess

    return subprocess.run(["cat", str(path)], capture_output=True, check=True).stdout


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A redis-server of the test's own on a free port, to freeze (SIGSTOP), thaw and restart
    without touching the shared one."""

    def __init__(self, tmp_dir) -> None:  # type: ignore[no-untyped-def]
        self.port = free_port()
        self.dir = tmp_dir
        self.process = None  # type: ignore[var-annotated]
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self, *extra: str, ready: bytes = b"+PONG") -> None:
        import shutil
        import socket
        import subprocess
        import time

        import pytest

        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(ready):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def freeze(self) -> None:
        import signal

        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        import signal

        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.thaw()
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def restart_loading(self, keys: int = 4000, seconds: float = 2.0) -> None:
        """Restart as a production Redis does after a crash: reading its AOF, answering every
        command `-LOADING` meanwhile (slowed down with the options Redis's own tests use)."""
        import subprocess

        self.stop()
        self.start("--appendonly", "yes")
        fill = "for i=1,tonumber(ARGV[1]) do redis.call('SET','filler:'..i,'x') end"
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "EVAL", fill, "0", str(keys)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.stop()
        delay_us = int(seconds * 1_000_000 / keys)
        self.start(
            "--appendonly", "yes", "--key-load-delay", str(delay_us),
            "--loading-process-events-interval-bytes", "1024", ready=b"-LOADING",
        )  # fmt: skip


def decode_qr(png: bytes) -> str:
    """What a phone reads from a QR image: OpenCV's classic detector, then its ArUco-based one.
    The classic one misses about 1 bare code in 25 of random payloads (and more on a poster, where
    the text around the code offers it false finder patterns); phone scanners read them all."""
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    if not text:
        text, points, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    assert points is not None and text, "no QR code found"
    return str(text)
