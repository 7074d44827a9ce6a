"""The caller's boto3 Session, from ``--profile`` or the standard credential chain."""

from __future__ import annotations

import boto3
import botocore.session
from botocore.exceptions import BotoCoreError, ProfileNotFound

from auditor.aws.models import use_lean_models
from auditor.core.errors import ConfigError


def make_session(profile: str | None) -> boto3.Session:
    """A Session whose configuration is read now: a broken config file or an unknown
    profile is a ConfigError (exit 2, one line) before anything is scanned."""
    try:
        # The botocore session is made here, so its configuration is read through it.
        core = botocore.session.Session(profile=profile)
        core.get_scoped_config()  # surfaces a broken config file or unknown profile now
        session = boto3.Session(botocore_session=core)
        # One loader for the process: the models this session reads (the partition and
        # offered regions) are the trimmed ones the clients use, parsed once.
        use_lean_models(core)
        return session
    except (ProfileNotFound, BotoCoreError) as exc:
        raise ConfigError(str(exc)) from None
