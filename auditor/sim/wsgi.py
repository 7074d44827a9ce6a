"""Server mode's interception point: moto's WSGI app routed through the sim pipeline,
plus the ``/_sim`` control endpoints (documented in ``server.py``)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from dataclasses import asdict
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from .dispatch import calls_summary, handle
from .exceptions import Response
from .request import SimRequest, identify, to_bytes
from .state import STATE


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


# ----------------------------------------------------------- /_sim control endpoints
# Each handler takes the WSGI environ and the parsed JSON body and returns the 200 reply's
# payload; KeyError, ValueError and TypeError become a 400 reply.


def _posted(environ: dict[str, Any]) -> bool:
    return environ.get("REQUEST_METHOD", "GET") == "POST"


def _health(environ: dict[str, Any], data: Any) -> Any:
    return {"ok": True}


def _calls(environ: dict[str, Any], data: Any) -> Any:
    with STATE.lock:
        calls = list(STATE.calls)
    out = calls_summary(calls)
    if parse_qs(environ.get("QUERY_STRING", "")).get("detail"):
        out["calls"] = [asdict(c) for c in calls]
    return out


def _reset_calls(environ: dict[str, Any], data: Any) -> Any:
    with STATE.lock:
        STATE.calls = []
    return {"ok": True}


def _faults(environ: dict[str, Any], data: Any) -> Any:
    if _posted(environ):
        STATE.faults.apply_dict(data)
    return STATE.faults.to_dict()


def _rate_limits(environ: dict[str, Any], data: Any) -> Any:
    if _posted(environ):
        STATE.rate_limits.apply_dict(data)
    return STATE.rate_limits.to_dict()


def _mlflow_regions(environ: dict[str, Any], data: Any) -> Any:
    if _posted(environ):
        with STATE.lock:
            for kind, regions in (data.get("not_offered") or {}).items():
                if kind not in STATE.mlflow_not_offered:
                    raise ValueError(f"unknown MLflow kind {kind!r} (server, app)")
                STATE.mlflow_not_offered[kind] = {str(r) for r in regions}
    with STATE.lock:
        current = {k: sorted(v) for k, v in STATE.mlflow_not_offered.items()}
    return {"not_offered": current}


def _tracking_server_status(environ: dict[str, Any], data: Any) -> Any:
    STATE.mlflow.set_status(data["account_id"], data["region"], data["name"], data["status"])
    return {"ok": True}


def _enabled_regions(environ: dict[str, Any], data: Any) -> Any:
    with STATE.lock:
        STATE.enabled_regions[str(data["account_id"])] = list(data["regions"])
    return {"ok": True}


# (path, method) -> handler; method "*" answers any method.
_ENDPOINTS: dict[tuple[str, str], Callable[[dict[str, Any], Any], Any]] = {
    ("/_sim/health", "*"): _health,
    ("/_sim/calls", "GET"): _calls,
    ("/_sim/calls/reset", "POST"): _reset_calls,
    ("/_sim/faults", "*"): _faults,
    ("/_sim/rate-limits", "*"): _rate_limits,
    ("/_sim/mlflow-regions", "*"): _mlflow_regions,
    ("/_sim/tracking-server-status", "POST"): _tracking_server_status,
    ("/_sim/enabled-regions", "POST"): _enabled_regions,
}


def _control(environ: dict[str, Any], start_response: Any, body: bytes) -> list[bytes]:
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "GET")
    try:
        data = json.loads(body or b"{}")
        handler = _ENDPOINTS.get((path, method)) or _ENDPOINTS.get((path, "*"))
        if handler is not None:
            return _json_reply(start_response, 200, handler(environ, data))
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
