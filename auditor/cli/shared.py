"""The options that several commands share, defined once (same names, defaults and help);
values are parsed by ``auditor.app.options``, defaults are ``auditor.core.request``'s."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from auditor.app import options
from auditor.core import request as defaults
from auditor.core.model import DEFAULT_ROLE_NAME, FAIL_ON_CHOICES
from auditor.report.formats import FORMATS

FORMAT_HELP = f"Comma list of {', '.join(FORMATS)}."
LIST = "(repeatable, or a comma list)"
HUB = "With --security-hub:"


def parsed(parse: Callable[[Any], Any]) -> Callable[[Any, click.Parameter, Any], Any]:
    """A click callback over a parser of auditor.app.options (a ValueError names the option)."""

    def callback(_: Any, param: click.Parameter, value: Any) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param=param) from None

    return callback


def apply(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Several click options as one decorator, listed in --help in the order given."""
    return lambda f: functools.reduce(lambda g, decorator: decorator(g), reversed(decorators), f)


def flag(*decls: str, help: str) -> Callable[[Any], Any]:
    return click.option(*decls, is_flag=True, help=help)


def list_option(
    name: str, dest: str, parse: Callable[[Any], Any], help: str
) -> Callable[[Any], Any]:
    return click.option(name, dest, multiple=True, callback=parsed(parse), help=help)


def history_option(help: str, **kwargs: Any) -> Callable[[Any], Any]:
    return click.option(
        "--history", "history_path", type=click.Path(dir_okay=False), help=help, **kwargs
    )


def format_option(default: str | None, help: str = FORMAT_HELP) -> Callable[[Any], Any]:
    parse = options.formats if default else options.optional(options.formats)
    return click.option("--format", "formats", default=default, callback=parsed(parse), help=help)


def out_dir(help: str, **kwargs: Any) -> Callable[[Any], Any]:
    return click.option("--output-dir", type=click.Path(file_okay=False), help=help, **kwargs)


# Options that several commands share, defined once (same names, defaults and help).
PROFILE = click.option("--profile", help="AWS profile; default: the standard credential chain.")
ROLE_OPTIONS = apply(
    click.option(
        "--role-name", default=DEFAULT_ROLE_NAME, help="Role assumed in audited accounts."
    ),
    click.option("--external-id", help="External id passed to sts:AssumeRole."),
)
RULES_DIR = list_option(
    "--rules-dir", "rules_dirs", options.directories, f"Directory of extra rule YAML files {LIST}."
)
POLICY_OPTIONS = apply(
    list_option(
        "--trusted-account",
        "trusted_accounts",
        options.accounts,
        f"Extra account allowed to own artifact buckets {LIST}.",
    ),
    click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        help="YAML policy file (trusted accounts, checks, waivers).",
    ),
    RULES_DIR,
)
FORMATS_OPTION = format_option(",".join(defaults.DEFAULT_FORMATS))
FAIL_ON_CHOICE = click.Choice(FAIL_ON_CHOICES, case_sensitive=False)
FAIL_ON = click.option(
    "--fail-on",
    type=FAIL_ON_CHOICE,
    default=defaults.DEFAULT_FAIL_ON,
    help="Exit 1 when an unmuted FAIL at or above this severity is found.",
)
HISTORY_KEEP = click.option(
    "--history-keep",
    type=click.IntRange(min=1),
    default=defaults.DEFAULT_HISTORY_KEEP,
    help="Runs kept per scope in the history database; older ones are pruned.",
)
REMEDIATION_OPTIONS = apply(
    flag("--remediate", help="Fix what can be fixed safely with UpdateMlflowTrackingServer."),
    flag("--dry-run", help="With --remediate: plan only, change nothing."),
    flag("--yes", help="With --remediate: do not prompt (cron)."),
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
LAKE = "With --security-lake:"
LAKE_OPTIONS = apply(
    click.option(
        "--security-lake",
        metavar="S3_URI",
        callback=parsed(options.security_lake),
        help="After the reports are written, write the findings as OCSF Parquet to this Amazon "
        "Security Lake custom source, s3://BUCKET/ext/SOURCE/ (needs the extra "
        "mlflow-audit[securitylake]). A failed write is a warning.",
    ),
    click.option(
        "--security-lake-role",
        metavar="ARN",
        callback=parsed(options.security_lake_role),
        help=f"{LAKE} the custom source's provider role, assumed to write.",
    ),
    click.option("--security-lake-external-id", help=f"{LAKE} the role's external id."),
)
PUSH_OPTIONS = apply(
    flag(
        "--security-hub",
        help="After the reports are written, import the findings into AWS Security Hub (ASFF), "
        "each from its own account and region; findings resolved since the previous run are "
        "archived. A failed import is a warning; the exit code is unchanged.",
    ),
    click.option(
        "--notify",
        metavar="TOPIC_ARN",
        callback=parsed(options.topic),
        help="After the reports are written, publish one message about the run to this SNS "
        "topic (as the caller, in the topic's region). A failed publish is a warning.",
    ),
    LAKE_OPTIONS,
)
