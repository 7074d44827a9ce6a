"""Command line: thin click commands over the pipeline (no logic of their own)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from auditor import __version__
from auditor.aws.errors import ConfigError
from auditor.core.model import (
    ACCOUNT_ID_RE,
    DEFAULT_ROLE_NAME,
    FAIL_ON_CHOICES,
    Severity,
)
from auditor.report.formats import DEFAULT_FORMATS, FORMATS

_FORMAT_HELP = f"Comma list of {', '.join(FORMATS)}."


def _split(values: tuple[str, ...]) -> list[str]:
    """Every repeatable list option takes both forms: ``--x a --x b`` and ``--x a,b``."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _accounts(_: Any, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    out = []
    for v in _split(values):
        if not ACCOUNT_ID_RE.match(v):
            raise click.BadParameter(f"{v!r} is not a 12-digit AWS account id", param=param)
        out.append(v)
    return list(dict.fromkeys(out))


def _dirs(_: Any, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    """Paths, repeatable or a comma list (a value naming an existing directory is one path,
    commas and all)."""
    out: list[str] = []
    for value in values:
        parts = [value] if os.path.isdir(value) else _split((value,))
        for part in parts:
            if not os.path.isdir(part):
                raise click.BadParameter(f"{part!r} is not a directory", param=param)
            out.append(part)
    return out


def _formats(_: Any, param: click.Parameter, value: str) -> list[str]:
    items = [v.strip().lower() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in FORMATS]
    if bad or not items:
        raise click.BadParameter(
            f"use a comma list of {', '.join(FORMATS)} (got {value!r})", param=param
        )
    return list(dict.fromkeys(items))


def _regions(_: Any, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    if not values:
        return []
    from botocore.exceptions import BotoCoreError

    from auditor.collect.scope import known_regions

    try:
        known = known_regions()
    except BotoCoreError as exc:  # e.g. AWS_PROFILE naming no profile, a broken config
        raise click.UsageError(str(exc)) from None
    out = []
    for v in _split(values):
        if v not in known:
            raise click.BadParameter(f"unknown region {v!r}", param=param)
        out.append(v)
    return list(dict.fromkeys(out))


def _shard(_: Any, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    m = re.fullmatch(r"(\d+)/(\d+)", value.strip())
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise click.BadParameter(f"{value!r} is not K/N with 1 <= K <= N", param=param)
    return int(m.group(1)), int(m.group(2))


def _topic(_: Any, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from auditor.integrations.push import topic_region

    try:
        topic_region(value)
    except ConfigError as exc:
        raise click.BadParameter(exc.message, param=param) from None
    return value.strip()


_SECURITY_HUB_HELP = (
    "After the reports are written, import the findings into AWS Security Hub (ASFF), "
    "each from its own account and region; findings resolved since the previous run are "
    "archived. A failed import is a warning; the exit code is unchanged."
)


class GuardedGroup(click.Group):
    """Never a traceback: an unexpected failure is one line and exit 2; Ctrl-C exits 130.

    Exit 1 stays reserved for "a FAIL was found", which cron jobs alert on.
    ``MLFLOW_AUDIT_DEBUG=1`` shows the traceback for bug reports.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo(
                "\nmlflow-audit: interrupted; reports from this run were not "
                "written (earlier ones are untouched)",
                err=True,
            )
            sys.exit(130)
        except Exception as exc:
            if os.environ.get("MLFLOW_AUDIT_DEBUG"):
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise ConfigError(
                f"unexpected {type(exc).__name__}: {first} (set MLFLOW_AUDIT_DEBUG=1 for details)"
            ) from None


@click.group(
    cls=GuardedGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="mlflow-audit")
def main() -> None:
    """Audit SageMaker Managed MLflow artifact buckets for ownership (bucket sniping)."""


def _apply(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Several click options as one decorator, listed in --help in the order given."""

    def wrap(f: Any) -> Any:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return wrap


# Options that scan and event share, defined once (same names, defaults and help).
_PROFILE = click.option("--profile", help="AWS profile; default: the standard credential chain.")
_ROLE_OPTIONS = _apply(
    click.option(
        "--role-name",
        default=DEFAULT_ROLE_NAME,
        show_default=True,
        help="Role assumed in audited accounts.",
    ),
    click.option("--external-id", help="External id passed to sts:AssumeRole."),
)
_POLICY_OPTIONS = _apply(
    click.option(
        "--trusted-account",
        "trusted_accounts",
        multiple=True,
        callback=_accounts,
        help="Extra account allowed to own artifact buckets (repeatable, or a comma list).",
    ),
    click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        help="YAML policy file (trusted accounts, checks, waivers).",
    ),
    click.option(
        "--rules-dir",
        "rules_dirs",
        multiple=True,
        callback=_dirs,
        help="Directory of extra rule YAML files (repeatable, or a comma list).",
    ),
)
_FORMATS_OPTION = click.option(
    "--format",
    "formats",
    default=",".join(DEFAULT_FORMATS),
    show_default=True,
    callback=_formats,
    help=_FORMAT_HELP,
)
_FAIL_ON = click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON_CHOICES, case_sensitive=False),
    default="high",
    show_default=True,
    help="Exit 1 when an unmuted FAIL at or above this severity is found.",
)
_HISTORY_KEEP = click.option(
    "--history-keep",
    type=click.IntRange(min=1),
    default=90,
    show_default=True,
    help="Runs kept per scope in the history database; older ones are pruned.",
)
_REMEDIATION_OPTIONS = _apply(
    click.option(
        "--remediate",
        is_flag=True,
        help="Fix what can be fixed safely with UpdateMlflowTrackingServer.",
    ),
    click.option("--dry-run", is_flag=True, help="With --remediate: plan only, change nothing."),
    click.option("--yes", is_flag=True, help="With --remediate: do not prompt (cron)."),
    click.option(
        "--max-changes",
        type=click.IntRange(min=0),
        default=25,
        show_default=True,
        help="With --remediate: apply at most this many updates; plan the rest.",
    ),
    click.option(
        "--stable-wait",
        type=click.FloatRange(min=0),
        default=60,
        show_default=True,
        help="With --remediate: seconds to wait for a server in flux (updating, "
        "starting, ...) to become stable before skipping it.",
    ),
)
_PUSH_OPTIONS = _apply(
    click.option("--security-hub", is_flag=True, help=_SECURITY_HUB_HELP),
    click.option(
        "--notify",
        metavar="TOPIC_ARN",
        callback=_topic,
        help="After the reports are written, publish one message about the run to this SNS "
        "topic (as the caller, in the topic's region). A failed publish is a warning.",
    ),
)


@main.command()
@_PROFILE
@click.option(
    "--region",
    "regions",
    multiple=True,
    callback=_regions,
    help="Region to audit (repeatable, or a comma list); default: every region "
    "where SageMaker is offered and enabled for the account.",
)
@click.option(
    "--account",
    "accounts",
    multiple=True,
    callback=_accounts,
    help="Audit this account (repeatable, or a comma list) by assuming --role-name in it.",
)
@click.option("--org", is_flag=True, help="Audit every ACTIVE account of the AWS Organization.")
@_ROLE_OPTIONS
@_POLICY_OPTIONS
@click.option(
    "--output-dir",
    default="./mlflow-audit-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the reports are written.",
)
@_FORMATS_OPTION
@_FAIL_ON
@click.option(
    "--fail-on-new",
    is_flag=True,
    help="Exit 1 only for such FAILs that are new since the previous run of the "
    "same scope (every FAIL counts as new when there is no usable history).",
)
@click.option(
    "--history",
    "history_path",
    type=click.Path(dir_okay=False),
    help="Run history database (SQLite path or s3://bucket/key), e.g. one shared by every "
    "nightly run; default: OUTPUT_DIR/history.sqlite.",
)
@click.option(
    "--no-history",
    is_flag=True,
    help="Keep no run history (findings get no `change`, the report no 'since last run').",
)
@_HISTORY_KEEP
@_REMEDIATION_OPTIONS
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=512),
    default=32,
    show_default=True,
    help="Parallel API workers.",
)
@click.option(
    "--processes",
    type=click.IntRange(min=0, max=256),
    default=0,
    help="Worker processes, each scanning a share of the accounts (1: one process; "
    "default 0: one per usable CPU core).",
)
@click.option(
    "--shard",
    callback=_shard,
    help="Audit only shard K of N (K/N, split by account) for fan-out; "
    "combine the results with `mlflow-audit merge`.",
)
@_PUSH_OPTIONS
@click.option("--quiet", "-q", is_flag=True, help="No progress or summary on the terminal.")
def scan(**kwargs: Any) -> None:
    """Audit tracking servers and MLflow Apps and write the reports."""
    from auditor.app.scan import run_scan_command
    from auditor.core.request import ScanRequest

    sys.exit(run_scan_command(ScanRequest.from_options(kwargs)))


@main.command("event")
@click.argument("event_file", default="-", metavar="[FILE|-]")
@_PROFILE
@click.option(
    "--org",
    is_flag=True,
    help="Inventory every ACTIVE account of the Organization (and trust them).",
)
@_ROLE_OPTIONS
@_POLICY_OPTIONS
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Write the reports here (as scan does); default: findings JSON on stdout.",
)
@click.option(
    "--format",
    "formats",
    default=None,
    callback=lambda c, p, v: v and _formats(c, p, v),
    help=_FORMAT_HELP + " With --output-dir; default: scan's.",
)
@_FAIL_ON
@click.option(
    "--history",
    "history_path",
    type=click.Path(dir_okay=False),
    help="History database (path or s3://bucket/key); default: OUTPUT_DIR/history.sqlite "
    "with --output-dir, none without.",
)
@click.option("--no-history", is_flag=True, help="Neither read nor record the history.")
@_HISTORY_KEEP
@_REMEDIATION_OPTIONS
@_PUSH_OPTIONS
@click.option("--quiet", "-q", is_flag=True, help="No summary line on stderr.")
def event(event_file: str, **kwargs: Any) -> None:
    """Re-check what one CloudTrail event (or a batch) touched; see docs/events.md."""
    from auditor.app.event import run_event_command
    from auditor.core.request import ScanRequest

    to_stdout = kwargs["output_dir"] is None
    if to_stdout:
        kwargs["formats"] = ["json"]
        kwargs["no_history"] = kwargs["no_history"] or not kwargs["history_path"]
    sys.exit(run_event_command(event_file, ScanRequest.from_options(kwargs), to_stdout))


@main.command("rules")
@click.option(
    "--rules-dir",
    "rules_dirs",
    multiple=True,
    callback=_dirs,
    help="Directory of extra rule YAML files (repeatable, or a comma list).",
)
def rules_cmd(rules_dirs: tuple[str, ...]) -> None:
    """List the checks: id, severity, title."""
    from auditor.evaluate.rules import load_rules

    rules = sorted(load_rules(rules_dirs), key=lambda r: (-Severity(r.severity).rank, r.id))
    width = max(len(r.id) for r in rules)
    for rule in rules:
        click.echo(f"{rule.id:<{width}}  {rule.severity:<8}  {rule.title}")


@main.command()
@click.argument("findings_file", type=click.Path(dir_okay=False))
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Where to write; default: beside FINDINGS_FILE.",
)
@click.option(
    "--format",
    "formats",
    default="html,csv",
    show_default=True,
    callback=_formats,
    help=_FORMAT_HELP,
)
@click.option(
    "--security-hub",
    is_flag=True,
    help="Also import the run's findings into AWS Security Hub, each from its own account "
    "and region (as a scan would: the caller's account as the caller, others through "
    "--role-name). Prints the result; exits 0 even when an import failed.",
)
@click.option("--profile", help="With --security-hub: AWS profile of the caller.")
@click.option(
    "--role-name",
    help=f"With --security-hub: role assumed in member accounts [default: {DEFAULT_ROLE_NAME}].",
)
@click.option("--external-id", help="With --security-hub: external id passed to sts:AssumeRole.")
def report(
    findings_file: str,
    output_dir: str | None,
    formats: list[str],
    security_hub: bool,
    profile: str | None,
    role_name: str | None,
    external_id: str | None,
) -> None:
    """Re-render a findings.json to HTML/CSV (from the JSON alone); optionally import it
    into Security Hub."""
    from auditor.report.load import load_document
    from auditor.report.outputs import prepare_output_dir, write_outputs

    if not security_hub and (profile or role_name or external_id):
        raise click.UsageError("--profile, --role-name and --external-id need --security-hub")
    doc = load_document(findings_file)
    out = prepare_output_dir(output_dir or Path(findings_file).resolve().parent)
    if "json" in formats and (out / "findings.json").resolve() == Path(findings_file).resolve():
        formats = [f for f in formats if f != "json"]  # never rewrite the source in place
    for path in write_outputs(doc, out, formats):
        click.echo(str(path))
    if security_hub:
        from auditor.core.textsafe import visible
        from auditor.integrations.push import import_document, summary_lines, warn

        result = import_document(doc, profile, role_name or DEFAULT_ROLE_NAME, external_id)
        warn(result)
        for line in summary_lines({"security_hub": result}):
            click.echo(visible(line), err=True)


@main.command("history")
@click.option(
    "--history",
    "history_path",
    default="./mlflow-audit-out/history.sqlite",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Run history database written by `scan`.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Show at most this many runs (newest first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def history_cmd(history_path: str, limit: int, as_json: bool) -> None:
    """List past runs: scope, counts, new and resolved findings, FAIL trend."""
    import json

    from auditor.history.database import HistoryError
    from auditor.history.views import format_table, list_runs

    try:
        records = list_runs(Path(history_path), limit=limit)
    except HistoryError as exc:
        raise ConfigError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    for line in format_table(records):
        click.echo(line)


@main.command()
@click.argument("findings_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--output-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Where the merged reports are written.",
)
@_FORMATS_OPTION
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON_CHOICES, case_sensitive=False),
    help="Threshold for the merged exit code; default: the one the shards used.",
)
@click.option("--quiet", "-q", is_flag=True, help="No summary on the terminal.")
def merge(
    findings_files: tuple[str, ...],
    output_dir: str,
    formats: list[str],
    fail_on: str | None,
    quiet: bool,
) -> None:
    """Combine the findings.json of --shard K/N runs into one run and its reports.

    Exits like scan: 1 for a FAIL at or above --fail-on, 3 when a shard is missing or
    incomplete, 0 otherwise.
    """
    from auditor.report.load import load_document
    from auditor.report.merge import merge_documents, merge_warnings
    from auditor.report.outputs import prepare_output_dir, write_outputs

    docs = [load_document(path) for path in findings_files]
    merged = merge_documents(docs, findings_files, fail_on.lower() if fail_on else None)
    for warning in merge_warnings(docs, findings_files):
        click.echo(warning, err=True)
    missing = merged["run"].get("missing_shards") or []
    if missing:
        click.echo(
            f"warning: incomplete merge: shard(s) {', '.join(missing)} missing "
            f"(merged {', '.join(str(d['run'].get('shard')) for d in docs)})",
            err=True,
        )
    out = prepare_output_dir(output_dir)
    written = write_outputs(merged, out, formats)
    if not quiet:
        from auditor.report.console import print_summary

        print_summary(merged, written)
    sys.exit(int(merged["summary"]["exit_code"]))


@main.command()
@click.option(
    "--output-dir",
    default="./mlflow-audit-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the demo reports are written.",
)
@_FORMATS_OPTION
@click.option(
    "--remediate",
    is_flag=True,
    help="Also remediate the simulated organisation (it is not real AWS).",
)
@click.option(
    "--security-hub",
    is_flag=True,
    help="Enable Security Hub in the simulated organisation and import the findings there "
    "(each from its own account and region), as `scan --security-hub` does.",
)
def demo(output_dir: str, formats: list[str], remediate: bool, security_hub: bool) -> None:
    """Scan a built-in simulated AWS organisation and write the real reports."""
    from auditor.app.demo import run_demo

    sys.exit(
        run_demo(
            output_dir=output_dir,
            formats=formats,
            remediate=remediate,
            security_hub=security_hub,
        )
    )


__all__ = ["ConfigError", "main"]
