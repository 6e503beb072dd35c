"""A stored quote's answer read back as language-neutral facts.

Quotes are stored without their texts (:mod:`service.quotes.texts` writes them when
read). Quotes stored before that carry every label and sentence in both languages,
``{"zh": ..., "en": ...}``: those are dropped here, since the facts beside them say
the same and are rendered again, and a criterion's reason becomes its code. Replay
compares such a quote's stored texts with the facts rendered in both languages
(:func:`legacy_texts`).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from models.pricing.incentives import NOT_EVALUABLE
from service.quotes.schemas import QuoteResponse

# A reason's Chinese sentence as quotes stored before carried it -> its code.
_REASON_CODES: Final = {f"无法评估：{zh}": code for code, (zh, _) in NOT_EVALUABLE.items()}


def is_bilingual(body: Any) -> bool:
    """Whether a stored answer carries its texts in both languages (stored before
    quotes were stored as facts): its explanation's note is a {zh, en} object."""
    explanation = body.get("explanation") if isinstance(body, dict) else None
    return isinstance(explanation, dict) and isinstance(explanation.get("note"), dict)


def stored_answer(body: Any) -> QuoteResponse:
    """The stored answer as facts, whichever release stored it."""
    if is_bilingual(body):
        body = _without_texts(body)
    return msgspec.convert(body, QuoteResponse)


def _is_text(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"zh", "en"}


def _without_texts(value: Any) -> Any:
    if isinstance(value, list):
        return [_without_texts(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, v in value.items():
        if key == "reason" and _is_text(v):
            out["reason_code"] = _REASON_CODES.get(v["zh"], "unknown")
        elif _is_text(v):
            out[key] = None
        else:
            out[key] = _without_texts(v)
    return out
