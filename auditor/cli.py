"""Command line: thin click commands over ``auditor.app`` (no logic of their own).

Values are parsed by ``auditor.app.options``, defaults are ``auditor.core.request``'s; a
RunFailure (``auditor.core.errors``) becomes one line on stderr and its exit code here.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from auditor import __version__
from auditor.app import options
from auditor.core import request as defaults
from auditor.core.errors import ConfigError, RunFailure, UsageError
from auditor.core.model import DEFAULT_ROLE_NAME, FAIL_ON_CHOICES
from auditor.core.request import ScanRequest
from auditor.report.formats import FORMATS

_FORMAT_HELP = f"Comma list of {', '.join(FORMATS)}."
_LIST = "(repeatable, or a comma list)"
_HUB = "With --security-hub:"


def _parsed(parse: Callable[[Any], Any]) -> Callable[[Any, click.Parameter, Any], Any]:
    """A click callback over a parser of auditor.app.options (a ValueError names the option)."""

    def callback(_: Any, param: click.Parameter, value: Any) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param=param) from None

    return callback


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


def _apply(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Several click options as one decorator, listed in --help in the order given."""
    return lambda f: functools.reduce(lambda g, decorator: decorator(g), reversed(decorators), f)


def _flag(*decls: str, help: str) -> Callable[[Any], Any]:
    return click.option(*decls, is_flag=True, help=help)


def _list_option(
    name: str, dest: str, parse: Callable[[Any], Any], help: str
) -> Callable[[Any], Any]:
    return click.option(name, dest, multiple=True, callback=_parsed(parse), help=help)


def _history_option(help: str, **kwargs: Any) -> Callable[[Any], Any]:
    return click.option(
        "--history", "history_path", type=click.Path(dir_okay=False), help=help, **kwargs
    )


def _format_option(default: str | None, help: str = _FORMAT_HELP) -> Callable[[Any], Any]:
    parse = options.formats if default else options.optional(options.formats)
    return click.option("--format", "formats", default=default, callback=_parsed(parse), help=help)


def _out_dir(help: str, **kwargs: Any) -> Callable[[Any], Any]:
    return click.option("--output-dir", type=click.Path(file_okay=False), help=help, **kwargs)


# Options that several commands share, defined once (same names, defaults and help).
_PROFILE = click.option("--profile", help="AWS profile; default: the standard credential chain.")
_ROLE_OPTIONS = _apply(
    click.option(
        "--role-name", default=DEFAULT_ROLE_NAME, help="Role assumed in audited accounts."
    ),
    click.option("--external-id", help="External id passed to sts:AssumeRole."),
)
_RULES_DIR = _list_option(
    "--rules-dir", "rules_dirs", options.directories, f"Directory of extra rule YAML files {_LIST}."
)
_POLICY_OPTIONS = _apply(
    _list_option(
        "--trusted-account",
        "trusted_accounts",
        options.accounts,
        f"Extra account allowed to own artifact buckets {_LIST}.",
    ),
    click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        help="YAML policy file (trusted accounts, checks, waivers).",
    ),
    _RULES_DIR,
)
_FORMATS_OPTION = _format_option(",".join(defaults.DEFAULT_FORMATS))
_FAIL_ON_CHOICE = click.Choice(FAIL_ON_CHOICES, case_sensitive=False)
_FAIL_ON = click.option(
    "--fail-on",
    type=_FAIL_ON_CHOICE,
    default=defaults.DEFAULT_FAIL_ON,
    help="Exit 1 when an unmuted FAIL at or above this severity is found.",
)
_HISTORY_KEEP = click.option(
    "--history-keep",
    type=click.IntRange(min=1),
    default=defaults.DEFAULT_HISTORY_KEEP,
    help="Runs kept per scope in the history database; older ones are pruned.",
)
_REMEDIATION_OPTIONS = _apply(
    _flag("--remediate", help="Fix what can be fixed safely with UpdateMlflowTrackingServer."),
    _flag("--dry-run", help="With --remediate: plan only, change nothing."),
    _flag("--yes", help="With --remediate: do not prompt (cron)."),
    click.option(
        "--max-changes",
        type=click.IntRange(min=0),
        default=defaults.DEFAULT_MAX_CHANGES,
        help="With --remediate: apply at most this many updates; plan the rest.",
    ),
    click.option(
        "--stable-wait",
        type=click.FloatRange(min=0),
        default=f"{defaults.DEFAULT_STABLE_WAIT_S:g}",  # shown as "60", read as 60.0
        help="With --remediate: seconds to wait for a server in flux (updating, "
        "starting, ...) to become stable before skipping it.",
    ),
)
_LAKE = "With --security-lake:"
_LAKE_OPTIONS = _apply(
    click.option(
        "--security-lake",
        metavar="S3_URI",
        callback=_parsed(options.security_lake),
        help="After the reports are written, write the findings as OCSF Parquet to this Amazon "
        "Security Lake custom source, s3://BUCKET/ext/SOURCE/ (needs the extra "
        "mlflow-audit[securitylake]). A failed write is a warning.",
    ),
    click.option(
        "--security-lake-role",
        metavar="ARN",
        callback=_parsed(options.security_lake_role),
        help=f"{_LAKE} the custom source's provider role, assumed to write.",
    ),
    click.option("--security-lake-external-id", help=f"{_LAKE} the role's external id."),
)
_PUSH_OPTIONS = _apply(
    _flag(
        "--security-hub",
        help="After the reports are written, import the findings into AWS Security Hub (ASFF), "
        "each from its own account and region; findings resolved since the previous run are "
        "archived. A failed import is a warning; the exit code is unchanged.",
    ),
    click.option(
        "--notify",
        metavar="TOPIC_ARN",
        callback=_parsed(options.topic),
        help="After the reports are written, publish one message about the run to this SNS "
        "topic (as the caller, in the topic's region). A failed publish is a warning.",
    ),
    _LAKE_OPTIONS,
)


@main.command()
@_PROFILE
@_list_option(
    "--region",
    "regions",
    options.regions,
    f"Region to audit {_LIST}; default: every region "
    "where SageMaker is offered and enabled for the account.",
)
@_list_option(
    "--account",
    "accounts",
    options.accounts,
    f"Audit this account {_LIST} by assuming --role-name in it.",
)
@_flag("--org", help="Audit every ACTIVE account of the AWS Organization.")
@_ROLE_OPTIONS
@_POLICY_OPTIONS
@_out_dir("Where the reports are written.", default=defaults.DEFAULT_OUTPUT_DIR)
@_FORMATS_OPTION
@_FAIL_ON
@_flag(
    "--fail-on-new",
    help="Exit 1 only for such FAILs that are new since the previous run of the "
    "same scope (every FAIL counts as new when there is no usable history).",
)
@_history_option(
    "Run history database (SQLite path or s3://bucket/key), e.g. one shared by every "
    f"nightly run; default: OUTPUT_DIR/{defaults.HISTORY_FILENAME}."
)
@_flag(
    "--no-history",
    help="Keep no run history (findings get no `change`, the report no 'since last run').",
)
@_HISTORY_KEEP
@_REMEDIATION_OPTIONS
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=512),
    default=defaults.DEFAULT_CONCURRENCY,
    help="Parallel API workers.",
)
@click.option(
    "--shard",
    callback=_parsed(options.shard),
    help="Audit only shard K of N (K/N, split by account) for fan-out; "
    "combine the results with `mlflow-audit merge`.",
)
@_PUSH_OPTIONS
@_flag("--quiet", "-q", help="No progress or summary on the terminal.")
def scan(**kwargs: Any) -> None:
    """Audit tracking servers and MLflow Apps and write the reports."""
    from auditor.app.scan import run_scan_command

    sys.exit(run_scan_command(_request(kwargs)))


@main.command("event")
@click.argument("event_file", default="-", metavar="[FILE|-]")
@_PROFILE
@_flag("--org", help="Inventory every ACTIVE account of the Organization (and trust them).")
@_ROLE_OPTIONS
@_POLICY_OPTIONS
@_out_dir("Write the reports here (as scan does); default: findings JSON on stdout.")
@_format_option(None, _FORMAT_HELP + " With --output-dir; default: scan's.")
@_FAIL_ON
@_history_option(
    "History database (path or s3://bucket/key); default: "
    f"OUTPUT_DIR/{defaults.HISTORY_FILENAME} "
    "with --output-dir, none without."
)
@_flag("--no-history", help="Neither read nor record the history.")
@_HISTORY_KEEP
@_REMEDIATION_OPTIONS
@_PUSH_OPTIONS
@_flag("--quiet", "-q", help="No summary line on stderr.")
def event(event_file: str, **kwargs: Any) -> None:
    """Re-check what one CloudTrail event (or a batch) touched; see docs/events.md."""
    from auditor.app.event import event_options, run_event_command

    to_stdout = kwargs["output_dir"] is None
    sys.exit(run_event_command(event_file, _request(event_options(kwargs)), to_stdout))


@main.command("rules")
@_RULES_DIR
def rules_cmd(rules_dirs: tuple[str, ...]) -> None:
    """List the checks: id, severity, title."""
    for line in options.check_lines(rules_dirs):
        click.echo(line)


@main.command()
@click.argument("findings_file", type=click.Path(dir_okay=False))
@_out_dir("Where to write; default: beside FINDINGS_FILE.")
@_format_option("html,csv")
@_flag(
    "--security-hub",
    help="Also import the run's findings into AWS Security Hub, each from its own account "
    "and region (as a scan would: the caller's account as the caller, others through "
    "--role-name). Prints the result; exits 0 even when an import failed.",
)
@click.option("--profile", help="With --security-hub or --security-lake: the caller's profile.")
@click.option(
    "--role-name", help=f"{_HUB} role assumed in member accounts [default: {DEFAULT_ROLE_NAME}]."
)
@click.option("--external-id", help=f"{_HUB} external id passed to sts:AssumeRole.")
@_LAKE_OPTIONS
def report(findings_file: str, output_dir: str | None, formats: list[str], **push: Any) -> None:
    """Re-render a findings.json to HTML/CSV (from the JSON alone); optionally push it to
    Security Hub or Security Lake."""
    from auditor.app.documents import report_pushes, rerender

    rerender(findings_file, output_dir, formats, *report_pushes(push))


@main.command("history")
@_history_option(
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
@_out_dir("Where the merged reports are written.", required=True)
@_FORMATS_OPTION
@click.option(
    "--fail-on",
    type=_FAIL_ON_CHOICE,
    help="Threshold for the merged exit code; default: the one the shards used.",
)
@_flag("--quiet", "-q", help="No summary on the terminal.")
def merge(**kwargs: Any) -> None:
    """Combine the findings.json of --shard K/N runs into one run and its reports.

    Exits like scan: 1 for a FAIL at or above --fail-on, 3 when a shard is missing or
    incomplete, 0 otherwise.
    """
    from auditor.app.documents import merge_command

    sys.exit(merge_command(**kwargs))


@main.command()
@_out_dir("Where the demo reports are written.", default="./mlflow-audit-demo")
@_FORMATS_OPTION
@_flag("--remediate", help="Also remediate the simulated organisation (it is not real AWS).")
@_flag(
    "--security-hub",
    help="Enable Security Hub in the simulated organisation and import the findings there "
    "(each from its own account and region), as `scan --security-hub` does.",
)
def demo(**kwargs: Any) -> None:
    """Scan a built-in simulated AWS organisation and write the real reports."""
    from auditor.app.demo import run_demo

    sys.exit(run_demo(**kwargs))


__all__ = ["main"]
