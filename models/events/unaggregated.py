"""Site-months that have events but cannot be aggregated.

``site_months`` has a row for site *s* and month *m* only when *s* has attendance in
*m* (the event contract). Alerts, alarms, device-days and tickets found or due in a
month without attendance are valid events, but no row holds what they say: they are
not dropped silently, each such site-month is named with what it holds. Months after
the folder's last month with attendance are not named: their attendance has not come
yet (a ticket due next month), and an incremental run aggregates them when it does.
"""

from __future__ import annotations

from typing import Final

from models.events.load import EventsFolder

DEFAULT_LIMIT: Final = 20

_QUERY: Final = """
WITH
attended AS (
    SELECT DISTINCT site_id, CAST(date_trunc('month', date) AS DATE) AS m FROM attendance
),
held AS (
    SELECT site_id, CAST(date_trunc('month', ts) AS DATE) AS m, 'video_events' AS what
    FROM video_events
    UNION ALL
    SELECT site_id, CAST(date_trunc('month', ts) AS DATE), 'device_events' FROM device_events
    UNION ALL
    SELECT site_id, CAST(date_trunc('month', date) AS DATE), 'device_days' FROM device_days
    UNION ALL
    SELECT site_id, CAST(date_trunc('month', found_on) AS DATE), 'hazard_tickets found'
    FROM hazard_tickets
    UNION ALL
    SELECT site_id, CAST(date_trunc('month', deadline) AS DATE), 'hazard_tickets due'
    FROM hazard_tickets
),
lost AS (
    SELECT h.site_id, h.m, h.what, count(*) AS n
    FROM held h ANTI JOIN attended a ON a.site_id = h.site_id AND a.m = h.m
    WHERE h.m <= (SELECT max(m) FROM attended)
      AND (? IS NULL OR strftime(h.m, '%Y-%m') >= ?)
      AND (? IS NULL OR strftime(h.m, '%Y-%m') <= ?)
    GROUP BY h.site_id, h.m, h.what
)
SELECT site_id, strftime(m, '%Y-%m') AS month,
       string_agg(n || ' ' || what, ', ' ORDER BY what) AS held,
       count(*) OVER () AS total
FROM lost
GROUP BY site_id, m
ORDER BY site_id, month
LIMIT ?
"""


def unaggregated_months(
    events: EventsFolder,
    months: tuple[str | None, str | None] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[str]:
    """One line per site-month (within ``months``) that has events but no attendance,
    naming what it holds; at most ``limit`` lines and one that counts the rest."""
    first, last = months or (None, None)
    rows = events.con.execute(_QUERY, [first, first, last, last, limit]).fetchall()
    lines = [
        f"{site} {month}: {held} but no attendance, so no site_months row "
        "(the month cannot be aggregated)"
        for site, month, held, _ in rows
    ]
    total = int(rows[0][3]) if rows else 0
    if total > len(rows):
        lines.append(
            f"... and {total - len(rows):,} more site-months with events but no attendance"
        )
    return lines
