"""Patch moto's two entry points so every request runs through the sim pipeline.

``BotocoreStubber.process_request`` (in-process, inside ``moto.mock_aws``) and
``DomainDispatcherApplication.__call__`` (moto's WSGI server app, see ``wsgi.py``), both
idempotently and process-wide, by :func:`install`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .dispatch import _PRE, _register_hooks, handle
from .exceptions import Response
from .request import SimRequest, identify, to_bytes
from .wsgi import install_wsgi_patch

_install_lock = threading.Lock()
_AWS_HOST = re.compile(r"^[^/]*amazonaws\.com(\.cn)?(:\d+)?$")


def _inprocess_process_request(original: Callable[..., Any]) -> Callable[..., Any]:
    def process_request(self: Any, request: Any) -> Any:
        host = urlsplit(request.url).netloc
        if not _AWS_HOST.match(host):
            return original(self, request)
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
            request.body = body
        headers = {
            str(k).lower(): (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
            for k, v in request.headers.items()
        }
        req = SimRequest(request.method, request.url, headers, to_bytes(body))
        identify(req)
        if not req.service:
            return original(self, request)

        def forward() -> Response:
            result = original(self, request)
            if result is None:
                return 404, {}, b"Not yet implemented"
            status, resp_headers, resp_body = result
            return int(status), dict(resp_headers), resp_body

        return handle(req, forward)

    process_request._mlflow_audit_sim = True  # type: ignore[attr-defined]
    return process_request


def install() -> None:
    """Patch moto's in-process stubber and its WSGI app (idempotent, process-wide)."""
    with _install_lock:
        if not _PRE:
            _register_hooks()
        from moto.core.botocore_stubber import BotocoreStubber

        if not getattr(BotocoreStubber.process_request, "_mlflow_audit_sim", False):
            BotocoreStubber.process_request = _inprocess_process_request(  # type: ignore[method-assign]
                BotocoreStubber.process_request
            )
        install_wsgi_patch()
