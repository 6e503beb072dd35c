"""service.leader_groups: callers queued while a leader works are done as the next
group, led by the first of them; a group that fails wakes its callers with the error
and the queue still moves on."""

from __future__ import annotations

import threading
import time

import pytest

from service.leader_groups import LeaderGroups, Waiter


class Job(Waiter):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class Recorder(LeaderGroups[Job]):
    """Records each group by its jobs' names and the thread that did it; the first
    group waits for ``gate``; a group holding ``poison`` raises."""

    def __init__(self) -> None:
        super().__init__(max_group=3)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.groups: list[tuple[list[str], str]] = []
        self.poison: str | None = None

    def run(self, name: str) -> None:
        assert self._join(Job(name))

    def _do_group(self, group: list[Job]) -> None:
        if not self.groups:
            self.entered.set()
            assert self.gate.wait(30)
        names = [j.name for j in group]
        self.groups.append((names, threading.current_thread().name))
        if self.poison in names:
            raise RuntimeError(f"cannot do {self.poison}")
        for job in group:
            job.done = True


def _run_queued(groups: Recorder, names: list[str]) -> dict[str, BaseException | None]:
    """The first name leads and is held until the others have queued behind it."""
    errors: dict[str, BaseException | None] = {}

    def run(name: str) -> None:
        try:
            groups.run(name)
            errors[name] = None
        except Exception as exc:
            errors[name] = exc

    threads = {n: threading.Thread(target=run, args=(n,), name=n) for n in names}
    threads[names[0]].start()
    assert groups.entered.wait(30)
    for name in names[1:]:
        threads[name].start()
        while groups.waiting < names.index(name):  # queued in this order
            time.sleep(0.001)
    groups.gate.set()
    for t in threads.values():
        t.join(30)
    return errors


def test_queued_callers_are_done_in_groups_led_by_the_first_of_each() -> None:
    groups = Recorder()
    errors = _run_queued(groups, ["a", "b", "c", "d", "e"])
    assert errors == dict.fromkeys("abcde")
    # a alone at once; b, c and d (max_group 3) led by b; then e by itself
    assert groups.groups == [(["a"], "a"), (["b", "c", "d"], "b"), (["e"], "e")]
    assert groups.waiting == 0


def test_a_failing_group_wakes_its_callers_with_the_error_and_the_next_group_goes_on() -> None:
    groups = Recorder()
    groups.poison = "c"
    errors = _run_queued(groups, ["a", "b", "c", "d", "e"])
    assert [n for n, e in errors.items() if e is None] == ["a", "e"]
    assert {str(errors[n]) for n in "bcd"} == {"cannot do c"}
    assert groups.groups[-1] == (["e"], "e")


def test_nothing_is_queued_when_the_groups_do_not_accept() -> None:
    class Closed(Recorder):
        def _accepting(self) -> bool:
            return False

    closed = Closed()
    assert closed._join(Job("x")) is False
    assert closed.groups == []
    assert closed.waiting == 0


@pytest.mark.parametrize("count", [1, 7])
def test_lone_callers_one_after_another_each_lead_alone(count: int) -> None:
    groups = Recorder()
    groups.gate.set()
    for i in range(count):
        groups.run(str(i))
    assert groups.groups == [([str(i)], "MainThread") for i in range(count)]
