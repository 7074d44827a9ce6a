"""Injected faults: access denied per (account, region, service), throttling, latency."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class DenyRule:
    account_id: str
    region: str | None  # None: every region
    service: str


class Faults:
    """Fault switches read by every simulated request (thread-safe).

    ``throttle_rate`` is the fraction of requests answered with the protocol's throttling
    error (drawn from a seeded RNG, see :meth:`seed`); ``latency_s`` is slept per request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deny: set[DenyRule] = set()
        self._reject: set[DenyRule] = set()
        self.throttle_rate: float = 0.0
        self.latency_s: float = 0.0
        self._rng = random.Random(0)

    def deny(self, account_id: str, region: str | None, service: str) -> None:
        """Answer every ``service`` request from ``account_id`` in ``region`` with 403."""
        with self._lock:
            self._deny.add(DenyRule(str(account_id), region, service))

    def reject_credentials(self, account_id: str, region: str | None, service: str) -> None:
        """Answer 400 UnrecognizedClientException, as AWS does for a region that is not
        enabled for the account or a session token that region does not accept."""
        with self._lock:
            self._reject.add(DenyRule(str(account_id), region, service))

    def is_rejected(self, account_id: str, region: str, service: str) -> bool:
        with self._lock:
            return (
                DenyRule(account_id, region, service) in self._reject
                or DenyRule(account_id, None, service) in self._reject
            )

    def allow(self, account_id: str, region: str | None, service: str) -> None:
        with self._lock:
            self._deny.discard(DenyRule(str(account_id), region, service))

    def clear(self) -> None:
        """Remove every fault: denies, throttling and latency."""
        with self._lock:
            self._deny.clear()
            self._reject.clear()
            self.throttle_rate = 0.0
            self.latency_s = 0.0

    def seed(self, n: int) -> None:
        with self._lock:
            self._rng = random.Random(n)

    @property
    def denied(self) -> list[tuple[str, str | None, str]]:
        with self._lock:
            return sorted(
                ((r.account_id, r.region, r.service) for r in self._deny),
                key=lambda t: (t[0], t[1] or "", t[2]),
            )

    def is_denied(self, account_id: str, region: str, service: str) -> bool:
        with self._lock:
            return (
                DenyRule(account_id, region, service) in self._deny
                or DenyRule(account_id, None, service) in self._deny
            )

    def should_throttle(self) -> bool:
        with self._lock:
            rate = self.throttle_rate
            return rate > 0 and self._rng.random() < rate

    def to_dict(self) -> dict[str, object]:
        return {
            "deny": [list(d) for d in self.denied],
            "throttle_rate": self.throttle_rate,
            "latency_s": self.latency_s,
        }

    def apply_dict(self, data: dict[str, object]) -> None:
        """Apply a JSON fault document (used by ``POST /_sim/faults``)."""
        if data.get("clear"):
            self.clear()
        if "seed" in data:
            self.seed(int(data["seed"]))  # type: ignore[call-overload]
        for rule in data.get("deny", []) or []:  # type: ignore[union-attr]
            acct, region, service = rule
            self.deny(str(acct), region, service)
        for rule in data.get("allow", []) or []:  # type: ignore[union-attr]
            acct, region, service = rule
            self.allow(str(acct), region, service)
        if "throttle_rate" in data:
            self.throttle_rate = float(data["throttle_rate"])  # type: ignore[arg-type]
        if "latency_s" in data:
            self.latency_s = float(data["latency_s"])  # type: ignore[arg-type]
        if "latency_ms" in data:
            self.latency_s = float(data["latency_ms"]) / 1000.0  # type: ignore[arg-type]
