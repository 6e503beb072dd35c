"""Request hashes (``Item.hashes``): what an idempotent retry and a stored quote are
matched by. Fields added to the API later leave them unchanged while empty."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import service.quotes as quotes_package
from service.quotes.idempotency import body_hash
from service.quotes.intake import claims_known, read_item

EXAMPLES = Path(quotes_package.__file__).parent / "openapi_examples.json"


def _body() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(EXAMPLES.read_text())[0]
    return body


# The shipped example's request hash as every release before other_claims and
# safety_awards stored it (computed with d5e62e4's code): retries and stored quotes from
# before still match. If the example file changes, recompute it with that commit.
BEFORE = "3b2918b04dcded809432e1b7b8128d446d71a416fea72ced5d05cd4fe132cb61"


def test_empty_later_fields_hash_as_if_they_did_not_exist() -> None:
    body = _body()
    assert read_item(body).hashes() == (BEFORE, BEFORE)
    assert "other_claims" not in body
    assert "safety_awards" not in body["policy"]
    explicit = copy.deepcopy(body)
    explicit["other_claims"] = []
    explicit["policy"]["safety_awards"] = []
    assert read_item(explicit).hashes() == read_item(body).hashes()


def test_later_fields_with_content_change_the_hashes() -> None:
    body = _body()
    plain = read_item(body).hashes()
    others = copy.deepcopy(body)
    others["other_claims"] = [{"incident_date": "2024-01-05", "severity": "minor_injury"}]
    awarded = copy.deepcopy(body)
    awarded["policy"]["safety_awards"] = [{"level": "city", "awarded_on": "2024-06-01"}]
    request_hashes = {read_item(b).hashes()[0] for b in (body, others, awarded)}
    assert len(request_hashes) == 3
    # reordered months are the same input, not the same request
    shuffled = copy.deepcopy(body)
    shuffled["months"].reverse()
    assert len(body["months"]) > 1
    again = read_item(shuffled).hashes()
    assert again[1] == plain[1]
    assert again[0] != plain[0]


def test_claims_left_out_hash_as_the_empty_list_they_were_read_as() -> None:
    """Before claims could be left out (UNSET), a request without them was read, stored
    and hashed with ``claims: []``: it keeps that hash. Sending them empty says more
    (the claims are known: none) and the stored body keeps the difference; an idempotent
    retry is matched on the raw body, which differs too."""
    body = _body()
    absent = {k: v for k, v in body.items() if k != "claims"}
    empty = {**absent, "claims": []}
    left_out, sent_empty = read_item(absent), read_item(empty)
    assert left_out.hashes() == sent_empty.hashes()
    assert left_out.hashes() != read_item(body).hashes()
    assert (claims_known(left_out.request), claims_known(sent_empty.request)) == (False, True)
    assert "claims" not in left_out.body()
    assert sent_empty.body()["claims"] == []
    assert body_hash("/v1/quotes", absent) != body_hash("/v1/quotes", empty)


def test_reordered_claims_are_the_same_input_not_the_same_request() -> None:
    """Rows sent in canonical order hash once for both; reordered, the input hash is
    still that of the canonical order."""
    body = _body()
    assert len(body["claims"]) > 1
    shuffled = copy.deepcopy(body)
    shuffled["claims"].reverse()
    request_hash, input_hash = read_item(shuffled).hashes()
    assert input_hash == BEFORE
    assert request_hash != BEFORE
