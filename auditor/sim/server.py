"""Server mode: moto's own threaded server with the sim pipeline, on loopback, plus ``/_sim``.

The interception point is ``DomainDispatcherApplication.__call__`` (the WSGI app every moto
server runs), so moto's public ``moto.server.ThreadedMotoServer`` serves the simulation once
:func:`install` ran. Using that class, rather than building the werkzeug server here, leaves
the choice of request handler to moto: from 5.2.5 it passes its own handler (which keeps
header names with underscores), earlier versions werkzeug's default; either way this module
names no moto internals ("Server mode", https://docs.getmoto.org/en/latest/docs/server_mode.html).

Control endpoints (JSON, never recorded as calls):

- ``GET  /_sim/health``                      -> ``{"ok": true}``
- ``GET  /_sim/calls``                       -> counts (total, by_operation, by_account,
  by_status); ``?detail=1`` adds every record
- ``POST /_sim/calls/reset``
- ``GET  /_sim/faults`` / ``POST /_sim/faults`` with ``{"clear": true, "deny": [[acct, region
  or null, service]], "allow": [...], "throttle_rate": 0.2, "latency_ms": 50, "seed": 1}``
- ``POST /_sim/tracking-server-status`` with ``{"account_id", "region", "name", "status"}``
- ``POST /_sim/enabled-regions`` with ``{"account_id", "regions": [...]}``
- ``GET  /_sim/rate-limits`` / ``POST /_sim/rate-limits`` with ``{"clear": true,
  "rate_limits": [{"operation": "sagemaker:DescribeMlflowTrackingServer", "rate": 2,
  "burst": 5, "account_id": null, "region": null}]}`` (token buckets, sim/ratelimit.py)
- ``GET  /_sim/mlflow-regions`` / ``POST /_sim/mlflow-regions`` with ``{"not_offered":
  {"server": [regions], "app": [regions]}}`` (MLflow operations answer
  UnknownOperationException there)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .patch import install
from .state import STATE

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer


def reset_backends() -> None:
    """Empty every moto backend and the sim state (what ``mock_aws()`` does on start)."""
    from moto.core.base_backend import BackendDict

    BackendDict.reset()
    STATE.reset()


def quiet_request_log() -> None:
    """Keep werkzeug from writing one stderr line per request.

    A served simulation answers thousands of requests a scan; a parent process that pipes
    the server's stderr and does not drain it would otherwise block the server once the
    pipe fills. werkzeug logs each request at INFO on its ``werkzeug`` logger and only
    lowers an unset level to INFO, so a level set here holds; one a caller set is kept.
    """
    logger = logging.getLogger("werkzeug")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


class SimServer:
    """The patched moto served on loopback from a thread of this process.

    ``reset=True`` (default) starts from empty state; pass False to serve state planted
    earlier in this process (for example inside ``simulated_aws()``).
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", reset: bool = True) -> None:
        self.host, self.port, self.reset = host, port, reset
        self._moto: ThreadedMotoServer | None = None
        self.endpoint_url = ""
        from .simulated import SimulatedAWS

        self.sim: SimulatedAWS = SimulatedAWS(endpoint_url=None)

    def start(self) -> SimServer:
        from moto.server import ThreadedMotoServer

        from .simulated import SimulatedAWS

        install()
        if self.reset:
            reset_backends()
        quiet_request_log()
        self._moto = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._moto.start()
        self.port = self._moto.get_host_and_port()[1]
        self.endpoint_url = f"http://{self.host}:{self.port}"
        self.sim = SimulatedAWS(endpoint_url=self.endpoint_url)
        return self

    def stop(self) -> None:
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
