"""The fake WeChat's subscribe messages and message pushes: what it queues, how it signs and
encrypts them (read back with the service's own reader, infra/wechat/push.py), its HTTP
controls, and its pushes over HTTP to a server URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit
from urllib.request import Request, urlopen

import pytest

from infra.errors import Forbidden
from infra.wechat.fake import FakeWeChat
from infra.wechat.push import PushSettings, read_push

TOKEN = "FakeToken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat(templates={"tmpl-a": False, "tmpl-b": True}, pages=["pages/a/index"])
    server.start()
    yield server
    server.stop()


def settings(fake: FakeWeChat) -> PushSettings:
    return PushSettings(TOKEN, AES_KEY, fake.appid)


@pytest.mark.parametrize(("aes_key", "fmt"), [(None, "json"), (None, "xml"), (AES_KEY, "json"),
                                              (AES_KEY, "xml")])  # fmt: skip
def test_pushes_read_back_in_every_mode(fake: FakeWeChat, aes_key, fmt) -> None:
    told = fake.user_subscribes("o-1", {"tmpl-a": "accept", "tmpl-b": "reject", "nope": "accept"})
    assert told == {"tmpl-a": "accept", "tmpl-b": "reject", "nope": "filter"}
    [popup] = fake.take_pushes()
    query, body, _ = fake.push_request(popup, token=TOKEN, aes_key=aes_key, fmt=fmt)
    assert ("msg_signature" in query) is (aes_key is not None)
    if aes_key:
        assert b"o-1" not in body  # encrypted
    read = read_push(settings(fake), query, body)
    assert read["Event"] == "subscribe_msg_popup_event" and read["FromUserName"] == "o-1"
    from infra.notifications import push_items

    items = push_items(read)
    assert [(i["TemplateId"], i["SubscribeStatusString"]) for i in items] == [
        ("tmpl-a", "accept"),
        ("tmpl-b", "reject"),
    ]


def test_a_push_signed_with_another_token_or_appid_is_refused(fake: FakeWeChat) -> None:
    fake.user_subscribes("o-1", {"tmpl-a": "accept"})
    [popup] = fake.take_pushes()
    query, body, _ = fake.push_request(popup, token="OtherToken1", aes_key=AES_KEY)
    with pytest.raises(Forbidden):
        read_push(settings(fake), query, body)
    query, body, _ = fake.push_request(popup, token=TOKEN, aes_key=AES_KEY)
    with pytest.raises(Forbidden):
        read_push(PushSettings(TOKEN, AES_KEY, "wx-another-app"), query, body)


def test_http_controls_subscribe_and_list_pushes(fake: FakeWeChat) -> None:
    request = Request(
        f"{fake.base_url}/_fake/subscribe",
        data=json.dumps({"openid": "o-2", "results": {"tmpl-a": "accept"}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["results"] == {"tmpl-a": "accept"}
    assert fake.credits("o-2", "tmpl-a") == 1
    with urlopen(f"{fake.base_url}/_fake/pushes", timeout=5) as response:
        pushes = json.loads(response.read())["pushes"]
    assert [p["Event"] for p in pushes] == ["subscribe_msg_popup_event"]
    assert fake.take_pushes() == []  # taken once


def test_pushes_go_to_a_server_url_over_http(fake: FakeWeChat) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            received.append((query, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"success")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fake.user_subscribes("o-3", {"tmpl-b": "accept"})
        fake.user_turns_off("o-3", "tmpl-b")
        url = f"http://127.0.0.1:{server.server_address[1]}/wechat/push"
        assert fake.deliver_pushes(url, token=TOKEN, aes_key=AES_KEY, fmt="xml") == [200, 200]
    finally:
        server.shutdown()
        server.server_close()
    events = [read_push(settings(fake), query, body)["Event"] for query, body in received]
    assert events == ["subscribe_msg_popup_event", "subscribe_msg_change_event"]
