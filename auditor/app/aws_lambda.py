"""``auditor.app.aws_lambda.lambda_handler``: the event run in AWS Lambda, configured from the
environment (docs/events.md, "Configuration").

A bad event (not JSON-shaped, not an event we act on, a failed call, a duplicate) never
raises: it returns ``{"status": "nothing_to_do" | "bad_event", ...}`` so that EventBridge
does not retry it. A configuration error or an AWS failure that left nothing scanned
(``ConfigError``) does raise: Lambda's asynchronous retries and the dead-letter queue
then keep the event, and the function's Errors metric shows the problem.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.app.event import bad_input, run_event, temporary_output
from auditor.aws.session import make_session
from auditor.core.errors import ConfigError
from auditor.core.model import ACCOUNT_ID_RE, DEFAULT_ROLE_NAME
from auditor.core.request import ScanRequest
from auditor.events.config import is_config_event
from auditor.events.parse import parse_events

ENV_PREFIX = "MLFLOW_AUDIT_"


@dataclass(frozen=True, slots=True)
class LambdaConfig:
    role_name: str = DEFAULT_ROLE_NAME
    external_id: str | None = None
    trusted_accounts: tuple[str, ...] = ()
    remediate: bool = False
    security_hub: bool = False
    topic_arn: str | None = None
    history: str | None = None
    org: bool = False
    config_path: str | None = None
    security_lake: str | None = None
    security_lake_role: str | None = None
    security_lake_external_id: str | None = None

    def request(self, output_dir: str) -> ScanRequest:
        return ScanRequest(
            org=self.org,
            role_name=self.role_name,
            external_id=self.external_id,
            trusted_accounts=self.trusted_accounts,
            config_path=self.config_path,
            output_dir=output_dir,
            formats=("json",),
            quiet=True,
            security_hub=self.security_hub,
            notify=self.topic_arn,
            history_path=self.history,
            no_history=self.history is None,
            remediate=self.remediate,
            yes=self.remediate,
            security_lake=self.security_lake,
            security_lake_role=self.security_lake_role,
            security_lake_external_id=self.security_lake_external_id,
        )


def _flag(env: dict[str, str], name: str) -> bool:
    """``true`` or ``false`` (any case); unset or empty is false. Nothing else: ``yes`` or
    ``1`` meaning true would let a typo such as ``REMEDIATE=yes`` turn writes on unseen."""
    raw = env.get(ENV_PREFIX + name, "").strip()
    if raw.lower() in ("true", "false", ""):
        return raw.lower() == "true"
    raise ConfigError(f"{ENV_PREFIX}{name}={raw!r}: use true or false")


def config_from_env(env: dict[str, str] | None = None) -> LambdaConfig:
    """The function's configuration (the variables deploy/central.cfn.yaml sets)."""
    env = dict(os.environ if env is None else env)

    def text(name: str) -> str | None:
        return env.get(ENV_PREFIX + name, "").strip() or None

    trusted = tuple(a.strip() for a in (text("TRUSTED_ACCOUNTS") or "").split(",") if a.strip())
    bad = [a for a in trusted if not ACCOUNT_ID_RE.match(a)]
    if bad:
        raise ConfigError(f"{ENV_PREFIX}TRUSTED_ACCOUNTS: {bad[0]!r} is not a 12-digit account id")
    topic = text("TOPIC_ARN")
    if topic is not None:
        from auditor.integrations.push import topic_region

        try:
            topic_region(topic)
        except ConfigError as exc:
            raise ConfigError(f"{ENV_PREFIX}TOPIC_ARN: {exc.message}") from None
    lake, lake_role = _security_lake(text("SECURITY_LAKE"), text("SECURITY_LAKE_ROLE"))
    return LambdaConfig(
        role_name=text("ROLE_NAME") or DEFAULT_ROLE_NAME,
        external_id=text("EXTERNAL_ID"),
        trusted_accounts=trusted,
        remediate=_flag(env, "REMEDIATE"),
        security_hub=_flag(env, "SECURITY_HUB"),
        topic_arn=topic,
        history=text("HISTORY"),
        org=_flag(env, "ORG"),
        config_path=text("CONFIG"),
        security_lake=lake,
        security_lake_role=lake_role,
        security_lake_external_id=text("SECURITY_LAKE_EXTERNAL_ID") if lake else None,
    )


def _security_lake(uri: str | None, role: str | None) -> tuple[str | None, str | None]:
    """``SECURITY_LAKE`` and ``SECURITY_LAKE_ROLE`` checked as the CLI checks its options
    (the destination, the role ARN, pyarrow in the deployment zip); ConfigError."""
    from auditor.integrations.securitylake import parse_destination, parse_role, require_pyarrow

    if uri is None:
        if role is not None:
            raise ConfigError(f"{ENV_PREFIX}SECURITY_LAKE_ROLE needs {ENV_PREFIX}SECURITY_LAKE")
        return None, None
    try:
        uri = parse_destination(uri).uri
        if role is not None:
            parse_role(role)
        require_pyarrow()
    except ConfigError as exc:
        raise ConfigError(f"{ENV_PREFIX}SECURITY_LAKE: {exc.message}") from None
    return uri, role


def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Re-check what ``event`` (an EventBridge event, a CloudTrail record or log file, or
    a list) touched, or answer an AWS Config rule's invocation (auditor.app.config_rule);
    returns a small JSON-able summary and logs it as one line."""
    if is_config_event(event):
        from auditor.app.config_rule import handle_config_event

        with temporary_output() as tmp:
            request = config_from_env().request(tmp)
            summary = handle_config_event(event, request, make_session(None))
        print(json.dumps({"mlflow_audit": summary}, default=str))
        return summary
    parsed = parse_events(event)
    if bad_input(parsed):
        summary: dict[str, Any] = {
            "status": "bad_event",
            "message": "bad event: " + "; ".join(parsed.errors),
            "exit_code": 0,
        }
    elif parsed.nothing_to_do:
        summary = {"status": "nothing_to_do", "message": parsed.summary(), "exit_code": 0}
    else:
        config = config_from_env()
        with temporary_output() as tmp:
            request = config.request(tmp)
            outcome = run_event(parsed, request, make_session(None), Path(tmp))
        summary = outcome.summary()
    print(json.dumps({"mlflow_audit": summary}, default=str))
    return summary
