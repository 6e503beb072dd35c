"""Grouped pricing (service.quotes.price_groups): requests that queue while one is being
priced are priced together in one call, each answer exactly what pricing it alone
gives; a bad request, a failing call or a passed deadline fails only its own request;
other insurers and other models get calls of their own."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient
from quote_helpers import ModelStore, request_for, sites_with_history
from svc_helpers import bearer

from models.settings import Settings
from service.app import create_app
from service.errors import TimedOutError
from service.limits import Deadline
from service.model_provider import ModelSnapshot, RegistryModelProvider, StaticModelProvider
from service.quotes.intake import Item, read_item
from service.quotes.price_groups import PriceGroups
from service.quotes.pricing_service import FailedQuote, Outcome, PricedQuote, QuotePricer
from training.synth import World

pytestmark = pytest.mark.xdist_group("model")

START = "2025-07"


@pytest.fixture(scope="module")
def items(unseen_world: World) -> list[Item]:
    sites = sites_with_history(unseen_world, START)[:6]
    assert len(sites) == 6
    return [read_item(request_for(unseen_world, s, START)) for s in sites]


class GatedPricer(QuotePricer):
    """A pricer whose first call waits for ``gate``, and that records each call's
    site ids (and may fail a call that holds ``culprit``)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()  # the first call is waiting for the gate
        self.calls: list[list[str]] = []
        self.culprit: str | None = None

    def price(self, items: Sequence[Item], snapshot: ModelSnapshot, **kwargs: Any) -> list[Any]:
        if not self.calls:
            self.entered.set()
            assert self.gate.wait(60)
        sites = [_site(i) for i in items]
        self.calls.append(sites)
        if self.culprit in sites:
            raise RuntimeError(f"cannot price {self.culprit}")
        return super().price(items, snapshot, **kwargs)


Call = Callable[[], Outcome]


def _site(item: Item) -> str:
    site: Any = item.request.site
    return str(site.site_id)


def _concurrently(groups: PriceGroups, pricer: GatedPricer, calls: list[Call]) -> list[Any]:
    """Run ``calls`` in threads: the first leads and is held in the pricer until all
    the others have queued behind it. Each result is an outcome or the raised error."""
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    threads[0].start()
    assert pricer.entered.wait(60)
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 60
    while groups.waiting < len(calls) - 1:
        assert time.monotonic() < deadline, "the callers never queued"
        time.sleep(0.001)
    pricer.gate.set()
    for t in threads:
        t.join(120)
    return results


def _facts(outcome: Any) -> bytes:
    """A priced answer without what differs between any two pricings (id and time)."""
    assert isinstance(outcome, PricedQuote), outcome
    answer = msgspec.structs.replace(outcome.response, quote_id="", created_at=None)
    return msgspec.json.encode(answer)


def _alone(snapshot: ModelSnapshot, item: Item) -> bytes:
    (outcome,) = QuotePricer().price([item], snapshot)
    return _facts(outcome)


def _call(
    groups: PriceGroups,
    item: Item,
    snapshot: ModelSnapshot,
    *,
    deadline: Deadline | None = None,
    books_key: str | None = None,
) -> Call:
    return lambda: groups.price(
        item, snapshot, deadline=deadline or Deadline.after(120), books_key=books_key
    )


def test_requests_queued_meanwhile_are_priced_in_one_call_each_as_if_alone(
    snapshot: ModelSnapshot, items: list[Item]
) -> None:
    pricer = GatedPricer()
    groups = PriceGroups(pricer)
    results = _concurrently(groups, pricer, [_call(groups, i, snapshot) for i in items])
    sites = [_site(i) for i in items]
    # the first alone, at once; the five that queued meanwhile in one call, in order
    assert pricer.calls == [sites[:1], sites[1:]]
    assert (groups.calls, groups.priced) == (2, 6)
    assert [_facts(r) for r in results] == [_alone(snapshot, i) for i in items]


def test_a_bad_request_fails_alone_in_its_group(snapshot: ModelSnapshot, items: list[Item]) -> None:
    bad = dataclasses.replace(
        items[2],
        request=msgspec.structs.replace(
            items[2].request,
            policy=msgspec.structs.replace(items[2].request.policy, start_month="2031-01"),
        ),
    )
    batch = [*items[:2], bad, *items[3:]]
    pricer = GatedPricer()
    groups = PriceGroups(pricer)
    results = _concurrently(groups, pricer, [_call(groups, i, snapshot) for i in batch])
    assert len(pricer.calls) == 2
    failed = results[2]
    assert isinstance(failed, FailedQuote)
    assert [f.field for f in failed.error.fields] == ["policy.start_month"]
    others = [r for k, r in enumerate(results) if k != 2]
    assert [_facts(r) for r in others] == [
        _alone(snapshot, i) for k, i in enumerate(batch) if k != 2
    ]


def test_a_call_that_raises_is_repeated_one_by_one_so_only_its_culprit_fails(
    snapshot: ModelSnapshot, items: list[Item]
) -> None:
    pricer = GatedPricer()
    culprit = _site(items[3])
    pricer.culprit = culprit
    groups = PriceGroups(pricer)
    results = _concurrently(groups, pricer, [_call(groups, i, snapshot) for i in items])
    sites = [_site(i) for i in items]
    # the group's call failed; then each of its requests was priced alone
    assert pricer.calls == [sites[:1], sites[1:], *([s] for s in sites[1:])]
    assert isinstance(results[3], RuntimeError)
    assert culprit in str(results[3])
    assert [_facts(r) for k, r in enumerate(results) if k != 3] == [
        _alone(snapshot, i) for k, i in enumerate(items) if k != 3
    ]


def test_a_request_past_its_deadline_gets_its_timeout_though_its_group_was_priced(
    snapshot: ModelSnapshot, items: list[Item]
) -> None:
    pricer = GatedPricer()
    groups = PriceGroups(pricer)
    passed = Deadline(at=time.monotonic() - 1.0, seconds=2.0)
    calls = [
        _call(groups, item, snapshot, deadline=passed if k == 4 else None)
        for k, item in enumerate(items)
    ]
    results = _concurrently(groups, pricer, calls)
    assert len(pricer.calls) == 2  # priced under the group's latest deadline
    assert isinstance(results[4], TimedOutError)
    assert all(isinstance(r, PricedQuote) for k, r in enumerate(results) if k != 4)


def test_other_insurers_and_other_models_get_calls_of_their_own(
    snapshot: ModelSnapshot, model_store: ModelStore, items: list[Item]
) -> None:
    other_model = StaticModelProvider(model_store.bundle, name="site-risk").current()
    assert other_model is not None
    assert other_model is not snapshot
    pricer = GatedPricer()
    groups = PriceGroups(pricer)
    owners: list[tuple[ModelSnapshot, str | None]] = [
        (snapshot, "A"),  # the leader, alone
        (snapshot, "B"),
        (snapshot, "A"),
        (other_model, "B"),
        (snapshot, "B"),
        (snapshot, None),
    ]
    calls = [
        _call(groups, item, model, books_key=key)
        for item, (model, key) in zip(items, owners, strict=True)
    ]
    results = _concurrently(groups, pricer, calls)
    sites = [_site(i) for i in items]
    # each next group is the first queued request's, with every later one it can join
    assert pricer.calls == [[sites[0]], [sites[1], sites[4]], [sites[2]], [sites[3]], [sites[5]]]
    assert all(isinstance(r, PricedQuote) for r in results)


def test_the_apps_single_quotes_are_priced_through_its_groups_unless_turned_off(
    quote_settings: Settings, unseen_world: World, issue_key: Any
) -> None:
    site = sites_with_history(unseen_world, START)[0]
    body = request_for(unseen_world, site, START)
    key = issue_key("insurer", insurer_id="INS-P").key
    for on in (True, False):
        settings = quote_settings.model_copy(update={"group_pricing": on})
        app = create_app(settings, model_provider=RegistryModelProvider(settings))
        with TestClient(app) as client:
            answer = client.post("/v1/quotes", json=body, headers=bearer(key))
            assert answer.status_code == 201, answer.text
            groups = app.state.get("price_groups")
        if on:
            assert isinstance(groups, PriceGroups)
            assert (groups.calls, groups.priced) == (1, 1)
        else:
            assert groups is None
