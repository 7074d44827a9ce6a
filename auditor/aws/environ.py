"""The AWS environment variables that choose an account, credentials or an endpoint.

One list, read by ``mlflow-audit demo`` and by the tests: both must run against the
simulation only, whatever the user's shell exports (a profile, keys, an endpoint, a
config file with another retry mode). Service-specific endpoints
(``AWS_ENDPOINT_URL_<SERVICE>``) are matched by prefix.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

AWS_ENV_VARS: tuple[str, ...] = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_RETRY_MODE",
    "AWS_MAX_ATTEMPTS",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_EC2_METADATA_DISABLED",
)
_PREFIXES = ("AWS_ENDPOINT_URL_",)


def variables_to_scrub(environ: Iterable[str] | None = None) -> list[str]:
    """Every variable of ``environ`` (default: os.environ) that could reach real AWS."""
    names = os.environ if environ is None else environ
    return [*AWS_ENV_VARS, *(n for n in names if n.startswith(_PREFIXES))]


def isolated_values(access_key: str, secret_key: str, home: Path) -> dict[str, str]:
    """What to set once scrubbed: static keys, us-east-1, and no config files."""
    return {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
