"""Command line: thin click commands over ``auditor.app`` (no logic of their own).

Values are parsed by ``auditor.app.options``, defaults are ``auditor.core.request``'s; a
RunFailure (``auditor.core.errors``) becomes one line on stderr and its exit code here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from auditor import __version__
from auditor.app import options
from auditor.cli import shared as opt
from auditor.core import request as defaults
from auditor.core.errors import ConfigError, RunFailure, UsageError
from auditor.core.model import DEFAULT_ROLE_NAME
from auditor.core.request import ScanRequest


class Failure(click.ClickException):
    """A RunFailure (auditor.core.errors) as click shows it: ``Error: <line>``, its code."""

    def __init__(self, failure: RunFailure) -> None:
        super().__init__(failure.message)
        self.exit_code = failure.exit_code


def _one_line(exc: click.UsageError) -> click.ClickException:
    """A usage error as one line, exit 2 (not click's usage block); a bare command: help."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return exc
    where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
    return Failure(UsageError(exc.format_message() + where))


class GuardedGroup(click.Group):
    """Never a traceback: an unexpected failure is one line and exit 2; Ctrl-C exits 130.

    Exit 1 stays reserved for "a FAIL was found", which cron jobs alert on.
    ``MLFLOW_AUDIT_DEBUG=1`` shows the traceback for bug reports.
    """

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except RunFailure as exc:
            raise Failure(exc) from None
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
            why = f"unexpected {type(exc).__name__}: {first} (set MLFLOW_AUDIT_DEBUG=1 for details)"
            raise Failure(ConfigError(why)) from None


_request = ScanRequest.from_options  # its UsageError is a RunFailure: one line, exit 2


@click.group(
    cls=GuardedGroup,
    # every default is shown in --help, as the user gets it (auditor.core.request)
    context_settings={
        "help_option_names": ["-h", "--help"],
        "max_content_width": 100,
        "show_default": True,
    },
)
@click.version_option(__version__, prog_name="mlflow-audit")
def main() -> None:
    """Audit SageMaker Managed MLflow artifact buckets for ownership (bucket sniping)."""


@main.command()
@opt.PROFILE
@opt.list_option(
    "--region",
    "regions",
    options.regions,
    f"Region to audit {opt.LIST}; default: every region "
    "where SageMaker is offered and enabled for the account.",
)
@opt.list_option(
    "--account",
    "accounts",
    options.accounts,
    f"Audit this account {opt.LIST} by assuming --role-name in it.",
)
@opt.flag("--org", help="Audit every ACTIVE account of the AWS Organization.")
@opt.ROLE_OPTIONS
@opt.POLICY_OPTIONS
@opt.out_dir("Where the reports are written.", default=defaults.DEFAULT_OUTPUT_DIR)
@opt.FORMATS_OPTION
@opt.FAIL_ON
@opt.flag(
    "--fail-on-new",
    help="Exit 1 only for such FAILs that are new since the previous run of the "
    "same scope (every FAIL counts as new when there is no usable history).",
)
@opt.history_option(
    "Run history database (SQLite path or s3://bucket/key), e.g. one shared by every "
    f"nightly run; default: OUTPUT_DIR/{defaults.HISTORY_FILENAME}."
)
@opt.flag(
    "--no-history",
    help="Keep no run history (findings get no `change`, the report no 'since last run').",
)
@opt.HISTORY_KEEP
@opt.REMEDIATION_OPTIONS
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=512),
    default=defaults.DEFAULT_CONCURRENCY,
    help="Parallel API workers.",
)
@click.option(
    "--processes",
    type=click.IntRange(min=0, max=256),
    default=defaults.DEFAULT_PROCESSES,
    help="Worker processes, each scanning a share of the accounts (1: one process; "
    "0: one per usable CPU core).",
)
@click.option(
    "--shard",
    callback=opt.parsed(options.shard),
    help="Audit only shard K of N (K/N, split by account) for fan-out; "
    "combine the results with `mlflow-audit merge`.",
)
@opt.PUSH_OPTIONS
@opt.flag("--quiet", "-q", help="No progress or summary on the terminal.")
def scan(**kwargs: Any) -> None:
    """Audit tracking servers and MLflow Apps and write the reports."""
    from auditor.app.scan import run_scan_command

    sys.exit(run_scan_command(_request(kwargs)))


@main.command("event")
@click.argument("event_file", default="-", metavar="[FILE|-]")
@opt.PROFILE
@opt.flag("--org", help="Inventory every ACTIVE account of the Organization (and trust them).")
@opt.ROLE_OPTIONS
@opt.POLICY_OPTIONS
@opt.out_dir("Write the reports here (as scan does); default: findings JSON on stdout.")
@opt.format_option(None, opt.FORMAT_HELP + " With --output-dir; default: scan's.")
@opt.FAIL_ON
@opt.history_option(
    "History database (path or s3://bucket/key); default: "
    f"OUTPUT_DIR/{defaults.HISTORY_FILENAME} "
    "with --output-dir, none without."
)
@opt.flag("--no-history", help="Neither read nor record the history.")
@opt.HISTORY_KEEP
@opt.REMEDIATION_OPTIONS
@opt.PUSH_OPTIONS
@opt.flag("--quiet", "-q", help="No summary line on stderr.")
def event(event_file: str, **kwargs: Any) -> None:
    """Re-check what one CloudTrail event (or a batch) touched; see docs/events.md."""
    from auditor.app.event import event_options, run_event_command

    to_stdout = kwargs["output_dir"] is None
    sys.exit(run_event_command(event_file, _request(event_options(kwargs)), to_stdout))


@main.command("rules")
@opt.RULES_DIR
def rules_cmd(rules_dirs: tuple[str, ...]) -> None:
    """List the checks: id, severity, title."""
    for line in options.check_lines(rules_dirs):
        click.echo(line)


@main.command()
@click.argument("findings_file", type=click.Path(dir_okay=False))
@opt.out_dir("Where to write; default: beside FINDINGS_FILE.")
@opt.format_option("html,csv")
@opt.flag(
    "--security-hub",
    help="Also import the run's findings into AWS Security Hub, each from its own account "
    "and region (as a scan would: the caller's account as the caller, others through "
    "--role-name). Prints the result; exits 0 even when an import failed.",
)
@click.option("--profile", help="With --security-hub or --security-lake: the caller's profile.")
@click.option(
    "--role-name", help=f"{opt.HUB} role assumed in member accounts [default: {DEFAULT_ROLE_NAME}]."
)
@click.option("--external-id", help=f"{opt.HUB} external id passed to sts:AssumeRole.")
@opt.LAKE_OPTIONS
def report(findings_file: str, output_dir: str | None, formats: list[str], **push: Any) -> None:
    """Re-render a findings.json to HTML/CSV (from the JSON alone); optionally push it to
    Security Hub or Security Lake."""
    from auditor.app.documents import report_pushes, rerender

    rerender(findings_file, output_dir, formats, *report_pushes(push))


@main.command("history")
@opt.history_option(
    "Run history database written by `scan`.",
    default=f"{defaults.DEFAULT_OUTPUT_DIR}/{defaults.HISTORY_FILENAME}",
)
@click.option("--limit", type=click.IntRange(min=1), default=20, help="At most this many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def history_cmd(history_path: str, limit: int, as_json: bool) -> None:
    """List past runs: scope, counts, new and resolved findings, FAIL trend."""
    from auditor.history.views import history_text

    click.echo(history_text(Path(history_path), limit, as_json))


@main.command()
@click.argument("findings_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@opt.out_dir("Where the merged reports are written.", required=True)
@opt.FORMATS_OPTION
@click.option(
    "--fail-on",
    type=opt.FAIL_ON_CHOICE,
    help="Threshold for the merged exit code; default: the one the shards used.",
)
@opt.flag("--quiet", "-q", help="No summary on the terminal.")
def merge(**kwargs: Any) -> None:
    """Combine the findings.json of --shard K/N runs into one run and its reports.

    Exits like scan: 1 for a FAIL at or above --fail-on, 3 when a shard is missing or
    incomplete, 0 otherwise.
    """
    from auditor.app.documents import merge_command

    sys.exit(merge_command(**kwargs))


@main.command()
@opt.out_dir("Where the demo reports are written.", default="./mlflow-audit-demo")
@opt.FORMATS_OPTION
@opt.flag("--remediate", help="Also remediate the simulated organisation (it is not real AWS).")
@opt.flag(
    "--security-hub",
    help="Enable Security Hub in the simulated organisation and import the findings there "
    "(each from its own account and region), as `scan --security-hub` does.",
)
def demo(**kwargs: Any) -> None:
    """Scan a built-in simulated AWS organisation and write the real reports."""
    from auditor.app.demo import run_demo

    sys.exit(run_demo(**kwargs))


__all__ = ["main"]
