"""wrk, the HTTP load generator, driven from Python: POST bodies from a file (one JSON
document a line, taken in turn) or GETs, a fixed number of connections, stopped by whichever
comes first of a duration and a number of requests. Latencies are wrk's own (from
sending a request to its last byte), read back as JSON printed by the script's
``done`` hook."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

SCRIPT: Final = r"""
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local path = os.getenv("BENCH_PATH")
local method = os.getenv("BENCH_METHOD") or "POST"
local limit = tonumber(os.getenv("BENCH_MAX_PER_THREAD") or "0")
local headers = {}
if method ~= "GET" then headers["Content-Type"] = "application/json" end
local auth = os.getenv("BENCH_AUTH") or ""
if auth ~= "" then headers["Authorization"] = auth end
local sent, answered = 0, 0
local threads = 0

function setup(thread)
  -- each thread starts somewhere else in the bodies
  thread:set("offset", threads * 7919)
  threads = threads + 1
end

function init(args)
  sent = (offset or 0) % #bodies
end

function request()
  sent = sent + 1
  if method == "GET" then return wrk.format("GET", path, headers) end
  return wrk.format(method, path, headers, bodies[(sent - 1) % #bodies + 1])
end

function response(status, hdrs, body)
  answered = answered + 1
  if limit > 0 and answered == limit then
    -- wrk's main thread sleeps out the whole duration whatever a thread does, so the
    -- Python side ends the run (SIGINT, which still reports) when this line appears
    io.stderr:write("BENCH_LIMIT\n")
    io.stderr:flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    errors: int  # connection errors, timeouts and answers other than 2xx
    error_detail: dict[str, int]
    latency_ms: dict[str, float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "throughput_per_s": round(self.throughput, 1),
            "errors": self.errors,
            "error_detail": self.error_detail,
            "latency_ms": {k: round(v, 3) for k, v in self.latency_ms.items()},
        }


def _until_limit(
    command: list[str], env: dict[str, str], threads: int, timeout_s: float
) -> tuple[int, str, str]:
    """Run wrk; once every thread has had its number of answers, interrupt it (wrk
    reports on SIGINT as at the end of its duration)."""
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        stdout, stderr = proc.stdout, proc.stderr
        assert stdout is not None
        assert stderr is not None
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.append(stdout.read()), daemon=True)
        reader.start()
        err: list[str] = []
        reached = 0
        deadline = time.monotonic() + timeout_s
        for text in stderr:
            if text.strip() == "BENCH_LIMIT":
                reached += 1
                if reached >= threads:
                    proc.send_signal(signal.SIGINT)
            else:
                err.append(text)
        returncode = proc.wait(timeout=max(1.0, deadline - time.monotonic()))  # wrk has -d
        reader.join(timeout=10)
    return returncode, "".join(out), "".join(err)


def available() -> str | None:
    return shutil.which("wrk")


def run(
    url: str,
    bodies: list[str],
    *,
    connections: int,
    threads: int,
    seconds: float,
    max_requests: int,
    auth: str | None = None,
    timeout_s: float = 60.0,
    method: str = "POST",
) -> Load:
    """Drive ``url`` with ``bodies`` (JSON text, one request each, in turn); with
    ``method="GET"`` the bodies are not sent (one cheap endpoint's floor)."""
    exe = available()
    if exe is None:
        raise RuntimeError("wrk is not installed: 'apt-get install -y wrk' (make bench does)")
    threads = max(1, min(threads, connections))
    per_thread = -(-max_requests // threads) if max_requests else 0
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.lua"
        script.write_text(SCRIPT)
        data = Path(tmp) / "bodies.jsonl"
        data.write_text("\n".join(bodies) + "\n")
        url_path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
        env = {
            "BENCH_BODIES": str(data),
            "BENCH_PATH": url_path,
            "BENCH_MAX_PER_THREAD": str(per_thread),
            "BENCH_AUTH": auth or "",
            "BENCH_METHOD": method,
            "PATH": "/usr/bin:/bin",
        }
        command = [
            exe,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            f"{round(timeout_s)}s",
            "-s",
            str(script),
            url,
        ]
        returncode, stdout, stderr = _until_limit(command, env, threads, seconds + timeout_s + 60)
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({returncode}): {stderr[-2000:]}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    errors = dict(raw["errors"])
    latency = {k: v / 1000.0 for k, v in raw["latency_us"].items()}
    return Load(
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        errors=sum(errors.values()),
        error_detail=errors,
        latency_ms=latency,
    )
