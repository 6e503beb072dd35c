-- site_months from the events: the event contract's "From events to site_months",
-- written once (docs/events.md). Reads the tables sites, site_stages, attendance,
-- training_records, video_events, hazard_tickets, device_events, device_days and
-- weather_warnings, typed as the contract says (dates as DATE, timestamps as naive
-- wall-clock TIMESTAMP). A month is keyed by its first day (m) and written YYYY-MM.
-- Every look-back (first attendance, training, the 90-day hazards window, tickets due
-- later) reads the whole folder; the caller filters the months asked for afterwards.
-- Counts and day counts are exact integers, worker-hours an exact decimal sum; a share
-- is one division of two integers, so engines and re-runs agree on it to the last bit. Written in the SQL that DuckDB and Spark SQL
-- both run (window functions, FILTER, CASE, INTERVAL n DAY, last_day, date_trunc, no
-- quoted identifiers): DuckDB runs this text as it is, Spark after the one mechanical
-- rewrite of models/events/spark_dialect.py (date_diff('day', a, b), which Spark spells
-- datediff(DAY, a, b)); docs/events-engines.md.
WITH
att AS (
    SELECT site_id, worker_id, date AS d, hours,
           CAST(date_trunc('month', date) AS DATE) AS m
    FROM attendance
),
-- a row exists when the site has attendance in the month
site_month AS (
    SELECT site_id, m,
           last_day(m) AS m_end,
           -- summed as exact decimals: a float sum depends on the order a parallel
           -- engine adds in, so two runs over the same events could differ in the last
           -- bits and a re-run would look like a correction (12 places: far below a
           -- double's precision at any month's total)
           sum(CAST(hours AS DECIMAL(38, 12))) AS worker_hours,
           count(*) AS attendance_rows,
           count(DISTINCT d) AS attendance_days,
           count(DISTINCT worker_id) AS workers
    FROM att
    GROUP BY site_id, m
),
-- stage: days of m per stage value in force; the first row's stage also covers the
-- days before it; ties go to the value whose latest period in m started later
stage_period AS (
    SELECT site_id, stage, from_date,
           CASE WHEN row_number() OVER (PARTITION BY site_id ORDER BY from_date) = 1
                THEN DATE '0001-01-01' ELSE from_date END AS period_start,
           coalesce(lead(from_date) OVER (PARTITION BY site_id ORDER BY from_date)
                    - INTERVAL 1 DAY, DATE '9999-12-31') AS period_end
    FROM site_stages
),
stage_days AS (
    SELECT sm.site_id, sm.m, p.stage,
           sum(date_diff('day', greatest(p.period_start, sm.m),
                         least(CAST(p.period_end AS DATE), sm.m_end)) + 1) AS days,
           max(p.from_date) AS latest
    FROM site_month sm
    JOIN stage_period p
      ON p.site_id = sm.site_id
     AND p.period_start <= sm.m_end
     AND CAST(p.period_end AS DATE) >= sm.m
    GROUP BY sm.site_id, sm.m, p.stage
),
stage_month AS (
    SELECT site_id, m, stage
    FROM (
        SELECT site_id, m, stage,
               row_number() OVER (PARTITION BY site_id, m ORDER BY days DESC, latest DESC) AS k
        FROM stage_days
    ) ranked
    WHERE k = 1
),
-- new workers: first attendance at the site in the whole folder
first_attendance AS (
    SELECT site_id, worker_id, CAST(date_trunc('month', min(d)) AS DATE) AS m
    FROM att
    GROUP BY site_id, worker_id
),
new_workers AS (
    SELECT site_id, m, count(*) AS new_workers
    FROM first_attendance
    GROUP BY site_id, m
),
-- training: a record at any site valid on the worker's first attendance at s in m
worker_month AS (
    SELECT site_id, worker_id, m, min(d) AS first_day
    FROM att
    GROUP BY site_id, worker_id, m
),
worker_training AS (
    SELECT w.site_id, w.m, w.worker_id,
           max(CASE WHEN t.completed_on <= w.first_day AND w.first_day <= t.valid_until
                    THEN 1 ELSE 0 END) AS covered,
           max(CASE WHEN t.completed_on <= last_day(w.m) THEN 1 ELSE 0 END) AS any_record
    FROM worker_month w
    LEFT JOIN training_records t ON t.worker_id = w.worker_id
    GROUP BY w.site_id, w.m, w.worker_id
),
training_month AS (
    SELECT site_id, m, sum(covered) AS covered, max(any_record) AS any_record
    FROM worker_training
    GROUP BY site_id, m
),
-- AI-video alerts
video_month AS (
    SELECT site_id, CAST(date_trunc('month', ts) AS DATE) AS m,
           count(*) AS alerts,
           count(*) FILTER (WHERE kind = 'ppe') AS ppe,
           count(*) FILTER (WHERE kind = 'intrusion') AS intrusion,
           count(*) FILTER (WHERE kind = 'fire') AS fire,
           count(*) FILTER (WHERE closed_at IS NOT NULL
                              AND closed_at <= ts + INTERVAL 24 HOUR) AS closed
    FROM video_events
    GROUP BY site_id, CAST(date_trunc('month', ts) AS DATE)
),
-- device registry by month: which kinds a site had, and uptime
device_month AS (
    SELECT site_id, CAST(date_trunc('month', date) AS DATE) AS m,
           count(*) AS device_days,
           sum(online_minutes) AS online_minutes,
           max(CASE WHEN kind = 'camera' THEN 1 ELSE 0 END) AS has_camera,
           max(CASE WHEN kind = 'crane_monitor' THEN 1 ELSE 0 END) AS has_crane_monitor,
           max(CASE WHEN kind = 'structural_monitor' THEN 1 ELSE 0 END) AS has_structural_monitor
    FROM device_days
    GROUP BY site_id, CAST(date_trunc('month', date) AS DATE)
),
alarm_month AS (
    SELECT site_id, CAST(date_trunc('month', ts) AS DATE) AS m,
           count(*) FILTER (WHERE substr(kind, 1, 6) = 'crane_') AS crane,
           count(*) FILTER (WHERE kind IN ('deep_excavation', 'high_formwork')) AS structural
    FROM device_events
    GROUP BY site_id, CAST(date_trunc('month', ts) AS DATE)
),
-- hazard tickets: found in m (self / insurer, government), due in m
found_month AS (
    SELECT site_id, CAST(date_trunc('month', found_on) AS DATE) AS m,
           count(*) FILTER (WHERE source IN ('self', 'insurer')) AS found,
           count(*) FILTER (WHERE source IN ('self', 'insurer') AND level = 'major') AS major,
           count(*) FILTER (WHERE source = 'government') AS government
    FROM hazard_tickets
    GROUP BY site_id, CAST(date_trunc('month', found_on) AS DATE)
),
first_inspection AS (
    SELECT site_id, min(found_on) AS first_found
    FROM hazard_tickets
    WHERE source IN ('self', 'insurer')
    GROUP BY site_id
),
due_month AS (
    SELECT site_id, CAST(date_trunc('month', deadline) AS DATE) AS m,
           count(*) AS due,
           count(*) FILTER (WHERE rectified_on IS NOT NULL AND rectified_on <= deadline) AS on_time
    FROM hazard_tickets
    GROUP BY site_id, CAST(date_trunc('month', deadline) AS DATE)
),
-- data completeness (数据测评): feeds delivered on the site's attendance days
attendance_day AS (
    SELECT DISTINCT site_id, m, d FROM att
),
device_day AS (
    SELECT site_id, date AS d,
           1 AS devices,
           max(CASE WHEN kind = 'camera' AND online_minutes > 0 THEN 1 ELSE 0 END) AS video,
           max(CASE WHEN kind = 'crane_monitor' AND online_minutes > 0 THEN 1 ELSE 0 END) AS crane,
           max(CASE WHEN kind = 'structural_monitor' AND online_minutes > 0
                    THEN 1 ELSE 0 END) AS structural
    FROM device_days
    GROUP BY site_id, date
),
hazard_day AS (
    SELECT DISTINCT a.site_id, a.d
    FROM attendance_day a
    JOIN hazard_tickets h
      ON h.site_id = a.site_id
     AND h.found_on <= a.d
     AND h.found_on >= a.d - INTERVAL 89 DAY
),
feed_month AS (
    SELECT a.site_id, a.m,
           count(*) AS days,
           sum(coalesce(dd.devices, 0)) AS devices,
           sum(coalesce(dd.video, 0)) AS video,
           sum(coalesce(dd.crane, 0)) AS crane,
           sum(coalesce(dd.structural, 0)) AS structural,
           count(hd.d) AS hazards
    FROM attendance_day a
    LEFT JOIN device_day dd ON dd.site_id = a.site_id AND dd.d = a.d
    LEFT JOIN hazard_day hd ON hd.site_id = a.site_id AND hd.d = a.d
    GROUP BY a.site_id, a.m
),
completeness AS (
    -- delivered on at least 80% of the attendance days: 5 x delivered >= 4 x days
    SELECT f.site_id, f.m,
           1
           + CASE WHEN 5 * f.devices >= 4 * f.days THEN 1 ELSE 0 END
           + CASE WHEN 5 * f.video >= 4 * f.days THEN 1 ELSE 0 END
           + CASE WHEN 5 * f.hazards >= 4 * f.days THEN 1 ELSE 0 END
           + CASE WHEN s.tower_cranes > 0 AND 5 * f.crane >= 4 * f.days THEN 1 ELSE 0 END
           + CASE WHEN s.hazardous_works > 0 AND 5 * f.structural >= 4 * f.days
                  THEN 1 ELSE 0 END AS delivered,
           4
           + CASE WHEN s.tower_cranes > 0 THEN 1 ELSE 0 END
           + CASE WHEN s.hazardous_works > 0 THEN 1 ELSE 0 END AS expected
    FROM feed_month f
    JOIN sites s ON s.site_id = f.site_id
),
weather_month AS (
    SELECT s.site_id, CAST(date_trunc('month', w.date) AS DATE) AS m,
           count(DISTINCT w.date) AS severe_days
    FROM weather_warnings w
    JOIN sites s ON s.district = w.district
    GROUP BY s.site_id, CAST(date_trunc('month', w.date) AS DATE)
)
SELECT
    sm.site_id,
    substr(CAST(sm.m AS STRING), 1, 7) AS month,
    st.stage,
    CAST(sm.worker_hours AS DOUBLE) AS worker_hours,
    CAST(sm.attendance_rows AS DOUBLE) / sm.attendance_days AS avg_daily_workers,
    CAST(coalesce(nw.new_workers, 0) AS DOUBLE) / sm.workers AS new_worker_share,
    CASE WHEN tm.any_record = 1 THEN CAST(tm.covered AS DOUBLE) / sm.workers END
        AS training_coverage,
    CASE WHEN dm.has_camera = 1 THEN coalesce(vm.ppe, 0) END AS ai_alerts_ppe,
    CASE WHEN dm.has_camera = 1 THEN coalesce(vm.intrusion, 0) END AS ai_alerts_intrusion,
    CASE WHEN dm.has_camera = 1 THEN coalesce(vm.fire, 0) END AS ai_alerts_fire,
    CASE WHEN vm.alerts > 0 THEN CAST(vm.closed AS DOUBLE) / vm.alerts END
        AS alert_closure_rate,
    CASE WHEN fi.first_found <= sm.m_end THEN coalesce(fm.found, 0) END AS hazards_found,
    CASE WHEN fi.first_found <= sm.m_end THEN coalesce(fm.major, 0) END AS major_hazards,
    CASE WHEN du.due > 0 THEN CAST(du.on_time AS DOUBLE) / du.due END
        AS hazard_rectification_rate,
    CASE WHEN dm.has_crane_monitor = 1 THEN coalesce(am.crane, 0) END AS crane_warnings,
    CASE WHEN dm.has_structural_monitor = 1 THEN coalesce(am.structural, 0) END
        AS structural_alarms,
    CASE WHEN dm.device_days > 0
         THEN CAST(dm.online_minutes AS DOUBLE) / (1440.0 * dm.device_days) END
        AS device_online_rate,
    CAST(c.delivered AS DOUBLE) / c.expected AS data_completeness,
    coalesce(fm.government, 0) AS inspection_violations,
    coalesce(wm.severe_days, 0) AS severe_weather_days
FROM site_month sm
LEFT JOIN stage_month st ON st.site_id = sm.site_id AND st.m = sm.m
LEFT JOIN new_workers nw ON nw.site_id = sm.site_id AND nw.m = sm.m
LEFT JOIN training_month tm ON tm.site_id = sm.site_id AND tm.m = sm.m
LEFT JOIN video_month vm ON vm.site_id = sm.site_id AND vm.m = sm.m
LEFT JOIN device_month dm ON dm.site_id = sm.site_id AND dm.m = sm.m
LEFT JOIN alarm_month am ON am.site_id = sm.site_id AND am.m = sm.m
LEFT JOIN found_month fm ON fm.site_id = sm.site_id AND fm.m = sm.m
LEFT JOIN first_inspection fi ON fi.site_id = sm.site_id
LEFT JOIN due_month du ON du.site_id = sm.site_id AND du.m = sm.m
LEFT JOIN completeness c ON c.site_id = sm.site_id AND c.m = sm.m
LEFT JOIN weather_month wm ON wm.site_id = sm.site_id AND wm.m = sm.m
