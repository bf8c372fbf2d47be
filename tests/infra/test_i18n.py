"""The Mongolian catalogue and translator (infra/i18n.py) and its check (server/i18n_tools.py)."""

from __future__ import annotations

from babel.messages.catalog import Catalog

from infra import i18n
from server import i18n_tools


def test_language_negotiation():
    assert i18n.negotiate(None) == "zh"
    assert i18n.negotiate("mn") == "mn"
    assert i18n.negotiate("zh-CN,zh;q=0.9") == "zh"
    assert i18n.negotiate("zh-CN;q=0.5, mn-Mong;q=0.8") == "mn"
    assert i18n.negotiate("mn;q=0.3, zh;q=0.9") == "zh"
    assert i18n.negotiate("mn-Cyrl") == "zh"  # Cyrillic Mongolian is not what we write
    assert i18n.negotiate("mni") == "zh"  # Manipuri, not Mongolian
    assert i18n.negotiate("en", "mn") == "mn" and i18n.negotiate("mn", "zh") == "zh"
    assert i18n.negotiate("mn;q=abc") == "zh"


def test_exact_texts_templates_and_fallback():
    assert i18n.translate("请先登录", "zh") == "请先登录"
    login = i18n.translate("请先登录")
    assert login != "请先登录" and all(not "\u4e00" <= c <= "\u9fff" for c in login)
    # A template's parts are translated too (the status label inside the sentence).
    sentence = i18n.translate("商户当前为“已暂停”，不能执行此操作")
    assert i18n.translate("已暂停") in sentence and "已暂停" not in sentence
    # No translation: the Chinese stays.
    assert i18n.translate("一段没有译文的中文") == "一段没有译文的中文"
    payload = {"error": {"code": "UNAUTHORIZED", "message": "请先登录", "fields": {"a": "必填"}}}
    localized = i18n.localize(payload, "mn")
    assert localized["error"]["code"] == "UNAUTHORIZED"
    assert localized["error"]["message"] == login
    assert localized["error"]["fields"]["a"] == i18n.translate("必填")


def test_the_shipped_catalogue_passes_the_check_and_marks_its_drafts():
    report = i18n_tools.check()
    assert report.errors == []
    assert report.translated >= 70
    catalogue = i18n.read_catalogue()
    for message in catalogue:
        if message.id and message.string:
            notes = " ".join(message.user_comments)
            assert "来源：" in notes
            assert message.fuzzy and i18n.REVIEW_NOTE in notes  # nothing reviewed yet
    # Untranslated texts are listed with where they are.
    assert any(where.startswith("credit/") for where, _ in report.missing)


def test_the_check_refuses_a_broken_entry():
    catalogue = Catalog(locale="mn")
    catalogue.add("请先登录", "ᠨᠡᠪᠲᠡᠷᠡᠨ᠎ᠡ ᠦᠦ")  # no source note, not a draft, no reviewer
    catalogue.add("可选：{0}", "ᠰᠣᠩᠭᠣᠬᠤ", user_comments=["来源：x；需蒙古文专业人员审校"],
                  flags=["fuzzy"])  # placeholder lost  # fmt: skip
    catalogue.add("未找到", "not mongolian", user_comments=["来源：x；需蒙古文专业人员审校"],
                  flags=["fuzzy"])  # fmt: skip
    catalogue.add(
        "无权访问",
        "ᠡᠷᠬᠡ ᠦᠭᠡᠢ",
        user_comments=["来源：x", "审校：某某（盟蒙古语文工作办公室），2026-12-01"],
    )
    errors = i18n_tools.check(catalogue).errors
    assert any("请先登录" in e and "来源" in e for e in errors)
    assert any("请先登录" in e and "审校" in e for e in errors)
    assert any("可选" in e and "占位符" in e for e in errors)
    assert any("未找到" in e and "蒙古文" in e for e in errors)
    assert not any("无权访问" in e for e in errors)  # a reviewed entry is fine


def test_cli_check_exits_0_and_strict_exits_1(capsys):
    assert i18n_tools.main(["check"]) == 0
    assert "缺少蒙古文" in capsys.readouterr().out
    assert i18n_tools.main(["check", "--strict"]) == 1


def test_mongolian_name_validation():
    assert i18n.mongolian_text_problem("ᠲᠡᠮᠡᠭᠡᠨ ᠬᠣᠩᠬᠣ 88") is None
    assert i18n.mongolian_text_problem("ᠪᠠᠶᠢᠰᠢᠩ\u202fᠤᠨ") is None  # NNBSP before a suffix
    assert i18n.mongolian_text_problem("驼铃") is not None
    assert i18n.mongolian_text_problem("ᠲᠡᠮᠡᠭᠡᠨ驼") is not None
    assert "单词过长" in (i18n.mongolian_text_problem("ᠠ" * 41) or "")
