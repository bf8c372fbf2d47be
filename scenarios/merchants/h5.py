"""The mobile H5 page of a plate (`/m/{code}`): one small HTML document with inline CSS and no
external assets, for a 375-pixel-wide phone on a weak signal. The level and its colour come first.
Everything from the database is escaped.

The page has no script and one `<style>` element (no `style=` attributes), so its
Content-Security-Policy allows exactly that stylesheet by its SHA-256 and nothing else
(`content_security_policy`)."""

from __future__ import annotations

import base64
import hashlib
import re
from html import escape
from typing import Any

from infra.bilingual import MONGOLIAN_STYLE, mongolian_block, mongolian_of

STATUS_BANNERS = {
    "suspended": "该商户码已暂停使用，商户信用信息仅供参考",
    "revoked": "该商户码已撤销，请勿据此判断商户信用",
    "pending": "该商户尚未通过审核",
    "rejected": "该商户未通过审核",
}
NEGATIVE_TYPES = {"penalty", "black_list"}

_STYLE = """
*{box-sizing:border-box;margin:0;padding:0}
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif;
background:#f4f5f7;color:#222;font-size:15px;line-height:1.5;max-width:480px;margin:0 auto}
.level{color:#fff;padding:22px 18px 18px;text-align:center}
.grade{font-size:64px;font-weight:700;line-height:1}
.label{font-size:20px;margin-top:4px}
.score{opacity:.9;font-size:13px;margin-top:4px}
.banner{background:#b71c1c;color:#fff;padding:12px 16px;font-weight:600;text-align:center}
.card{background:#fff;margin:10px;border-radius:10px;padding:14px 16px}
h1{font-size:20px;margin-bottom:4px}
h2{font-size:16px;margin-bottom:8px}
.muted{color:#666;font-size:13px}
.ok{color:#1a9850;font-weight:600}
.warn{color:#d73027;font-weight:600}
.objection{color:#b35806;font-size:13px;margin-top:2px}
ul{list-style:none}
li{border-top:1px solid #eee;padding:8px 0}
li:first-child{border-top:0}
.counts{display:flex;gap:10px}
.counts div{flex:1;text-align:center;background:#f4f5f7;border-radius:8px;padding:8px}
.counts b{display:block;font-size:22px}
.complain{display:block;text-align:center;background:#fff;border:1px solid #d73027;color:#d73027;
border-radius:22px;padding:10px;margin:14px 10px 24px;text-decoration:none;font-weight:600}
footer{text-align:center;color:#999;font-size:12px;padding:0 10px 24px}
"""

_COLOUR = re.compile(r"#[0-9A-Fa-f]{3,8}")
_UNKNOWN_COLOUR = "#888"


def _page(title: str, body: str, level_colour: str) -> str:
    colour = level_colour if _COLOUR.fullmatch(level_colour) else _UNKNOWN_COLOUR
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f"<style>{_STYLE}{MONGOLIAN_STYLE}.level{{background:{colour}}}</style>"
        f"</head><body>{body}</body></html>"
    )


def content_security_policy(page: bytes) -> str:
    """The policy of a page rendered here: its own stylesheet (by hash) and nothing else: no
    script, no frame around it, no form, no other origin. The hash is taken from the page, so a
    page cached before a colour changed in config still gets the policy that fits it."""
    start = page.find(b"<style>") + len(b"<style>")
    end = page.find(b"</style>", start)
    digest = base64.b64encode(hashlib.sha256(page[start:end]).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; font-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def render_page(view: dict[str, Any]) -> str:
    merchant = view["merchant"]
    level = view["level"]
    commitment = view["commitment"]
    complaints = view["complaints"]
    banner = STATUS_BANNERS.get(view["status"])
    negatives = [r for r in view["records"] if r["type"] in NEGATIVE_TYPES]
    others = len(view["records"]) - len(negatives)
    parts = [
        f'<section class="level" id="level" data-grade="{escape(level["grade"])}">'
        f'<div class="grade">{escape(level["grade"])}</div>'
        f'<div class="label">信用等级：{escape(level["label"])}</div>'
        f'<div class="score">信用分 {int(level["score"])}</div></section>'
    ]
    if banner:
        parts.append(
            f'<div class="banner" id="status" data-status="{escape(view["status"])}">'
            f"{escape(banner)}</div>"
        )
    mongolian = mongolian_block(
        [
            ("mn-name", merchant.get("name_mn") or ""),
            ("mn-muted", merchant.get("zone_mn") or ""),
            ("", mongolian_of(f"信用等级：{level['label']}")),
        ]
    )
    parts.append(
        '<section class="card bilingual"><div class="zh">'
        f'<h1 id="merchant-name">{escape(merchant["name"])}</h1>'
        f'<div class="muted">{escape(merchant["zone"])} · {escape(merchant["category"])}</div>'
        f'<div class="muted">{escape(merchant["address"])}</div>'
        f'<div class="muted">经营主体：{escape(merchant["subject_name"])}</div></div>'
        f"{mongolian}</section>"
    )
    if commitment["signed"]:
        signed_on = escape((commitment["signed_at"] or "")[:10])
        promise = (
            '<span class="ok">已签署诚信经营承诺</span>'
            f'<div class="muted">签署日期 {signed_on}</div>'
        )
    else:
        promise = '<span class="muted">尚未签署诚信经营承诺</span>'
    parts.append(f'<section class="card"><h2>诚信承诺</h2>{promise}</section>')
    if negatives:
        items = "".join(
            f'<li><span class="warn">{escape(r["title"])}</span>'
            f'<div class="muted">{escape(r["authority"])} · {escape(r["decided_on"])}</div>'
            f"{_objection_line(r.get('objection'))}</li>"
            for r in negatives
        )
        penalties = f"<ul>{items}</ul>"
    else:
        penalties = '<span class="ok">无公示中的行政处罚等失信信息</span>'
    parts.append(
        f'<section class="card"><h2>公示中的失信信息</h2>{penalties}'
        f'<div class="muted">其他公示信息 {others} 条</div></section>'
    )
    parts.append(
        '<section class="card"><h2>消费投诉（近一年）</h2><div class="counts">'
        f'<div><b id="complaints-total">{int(complaints["total"])}</b>收到投诉</div>'
        f'<div><b id="complaints-upheld">{int(complaints["upheld"])}</b>核实成立</div>'
        "</div></section>"
    )
    if view["status"] != "revoked":
        parts.append(
            f'<a class="complain" href="#complain" id="complain">我要投诉</a>'
            f'<footer id="complain-help">请在微信中打开“信用阿拉善”小程序扫描此码提交投诉'
            f"（商户码 {escape(view['code'] or '')}）<br>"
            f"信息更新于 {escape(view['as_of'][:16])}</footer>"
        )
    return _page(f"{merchant['name']} - 商户信用", "".join(parts), str(level["colour"]))


def _objection_line(objection: dict[str, Any] | None) -> str:
    """A record under objection is shown as before, with this line (DESIGN.md §3)."""
    if not objection:
        return ""
    since = f"（{escape(objection['since'])} 起）" if objection.get("since") else ""
    return f'<div class="objection">{escape(objection["label"])}{since}</div>'


def render_not_found(code: str) -> str:
    body = (
        '<section class="level"><div class="grade">?</div>'
        '<div class="label">未找到该商户码</div></section>'
        '<section class="card"><h1>无法识别的商户码</h1>'
        f'<div class="muted">编码 {escape(code[:40])} 不是有效的信用阿拉善商户码。'
        "请确认二维码来自商户店内张贴的“一店一码”信用牌，或联系当地信用办。</div></section>"
    )
    return _page("未找到商户码", body, _UNKNOWN_COLOUR)
