"""The CLI as a separate process against ``python -m auditor.sim serve --demo``.

What a cron job or a person at a terminal does: real processes, real signals, a real
pseudo-terminal, the real file system. Shared by the end-to-end tests of unattended runs.

Starting the server and building the demo costs seconds, so tests share one (fixtures in
``conftest.py``); :meth:`Served.reset` puts the simulation's knobs back between tests.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLI = str(Path(sys.executable).with_name("mlflow-audit"))
#: The scope of the served tests' scans: the whole demo organisation, one region.
SCOPE = ("--org", "--region", "us-east-1")


def read(out: Path) -> dict[str, Any]:
    """The findings document a run wrote to ``out``."""
    return json.loads((out / "findings.json").read_text())


def problems(doc: dict[str, Any]) -> int:
    """How many findings are problems of their own: not PASS, and not the follow-on of
    another check's FAIL (``caused_by``), which the history neither stores nor counts."""
    return sum(1 for f in doc["findings"] if f["status"] != "PASS" and not f.get("caused_by"))


@dataclass
class Served:
    info: dict[str, Any]
    home: Path
    #: The control state the demo was served with (``/_sim/faults``, ``/_sim/rate-limits``,
    #: ``/_sim/mlflow-regions``): the demo plants faults of its own (a denied scope).
    planted: dict[str, Any] = field(default_factory=dict)

    @property
    def demo(self) -> dict[str, Any]:
        return self.info["demo"]

    def account(self, name: str) -> str:
        return str(self.demo["accounts"][name])

    def case(self, name: str) -> dict[str, Any]:
        return next(c for c in self.demo["cases"] if c["name"] == name)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            {
                "AWS_ENDPOINT_URL": self.info["endpoint_url"],
                "AWS_ACCESS_KEY_ID": self.info["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": self.info["aws_secret_access_key"],
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": str(self.home / "none"),
                "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "none"),
            }
        )
        return env

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """The simulation's control endpoints (docs/simulation.md), e.g. ``/_sim/faults``."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.info["endpoint_url"] + path,
            data=data,
            method="POST" if data is not None else "GET",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def remember_planted(self) -> None:
        self.planted = {
            "faults": self.control("/_sim/faults"),
            "rate_limits": self.control("/_sim/rate-limits")["rate_limits"],
            "not_offered": self.control("/_sim/mlflow-regions")["not_offered"],
        }

    def reset(self) -> None:
        """Back to the control state the demo was served with and an empty call log.

        The demo's resources are not restored (no control endpoint does that): a test that
        changes them, e.g. by remediating, serves a demo of its own."""
        faults = self.planted["faults"]
        self.control(
            "/_sim/faults",
            {
                "clear": True,
                "deny": faults["deny"],
                "throttle_rate": faults["throttle_rate"],
                "latency_s": faults["latency_s"],
                "seed": 0,  # what ``serve`` seeds the throttling with
            },
        )
        self.control(
            "/_sim/rate-limits", {"clear": True, "rate_limits": self.planted["rate_limits"]}
        )
        self.control("/_sim/mlflow-regions", {"not_offered": self.planted["not_offered"]})
        self.control("/_sim/calls/reset", {})

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run_together(self, *argvs: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
        """Independent CLI runs side by side (a scan mostly waits on the simulation)."""
        procs = [self.popen(*argv) for argv in argvs]
        done = []
        for argv, proc in zip(argvs, procs, strict=True):
            stdout, stderr = proc.communicate(timeout=300)
            done.append(subprocess.CompletedProcess([CLI, *argv], proc.returncode, stdout, stderr))
        return done

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [CLI, *args],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def boto3_session(self) -> Any:
        import boto3

        return boto3.Session(
            aws_access_key_id=self.info["aws_access_key_id"],
            aws_secret_access_key=self.info["aws_secret_access_key"],
            region_name="us-east-1",
        )

    def client(self, service: str) -> Any:
        return self.boto3_session().client(service, endpoint_url=self.info["endpoint_url"])


@contextmanager
def serve_demo(home: Path) -> Iterator[Served]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor.sim", "serve", "--port", "0", "--demo"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, "the simulation server printed nothing"
        served = Served(json.loads(line), home)
        served.remember_planted()
        yield served
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class PtyRun:
    """A CLI process whose stdin, stdout and stderr are one pseudo-terminal (its
    controlling terminal: Ctrl-C typed there is SIGINT to the process, as for a person)."""

    pid: int
    fd: int
    output: bytes = b""

    def read_until(self, marker: bytes, timeout: float = 240) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} within {timeout}s: {self.output[-2000:]!r}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    if marker not in self.output:
                        raise AssertionError(f"process ended before {marker!r}: {self.output!r}")
                    break
                self.output += chunk
        return self.output

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if ready:
                    self.output += os.read(self.fd, 65536)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                raise AssertionError(f"still running after {timeout}s: {self.output[-2000:]!r}")


def spawn_in_pty(served: Served, *args: str) -> PtyRun:
    env = served.env()
    env["TERM"] = "dumb"
    pid, fd = pty.fork()
    if pid == 0:  # the child: a new session whose controlling terminal is the pty
        try:
            os.execve(CLI, [CLI, *args], env)
        finally:
            os._exit(127)
    return PtyRun(pid, fd)


def tmpfs_command(
    mountpoint: Path, listing: Path, argv: list[str], size: str = "256k"
) -> list[str]:
    """``argv`` run in a private mount namespace where ``mountpoint`` is a tmpfs of
    ``size`` filled to the last byte: every write there fails with ENOSPC, as on a full
    disk. ``listing`` receives what is left in it afterwards (the tmpfs vanishes with the
    namespace). Root uses ``unshare --mount``; anyone else a user namespace."""
    script = (
        'out="$1"; listing="$2"; shift 2; '
        'mount -t tmpfs -o size="$SIZE" tmpfs "$out" || exit 97; '
        'dd if=/dev/zero of="$out/filler" bs=4096 2>/dev/null; '
        '"$@"; rc=$?; ls -A "$out" > "$listing"; exit $rc'
    )
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "-rm"]
    paths = [str(mountpoint), str(listing)]
    return [*unshare, "env", f"SIZE={size}", "sh", "-c", script, "sh", *paths, *argv]
