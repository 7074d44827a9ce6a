"""Who is calling: map an access key to its account and ARNs using moto's own IAM/STS state."""

from __future__ import annotations

import hashlib

from .iam import Principal

MANAGEMENT_ACCOUNT_ID = "123456789012"  # moto's DEFAULT_ACCOUNT_ID


def account_for_key(access_key: str) -> str:
    """The account moto attributes to ``access_key`` (unknown keys: the management account)."""
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


def principal_for_key(access_key: str) -> Principal:
    """The caller's account and every ARN a policy might name it by."""
    from moto.iam.models import iam_backends

    account = account_for_key(access_key)
    arns: list[str] = []
    key = iam_backends[account]["aws"].access_keys.get(access_key)
    if key is not None and key.role_arn:
        arns.append(key.role_arn)
        from moto.sts.models import sts_backends

        assumed = sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key)
        if assumed is not None:
            role_name = key.role_arn.split("/")[-1]
            arns.append(f"arn:aws:sts::{account}:assumed-role/{role_name}/{assumed.session_name}")
    elif key is not None and key.user_name:
        arns.append(f"arn:aws:iam::{account}:user/{key.user_name}")
    else:
        arns.append(f"arn:aws:sts::{account}:user/moto")
    return Principal(account, tuple(arns))


def caller_arn(access_key: str) -> str:
    """The ARN GetCallerIdentity would report (assumed-role session ARN for role keys)."""
    return principal_for_key(access_key).arns[-1]


def canonical_user_id(account_id: str) -> str:
    """A stable 64-hex S3 canonical user id per account (moto shares one for all accounts)."""
    return hashlib.sha256(f"mlflow-audit-sim-canonical:{account_id}".encode()).hexdigest()
