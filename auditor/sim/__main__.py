"""``python -m auditor.sim serve``: the simulation on loopback for another process.

Prints one JSON line (endpoint, management credentials, the demo org) then serves until
SIGTERM/SIGINT. Point any AWS client at it with ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from .demo_org import build_demo_org
from .identity import MANAGEMENT_ACCOUNT_ID
from .server import SimServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m auditor.sim", description="Simulated AWS organisation for mlflow-audit"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the simulation on loopback until SIGTERM")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    serve.add_argument("--port", type=int, default=0, help="port (0: pick a free one)")
    serve.add_argument("--demo", action="store_true", help="build the demo organisation")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="added per request")
    serve.add_argument(
        "--throttle-rate",
        type=float,
        default=0.0,
        help="fraction of requests answered with throttling errors",
    )
    serve.add_argument("--seed", type=int, default=0, help="seed of the throttling RNG")
    serve.add_argument(
        "--regions",
        default="us-east-1,eu-west-1",
        help="comma list of demo regions (default us-east-1,eu-west-1)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with SimServer(port=args.port, host=args.host) as server:
        sim = server.sim
        demo = None
        if args.demo:
            regions = tuple(r.strip() for r in args.regions.split(",") if r.strip())
            demo = build_demo_org(sim, regions).to_dict()
            sim.reset_calls()
        sim.faults.seed(args.seed)
        sim.faults.latency_s = args.latency_ms / 1000.0
        sim.faults.throttle_rate = args.throttle_rate
        key, secret = sim.credentials_for(MANAGEMENT_ACCOUNT_ID)
        print(
            json.dumps(
                {
                    "endpoint_url": server.endpoint_url,
                    "management_account_id": MANAGEMENT_ACCOUNT_ID,
                    "aws_access_key_id": key,
                    "aws_secret_access_key": secret,
                    "demo": demo,
                }
            ),
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
