"""Where a record is repaired (credit/applications/rules.py repair_channel)."""

from __future__ import annotations

from dataclasses import replace

from credit.applications.rules import default_rules, repair_channel
from credit.models import Record

AUTHORITY_USCC = "11152900MB0000000X"


def test_a_configured_authority_uscc_decides_without_its_name():
    """Market-regulation authorities are known by their USCC in config; the name is only the
    fallback (issue 10 item 6)."""
    rules = replace(default_rules(), gsxt_authority_usccs=frozenset({AUTHORITY_USCC}))
    renamed = Record(
        type="penalty", authority="阿拉善盟综合行政执法局", authority_uscc=AUTHORITY_USCC
    )
    assert repair_channel(renamed, "enterprise", rules) == "gsxt"
    assert repair_channel(renamed, "individual_business", rules) == "gsxt"
    assert repair_channel(renamed, "person", rules) == "here"
    by_name = Record(type="penalty", authority="阿拉善左旗市场监督管理局", authority_uscc=None)
    assert repair_channel(by_name, "enterprise", rules) == "gsxt"
    assert repair_channel(by_name, "person", rules) == "here"
    licence = Record(type="licence", authority="阿拉善左旗市场监督管理局", authority_uscc=None)
    assert repair_channel(licence, "enterprise", rules) == "here"
