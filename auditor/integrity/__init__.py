"""Artifact store integrity: who else can read or write the bucket an MLflow server uses.

- :mod:`.gather` reads one bucket's access configuration as its owner (S3 calls, evidence);
- :mod:`.writers` evaluates its bucket policy for write grants outside the trusted set;
- :mod:`.facts` turns both into the ``integrity`` section of a facts record.
"""

from auditor.integrity.facts import RULE_FACTS, integrity_section, unavailable_reason
from auditor.integrity.gather import (
    AccountBlockPublicAccess,
    BucketIntegrity,
    gather_account_public_access_block,
    gather_bucket_integrity,
)
from auditor.integrity.writers import WriteGrant, WriterVerdict, foreign_writers

__all__ = [
    "RULE_FACTS",
    "AccountBlockPublicAccess",
    "BucketIntegrity",
    "WriteGrant",
    "WriterVerdict",
    "foreign_writers",
    "gather_account_public_access_block",
    "gather_bucket_integrity",
    "integrity_section",
    "unavailable_reason",
]
