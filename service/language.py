"""The language an answer's texts are written in: ``?lang=`` if given, else the
caller's ``Accept-Language`` (RFC 9110 §12.5.4: the most preferred of zh and en by
quality), else Chinese. Only the texts change; every number is the same."""

from __future__ import annotations

from typing import Annotated, Final

from litestar.params import HeaderParameter, QueryParameter

from service.quotes.texts import DEFAULT_LANG, LANGUAGES, Lang

CONTENT_LANGUAGE: Final = "Content-Language"

LangQuery = Annotated[
    Lang | None,
    QueryParameter(
        description=(
            "Language of the answer's labels and sentences: zh (default) or en. "
            "Overrides Accept-Language."
        ),
    ),
]
AcceptLanguage = Annotated[
    str | None,
    HeaderParameter(
        name="Accept-Language",
        description=(
            "Used when ?lang= is not given: the most preferred of zh and en (zh-CN, "
            "en-GB… count as zh and en); anything else, or none, gives zh."
        ),
        max_length=1000,
    ),
]


def _quality(part: str) -> float:
    for param in part.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def from_accept_language(header: str | None) -> Lang:
    """The most preferred of zh and en in an Accept-Language header; ties go to the
    one named first, and a header naming neither (or none) gives zh."""
    best: tuple[float, Lang] | None = None
    for part in (header or "").split(","):
        tag = part.split(";", 1)[0].strip().lower()
        primary = tag.split("-", 1)[0]
        if primary not in LANGUAGES:
            continue
        q = _quality(part)
        if q > 0.0 and (best is None or q > best[0]):
            best = (q, primary)
    return DEFAULT_LANG if best is None else best[1]


def choose(query: Lang | None, accept_language: str | None) -> Lang:
    return query if query is not None else from_accept_language(accept_language)


def language_headers(lang: Lang) -> dict[str, str]:
    return {CONTENT_LANGUAGE: lang}
