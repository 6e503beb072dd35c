"""Per-key token buckets, in memory, one set per process.

Each key may spend ``rate`` requests per second and save up to ``burst`` (by default
one second's worth). With several workers each has its own buckets, so the limit a
key sees is ``rate`` times the number of workers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from typing import Any

from litestar.types import ASGIApp, Receive, Scope, Send

from service.auth.principal import Principal
from service.errors import RateLimitedError


class TokenBucketLimiter:
    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive; leave the limiter out to turn limiting off")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def acquire(self, key: Hashable) -> float:
        """Take a token: 0.0 if one was there, else the seconds until one will be."""
        now = self._clock()
        tokens, stamp = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate


class RateLimitMiddleware:
    """Placed after authentication: limits callers that carry a :class:`Principal`."""

    def __init__(self, app: ASGIApp, limiter: TokenBucketLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal: Any = scope.get("user")
        if isinstance(principal, Principal):
            wait = self.limiter.acquire(principal.key_id)
            if wait > 0:
                raise RateLimitedError(retry_after=math.ceil(wait))
        await self.app(scope, receive, send)
