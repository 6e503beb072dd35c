"""The synthetic world's raw events (``siterisk data generate --events``).

The world of :mod:`training.synth.world` decides, per site-month, how many people work,
how many hours, which stage, and the rates its hidden safety culture implies (alerts,
their closure, hazards, rectification, new workers, training, device uptime). Here that
behaviour is acted out as the event contract's rows (``docs/events.md``): a crew that
comes and goes on working days, training records given when people arrive, cameras and
monitors that report every day, alerts with their closing times, hazard tickets with
deadlines and rectification, alarms and weather warnings. The monthly table is then
*computed* from these events by the one aggregation (``models/events/site_months.sql``),
never written a second way: a month's ``training_coverage`` is what its workers' records
give, a rectification rate is that of the tickets due in the month, and so on.

``workforce_scale`` thins the crowd for tests and demos: a crew of ``scale`` × the
world's daily workers attends (at least one person in a working month), and AI-video
alerts, which the world draws per attended hour, are thinned the same way. Claims and
the truth are the world's as drawn, so the claim rate per attended hour is ``1/scale``
times the world's. With the default 1.0 nothing is thinned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from models.contract import spec as contract_spec
from models.events import spec
from training.synth.world import Simulation
from training.synth.write import TRUTH_TABLE, Format, write_frame

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

EVENTS_FOLDER: Final = "events"
# The events draw from a stream of their own, after the world's seven: the world is the
# same with or without its events.
_STREAM: Final = 7
_WORLD_STREAMS: Final = 8

# Assumptions of the event layer (the world's parameters are in params.py).
MOVER_SHARE: Final = 0.3  # of a month's newcomers, share who worked at another site before
TRAINING_VALID_DAYS: Final = 365  # 三级教育 renewed yearly
TRAINING_LEAD_DAYS: Final = 3  # a course is given up to 3 days before the first day
HOURS_JITTER: Final = 0.1  # a worker-day's hours vary ±10% around the month's mean
ALERT_HOURS: Final = (7, 19)  # alerts are raised during the working day
LATE_CLOSE_SHARE: Final = 0.5  # an alert not closed in 24 h is closed later or stays open
MAJOR_GOVERNMENT_SHARE: Final = 0.1
DEADLINE_DAYS: Final = {"general": (3, 10), "major": (10, 30)}
LATE_RECTIFICATION_DAYS: Final = (1, 30)
SELF_SHARE: Final = 0.8  # self / insurer split of the site's own and the insurer's tickets
OFFLINE_DAY_FACTOR: Final = 0.5  # a device is off all day with probability 0.5 x (1 - uptime)
CRANE_KIND_SHARES: Final = (0.5, 0.3, 0.2)  # overload, collision, wind
STRUCTURAL_KIND_SHARES: Final = (0.5, 0.5)  # deep excavation, high formwork
CAMERAS_BY_VALUE: Final = (3e8, 1e9)  # one camera, a second from 300m, a third from 1bn CNY


@dataclass(frozen=True, slots=True)
class Events:
    """The event tables, in the contract's columns (dates as ``date32``, timestamps as
    naive ``timestamp[s]`` on the Shanghai wall clock)."""

    tables: dict[str, pa.Table]

    def rows(self) -> dict[str, int]:
        return {name: table.num_rows for name, table in self.tables.items()}


@dataclass(frozen=True, slots=True)
class _Days:
    """The working days each row's crew attends, flattened: row r's days are
    ``day[start[r] : start[r] + count[r]]`` (days since 1970-01-01)."""

    day: IntArray
    start: IntArray
    count: IntArray

    def pick(self, rng: np.random.Generator, row: IntArray) -> IntArray:
        """One attended day of each given row, uniformly."""
        within = np.floor(rng.random(row.size) * self.count[row]).astype(np.int64)
        out: IntArray = self.day[self.start[row] + within]
        return out


def _expand(counts: IntArray) -> tuple[IntArray, IntArray]:
    """For counts per parent: each child's parent and its index within the parent."""
    parent = np.repeat(np.arange(counts.size), counts)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return parent, np.arange(parent.size) - offsets


def _ids(prefix: str, n: int) -> pa.Array:
    width = max(8, len(str(n)))
    return pa.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], type=pa.string())


def _dates(days: IntArray) -> pa.Array:
    return pa.array(days.astype("datetime64[D]"), type=pa.date32())


def _stamps(seconds: IntArray, valid: BoolArray | None = None) -> pa.Array:
    values = seconds.astype("datetime64[s]")
    mask = None if valid is None else ~valid
    return pa.array(values, type=pa.timestamp("s"), mask=mask)


def _table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
    order = [c.name for c in spec.TABLES[name]]
    assert list(columns) == order, (name, list(columns))
    return pa.table(columns)


def generate_events(sim: Simulation, workforce_scale: float = 1.0) -> Events:
    """The raw events of a simulated world (see the module's docstring)."""
    if not 0.0 < workforce_scale <= 1.0:
        raise ValueError("workforce_scale must be in (0, 1]")
    seq = np.random.SeedSequence(sim.seed).spawn(_WORLD_STREAMS)[_STREAM]
    rng = np.random.default_rng(seq)
    rows, sites, cal, obs = sim.rows, sim.sites, sim.cal, sim.obs
    site_ids = np.array(sim.site_ids, dtype=object)

    month_first = (
        (cal.first_abs + rows.t).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    )
    dim = cal.days[rows.t]
    first_day = np.where(rows.project_start, sites.start_day[rows.site], 1)
    available = dim - first_day + 1
    active = rows.workers > 0
    crew = np.where(active, np.maximum(1, np.round(workforce_scale * rows.workers)), 0)
    crew = crew.astype(np.int64)
    n_days = np.where(active, np.clip(np.round(rows.work_days), 1, available), 0).astype(np.int64)
    last_abs = cal.first_abs + len(cal.labels)
    window_end = int(np.datetime64(int(last_abs), "M").astype("datetime64[D]").astype(np.int64))
    window_end_s = window_end * 86400 - 1

    days = _working_days(rng, month_first, first_day, available, n_days)
    tables: dict[str, pa.Table] = {}
    tables["site_stages"] = _stages(sim, site_ids, month_first, first_day)
    tables["attendance"], tables["training_records"] = _attendance(rng, sim, days, crew, site_ids)
    sensor = np.asarray(obs["_sensor"], dtype=np.bool_) & active
    tables["video_events"] = _video(rng, sim, days, sensor, workforce_scale, site_ids, window_end_s)
    hazard = np.asarray(obs["_hazard"], dtype=np.bool_) & active
    tables["hazard_tickets"] = _tickets(rng, sim, days, hazard, active, site_ids, window_end)
    tables["device_events"] = _alarms(rng, sim, sensor, month_first, first_day, available, site_ids)
    tables["device_days"] = _device_days(
        rng, sim, sensor, active, month_first, first_day, available, site_ids
    )
    tables["weather_warnings"] = _weather(rng, sim)
    return Events({name: tables[name] for name in spec.TABLES})


def _working_days(
    rng: np.random.Generator,
    month_first: IntArray,
    first_day: IntArray,
    available: IntArray,
    n_days: IntArray,
) -> _Days:
    """``n_days`` distinct days of each row's month, from its first available day."""
    start = np.cumsum(n_days) - n_days
    out = np.empty(int(n_days.sum()), dtype=np.int64)
    for r in np.flatnonzero(n_days):
        chosen = np.sort(rng.choice(int(available[r]), size=int(n_days[r]), replace=False))
        out[start[r] : start[r] + n_days[r]] = month_first[r] + first_day[r] - 1 + chosen
    return _Days(out, start.astype(np.int64), n_days)


def _stages(
    sim: Simulation, site_ids: npt.NDArray[np.object_], month_first: IntArray, first_day: IntArray
) -> pa.Table:
    """A row whenever the world's stage changes, from the first of that month (from the
    start day in a site's first month): each month's stage is the world's."""
    site, stage = sim.rows.site, sim.rows.stage
    change = np.r_[True, (site[1:] != site[:-1]) | (stage[1:] != stage[:-1])]
    from_day = month_first + np.where(sim.rows.project_start, first_day - 1, 0)
    idx = np.flatnonzero(change)
    names = np.array(contract_spec.STAGES, dtype=object)
    return _table(
        "site_stages",
        {
            "site_id": pa.array(site_ids[site[idx]], type=pa.string()),
            "stage": pa.array(names[stage[idx]], type=pa.string()),
            "from_date": _dates(from_day[idx]),
        },
    )


def _attendance(
    rng: np.random.Generator,
    sim: Simulation,
    days: _Days,
    crew: IntArray,
    site_ids: npt.NDArray[np.object_],
) -> tuple[pa.Table, pa.Table]:
    """Crews month by month: a share of each month's crew is new to the site (the
    world's ``new_worker_share``), some of them workers another site let go; the
    rest stay from the month before. Training records are given to newcomers and
    renewed so that the share of the crew covered on its first day of the month
    reaches the world's ``training_coverage`` in months the site uploads them."""
    rows, obs = sim.rows, sim.obs
    new_share = np.asarray(obs["new_worker_share"], dtype=np.float64)
    coverage = np.asarray(obs["training_coverage"], dtype=np.float64)
    uploads = np.asarray(obs["_attendance"], dtype=np.bool_)
    order = np.lexsort((rows.site, rows.t))
    current: dict[int, IntArray] = {}
    seen: dict[int, set[int]] = {}
    pool: list[int] = []
    valid_until: dict[int, int] = {}
    next_worker = 0
    att_rows: list[IntArray] = []
    att_workers: list[IntArray] = []
    att_days: list[IntArray] = []
    trained: list[tuple[int, int, int]] = []  # worker, row, completed day
    for r in order:
        k = int(crew[r])
        if k == 0:
            continue
        s = int(rows.site[r])
        before = current.get(s, np.empty(0, dtype=np.int64))
        history = seen.setdefault(s, set())
        n_new = max(round(float(new_share[r]) * k), k - before.size)
        stay = rng.choice(before, size=k - n_new, replace=False) if k > n_new else before[:0]
        pool.extend(int(w) for w in np.setdiff1d(before, stay))
        movers: list[int] = []
        for _ in range(int(rng.binomial(n_new, MOVER_SHARE))):
            if not pool:
                break
            w = pool.pop(int(rng.integers(len(pool))))
            if w not in history:
                movers.append(w)
        fresh = np.arange(next_worker, next_worker + n_new - len(movers), dtype=np.int64)
        next_worker += fresh.size
        newcomers = np.concatenate([np.array(movers, dtype=np.int64), fresh])
        members = np.concatenate([stay.astype(np.int64), newcomers])
        current[s] = members
        history.update(int(w) for w in newcomers)
        month_days = days.day[days.start[r] : days.start[r] + days.count[r]]
        first = int(month_days[0])
        if uploads[r]:
            covered = sum(valid_until.get(int(w), -1) >= first for w in members)
            need = round(float(coverage[r]) * k) - covered
            # newcomers first (三级教育 on arrival), then those whose record lapsed
            for w in members[::-1]:
                if need <= 0:
                    break
                if valid_until.get(int(w), -1) < first:
                    done = first - int(rng.integers(0, TRAINING_LEAD_DAYS + 1))
                    valid_until[int(w)] = done + TRAINING_VALID_DAYS
                    trained.append((int(w), int(r), done))
                    need -= 1
        att_rows.append(np.full(k * month_days.size, r, dtype=np.int64))
        att_workers.append(np.tile(members, month_days.size))
        att_days.append(np.repeat(month_days, k))
    row = np.concatenate(att_rows) if att_rows else np.empty(0, dtype=np.int64)
    worker = np.concatenate(att_workers) if att_workers else row
    day = np.concatenate(att_days) if att_days else row
    jitter = rng.uniform(1.0 - HOURS_JITTER, 1.0 + HOURS_JITTER, row.size)
    hours = np.clip(np.round(rows.hours_per_day[row] * jitter, 1), 0.5, 24.0)
    attendance = _table(
        "attendance",
        {
            "site_id": _site_ids(site_ids, rows.site[row]),
            "worker_id": _worker_ids(worker),
            "date": _dates(day),
            "hours": pa.array(hours, type=pa.float64()),
        },
    )
    t_worker = np.array([w for w, _, _ in trained], dtype=np.int64)
    t_row = np.array([r for _, r, _ in trained], dtype=np.int64)
    t_day = np.array([d for _, _, d in trained], dtype=np.int64)
    training = _table(
        "training_records",
        {
            "worker_id": _worker_ids(t_worker),
            "site_id": pa.array(site_ids[rows.site[t_row]], type=pa.string()),
            "completed_on": _dates(t_day),
            "valid_until": _dates(t_day + TRAINING_VALID_DAYS),
        },
    )
    return attendance, training


def _worker_ids(worker: IntArray) -> pa.Array:
    import pyarrow.compute as pc

    numbers = pa.array(worker + 1, type=pa.int64()).cast(pa.string())
    ids: pa.Array = pc.binary_join_element_wise("W", pc.utf8_lpad(numbers, 8, "0"), "")
    return ids


def _site_ids(site_ids: npt.NDArray[np.object_], site: IntArray) -> pa.Array:
    """The site ids of many rows, taken in Arrow (no Python string per row)."""
    taken: pa.Array = pa.array(site_ids, type=pa.string()).take(pa.array(site))
    return taken


def _video(
    rng: np.random.Generator,
    sim: Simulation,
    days: _Days,
    sensor: BoolArray,
    scale: float,
    site_ids: npt.NDArray[np.object_],
    window_end_s: int,
) -> pa.Table:
    """The world's alert counts (thinned with the workforce) on attended days, closed
    within 24 h at the world's closure rate; the rest closed later or left open."""
    obs, sites, rows = sim.obs, sim.sites, sim.rows
    parts = []
    for code, name in enumerate(spec.VIDEO_KINDS):
        count = np.where(sensor, np.asarray(obs[f"ai_alerts_{name}"], dtype=np.int64), 0)
        count = rng.binomial(count, scale) if scale < 1.0 else count
        row, _ = _expand(count.astype(np.int64))
        parts.append((row, np.full(row.size, code, dtype=np.int64)))
    row = np.concatenate([p[0] for p in parts])
    kind = np.concatenate([p[1] for p in parts])
    day = days.pick(rng, row)
    ts = day * 86400 + rng.integers(ALERT_HOURS[0] * 3600, ALERT_HOURS[1] * 3600, row.size)
    closure = np.asarray(obs["alert_closure_rate"], dtype=np.float64)[row]
    in_time = rng.random(row.size) < closure
    late = ~in_time & (rng.random(row.size) < LATE_CLOSE_SHARE)
    closed = np.where(
        in_time,
        ts + rng.integers(300, 86400, row.size),
        ts + rng.integers(86401, 4 * 86400, row.size),
    )
    is_closed = (in_time | late) & (closed <= window_end_s)
    cameras = _cameras(sites.value[rows.site[row]])
    camera = np.floor(rng.random(row.size) * cameras).astype(np.int64) + 1
    site = site_ids[rows.site[row]]
    order = np.lexsort((ts, row))
    return _table(
        "video_events",
        {
            "event_id": _ids("V", row.size),
            "site_id": pa.array(site[order], type=pa.string()),
            "device_id": pa.array(
                [f"{s}-CAM{c}" for s, c in zip(site[order], camera[order], strict=True)],
                type=pa.string(),
            ),
            "ts": _stamps(ts[order]),
            "kind": pa.array(np.array(spec.VIDEO_KINDS, dtype=object)[kind[order]]),
            "closed_at": _stamps(closed[order], is_closed[order]),
        },
    )


def _cameras(value: FloatArray) -> IntArray:
    out: IntArray = np.ones(value.size, dtype=np.int64)
    for threshold in CAMERAS_BY_VALUE:
        out += value >= threshold
    return out


def _tickets(
    rng: np.random.Generator,
    sim: Simulation,
    days: _Days,
    hazard: BoolArray,
    active: BoolArray,
    site_ids: npt.NDArray[np.object_],
    window_end: int,
) -> pa.Table:
    """The world's hazards (self or insurer, in months the site reports them) and
    government findings, found on attended days; rectified by the deadline at the
    world's rectification rate, otherwise late or still open at the window's end."""
    obs, rows = sim.obs, sim.rows
    found = np.where(hazard, np.asarray(obs["hazards_found"], dtype=np.int64), 0)
    major = np.where(hazard, np.asarray(obs["major_hazards"], dtype=np.int64), 0)
    government = np.where(active, np.asarray(obs["inspection_violations"], dtype=np.int64), 0)
    own_row, own_i = _expand(found)
    gov_row, _ = _expand(government)
    row = np.concatenate([own_row, gov_row])
    n_own = own_row.size
    source = np.where(rng.random(n_own) < SELF_SHARE, 0, 1)
    source = np.concatenate([source, np.full(gov_row.size, 2)])
    is_major = np.concatenate(
        [own_i < major[own_row], rng.random(gov_row.size) < MAJOR_GOVERNMENT_SHARE]
    )
    found_on = days.pick(rng, row)
    low = np.where(is_major, DEADLINE_DAYS["major"][0], DEADLINE_DAYS["general"][0])
    high = np.where(is_major, DEADLINE_DAYS["major"][1], DEADLINE_DAYS["general"][1])
    deadline = found_on + rng.integers(low, high + 1)
    rate = np.asarray(obs["hazard_rectification_rate"], dtype=np.float64)[row]
    on_time = rng.random(row.size) < rate
    late = LATE_RECTIFICATION_DAYS
    rectified = np.where(
        on_time,
        found_on + np.floor(rng.random(row.size) * (deadline - found_on + 1)).astype(np.int64),
        deadline + rng.integers(late[0], late[1] + 1, row.size),
    )
    order = np.lexsort((found_on, row))
    sources = np.array(spec.SOURCES, dtype=object)
    levels = np.array(spec.LEVELS, dtype=object)
    return _table(
        "hazard_tickets",
        {
            "ticket_id": _ids("T", row.size),
            "site_id": pa.array(site_ids[rows.site[row[order]]], type=pa.string()),
            "found_on": _dates(found_on[order]),
            "source": pa.array(sources[source[order]], type=pa.string()),
            "level": pa.array(levels[is_major[order].astype(np.int64)], type=pa.string()),
            "deadline": _dates(deadline[order]),
            "rectified_on": pa.array(
                rectified[order].astype("datetime64[D]"),
                type=pa.date32(),
                mask=~(rectified[order] < window_end),
            ),
        },
    )


def _alarms(
    rng: np.random.Generator,
    sim: Simulation,
    sensor: BoolArray,
    month_first: IntArray,
    first_day: IntArray,
    available: IntArray,
    site_ids: npt.NDArray[np.object_],
) -> pa.Table:
    """The world's crane warnings and structural alarms, any hour of the month, from
    sites whose monitors report that month."""
    obs, rows, sites = sim.obs, sim.rows, sim.sites
    cranes = sites.cranes[rows.site]
    works = sites.hazardous[rows.site]
    crane_n = np.where(sensor & (cranes > 0), np.asarray(obs["crane_warnings"], np.int64), 0)
    struct_n = np.where(sensor & (works > 0), np.asarray(obs["structural_alarms"], np.int64), 0)
    c_row, _ = _expand(crane_n)
    s_row, _ = _expand(struct_n)
    c_kind = rng.choice(len(spec.CRANE_KINDS), size=c_row.size, p=CRANE_KIND_SHARES)
    s_kind = len(spec.CRANE_KINDS) + rng.choice(
        len(spec.STRUCTURAL_KINDS), size=s_row.size, p=STRUCTURAL_KIND_SHARES
    )
    row = np.concatenate([c_row, s_row])
    kind = np.concatenate([c_kind, s_kind]).astype(np.int64)
    day = month_first[row] + first_day[row] - 1
    day += np.floor(rng.random(row.size) * available[row]).astype(np.int64)
    ts = day * 86400 + rng.integers(0, 86400, row.size)
    crane_no = np.floor(rng.random(row.size) * np.maximum(cranes[row], 1)).astype(np.int64) + 1
    site = site_ids[rows.site[row]]
    is_crane = kind < len(spec.CRANE_KINDS)
    device = [
        f"{s}-CRANE{c}" if k else f"{s}-STRUCT"
        for s, c, k in zip(site, crane_no, is_crane, strict=True)
    ]
    order = np.lexsort((ts, row))
    return _table(
        "device_events",
        {
            "event_id": _ids("A", row.size),
            "site_id": pa.array(site[order], type=pa.string()),
            "device_id": pa.array(np.array(device, dtype=object)[order], type=pa.string()),
            "ts": _stamps(ts[order]),
            "kind": pa.array(
                np.array(spec.DEVICE_EVENT_KINDS, dtype=object)[kind[order]], type=pa.string()
            ),
        },
    )


def _device_days(
    rng: np.random.Generator,
    sim: Simulation,
    sensor: BoolArray,
    active: BoolArray,
    month_first: IntArray,
    first_day: IntArray,
    available: IntArray,
    site_ids: npt.NDArray[np.object_],
) -> pa.Table:
    """Every registered device reports every day of a working month: the attendance
    gate always; cameras, one monitor per tower crane and a structural monitor in
    months the site's sensors report. A device is off all day now and then (more
    often when the month's uptime is low) and otherwise online so that the month's
    uptime is the world's ``device_online_rate``."""
    obs, rows, sites = sim.obs, sim.rows, sim.sites
    site = rows.site
    kinds = {
        "attendance_gate": np.where(active, 1, 0),
        "camera": np.where(sensor, _cameras(sites.value[site]), 0),
        "crane_monitor": np.where(sensor, sites.cranes[site], 0),
        "structural_monitor": np.where(sensor & (sites.hazardous[site] > 0), 1, 0),
    }
    names = {"attendance_gate": "GATE", "camera": "CAM", "crane_monitor": "CRANE",
             "structural_monitor": "STRUCT"}  # fmt: skip
    frames = []
    for kind, count in kinds.items():
        row, i = _expand(count.astype(np.int64))
        one = kind in ("attendance_gate", "structural_monitor")
        labels = [
            f"{s}-{names[kind]}" if one else f"{s}-{names[kind]}{j + 1}"
            for s, j in zip(site_ids[site[row]], i.tolist(), strict=True)
        ]
        day_row, day_i = _expand(available[row])
        frames.append(
            pd.DataFrame(
                {
                    "row": row[day_row],
                    "device_id": np.array(labels, dtype=object)[day_row],
                    "day": month_first[row[day_row]] + first_day[row[day_row]] - 1 + day_i,
                    "kind": kind,
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True).sort_values(
        ["row", "day", "device_id"], kind="stable"
    )
    r = frame["row"].to_numpy()
    online = np.asarray(obs["device_online_rate"], dtype=np.float64)[r]
    offline_p = OFFLINE_DAY_FACTOR * (1.0 - online)
    minutes = np.minimum(1440, np.round(1440.0 * online / (1.0 - offline_p))).astype(np.int64)
    minutes = np.where(rng.random(r.size) < offline_p, 0, minutes)
    return _table(
        "device_days",
        {
            "site_id": _site_ids(site_ids, site[r]),
            "device_id": pa.array(frame["device_id"].to_numpy(), type=pa.string()),
            "date": _dates(frame["day"].to_numpy().astype(np.int64)),
            "kind": pa.array(frame["kind"].to_numpy(), type=pa.string()),
            "online_minutes": pa.array(minutes, type=pa.int64()),
        },
    )


def _weather(rng: np.random.Generator, sim: Simulation) -> pa.Table:
    """The world's severe-weather days per district and month as one warning a day:
    typhoons and heat in summer, rainstorms otherwise."""
    cal = sim.cal
    district: list[int] = []
    day: list[int] = []
    kind: list[int] = []
    for t in range(len(cal.labels)):
        first = int(np.datetime64(cal.first_abs + t, "M").astype("datetime64[D]").astype(np.int64))
        summer = int(cal.month_of_year[t]) in (6, 7, 8, 9)
        for d in range(sim.weather.shape[0]):
            n = int(sim.weather[d, t])
            if n == 0:
                continue
            chosen = np.sort(rng.choice(int(cal.days[t]), size=n, replace=False))
            district += [d] * n
            day += (first + chosen).tolist()
            kind += (rng.integers(0, 3, n) if summer else np.ones(n, dtype=np.int64)).tolist()
    districts = np.array(contract_spec.DISTRICTS, dtype=object)
    return _table(
        "weather_warnings",
        {
            "district": pa.array(districts[np.array(district, dtype=np.int64)], type=pa.string()),
            "date": _dates(np.array(day, dtype=np.int64)),
            "kind": pa.array(
                np.array(spec.WEATHER_KINDS, dtype=object)[np.array(kind, dtype=np.int64)],
                type=pa.string(),
            ),
        },
    )


def _iso_text(table: pa.Table) -> pa.Table:
    """Timestamps as ISO 8601 text with a ``T`` (pyarrow's CSV writer puts a space)."""
    import pyarrow.compute as pc

    for i, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type):
            text = pc.strftime(table.column(i), format="%Y-%m-%dT%H:%M:%S")
            table = table.set_column(i, column.name, text)
    return table


def write_events(events: Events, folder: Path, fmt: Format = "csv") -> list[Path]:
    """Write the event tables into ``folder`` as ``<table>.csv`` or ``.parquet``."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in events.tables.items():
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            pacsv.write_csv(_iso_text(table), path, pacsv.WriteOptions(quoting_style="needed"))
        else:
            pq.write_table(table, path, compression="zstd")
        paths.append(path)
    return paths


@dataclass(frozen=True, slots=True)
class WrittenEvents:
    """What :func:`write_world_events` wrote."""

    paths: list[Path]
    events: Events
    site_months: int


def write_world_events(
    sim: Simulation, out: Path, fmt: Format = "csv", workforce_scale: float = 1.0
) -> WrittenEvents:
    """Write the world's events folder into ``out/events`` (``sites``, ``claims`` and
    the event tables) and the contract folder into ``out``: ``sites`` and ``claims``
    as they are, ``site_months`` *aggregated from those events* by
    :func:`models.events.aggregate.aggregate_folder` (so always Parquet, as that
    writes it), and ``truth`` for the site-months the aggregation gives."""
    import pyarrow.parquet as pq

    from models.events.aggregate import aggregate_folder

    events = generate_events(sim, workforce_scale)
    folder = out / EVENTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    world = sim.world
    paths = [write_frame(world.sites, folder, "sites", fmt)]
    paths.append(write_frame(world.claims, folder, "claims", fmt))
    paths += write_events(events, folder, fmt)
    done = aggregate_folder(folder, out)
    table = pq.read_table(done.files["site_months"], columns=["site_id", "month"])
    keys = table.to_pandas()
    truth = world.truth.merge(keys, on=["site_id", "month"], how="inner")
    written = [done.files["sites"], done.files["site_months"], done.files["claims"]]
    written.append(write_frame(truth, out, TRUTH_TABLE, fmt))
    return WrittenEvents([*written, *paths], events, done.rows)
