"""The message catalogue is complete in both languages and covers every key the pages
use; numbers, money and dates follow the locale."""

from __future__ import annotations

import datetime as dt
import re
import string
import typing
from pathlib import Path
from typing import Any

import pytest

from service.portal.i18n import DEFAULT_LANG, MESSAGES, Lang, Translator, pick_lang
from service.portal.web import TEMPLATES
from service.quotes.schemas import CriterionOut, Recommendation, Text

_KEY_IN_TEMPLATE = re.compile(r"""\bt\(\s*["']([a-z0-9_.]+)["']""")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_has_both_languages_with_the_same_placeholders() -> None:
    for key, (zh, en) in MESSAGES.items():
        assert zh.strip(), key
        assert en.strip(), key
        assert _fields(zh) == _fields(en), key
        assert re.search(r"[\u4e00-\u9fff]", zh), f"{key}: the Chinese text has no Chinese"


def test_every_key_the_templates_use_is_in_the_catalogue() -> None:
    used = {
        key
        for path in Path(TEMPLATES).glob("*.html")
        for key in _KEY_IN_TEMPLATE.findall(path.read_text(encoding="utf-8"))
    }
    assert len(used) > 40  # the pattern finds the calls
    assert used - MESSAGES.keys() == set()


def test_keys_built_at_run_time_exist() -> None:
    sources = typing.get_args(Recommendation.__annotations__["target_source"])
    assert {f"recs.source_{s}" for s in sources} <= MESSAGES.keys()
    reasons = ["too_few_months"] + [
        f"{column}_{state}"
        for column in ("device_online_rate", "data_completeness")
        for state in ("low", "not_reported")
    ]
    assert {f"dq.reason.{r}" for r in reasons} <= MESSAGES.keys()
    for status in ("400", "403", "404", "500", "503", "expired"):
        assert {f"error.{status}.title", f"error.{status}.body"} <= MESSAGES.keys()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_money_is_yuan_to_the_cent_with_thousands_separators(lang: typing.Any) -> None:
    t = Translator(lang)
    assert t.money(1234567.5) == "¥1,234,567.50"
    assert t.money(-0.5) == "-¥0.50"
    assert t.signed_money(1234.5) == "+¥1,234.50"
    assert t.signed_money(-1234.5) == "-¥1,234.50"
    assert t.signed_money(0.004) == "¥0.00"
    assert t.percent(-12.345, signed=True) == "-12.3%"
    assert t.percent(7.25, signed=True) == "+7.2%"  # half to even, as the quote's cents
    assert t.percent(30, signed=True, digits=0) == "+30%"
    assert t.percent(0.01, signed=True) == "0.0%"
    assert t.share(0.9531) == "95.3%"
    assert t.number(12345.678, 2) == "12,345.68"
    assert t.factor(1.23456) == "×1.235"


def test_dates_and_months_read_as_each_language_writes_them() -> None:
    zh, en = Translator("zh"), Translator("en")
    day = dt.datetime(2025, 7, 3, 12, 0, tzinfo=dt.UTC)
    assert zh.date(day) == "2025年7月3日"
    assert en.date(day) == "Jul 3, 2025"
    assert zh.month("2025-07") == "2025年7月"
    assert en.month("2025-07") == "Jul 2025"
    assert en.month("not a month") == "not a month"
    assert zh.money_short(42000) == "¥4.2万"
    assert en.money_short(42000) == "¥42K"


def test_texts_of_the_quote_pick_the_language() -> None:
    text = Text(zh="中文", en="English")
    assert Translator("zh").text(text) == "中文"
    assert Translator("en").text(text) == "English"
    assert Translator("en").text({"zh": "中文"}) == ""
    assert Translator("zh").text(None) == ""
    assert Translator("zh")("site.title", site="S1") == "工地 S1"
    assert Translator("en")("site.title", site="S1") == "Site S1"


def test_the_language_is_chinese_unless_asked_and_a_new_choice_is_remembered() -> None:
    assert pick_lang(None, None) == (DEFAULT_LANG, False)
    assert DEFAULT_LANG == "zh"
    assert pick_lang("en", None) == ("en", True)
    assert pick_lang(None, "en") == ("en", False)
    assert pick_lang("zh", "en") == ("zh", True)
    assert pick_lang("fr", "en") == ("en", False)  # an unknown choice changes nothing
    assert pick_lang("EN-us", None) == ("en", True)


def _criterion_out(**over: Any) -> CriterionOut:
    fields: dict[str, Any] = {
        "name": "no_serious_claims",
        "label": Text(zh="近12个月无重伤及死亡事故", en="No serious claims in 12 months"),
        "metric": "claims_count",
        "column": None,
        "window_months": 12,
        "operator": "<=",
        "threshold": 0.0,
        "actual": None,
        "months_reported": None,
        "met": False,
        "gap": None,
    }
    return CriterionOut(**{**fields, **over})


@pytest.mark.parametrize(("lang", "words"), [("zh", "无法评估"), ("en", "not evaluable")])
def test_a_criterion_that_could_not_be_evaluated_says_so_and_why(lang: Lang, words: str) -> None:
    from service.portal.views import _criterion

    reason = Text(zh="无法评估：没有理赔数据", en="not evaluable: no claims data")
    shown = _criterion(
        Translator(lang),
        _criterion_out(outcome="not_evaluable", reason=reason),
    )
    assert shown.not_evaluable is not None
    assert words in shown.not_evaluable
    assert shown.not_evaluable == Translator(lang).text(reason)
    without_reason = _criterion(Translator(lang), _criterion_out(outcome="not_evaluable"))
    assert without_reason.not_evaluable is not None
    assert words in without_reason.not_evaluable
    # an unmet criterion of a 2025.1 answer (no outcome) is not called unevaluable
    assert _criterion(Translator(lang), _criterion_out()).not_evaluable is None
    assert _criterion(Translator(lang), _criterion_out(outcome="not_met")).not_evaluable is None
