"""Exponential backoff with full jitter and a bounded number of attempts.

Attempt n (1-based) that failed waits ``random() * min(max_delay, base * factor ** (n - 1))``
before attempt n + 1 ("full jitter": spreads a burst of retries from many workers over the whole
window instead of synchronising them). A server's Retry-After raises the wait, still capped at
``max_delay``. ``sleep`` and ``random`` are injected so tests run without waiting.
"""

from __future__ import annotations

import asyncio
import random as _random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    max_attempts: int = 5
    jitter: bool = True
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    random: Callable[[], float] = field(default=_random.random, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base < 0 or self.max_delay < 0 or self.factor < 1:
            raise ValueError("base and max_delay must be >= 0 and factor >= 1")

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt ``attempt`` (before jitter)."""
        return min(self.max_delay, self.base * self.factor ** (attempt - 1))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait after failed attempt ``attempt`` (1-based)."""
        ceiling = self.ceiling(attempt)
        wait = self.random() * ceiling if self.jitter else ceiling
        if retry_after is not None:
            wait = max(wait, min(float(retry_after), self.max_delay))
        return wait

    def should_retry(self, attempt: int) -> bool:
        return attempt < self.max_attempts
