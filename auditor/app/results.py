"""Findings documents and reports in S3: ``s3://bucket/prefix/`` as an output directory.

A distributed run has no shared disk: each shard writes its findings.json under one
prefix and the merge reads every findings.json it finds there. Each object is written
with a single PutObject, which S3 makes atomic for readers: "Amazon S3 never adds partial
objects; if you receive a success response, Amazon S3 added the entire object" and a
GET after a successful PUT returns the new object (Amazon S3 User Guide, "Amazon S3
data consistency model"). So a reader sees a whole document or none, never half of one;
a later PUT of the same key replaces it whole. Several formats of one run are several
objects: each is whole, and findings.json is written last, so a reader that finds the
run's findings.json finds its other reports too.

Every call is made as the caller (the credentials the run itself was given), through
``auditor.aws.clients.ClientCache``: ``s3:PutObject``, ``s3:GetObject`` and
``s3:ListBucket`` (ListObjectsV2) on the prefix are all it needs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from auditor.aws.clients import ClientCache
from auditor.aws.errors import error_code, error_message
from auditor.core.errors import ConfigError
from auditor.core.terminal import echo
from auditor.report.formats import output_format
from auditor.report.load import MAX_DOCUMENT_BYTES, load_document
from auditor.report.outputs import ReportWriteError

S3_SCHEME = "s3://"
DOCUMENT_NAME = "findings.json"
_CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "ocsf": "application/json",
    "asff": "application/json",
}


@dataclass(frozen=True, slots=True)
class S3Prefix:
    """``s3://bucket/prefix/``: ``prefix`` is empty or ends with ``/``."""

    bucket: str
    prefix: str

    def __str__(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.prefix}"

    def key(self, name: str) -> str:
        return self.prefix + name.lstrip("/")

    def url(self, name: str) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key(name)}"

    def child(self, name: str) -> S3Prefix:
        return S3Prefix(self.bucket, self.key(name.strip("/") + "/"))


def parse_prefix(value: str) -> S3Prefix | None:
    """``s3://bucket[/prefix[/]]`` -> S3Prefix; anything else is a local path (None).

    The prefix names a folder: a missing trailing ``/`` is added, so ``s3://b/run1``
    never matches the objects of ``s3://b/run10/``. ConfigError for an empty bucket.
    """
    if not value.startswith(S3_SCHEME):
        return None
    bucket, _, prefix = value[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise ConfigError(f"{value!r} names no bucket (expected s3://BUCKET/PREFIX/)")
    prefix = prefix.strip("/")
    return S3Prefix(bucket, f"{prefix}/" if prefix else "")


def _describe(exc: Exception, where: str, doing: str) -> str:
    code = error_code(exc)
    if code in ("NoSuchBucket",):
        return f"{where}: the bucket does not exist"
    if code in ("AccessDenied", "403", "Forbidden"):
        return f"{where}: access denied {doing} (needs s3:{_ACTION[doing]} there)"
    return f"{where}: {doing} failed: {code}: {error_message(exc)[:200]}"


_ACTION = {"writing": "PutObject", "reading": "GetObject", "listing": "ListBucket"}


class S3Results:
    """Read and write findings documents under S3 prefixes, as the caller."""

    def __init__(self, session: boto3.Session, cache: ClientCache | None = None) -> None:
        credentials = session.get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        self._cache = cache or ClientCache(session, pool_size=4)
        self._credentials = credentials

    @contextmanager
    def _s3(self) -> Iterator[Any]:
        with self._cache.acting_as(self._credentials):
            yield self._cache.client(self._cache.default_region, "s3")

    def put_text(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        """One PutObject; ReportWriteError (exit 4) naming the object when it fails."""
        where = f"{S3_SCHEME}{bucket}/{key}"
        try:
            with self._s3() as s3:
                s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise ReportWriteError(
                f"cannot write {_describe(exc, where, 'writing')}; the reports of this run "
                "were not written"
            ) from None

    def write_outputs(self, doc: dict[str, Any], where: S3Prefix, formats: Any) -> list[str]:
        """Each requested rendering as one object under ``where``; findings.json last."""
        names = sorted(formats, key=lambda name: name == "json")
        written = []
        for name in names:
            fmt = output_format(name)
            rendered = fmt.render(doc)
            text = rendered if isinstance(rendered, str) else "".join(rendered)
            body = text.encode("utf-8")
            self.put_text(where.bucket, where.key(fmt.filename), body, _CONTENT_TYPES[name])
            written.append(where.url(fmt.filename))
        return written

    def put_document(self, doc: dict[str, Any], where: S3Prefix) -> str:
        """``where``/findings.json (the JSON rendering), one atomic PutObject."""
        return self.write_outputs(doc, where, ("json",))[0]

    def list_documents(self, where: S3Prefix) -> list[str]:
        """The keys of every findings.json under ``where`` (any depth), sorted."""
        keys: list[str] = []
        try:
            with self._s3() as s3:
                pages = s3.get_paginator("list_objects_v2").paginate(
                    Bucket=where.bucket, Prefix=where.prefix
                )
                for page in pages:
                    for item in page.get("Contents") or []:
                        key = str(item["Key"])
                        if key.rsplit("/", 1)[-1] == DOCUMENT_NAME:
                            keys.append(key)
        except (ClientError, BotoCoreError) as exc:
            raise ConfigError(_describe(exc, str(where), "listing")) from None
        return sorted(keys)

    def get_document(self, bucket: str, key: str) -> dict[str, Any]:
        """One findings.json, validated as ``load_document`` validates a local one."""
        where = f"{S3_SCHEME}{bucket}/{key}"
        with tempfile.TemporaryDirectory(prefix="mlflow-audit-doc-") as tmp:
            path = Path(tmp) / DOCUMENT_NAME
            try:
                with self._s3() as s3:
                    response = s3.get_object(Bucket=bucket, Key=key)
                    size = int(response.get("ContentLength") or 0)
                    if size > MAX_DOCUMENT_BYTES:
                        raise ConfigError(f"{where}: {size:,} bytes is larger than a findings.json")
                    with open(path, "wb") as fh:  # streamed: a shard's document can be large
                        for chunk in response["Body"].iter_chunks(1 << 20):
                            fh.write(chunk)
            except (ClientError, BotoCoreError) as exc:
                raise ConfigError(_describe(exc, where, "reading")) from None
            try:
                return load_document(path)
            except ConfigError as exc:
                raise ConfigError(exc.message.replace(str(path), where)) from None

    def load_documents(self, where: S3Prefix) -> tuple[list[dict[str, Any]], list[str]]:
        """Every findings.json under ``where`` and its s3:// URL (for ``merge``)."""
        keys = self.list_documents(where)
        if not keys:
            raise ConfigError(f"{where}: no {DOCUMENT_NAME} under this prefix")
        docs = [self.get_document(where.bucket, key) for key in keys]
        return docs, [f"{S3_SCHEME}{where.bucket}/{key}" for key in keys]


class S3Output:
    """``scan --output-dir s3://bucket/prefix/``: the run's reports as objects there.

    The run itself works in a local temporary directory (the remediation journal, the
    history's copy); its reports are written here instead of to that directory, inside
    the history's recording block as a local run's are.
    """

    def __init__(self, session: boto3.Session, where: S3Prefix) -> None:
        try:
            self.store = S3Results(session)
        except NoCredentialsError:
            raise ConfigError(
                "no AWS credentials found (set AWS_PROFILE or use --profile)"
            ) from None
        self.where = where

    def history(self, name: str) -> str:
        """The default history database under the prefix (``--history`` not given)."""
        return self.where.url(name)

    def write(self, doc: dict[str, Any], formats: Any) -> list[str]:
        """Each format as one object; ReportWriteError (exit 4) when one fails."""
        return self.store.write_outputs(doc, self.where, formats)

    def rewrite_document(self, doc: dict[str, Any]) -> None:
        """findings.json again, with the pushes' results; a failure is a warning."""
        try:
            self.store.put_document(doc, self.where)
        except ReportWriteError as exc:
            echo(f"warning: could not add the integration results: {exc.message}")


def load_sources(
    sources: tuple[str, ...] | list[str], session_of: Any
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every findings document ``merge`` was given: local files as they are, and every
    findings.json under each ``s3://bucket/prefix/`` (``session_of()`` gives the caller's
    session, built only when a prefix is named). Returns the documents and their names."""
    docs: list[dict[str, Any]] = []
    names: list[str] = []
    store: S3Results | None = None
    for source in sources:
        where = parse_prefix(source)
        if where is None:
            docs.append(load_document(source))
            names.append(source)
            continue
        if store is None:
            try:
                store = S3Results(session_of())
            except NoCredentialsError:
                raise ConfigError(
                    "no AWS credentials found (set AWS_PROFILE or use --profile)"
                ) from None
        found, urls = store.load_documents(where)
        docs.extend(found)
        names.extend(urls)
    return docs, names
