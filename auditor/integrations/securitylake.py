"""Amazon Security Lake custom source: the run's findings as OCSF Parquet objects.

What a custom source must deliver ("Collecting data from custom sources in Security
Lake", https://docs.aws.amazon.com/security-lake/latest/userguide/custom-sources.html):
Apache Parquet objects under the prefix Security Lake assigned to the source, one OCSF
event class per source, partitioned as
``ext/<source>/region=<region>/accountId=<account>/eventDay=<YYYYMMDD>/``, written between
every 5 minutes and once a day, records ordered by time, zstandard compression preferred,
uploaded with the source's provider role (``AmazonSecurityLake-Provider-<source>-<region>``,
assumed with the external id given when the source was created). A JSON array (our
``findings.ocsf.json``) is read by neither the Glue crawler nor the Lake Formation table.

**Version and class.** Custom sources take the event classes of OCSF 1.1.0 and, since
2025, 1.3.0 ("Adding a custom source in Security Lake", the supported OCSF event classes,
https://docs.aws.amazon.com/security-lake/latest/userguide/adding-custom-sources.html):
1.3.0 is the newest version accepted, so records are OCSF **1.3.0 Compliance Finding**
(2003), the class ``findings.ocsf.json`` uses. They are built by that renderer
(:func:`auditor.report.formats.ocsf.render`, so a finding fixed since the last run carries
its Close activity here too) and brought down to 1.3.0: ``compliance.checks`` (1.4) and
``evidences`` (not a Compliance Finding attribute in 1.3.0) move to ``unmapped``.

**Types that do not drift.** The Glue crawler infers the table's columns from the objects
it finds; with pyarrow's inference a night whose findings all lack an attribute would give
that column another type. Every object is written with one explicit schema
(:func:`arrow_schema`): OCSF integers as int32, timestamps as int64 milliseconds, ``json_t``
values (``resources[].data``) as JSON strings and ``unmapped`` as ``map<string,string>``,
as Security Lake's own tables keep them. The partition values live in the path only.

pyarrow is the optional extra ``mlflow-audit[securitylake]``, imported only here and only
when writing; without it the write is one clear line. A failed upload is a warning in the
result, never an exception: the reports are already written.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auditor.core.errors import ConfigError

LAKE_OCSF_VERSION = "1.3.0"
EXTRA_MISSING = (
    "--security-lake needs pyarrow, which is not installed: "
    "pip install 'mlflow-audit[securitylake]'"
)
URI_RE = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/ext/([\w.:-]{1,64})/?$")
ROLE_ARN_RE = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/([\w+=,.@/-]{1,512})$")
# Security Lake names its buckets aws-security-data-lake-<region>-<suffix>.
LAKE_BUCKET_RE = re.compile(r"^aws-security-data-lake-([a-z]{2}(?:-[a-z]+)+-\d)-[a-z0-9]+$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class LakeDestination:
    """``s3://BUCKET/ext/SOURCE/``: where the custom source's objects go."""

    bucket: str
    source: str

    @property
    def prefix(self) -> str:
        return f"ext/{self.source}/"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def region(self) -> str | None:
        """The lake's region when the bucket has Security Lake's own name."""
        match = LAKE_BUCKET_RE.match(self.bucket)
        return match.group(1) if match else None

    def key(self, region: str, account_id: str, day: str, run_id: str) -> str:
        name = _UNSAFE.sub("-", run_id).strip("-") or "run"
        return (
            f"{self.prefix}region={region}/accountId={account_id}/eventDay={day}/"
            f"mlflow-audit-{name}.zstd.parquet"
        )


def parse_destination(uri: str) -> LakeDestination:
    """The destination of ``--security-lake``; ConfigError (exit 2) for anything else."""
    match = URI_RE.match(uri.strip())
    if not match:
        raise ConfigError(
            f"--security-lake {uri!r}: expected the custom source's location, "
            "s3://BUCKET/ext/SOURCE/"
        )
    return LakeDestination(bucket=match.group(1), source=match.group(2))


def parse_role(arn: str) -> tuple[str, str]:
    """(account id, role name with its path) of ``--security-lake-role``; ConfigError."""
    match = ROLE_ARN_RE.match(arn.strip())
    if not match:
        raise ConfigError(f"--security-lake-role {arn!r} is not an IAM role ARN")
    return match.group(2), match.group(3)


def require_pyarrow() -> Any:
    """The pyarrow module; ConfigError with one line when the extra is not installed."""
    try:
        import pyarrow
        import pyarrow.parquet  # the writer is a submodule
    except ImportError:
        raise ConfigError(EXTRA_MISSING) from None
    return pyarrow


def lake_record(record: dict[str, Any]) -> dict[str, Any]:
    """A ``findings.ocsf.json`` record (OCSF 1.5) as the OCSF 1.3.0 record the lake takes."""
    out = json.loads(json.dumps(record, default=str))
    out["metadata"]["version"] = LAKE_OCSF_VERSION
    compliance = out.get("compliance") or {}
    checks = compliance.pop("checks", None)
    compliance["status"] = {1: "Pass", 2: "Warning", 3: "Fail"}.get(compliance.get("status_id"))
    unmapped = out.setdefault("unmapped", {}).setdefault("mlflow_audit", {})
    if checks:
        unmapped["compliance_checks"] = checks
    evidences = out.pop("evidences", None)
    if evidences:
        unmapped["evidences"] = evidences
    return out


def lake_records(doc: dict[str, Any]) -> list[dict[str, Any]]:
    from auditor.report.formats import ocsf

    return [lake_record(r) for r in ocsf.render(doc)]


def arrow_schema(pa: Any) -> Any:
    """The one schema of every object (OCSF 1.3.0 Compliance Finding, the attributes used)."""
    s, i32, i64, strings = pa.string(), pa.int32(), pa.int64(), pa.list_(pa.string())

    def struct(**fields: Any) -> Any:
        return pa.struct([pa.field(k, v) for k, v in fields.items()])

    account = struct(uid=s, name=s, type_id=i32, type=s)
    product = struct(name=s, uid=s, vendor_name=s, version=s)
    analytic = struct(uid=s, name=s, type_id=i32, type=s)
    owner = struct(uid=s, name=s, type_id=i32, type=s, account=account)
    times = {k: i64 for k in ("created_time", "first_seen_time", "last_seen_time")}
    columns = {
        "metadata": struct(
            version=s,
            product=product,
            event_code=s,
            uid=s,
            correlation_uid=s,
            profiles=strings,
        ),
        **dict.fromkeys(("category_uid", "class_uid", "activity_id"), i32),
        **dict.fromkeys(("category_name", "class_name", "activity_name"), s),
        "type_uid": i64,
        "type_name": s,
        "time": i64,
        "severity_id": i32,
        "severity": s,
        "message": s,
        "status_code": s,
        "status_id": i32,
        "status": s,
        "status_detail": s,
        "finding_info": struct(
            uid=s,
            title=s,
            desc=s,
            types=strings,
            analytic=analytic,
            **times,
            modified_time=i64,
            data_sources=strings,
            src_url=s,
        ),
        "compliance": struct(control=s, standards=strings, status_id=i32, status=s),
        "remediation": struct(desc=s, references=strings),
        "resources": pa.list_(
            struct(uid=s, name=s, type=s, region=s, cloud_partition=s, owner=owner, data=s)
        ),
        "cloud": struct(provider=s, region=s, account=account),
        "unmapped": pa.map_(s, s),
    }
    return pa.schema([pa.field(name, kind) for name, kind in columns.items()])


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def row(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` in the schema's shapes: json_t values as strings, ``unmapped`` flattened
    to ``mlflow_audit.<name>`` keys (None values left out)."""
    out = dict(record)
    out["resources"] = [
        {**r, "data": None if r.get("data") is None else _text(r["data"])}
        for r in record.get("resources") or []
    ]
    flat: list[tuple[str, str]] = []
    for group, values in (record.get("unmapped") or {}).items():
        for name, value in (values or {}).items() if isinstance(values, dict) else ():
            if value is not None:
                flat.append((f"{group}.{name}", _text(value)))
    out["unmapped"] = sorted(flat)
    return out


def _day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y%m%d")


def partitions(
    records: list[dict[str, Any]],
) -> tuple[dict[tuple[str, str, str], list[dict[str, Any]]], int]:
    """Records grouped by (region, account, eventDay), each ordered by time; and how many
    were left out because their region or account cannot name a partition."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    skipped = 0
    for record in records:
        cloud = record.get("cloud") or {}
        region = str(cloud.get("region") or "")
        account = str((cloud.get("account") or {}).get("uid") or "")
        if not (REGION_RE.match(region) and ACCOUNT_RE.match(account)):
            skipped += 1
            continue
        groups[(region, account, _day(int(record.get("time") or 0)))].append(record)
    for rows in groups.values():
        rows.sort(key=lambda r: (int(r.get("time") or 0), r["finding_info"]["uid"]))
    return dict(groups), skipped


def parquet_bytes(records: list[dict[str, Any]]) -> bytes:
    """One Parquet object (zstd) of ``records`` in :func:`arrow_schema`."""
    pa = require_pyarrow()
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([row(r) for r in records], schema=arrow_schema(pa))
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def write_lake(
    doc: dict[str, Any],
    destination: LakeDestination,
    put_object: Callable[..., Any],
    *,
    expected_owner: str | None = None,
) -> dict[str, Any]:
    """Write ``doc``'s findings to the lake, one object per partition, through
    ``put_object`` (an S3 client's, signing as the provider role). Never raises."""
    result: dict[str, Any] = {
        "destination": destination.uri,
        "ocsf_version": LAKE_OCSF_VERSION,
        "records": 0,
        "skipped": 0,
        "objects": [],
        "warnings": [],
    }
    try:
        require_pyarrow()
        groups, result["skipped"] = partitions(lake_records(doc))
    except Exception as exc:  # a push must never lose the run
        message = exc.message if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
        result["warnings"].append(f"Security Lake: nothing written: {str(message)[:300]}")
        result["status"] = "failed"
        return result
    if result["skipped"]:
        result["warnings"].append(
            f"Security Lake: {result['skipped']} finding(s) without a valid region or account "
            "id were not written"
        )
    run_id = str((doc.get("run") or {}).get("id") or "run")
    failed = 0
    for (region, account, day), records in sorted(groups.items()):
        key = destination.key(region, account, day, run_id)
        params: dict[str, Any] = {"Bucket": destination.bucket, "Key": key}
        if expected_owner:
            params["ExpectedBucketOwner"] = expected_owner
        try:
            put_object(**params, Body=parquet_bytes(records))
        except Exception as exc:  # one partition's failure must not stop the others
            failed += 1
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            result["warnings"].append(
                f"Security Lake: could not write s3://{destination.bucket}/{key}: {code}"
            )
            continue
        result["objects"].append({"key": key, "records": len(records)})
        result["records"] += len(records)
    result["status"] = "written" if not failed else "partial" if result["objects"] else "failed"
    return result


def provider_credentials(
    cache: Any, caller: Any, role_arn: str, external_id: str | None
) -> tuple[str, Any]:
    """(the lake's account, refreshable credentials of the provider role), assumed as the
    caller with ``external_id``, the way a scan assumes its member roles."""
    from auditor.aws.credentials import CredentialFactory
    from auditor.core.model import Account

    account_id, role_name = parse_role(role_arn)
    # caller_id "" : the provider role is always assumed, also in the caller's own account.
    factory = CredentialFactory(cache, caller, "", role_name, external_id)
    return account_id, factory.credentials_for(Account(account_id=account_id))


def push_security_lake(
    doc: dict[str, Any],
    destination: LakeDestination,
    cache: Any,
    caller: Any,
    role_arn: str | None,
    external_id: str | None,
) -> dict[str, Any]:
    """The whole push: assume the provider role (when given), then :func:`write_lake`
    through the run's ClientCache (paced, retried); every failure a warning."""
    from auditor.integrations.push import AccountClients

    try:
        if role_arn:
            account_id, credentials = provider_credentials(cache, caller, role_arn, external_id)
        else:
            account_id, credentials = "", caller
        region = destination.region or cache.default_region
        s3 = AccountClients(cache, lambda _account: credentials, service="s3")(account_id, region)
    except Exception as exc:  # no role, no credentials: the same warning as a failed write
        message = exc.message if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
        return {
            "destination": destination.uri,
            "status": "failed",
            "records": 0,
            "objects": [],
            "warnings": [f"Security Lake: nothing written: {str(message)[:300]}"],
        }
    return write_lake(doc, destination, s3.put_object, expected_owner=account_id or None)
