"""The caller's boto3 Session, from ``--profile`` or the standard credential chain."""

from __future__ import annotations

import boto3
from botocore.exceptions import BotoCoreError, ProfileNotFound

from auditor.errors import ConfigError


def make_session(profile: str | None) -> boto3.Session:
    """A Session whose configuration is read now: a broken config file or an unknown
    profile is a ConfigError (exit 2, one line) before anything is scanned."""
    try:
        session = boto3.Session(profile_name=profile) if profile else boto3.Session()
        session._session.get_scoped_config()  # surfaces a broken config file now
        return session
    except (ProfileNotFound, BotoCoreError) as exc:
        raise ConfigError(str(exc)) from None
