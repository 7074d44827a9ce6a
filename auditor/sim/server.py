"""Server mode: moto's WSGI app with the sim pipeline, on loopback, plus ``/_sim`` control.

The interception point is ``DomainDispatcherApplication.__call__`` (moto's server entry), so
moto's own ``ThreadedMotoServer`` gets the same behaviour once :func:`install` ran.

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

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from .patch import install
from .state import STATE


def reset_backends() -> None:
    """Empty every moto backend and the sim state (what ``mock_aws()`` does on start)."""
    from moto.core.base_backend import BackendDict

    BackendDict.reset()
    STATE.reset()


class SimServer:
    """The patched moto served on loopback from a thread of this process.

    ``reset=True`` (default) starts from empty state; pass False to serve state planted
    earlier in this process (for example inside ``simulated_aws()``).
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", reset: bool = True) -> None:
        self.host, self.port, self.reset = host, port, reset
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.endpoint_url = ""
        from .simulated import SimulatedAWS

        self.sim: SimulatedAWS = SimulatedAWS(endpoint_url=None)

    def start(self) -> SimServer:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        from .simulated import SimulatedAWS

        install()
        if self.reset:
            reset_backends()

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self.host, self.port, app, threaded=True, request_handler=QuietHandler
        )
        self.port = self._server.server_address[1]
        self.endpoint_url = f"http://{self.host}:{self.port}"
        self.sim = SimulatedAWS(endpoint_url=self.endpoint_url)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mlflow-audit-sim", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
