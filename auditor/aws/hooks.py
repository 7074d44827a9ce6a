"""The pacing engine's botocore side: handlers installed on a client's event emitter.

``install`` makes a client's every call go through a ``Pacer`` (``auditor.aws.pacing``):
``before-call`` waits for the call's slot, ``after-call`` counts a success, and
``needs-retry`` answers throttling with the delay to the next slot (or surfaces it),
handing every other retry decision to the handler botocore registered for the client's
retry mode.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

from auditor.aws.pacing import Key, Pacer, is_throttling

_PACERS: weakref.WeakKeyDictionary[Any, Pacer] = weakref.WeakKeyDictionary()


def botocore_retry_handler(emitter: Any, unique_id: str) -> Callable[..., Any] | None:
    """The retry handler botocore registered on a client's emitter under ``unique_id``
    (``retry-config-<service>``), or None when it cannot be found.

    botocore offers no public way to read a registered handler (``unregister`` by unique
    id returns nothing), so this reads the emitter's registry: the only private botocore
    attribute the package reads. A unit test fails, naming the botocore version, when this
    no longer finds the handler; ``install`` then falls back to running first.
    """
    inner = getattr(emitter, "_emitter", emitter)  # the EventAliaser wraps the emitter
    registry = getattr(inner, "_unique_id_handlers", None)
    entry = registry.get(unique_id) if isinstance(registry, dict) else None
    handler = entry.get("handler") if isinstance(entry, dict) else None
    return handler if callable(handler) else None


def pacer_of(client: Any) -> Pacer | None:
    """The pacer installed on ``client`` (or on the client a wrapper delegates to)."""
    meta = getattr(client, "meta", None)
    events = getattr(meta, "events", None)
    return None if events is None else _PACERS.get(events)


def install(client: Any, pacer: Pacer, region: str, account_of: Callable[[], str]) -> None:
    """Pace ``client``'s calls per (account, region, operation) and retry its throttling.

    ``account_of`` names the account the calling thread acts as. The client's own retry
    handler keeps every other retry decision.
    """
    emitter = client.meta.events
    service = client.meta.service_model.service_id.hyphenize()
    signing = client.meta.service_model.signing_name or service
    uid = f"retry-config-{service}"
    original = botocore_retry_handler(emitter, uid)

    def key_for(operation: str) -> Key:
        return (account_of(), region, f"{signing}:{operation}")

    def before_call(model: Any, context: dict[str, Any], **_: Any) -> None:
        # A request made through Pacer.call is paced under the caller's key.
        key = pacer.claim_call() or key_for(model.name)
        context["pace_key"] = key
        if not pacer.take_prepaid():
            delay = pacer.reserve(key) or 0.0
            if delay > 0:
                time.sleep(delay)
        context["pace_first"] = context["pace_sent"] = pacer.now()

    def after_call(http_response: Any = None, context: Any = None, **_: Any) -> None:
        key: Key | None = (context or {}).get("pace_key")
        if key is not None and getattr(http_response, "status_code", 200) < 400:
            pacer.succeeded(key)

    def throttle_delay(kwargs: dict[str, Any]) -> float | bool | None:
        """None: not throttling. Else the delay to retry after, or False: surface it."""
        response = kwargs.get("response")
        if response is None:
            return None
        http, parsed = response
        code = (parsed or {}).get("Error", {}).get("Code")
        if not is_throttling(code, getattr(http, "status_code", None)):
            return None
        context = kwargs["request_dict"].get("context", {})
        now = pacer.now()
        key = context.get("pace_key") or key_for(kwargs["operation"].name)
        pacer.throttled(key, context.get("pace_sent", now))
        if pacer.surfaces() or now - context.get("pace_first", now) >= pacer.budget_s:
            return False  # the error surfaces: re-queued by the caller, or too late
        delay = pacer.reserve(key) or 0.0
        context["pace_sent"] = now + delay
        return delay

    def needs_retry(**kwargs: Any) -> Any:
        answer = throttle_delay(kwargs)
        if answer is not None or original is None:
            return answer
        return original(**kwargs)

    def throttling_only(**kwargs: Any) -> Any:
        return throttle_delay(kwargs)

    if original is not None:
        emitter.unregister(f"needs-retry.{service}", unique_id=uid)
        emitter.register(f"needs-retry.{service}", needs_retry, unique_id=uid)
    else:
        # botocore's handler stays and runs too, but the first answer that is not None
        # decides: ours, for throttling. It then also spends botocore's retry quota.
        emitter.register_first(f"needs-retry.{service}", throttling_only, unique_id=f"pace-{uid}")
    emitter.register(f"before-call.{service}", before_call)
    emitter.register(f"after-call.{service}", after_call)
    _PACERS[emitter] = pacer
