"""Who is asking (the client's address, behind a trusted proxy too) and how often they may guess.

- Address: the TCP peer, unless the peer is a proxy the operator trusts (``trusted_proxies``); then
  the client is the right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy.
  Anyone can write that header, so it is believed only from a trusted peer, and a value that is not
  an IP address is ignored.
- Password guesses (at login, and when a password is re-entered to sign or to change it) are
  counted per (user name, address): five wrong passwords for one user from one address throttle
  that pair only, not every user behind the same office NAT, nor the same user at another desk.
  A looser count per address alone brakes one address that sprays guesses over many user names.
"""
from __future__ import annotations

import ipaddress
import time
from collections import deque
from collections.abc import Callable, Iterable

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RateLimiter:
    """Sliding-window failure counter: at most `max_failures` per key within `window_s` seconds."""

    def __init__(self, max_failures: int = 5, window_s: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self.clock()
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, *keys: str) -> int:
        """Seconds until any of these keys may try again (0: may try now)."""
        wait = 0.0
        for key in keys:
            times = self._recent(key)
            if len(times) >= self.max_failures:
                wait = max(wait, times[len(times) - self.max_failures] + self.window_s - self.clock())
        return int(wait) + 1 if wait > 0 else 0

    def failure(self, *keys: str) -> None:
        for key in keys:
            self._recent(key).append(self.clock())
        if len(self._failures) > 10_000:  # forget idle keys so a flood cannot grow this without bound
            for key in [k for k, v in self._failures.items() if not v]:
                del self._failures[key]

    def success(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


class LoginThrottle:
    """Wrong passwords counted per (user, address), and more loosely per address."""

    def __init__(self, per_user_and_address: int = 5, per_address: int = 50, window_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic):
        self.pairs = RateLimiter(per_user_and_address, window_s, clock)
        self.addresses = RateLimiter(per_address, window_s, clock)

    @staticmethod
    def _pair(username: str, address: str) -> str:
        return f"{username.strip().lower()}|{address}"

    def retry_after(self, username: str, address: str) -> int:
        return max(self.pairs.retry_after(self._pair(username, address)), self.addresses.retry_after(address))

    def failure(self, username: str, address: str) -> None:
        self.pairs.failure(self._pair(username, address))
        self.addresses.failure(address)

    def success(self, username: str, address: str) -> None:
        self.pairs.success(self._pair(username, address))


class ClientAddress:
    """The client's address of a request, believing X-Forwarded-For only from trusted proxies."""

    def __init__(self, trusted_proxies: Iterable[str] = ()):
        self.trusted: tuple[Network, ...] = tuple(ipaddress.ip_network(p.strip(), strict=False)
                                                  for p in trusted_proxies if p.strip())

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def __call__(self, request: web.Request) -> str:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        address = str(peer[0]) if peer else "unknown"
        if not self._is_trusted(address):
            return address
        hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
        for hop in reversed(hops[-32:]):  # right to left: the left-most entries are the client's own claims
            try:
                hop = str(ipaddress.ip_address(hop))
            except ValueError:
                return address  # a forged or garbled chain: fall back to the proxy we can see
            if not self._is_trusted(hop):
                return hop
            address = hop
        return address
