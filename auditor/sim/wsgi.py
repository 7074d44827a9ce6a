"""Server mode's interception point: moto's WSGI app routed through the sim pipeline,
plus the ``/_sim`` control endpoints (documented in ``server.py``)."""

from __future__ import annotations

import io
import json
import threading
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
