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

import io
import json
import threading
from dataclasses import asdict
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from werkzeug.serving import BaseWSGIServer, make_server

from .core import STATE, SimRequest, calls_summary, handle, identify, install, to_bytes
from .errors import Response


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))
    if (
        environ.get("wsgi.input_terminated")
        or environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
    ):
        return stream.read()
    return b""


def _json_reply(start_response: Any, status: int, payload: Any) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _control(environ: dict[str, Any], start_response: Any, body: bytes) -> list[bytes]:
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "GET")
    try:
        data = json.loads(body or b"{}")
        if path == "/_sim/health":
            return _json_reply(start_response, 200, {"ok": True})
        if path == "/_sim/calls" and method == "GET":
            with STATE.lock:
                calls = list(STATE.calls)
            out = calls_summary(calls)
            if parse_qs(environ.get("QUERY_STRING", "")).get("detail"):
                out["calls"] = [asdict(c) for c in calls]
            return _json_reply(start_response, 200, out)
        if path == "/_sim/calls/reset" and method == "POST":
            with STATE.lock:
                STATE.calls = []
            return _json_reply(start_response, 200, {"ok": True})
        if path == "/_sim/faults":
            if method == "POST":
                STATE.faults.apply_dict(data)
            return _json_reply(start_response, 200, STATE.faults.to_dict())
        if path == "/_sim/rate-limits":
            if method == "POST":
                STATE.rate_limits.apply_dict(data)
            return _json_reply(start_response, 200, STATE.rate_limits.to_dict())
        if path == "/_sim/mlflow-regions":
            if method == "POST":
                with STATE.lock:
                    for kind, regions in (data.get("not_offered") or {}).items():
                        if kind not in STATE.mlflow_not_offered:
                            raise ValueError(f"unknown MLflow kind {kind!r} (server, app)")
                        STATE.mlflow_not_offered[kind] = {str(r) for r in regions}
            with STATE.lock:
                current = {k: sorted(v) for k, v in STATE.mlflow_not_offered.items()}
            return _json_reply(start_response, 200, {"not_offered": current})
        if path == "/_sim/tracking-server-status" and method == "POST":
            STATE.mlflow.set_status(
                data["account_id"], data["region"], data["name"], data["status"]
            )
            return _json_reply(start_response, 200, {"ok": True})
        if path == "/_sim/enabled-regions" and method == "POST":
            with STATE.lock:
                STATE.enabled_regions[str(data["account_id"])] = list(data["regions"])
            return _json_reply(start_response, 200, {"ok": True})
    except (KeyError, ValueError, TypeError) as e:
        return _json_reply(start_response, 400, {"error": f"{type(e).__name__}: {e}"})
    return _json_reply(start_response, 404, {"error": f"no such control endpoint: {path}"})


def _sim_wsgi(app: Any, environ: dict[str, Any], start_response: Any, original: Any) -> Any:
    if environ.get("PATH_INFO", "").startswith("/_sim/"):
        return _control(environ, start_response, _read_body(environ))
    body = _read_body(environ)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    headers = {
        k[5:].replace("_", "-").lower(): v
        for k, v in environ.items()
        if k.startswith("HTTP_") and isinstance(v, str)
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    raw_uri = (
        environ.get("RAW_URI")
        or environ.get("REQUEST_URI")
        or (
            environ.get("PATH_INFO", "/")
            + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
        )
    )
    url = (
        f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', 'localhost')}"
        f"{raw_uri}"
    )
    method = environ.get("REQUEST_METHOD", "GET")
    req = SimRequest(method, url, headers, body)
    identify(req)
    if not req.service:
        return original(app, environ, start_response)

    def forward() -> Response:
        captured: dict[str, Any] = {}

        def capture(status: str, resp_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = resp_headers
            return lambda data: None

        chunks = original(app, environ, capture)
        try:
            data = b"".join(to_bytes(c) for c in chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return captured["status"], dict(captured["headers"]), data

    status, resp_headers, resp_body = handle(req, forward)
    data = to_bytes(resp_body)
    out_headers = [
        (k, str(v))
        for k, v in resp_headers.items()
        if k.lower() not in ("content-length", "status")
    ]
    if method == "HEAD":
        length = {k.lower(): v for k, v in resp_headers.items()}.get("content-length", "0")
        out_headers.append(("Content-Length", str(length)))
        data = b""
    else:
        out_headers.append(("Content-Length", str(len(data))))
    start_response(f"{status} {HTTPStatus(status).phrase}", out_headers)
    return [data]


_patch_lock = threading.Lock()


def install_wsgi_patch() -> None:
    """Route moto's WSGI app through the sim pipeline (idempotent)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    with _patch_lock:
        if getattr(DomainDispatcherApplication.__call__, "_mlflow_audit_sim", False):
            return
        original = DomainDispatcherApplication.__call__

        def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
            return _sim_wsgi(self, environ, start_response, original)

        __call__._mlflow_audit_sim = True  # type: ignore[attr-defined]
        DomainDispatcherApplication.__call__ = __call__  # type: ignore[method-assign]


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
