"""The commands over findings.json files already written: ``report`` and ``merge``.

``report`` re-renders one run's document (optionally importing it into Security Hub, as
the scan would have); ``merge`` combines the documents of ``--shard K/N`` runs into one.
Neither scans anything.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from auditor.app.pushes import push_lake
from auditor.app.results import S3Output, load_sources, parse_prefix
from auditor.aws.clients import ClientCache
from auditor.aws.credentials import CredentialFactory, caller_account_id, caller_credentials
from auditor.aws.session import make_session
from auditor.core.errors import ConfigError, UsageError
from auditor.core.model import DEFAULT_ROLE_NAME, Account
from auditor.core.terminal import echo
from auditor.core.textsafe import visible
from auditor.integrations.push import (
    AccountClients,
    push_security_hub,
    summary_lines,
    warn,
)
from auditor.report.console import print_summary
from auditor.report.load import load_document
from auditor.report.merge import merge_documents, merge_warnings
from auditor.report.outputs import prepare_output_dir, write_outputs


def role_credentials(
    session: boto3.Session, cache: ClientCache, role_name: str, external_id: str | None
) -> Callable[[str], Credentials]:
    """Per-account credentials as a scan gets them: the caller's for its own account,
    ``--role-name`` assumed (with ``--external-id``) in any other. ConfigError (exit 2)
    when the caller has no usable credentials."""
    try:
        caller = caller_credentials(session)
        caller_id = caller_account_id(cache, caller)
    except NoCredentialsError:
        raise ConfigError("no AWS credentials found (set AWS_PROFILE or use --profile)") from None
    except (ClientError, BotoCoreError) as exc:
        raise ConfigError(f"sts:GetCallerIdentity failed: {exc}") from None
    factory = CredentialFactory(cache, caller, caller_id, role_name, external_id)
    return lambda account_id: factory.credentials_for(Account(account_id=account_id))


def import_document(
    doc: dict[str, Any], profile: str | None, role_name: str, external_id: str | None
) -> dict[str, Any]:
    """``mlflow-audit report FILE --security-hub``: import an earlier run's findings.

    The credentials are resolved as a scan resolves them (caller for its own account,
    ``role_name`` assumed elsewhere); only resolved findings of the scopes that run read
    are archived, exactly as the scan itself would have done.
    """
    session = make_session(profile)
    cache = ClientCache(session, pool_size=8)
    credentials_for = role_credentials(session, cache, role_name, external_id)
    return push_security_hub(doc, AccountClients(cache, credentials_for))


def lake_document(
    doc: dict[str, Any],
    profile: str | None,
    security_lake: str,
    security_lake_role: str | None,
    security_lake_external_id: str | None,
) -> dict[str, Any]:
    """``mlflow-audit report FILE --security-lake``: write an earlier run's findings to the
    custom source, as the scan would have (the provider role assumed as the caller)."""
    session = make_session(profile)
    cache = ClientCache(session, pool_size=4)
    caller = lambda: caller_credentials(session)  # noqa: E731
    return push_lake(
        doc, security_lake, cache, caller, security_lake_role, security_lake_external_id
    )


def report_pushes(
    values: dict[str, Any],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``report``'s push options as (Security Hub's, Security Lake's) arguments, None for
    a push not asked for; UsageError for an option without the push it belongs to."""
    values = dict(values)
    hub = values.pop("security_hub")
    if not hub and (values["role_name"] or values["external_id"]):
        raise UsageError("--role-name and --external-id need --security-hub")
    if not (hub or values["security_lake"]) and values["profile"]:
        raise UsageError("--profile needs --security-hub or --security-lake")
    if not values["security_lake"] and (
        values["security_lake_role"] or values["security_lake_external_id"]
    ):
        raise UsageError(
            "--security-lake-role and --security-lake-external-id need --security-lake"
        )
    lake_keys = ("security_lake", "security_lake_role", "security_lake_external_id")
    lake = {k: values[k] for k in ("profile", *lake_keys)} if values["security_lake"] else None
    hub_values = {
        "profile": values["profile"],
        "role_name": values["role_name"] or DEFAULT_ROLE_NAME,
        "external_id": values["external_id"],
    }
    return (hub_values if hub else None), lake


def rerender(
    findings_file: str,
    output_dir: str | None,
    formats: list[str],
    security_hub: dict[str, Any] | None = None,
    security_lake: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``formats`` of ``findings_file`` (beside it by default; never over itself).

    ``security_hub``: ``import_document``'s ``profile``, ``role_name`` and ``external_id``
    to also import the findings into Security Hub; ``security_lake``: ``lake_document``'s
    arguments to also write them to a Security Lake custom source. Each result is told on
    stderr and never changes the exit code.
    """
    doc = load_document(findings_file)
    out = prepare_output_dir(output_dir or Path(findings_file).resolve().parent)
    if "json" in formats and (out / "findings.json").resolve() == Path(findings_file).resolve():
        formats = [f for f in formats if f != "json"]  # never rewrite the source in place
    written = write_outputs(doc, out, formats)
    for path in written:
        echo(str(path), err=False)
    if security_hub is not None:
        result = import_document(doc, **security_hub)
        warn(result)
        for line in summary_lines({"security_hub": result}):
            echo(visible(line))
    if security_lake is not None:
        result = lake_document(doc, **security_lake)
        warn(result)
        for line in summary_lines({"security_lake": result}):
            echo(visible(line))
    return written


def merge_command(
    findings_files: tuple[str, ...],
    output_dir: str,
    formats: list[str],
    fail_on: str | None,
    quiet: bool,
) -> int:
    """``mlflow-audit merge``: the merged reports written; returns their exit code.

    A source or ``output_dir`` may be ``s3://bucket/prefix/``: every findings.json under a
    prefix is merged, and the merged reports are written as objects (auditor.app.results).
    """
    docs, sources = load_sources(findings_files, lambda: make_session(None))
    merged = merge_documents(docs, sources, fail_on.lower() if fail_on else None)
    for warning in merge_warnings(docs, sources):
        echo(warning)
    missing = merged["run"].get("missing_shards") or []
    if missing:
        echo(
            f"warning: incomplete merge: shard(s) {', '.join(missing)} missing "
            f"(merged {', '.join(str(d['run'].get('shard')) for d in docs)})"
        )
    remote = parse_prefix(output_dir)
    if remote is not None:
        written: list[Any] = S3Output(make_session(None), remote).write(merged, formats)
    else:
        written = write_outputs(merged, prepare_output_dir(output_dir), formats)
    if not quiet:
        print_summary(merged, written)
    return int(merged["summary"]["exit_code"])
