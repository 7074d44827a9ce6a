"""Per-(account, region, operation) token-bucket rate limits, as AWS applies them.

AWS documents its API throttling as a token bucket per account, per Region and per API
action: the bucket holds at most ``burst`` tokens, refills at ``rate`` tokens a second,
every request takes one token, and a request that finds the bucket empty is throttled
(and takes none). See "Request throttling for the Amazon EC2 API"
(https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html) and SageMaker's
"ThrottlingException ... per account and per Region" knowledge-center article
(https://repost.aws/knowledge-center/sagemaker-python-throttlingexception). The throttled
answer is the protocol's own (SageMaker: HTTP 400 ``ThrottlingException``; S3: HTTP 503
``SlowDown``), rendered by :func:`auditor.sim.exceptions.throttled`.

A limit is set for an operation (``"sagemaker:DescribeMlflowTrackingServer"``, or
``"sagemaker:*"`` for every operation of a service) and optionally for one account or
region only; the most specific matching limit applies, and each (account, region,
operation) gets its own bucket, so one account's traffic never empties another's.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    operation: str  # "service:Operation" or "service:*"
    rate: float  # tokens per second
    burst: float  # bucket size
    account_id: str | None = None
    region: str | None = None


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, burst: float, now: float) -> None:
        self.tokens = burst
        self.stamp = now


class RateLimits:
    """The configured limits and one token bucket per (account, region, operation)."""

    def __init__(self, clock: object = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._limits: list[RateLimit] = []
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self._clock = clock
        self.throttled = 0  # requests answered with a throttling error

    def set(
        self,
        operation: str,
        rate: float,
        burst: float,
        account_id: str | None = None,
        region: str | None = None,
    ) -> None:
        """Limit ``operation`` (``"sagemaker:ListMlflowApps"`` or ``"s3:*"``) to ``rate``
        requests a second with a bucket of ``burst``; replaces a limit with the same keys."""
        if ":" not in operation:
            raise ValueError(f"operation must be 'service:Operation' or 'service:*': {operation}")
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        limit = RateLimit(
            operation,
            float(rate),
            float(burst),
            None if account_id is None else str(account_id),
            region,
        )
        with self._lock:
            self._limits = [
                lim
                for lim in self._limits
                if (lim.operation, lim.account_id, lim.region)
                != (limit.operation, limit.account_id, limit.region)
            ]
            self._limits.append(limit)
            self._buckets.clear()

    def clear(self) -> None:
        with self._lock:
            self._limits.clear()
            self._buckets.clear()
            self.throttled = 0

    @property
    def limits(self) -> list[RateLimit]:
        with self._lock:
            return list(self._limits)

    def _limit_for(self, account_id: str, region: str, service: str, op: str) -> RateLimit | None:
        best: tuple[int, RateLimit] | None = None
        for lim in self._limits:
            if lim.operation not in (f"{service}:{op}", f"{service}:*"):
                continue
            if lim.account_id not in (None, account_id) or lim.region not in (None, region):
                continue
            score = (
                (lim.operation != f"{service}:*") * 4
                + (lim.account_id is not None) * 2
                + (lim.region is not None)
            )
            if best is None or score > best[0]:
                best = (score, lim)
        return best[1] if best else None

    def take(self, account_id: str, region: str, service: str, operation: str) -> bool:
        """Take a token for one request; False means the request is throttled."""
        with self._lock:
            if not self._limits:
                return True
            limit = self._limit_for(account_id, region, service, operation)
            if limit is None:
                return True
            now = self._clock()  # type: ignore[operator]
            key = (account_id, region, f"{service}:{operation}")
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(limit.burst, now)
            bucket.tokens = min(limit.burst, bucket.tokens + (now - bucket.stamp) * limit.rate)
            bucket.stamp = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return True
            self.throttled += 1
            return False

    def to_dict(self) -> dict[str, object]:
        return {
            "rate_limits": [
                {
                    "operation": lim.operation,
                    "rate": lim.rate,
                    "burst": lim.burst,
                    "account_id": lim.account_id,
                    "region": lim.region,
                }
                for lim in self.limits
            ],
            "throttled": self.throttled,
        }

    def apply_dict(self, data: dict[str, object]) -> None:
        """Apply ``POST /_sim/rate-limits``: ``{"clear": true, "rate_limits": [{"operation",
        "rate", "burst", "account_id"?, "region"?}]}``."""
        if data.get("clear"):
            self.clear()
        for item in data.get("rate_limits", []) or []:  # type: ignore[union-attr]
            self.set(
                str(item["operation"]),
                float(item["rate"]),
                float(item["burst"]),
                item.get("account_id"),
                item.get("region"),
            )
