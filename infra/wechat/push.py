"""WeChat message push (消息推送) to the server URL set in the mini-program's console.

Rules from the message-push docs
(https://developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html):
the console's check is a GET with `signature` = SHA-1 of token, timestamp and nonce sorted and
joined, answered with `echostr`; every POST carries the same `signature`; in 安全模式
(`encrypt_type=aes`) the body holds only `Encrypt`, signed by `msg_signature` (token, timestamp,
nonce and Encrypt) and AES-256-CBC encrypted with the EncodingAESKey, the appid at its end. The
data format (JSON or XML) is the console's choice; both are read.

The signature checks and the decryption are wechatpy's (DESIGN.md §2: its offline crypto, not
its synchronous HTTP); XML goes through xmltodict, wechatpy's own parser, with entities off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from infra.errors import BadRequest, Forbidden

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class PushSettings:
    token: str
    aes_key: str | None  # EncodingAESKey, 43 characters; None: plain mode only
    appid: str


def _bad_signature() -> Forbidden:
    return Forbidden("消息推送签名无效", code="SIGNATURE_INVALID")


def _check(settings: PushSettings, query: dict[str, str]) -> None:
    try:
        check_signature(
            settings.token,
            query.get("signature", ""),
            query.get("timestamp", ""),
            query.get("nonce", ""),
        )
    except InvalidSignatureException as exc:
        raise _bad_signature() from exc


def echo(settings: PushSettings, query: dict[str, str]) -> str:
    """The console's URL check: `echostr` back when the signature holds, else 403."""
    _check(settings, query)
    return query.get("echostr", "")


def read_push(settings: PushSettings, query: dict[str, str], body: bytes) -> dict[str, Any]:
    """The pushed message as a dict (the JSON shape; XML elements by their names), verified
    and, in 安全模式, decrypted. 403 for a bad signature, 400 for a body that is not a push."""
    _check(settings, query)
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest("消息推送内容过大", code="PUSH_INVALID")
    message = _parse(body)
    if query.get("encrypt_type") != "aes":
        return message
    if not settings.aes_key or "Encrypt" not in message:
        raise _bad_signature()
    crypto = WeChatCrypto(settings.token, settings.aes_key, settings.appid)
    try:
        plain = crypto.decrypt_message(
            {"Encrypt": str(message["Encrypt"])},
            query.get("msg_signature", ""),
            query.get("timestamp", ""),
            query.get("nonce", ""),
        )
    except (InvalidSignatureException, InvalidAppIdException) as exc:
        raise _bad_signature() from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("消息推送内容无法解密", code="PUSH_INVALID") from exc
    return _parse(plain.encode("utf-8") if isinstance(plain, str) else plain)


def _parse(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8").strip()
        if text.startswith("<"):
            parsed = xmltodict.parse(text, disable_entities=True).get("xml")
        else:
            parsed = json.loads(text)
    except (ExpatError, ValueError, AttributeError) as exc:
        raise BadRequest("消息推送内容无效", code="PUSH_INVALID") from exc
    if not isinstance(parsed, dict):
        raise BadRequest("消息推送内容无效", code="PUSH_INVALID")
    return parsed
