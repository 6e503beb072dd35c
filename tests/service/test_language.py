"""Which language an answer is written in: ?lang= first, then the most preferred of zh
and en in Accept-Language, then Chinese."""

from __future__ import annotations

import pytest

from service.language import choose, from_accept_language


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "zh"),
        ("", "zh"),
        ("fr-FR, de", "zh"),
        ("en", "en"),
        ("en-GB", "en"),
        ("EN-us;q=0.9", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("zh;q=0.2, en;q=0.7", "en"),
        ("en;q=0, zh;q=0.1", "zh"),  # q=0 means "not this one"
        ("en;q=0", "zh"),
        ("fr, en;q=0.5, zh;q=0.5", "en"),  # a tie goes to the one named first
        ("en;q=abc, zh;q=0.3", "zh"),  # a malformed quality counts as 0
        ("*", "zh"),
    ],
)
def test_accept_language_picks_the_most_preferred_of_zh_and_en(
    header: str | None, expected: str
) -> None:
    assert from_accept_language(header) == expected


def test_the_query_parameter_wins() -> None:
    assert choose("en", "zh-CN") == "en"
    assert choose("zh", "en") == "zh"
    assert choose(None, "en") == "en"
