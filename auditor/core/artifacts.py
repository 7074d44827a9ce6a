"""Parse ``ArtifactStoreUri`` into a bucket name, and read account regional namespaces.

SageMaker accepts ``(https|s3)://([^/]+)/?(.*)`` so anything matching that pattern can be
configured; only some of it names an S3 bucket. Accepted forms:

* ``s3://bucket[/prefix]``
* virtual-hosted: ``https://bucket.s3[.-]REGION.amazonaws.com[/prefix]``,
  ``https://bucket.s3.amazonaws.com[/prefix]`` (dualstack and ``.com.cn`` too)
* path style: ``https://s3[.-]REGION.amazonaws.com/bucket[/prefix]``,
  ``https://s3.amazonaws.com/bucket[/prefix]``
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")

_REGION = r"(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)"
_S3_HOST = rf"s3(?:[.-](?:dualstack\.)?{_REGION})?\.amazonaws\.com(?:\.cn)?"
_VIRTUAL_HOSTED_RE = re.compile(rf"^(?P<bucket>.+)\.{_S3_HOST}$")
_PATH_STYLE_RE = re.compile(rf"^{_S3_HOST}$")

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/gpbucketnamespaces.html
# bucket-name-prefix-ACCOUNTID-REGION-an, e.g. amzn-s3-demo-bucket-111122223333-us-west-2-an
_NAMESPACE_RE = re.compile(
    r"^(?P<prefix>[a-z0-9][a-z0-9.-]*?)-(?P<account>\d{12})-(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)-an$"
)


@dataclass(frozen=True, slots=True)
class ParsedUri:
    """The result of parsing one URI; ``bucket`` is None when it names no bucket."""

    uri: str | None
    bucket: str | None
    prefix: str | None
    style: str | None  # "s3", "virtual-hosted" or "path"
    region: str | None
    error: str | None

    @property
    def valid(self) -> bool:
        return self.bucket is not None


@dataclass(frozen=True, slots=True)
class Namespace:
    account_id: str
    region: str


def bucket_name_error(name: str) -> str | None:
    """Why ``name`` is not a valid general purpose bucket name, or None if it is."""
    if not _BUCKET_RE.match(name):
        return "bucket names are 3-63 lowercase letters, digits, dots and hyphens"
    if ".." in name:
        return "bucket names cannot contain two adjacent periods"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return "bucket names cannot be formatted as an IP address"
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return "bucket name uses a prefix or suffix that S3 reserves"
    return None


def _invalid(uri: str | None, error: str) -> ParsedUri:
    return ParsedUri(uri=uri, bucket=None, prefix=None, style=None, region=None, error=error)


def parse_artifact_store_uri(uri: str | None) -> ParsedUri:
    """Parse an ArtifactStoreUri; never raises, reports the reason in ``error``."""
    if not uri:
        return _invalid(uri, "ArtifactStoreUri is empty")
    try:
        parts = urlsplit(uri.strip())
    except ValueError as exc:
        return _invalid(uri, f"ArtifactStoreUri is not a URL ({exc})")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower() if parts.netloc else ""
    path = parts.path.lstrip("/")
    region: str | None = None
    if scheme == "s3":
        bucket, style, prefix = parts.netloc, "s3", path
    elif scheme == "https":
        if parts.port not in (None, 443) or parts.username or parts.password:
            return _invalid(uri, "ArtifactStoreUri has a port or credentials, not an S3 URL")
        if m := _PATH_STYLE_RE.match(host):
            bucket, _, prefix = path.partition("/")
            style, region = "path", m.group("region")
        elif m := _VIRTUAL_HOSTED_RE.match(host):
            bucket, style, prefix = m.group("bucket"), "virtual-hosted", path
            region = m.group("region")
        else:
            return _invalid(uri, f"host {host!r} is not an Amazon S3 endpoint")
    else:
        return _invalid(uri, "ArtifactStoreUri must start with s3:// or https://")
    if not bucket:
        return _invalid(uri, "ArtifactStoreUri names no bucket")
    if error := bucket_name_error(bucket):
        return _invalid(uri, f"{bucket!r} is not a valid bucket name: {error}")
    return ParsedUri(
        uri=uri, bucket=bucket, prefix=prefix or "", style=style, region=region, error=None
    )


def account_namespace(bucket: str) -> Namespace | None:
    """The owner that an account regional namespace name proves, if the name is one."""
    m = _NAMESPACE_RE.match(bucket)
    if not m:
        return None
    return Namespace(account_id=m.group("account"), region=m.group("region"))
