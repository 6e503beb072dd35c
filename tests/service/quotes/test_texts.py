"""A quote's texts in one language, rendered from its language-neutral facts: the same
numbers in either language, nothing but facts stored, texts exactly as quotes stored
with both languages carried them, and the language chosen by ``?lang=`` or
``Accept-Language``."""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient
from quote_helpers import request_for, sites_with_history
from sqlmodel import select
from svc_helpers import bearer

from models.pricing.ratebook import RateBook, load_ratebook
from models.settings import Settings
from service.auth.store import IssuedKey
from service.db.engine import Database
from service.db.tables import Quote
from service.quotes.replay import TEXT_FIELDS, bilingual
from service.quotes.schemas import QuoteResponse
from service.quotes.stored import is_bilingual, stored_answer
from service.quotes.texts import render
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

START = "2025-07"
# Answers priced by release 4d35160, which stored every text in both languages: two
# without a rate book (every kind of recommendation, a criterion not evaluable, a
# clipped and a gated premium) and three with the shipped rate book, its floating
# schedule on (prevention items bought, over budget, without risk reduction and
# capped; accidents graded, an award).
LEGACY = Path(__file__).parent / "fixtures" / "bilingual-answers-4d35160.json.gz"


def _legacy() -> list[dict[str, Any]]:
    return list(json.loads(gzip.open(LEGACY).read()))


def _shipped_book() -> RateBook:
    book = load_ratebook()
    return dataclasses.replace(book, floating=dataclasses.replace(book.floating, enabled=True))


def _books(insurer: str, version: str) -> RateBook | None:
    book = _shipped_book()
    return book if (insurer, version) == (book.insurer_id, book.version) else None


def _texts(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every label and sentence of an answer as JSON, with its path."""
    if isinstance(value, dict):
        for key, v in value.items():
            if key in TEXT_FIELDS and path != ("incentives",):
                yield (*path, key), v
            else:
                yield from _texts(v, (*path, key))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _texts(v, (*path, str(i)))


def _without_texts(value: Any, path: tuple[str, ...] = ()) -> Any:
    """The answer as JSON without its language and its labels and sentences."""
    if isinstance(value, dict):
        return {
            k: _without_texts(v, (*path, k))
            for k, v in value.items()
            if k != "language" and (k not in TEXT_FIELDS or path == ("incentives",))
        }
    if isinstance(value, list):
        return [_without_texts(v, path) for v in value]
    return value


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text.replace("工地画像", ""))


# --- quotes stored with both languages ------------------------------------------------


def test_the_fixture_covers_what_its_comment_says() -> None:
    answers = _legacy()
    assert all(is_bilingual(a) for a in answers)
    sources = {r["target_source"] for a in answers for r in a["recommendations"]}
    assert sources == {"incentive", "peer_median", "combined", "data_quality_gate"}
    plans = [a["prevention"] for a in answers if a.get("prevention")]
    items = [i for p in plans for i in [*p["items"], *p["not_funded"]]]
    assert {i["not_funded"] for i in items} == {None, "over_budget", "no_risk_reduction"}
    assert any(i["reached"] != i["target"] for i in items)
    floating = [a["pricing"]["floating"] for a in answers if a["pricing"]["floating"]]
    assert {f["award"] for f in floating} >= {"city"}
    assert any(f["worst_grade"] for f in floating)
    assert any(
        "reason" in c for a in answers for t in a["incentives"]["tiers"] for c in t["criteria"]
    )


@pytest.mark.parametrize("index", range(5))
def test_a_quote_stored_with_both_languages_renders_exactly_its_stored_texts(index: int) -> None:
    stored = _legacy()[index]
    facts = stored_answer(stored)
    assert all(v is None for _, v in _texts(msgspec.to_builtins(facts)))
    assert bilingual(facts, _books) == stored


def test_its_facts_read_back_alike_in_either_language() -> None:
    for stored in _legacy():
        facts = stored_answer(stored)
        zh, en = render(facts, "zh", _books), render(facts, "en", _books)
        assert (zh.language, en.language) == ("zh", "en")
        assert _without_texts(msgspec.to_builtins(zh)) == _without_texts(msgspec.to_builtins(en))
        zh_texts = dict(_texts(msgspec.to_builtins(zh)))
        en_texts = dict(_texts(msgspec.to_builtins(en)))
        assert zh_texts.keys() == en_texts.keys()
        assert all(isinstance(t, str) and t for t in zh_texts.values())
        # a sentence in Chinese has Chinese in it; in English it has none (but the
        # policy's own term 工地画像)
        sentences = [p for p in zh_texts if p[-1] == "text"]
        assert sentences
        assert all(_has_chinese(zh_texts[p]) for p in sentences)
        assert not any(_has_chinese(en_texts[p]) for p in sentences)


def test_an_unknown_reason_or_book_still_renders() -> None:
    stored = _legacy()[4]
    stored = json.loads(json.dumps(stored))
    facts = stored_answer(stored)
    # the rate book is not stored here: its services are named by their names
    shown = render(facts, "en", lambda insurer, version: None)
    assert shown.prevention is not None
    assert facts.prevention is not None
    assert [i.label for i in shown.prevention.items] == [i.service for i in facts.prevention.items]
    # a reason code this release does not know is still a reason
    tier = facts.incentives.tiers[0]
    odd = msgspec.structs.replace(tier.criteria[0], reason_code="a-later-reason")
    tiers = [msgspec.structs.replace(tier, criteria=[odd]), *facts.incentives.tiers[1:]]
    incentives = msgspec.structs.replace(facts.incentives, tiers=tiers)
    shown = render(msgspec.structs.replace(facts, incentives=incentives), "en")
    assert shown.incentives.tiers[0].criteria[0].reason == "not evaluable: not evaluable"


# --- from outside ----------------------------------------------------------------------


@pytest.fixture
def insurer(issue_key: Callable[..., IssuedKey]) -> str:
    return issue_key("insurer", insurer_id="INS-LANG").key


@pytest.fixture
def body(unseen_world: World) -> dict[str, Any]:
    sites = sites_with_history(unseen_world, START)
    return request_for(unseen_world, sites[0], START)


def _stored_row(settings: Settings, quote_id: str) -> Any:
    database = Database(settings.db_url)
    try:
        with database.session() as session:
            return session.exec(select(Quote.response).where(Quote.id == quote_id)).one()
    finally:
        database.dispose()


def test_the_answer_is_in_the_language_asked_for_and_the_stored_quote_in_none(
    client: TestClient[Any], quote_settings: Settings, insurer: str, body: dict[str, Any]
) -> None:
    default = client.post("/v1/quotes", json=body, headers=bearer(insurer))
    assert default.status_code == 201, default.text
    assert default.headers["content-language"] == "zh"
    answer = default.json()
    assert answer["language"] == "zh"
    assert "使风险" in answer["explanation"]["factors"][0]["text"]

    stored = _stored_row(quote_settings, answer["quote_id"])
    assert stored["language"] is None
    assert all(v is None for _, v in _texts(stored))
    # stored facts rendered in zh are the answer, byte for byte
    rendered = render(msgspec.convert(stored, QuoteResponse), "zh")
    assert msgspec.json.decode(msgspec.json.encode(rendered)) == answer

    by_header = client.post(
        "/v1/quotes", json=body, headers={**bearer(insurer), "Accept-Language": "en-GB,zh;q=0.5"}
    )
    assert by_header.headers["content-language"] == "en"
    english = by_header.json()
    assert english["explanation"]["factors"][0]["text"].startswith(
        english["explanation"]["factors"][0]["text"][:1].upper()
    )
    assert "risk estimate" in english["explanation"]["factors"][0]["text"]
    # the same numbers: only the texts differ
    for key in ("quote_id", "created_at"):
        english.pop(key)
        answer.pop(key)
    assert _without_texts(english) == _without_texts(answer)

    # ?lang= wins over the header; a stored quote reads in either language
    quote_id = by_header.json()["quote_id"]
    zh_read = client.get(
        f"/v1/quotes/{quote_id}?lang=zh", headers={**bearer(insurer), "Accept-Language": "en"}
    )
    assert zh_read.status_code == 200
    assert zh_read.headers["content-language"] == "zh"
    assert zh_read.json()["explanation"]["note"].startswith("各因素系数")
    en_read = client.get(
        f"/v1/quotes/{quote_id}", headers={**bearer(insurer), "Accept-Language": "en"}
    )
    assert en_read.json()["explanation"]["note"].startswith("Each factor")


def test_a_portfolio_answers_in_one_language(
    client: TestClient[Any], insurer: str, body: dict[str, Any]
) -> None:
    reply = client.post(
        "/v1/quotes/batch?lang=en", json={"items": [body, body]}, headers=bearer(insurer)
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-language"] == "en"
    items = reply.json()["items"]
    assert [i["quote"]["language"] for i in items] == ["en", "en"]
    assert not any(_has_chinese(i["quote"]["explanation"]["note"]) for i in items)
    assert not any(
        _has_chinese(layer["text"]) for i in items for layer in i["quote"]["pricing"]["layers"]
    )


def test_an_unknown_language_is_refused_naming_the_parameter_and_stores_nothing(
    client: TestClient[Any], quote_settings: Settings, insurer: str, body: dict[str, Any]
) -> None:
    reply = client.post("/v1/quotes?lang=fr", json=body, headers=bearer(insurer))
    assert 400 <= reply.status_code < 500
    assert "lang" in reply.text
    database = Database(quote_settings.db_url)
    try:
        with database.session() as session:
            assert session.exec(select(Quote.id)).first() is None
    finally:
        database.dispose()
