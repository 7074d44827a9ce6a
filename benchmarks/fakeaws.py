"""A light loopback AWS for the scale benchmark: only the calls ``mlflow-audit scan`` makes.

Usage::

    python benchmarks/fakeaws.py --accounts 200 --regions 17 --servers 2000 \\
        --latency-ms 50 --throttle-rate 0.02 --port 0

prints one JSON line ``{endpoint_url, access_key, secret_key, management_account_id,
expected}`` and serves until SIGTERM/SIGINT. ``expected`` holds the minimum number of
calls a correct scan needs (by kind and in total), the longest dependency chain, and the
findings a correct scan reports. ``GET /_stats`` answers the calls counted so far by
(service, operation, throttled) and the server's CPU seconds (``time.process_time()``);
``POST /_reset`` zeroes the counts.

How it differs from ``auditor.sim`` (docs/simulation.md), and why
-----------------------------------------------------------------
``auditor.sim`` is moto plus the MLflow API: every request goes through moto's WSGI
dispatch, its backends, IAM/STS emulation and the sim's pipeline (faults, accounting,
ownership enforcement). That costs several milliseconds of CPU per request, so on a
2-core machine a 10,000-call scan measures the simulator, not the scanner. This module
answers *only* the operations a scan makes, from precomputed dictionaries:

* sts ``GetCallerIdentity``/``AssumeRole`` and ec2 ``DescribeRegions`` (query / EC2 XML),
* organizations ``ListAccounts`` and sagemaker ``ListMlflowTrackingServers``,
  ``ListMlflowApps``, ``DescribeMlflowTrackingServer``, ``DescribeMlflowApp`` (JSON 1.1),
  and ``UpdateMlflowTrackingServer`` (applied at once: what ``event --remediate`` sends),
* s3 ``ListBuckets`` and ``HeadBucket`` with ``x-amz-expected-bucket-owner`` (REST-XML),
* the prove stage's bucket reads (``?policy``, ``?policyStatus``, ``?publicAccessBlock``,
  ``?ownershipControls``, ``?versioning``, ``?object-lock``, owner only) and S3 Control
  ``GetPublicAccessBlock`` (``/v20180820/configuration/publicAccessBlock``, own account),

in the wire formats unmodified botocore parses, with the protocol's own throttling error
(JSON ``ThrottlingException`` 400, STS ``Throttling`` 400, EC2 ``RequestLimitExceeded``
503, S3 ``SlowDown`` 503). Its CPU cost per request is 3-23x lower than auditor.sim's
(~0.2 ms vs 0.75-4 ms, 14x on average; ``bench_scale.py --sim-compare`` measures it),
and in a scan it is ~0.6 ms per request against the scanner's ~8 ms per call, so the
figures describe the scanner (bench_scale.py prints both CPU times).

Signatures are not verified: the caller's account is read from the SigV4
``Credential=AKID/date/region/service/aws4_request`` scope (the management key maps to
the management account, ``AssumeRole`` hands out a key that encodes the member account).
There is no IAM, no error injection other than throttling, and no write API; use
``auditor.sim`` for behaviour, this for scale.

The organisation is deterministic from (accounts, regions, servers, apps, seed): account
``i`` is ``200000000000 + i`` (0 = management, the caller), the regions are the first R
where botocore offers SageMaker, servers are spread at random over (account, region)
with one "hot" scope of 120 servers (two ListMlflowTrackingServers pages) when there are
at least 600. Artifact buckets: ~78% owned by the server's account, ~10% shared central
buckets of the management account, ~5% missing (HeadBucket 404), ~5% owned by an outside
account (403), ~2% owned outside but readable and pinned to that owner (HeadBucket 200,
then one ExpectedBucketOwner probe confirms it). Each org-owned bucket's access
configuration is drawn from a second generator seeded from ``seed``: ~90% have a policy
(3% of all with a PutObject grant to an outside account, 2% with a public read), Block
Public Access on at the bucket in ~93% and at the account in ~75% of accounts, Object
Ownership BucketOwnerEnforced in ~93%, versioning on in ~92% (``_configure_integrity``).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import signal
import socket
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

MANAGEMENT_KEY = "AKIABENCHMANAGEMENT0"
SECRET_KEY = "benchmark-secret-key-not-a-real-one"
FIRST_ACCOUNT = 200000000000
OUTSIDE_ACCOUNTS = [f"{999900000000 + i}" for i in range(1, 10)]
LIST_ACCOUNTS_PAGE = 20  # organizations:ListAccounts answers at most 20 a page
DEFAULT_LIST_PAGE = 10  # SageMaker's default MaxResults when none is sent
HOT_SCOPE_SERVERS = 120
EPOCH = 1_700_000_000.0

_CREDENTIAL_RE = re.compile(r"Credential=([^/]+)/\d+/([^/]+)/([^/]+)/aws4_request")


def offered_regions() -> list[str]:
    """Regions where botocore says SageMaker is offered (what the scanner intersects with)."""
    import botocore.session

    return sorted(botocore.session.get_session().get_available_regions("sagemaker"))


# The execution roles: every resource of an account uses its one role, mlflow-exec. Half
# the accounts attach the AWS managed AmazonS3FullAccess (s3:* on *: the S3 write check
# FAILs; the one document is read once per run, whatever the accounts), the others an
# inline policy limited by s3:ResourceAccount to the account itself (PASS). Every trust
# policy names its account in aws:SourceAccount (the trust check PASSes).
EXECUTION_ROLE = "mlflow-exec"
S3_FULL_ACCESS_ARN = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
S3_FULL_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*", "s3-object-lambda:*"], "Resource": "*"}],
}
ROLE_ACTIONS = ("GetRole", "ListAttachedRolePolicies", "ListRolePolicies", "GetRolePolicy")


def full_access(account: str) -> bool:
    return int(account) % 2 == 0


def trust_policy(account: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }


def scoped_policy(account: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": "*",
                "Condition": {"StringEquals": {"s3:ResourceAccount": account}},
            }
        ],
    }


@dataclass(slots=True)
class Server:
    name: str
    account: str
    region: str
    bucket: str
    verification: bool
    pinned: str | None
    kind: str  # own | central | missing | outside | outside-readable

    @property
    def arn(self) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:mlflow-tracking-server/{self.name}"


@dataclass(slots=True)
class App:
    name: str
    account: str
    region: str
    bucket: str
    kind: str

    @property
    def arn(self) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:mlflow-app/{self.name}"


@dataclass(slots=True)
class Bucket:
    name: str
    owner: str | None  # None: the bucket does not exist
    readable_by_org: bool = False  # outside buckets whose policy lets the org read them
    # Access configuration, set by _configure_integrity for org-owned buckets.
    policy: str | None = "org"  # org | foreign (a PutObject grant outside) | public | None
    pab: str = "on"  # Block Public Access: on (all four) | partial | none (not configured)
    ownership: str | None = "BucketOwnerEnforced"  # None: no rule (ObjectWriter)
    versioning: str | None = "Enabled"  # Enabled | Suspended | None (never enabled)
    object_lock: bool = False


@dataclass
class Org:
    accounts: list[str]
    regions: list[str]
    servers: dict[tuple[str, str], list[Server]] = field(default_factory=dict)
    apps: dict[tuple[str, str], list[App]] = field(default_factory=dict)
    buckets: dict[str, Bucket] = field(default_factory=dict)
    owned: dict[str, list[str]] = field(default_factory=dict)  # account -> bucket names
    account_pab: dict[str, bool] = field(default_factory=dict)  # True: all four on
    by_name: dict[tuple[str, str, str], Server] = field(default_factory=dict)
    app_by_arn: dict[str, App] = field(default_factory=dict)

    @property
    def management(self) -> str:
        return self.accounts[0]

    def all_servers(self) -> list[Server]:
        return [s for scope in self.servers.values() for s in scope]

    def all_apps(self) -> list[App]:
        return [a for scope in self.apps.values() for a in scope]


def build_org(
    n_accounts: int,
    n_regions: int,
    n_servers: int,
    n_apps: int | None = None,
    seed: int = 1,
    hot_scopes: int = 1,
) -> Org:
    """The synthetic organisation, a pure function of its arguments."""
    if n_accounts < 1:
        raise ValueError("at least one account")
    offered = offered_regions()
    if not 1 <= n_regions <= len(offered):
        raise ValueError(f"--regions must be 1..{len(offered)} (SageMaker regions)")
    rng = random.Random(seed)
    accounts = [f"{FIRST_ACCOUNT + i}" for i in range(n_accounts)]
    org = Org(accounts=accounts, regions=offered[:n_regions])
    mgmt = org.management
    central = [f"bench-central-{j}" for j in range(max(1, n_accounts // 50))]
    for name in central:
        org.buckets[name] = Bucket(name, mgmt)
    for acct in accounts:  # unrelated buckets every account owns (ListBuckets lists them)
        for j in range(3):
            org.buckets[f"bench-misc-{acct}-{j}"] = Bucket(f"bench-misc-{acct}-{j}", acct)

    # Hot scopes: HOT_SCOPE_SERVERS servers each, in distinct accounts of one region (so
    # one shared client of the scanner serves them all).
    hot_scopes = min(hot_scopes, max(1, n_accounts - 1))
    hot = HOT_SCOPE_SERVERS * hot_scopes if n_servers >= 5 * HOT_SCOPE_SERVERS * hot_scopes else 0
    for i in range(n_servers):
        if i < hot:
            h = i // HOT_SCOPE_SERVERS
            acct = accounts[1 + h] if n_accounts > 1 else accounts[0]
            region = org.regions[0]
        else:
            acct, region = rng.choice(accounts), rng.choice(org.regions)
        r = rng.random()
        verification = rng.random() < 0.5
        pinned: str | None = None
        if r < 0.05:
            kind, bucket = "missing", f"bench-gone-{i}"
            org.buckets[bucket] = Bucket(bucket, None)
            pinned = acct if verification else None
        elif r < 0.10:
            kind, bucket = "outside", f"bench-ext-{i}"
            org.buckets[bucket] = Bucket(bucket, rng.choice(OUTSIDE_ACCOUNTS))
            pinned = acct if verification else None
        elif r < 0.12:
            kind, bucket = "outside-readable", f"bench-extread-{i}"
            owner = rng.choice(OUTSIDE_ACCOUNTS)
            org.buckets[bucket] = Bucket(bucket, owner, readable_by_org=True)
            pinned, verification = owner, True
        elif r < 0.22:
            kind, bucket = "central", rng.choice(central)
            pinned = mgmt if verification else None
        else:
            kind, bucket = "own", f"bench-art-{acct}-{i}"
            org.buckets[bucket] = Bucket(bucket, acct)
            pinned = acct if verification else None
        server = Server(f"srv-{i:05d}", acct, region, bucket, verification, pinned, kind)
        org.servers.setdefault((acct, region), []).append(server)
        org.by_name[(acct, region, server.name)] = server

    for i in range(max(1, n_servers // 100) if n_apps is None else n_apps):
        acct, region = rng.choice(accounts), rng.choice(org.regions)
        if i % 10 == 9:
            kind, bucket = "missing", f"bench-app-gone-{i}"
            org.buckets[bucket] = Bucket(bucket, None)
        else:
            kind, bucket = "own", f"bench-app-{acct}-{i}"
            org.buckets[bucket] = Bucket(bucket, acct)
        app = App(f"app-{i:05d}", acct, region, bucket, kind)
        org.apps.setdefault((acct, region), []).append(app)
        org.app_by_arn[app.arn] = app

    owned: dict[str, list[str]] = defaultdict(list)
    for b in org.buckets.values():
        if b.owner is not None and b.owner in set(accounts):
            owned[b.owner].append(b.name)
    org.owned = {a: sorted(owned.get(a, [])) for a in accounts}
    _configure_integrity(org, seed)
    return org


def _configure_integrity(org: Org, seed: int) -> None:
    """Each org-owned bucket's access configuration, and each account's Block Public
    Access: mostly compliant with a few percent of gaps per check. A separate generator
    (seeded from ``seed``, buckets in name order) leaves the rest of the org unchanged."""
    rng = random.Random(f"integrity-{seed}")
    for acct in org.accounts:
        org.account_pab[acct] = rng.random() >= 0.25
    for name in sorted(org.buckets):
        b = org.buckets[name]
        if b.owner not in org.account_pab:
            continue
        r = rng.random()
        b.policy = None if r < 0.10 else "foreign" if r < 0.13 else "public" if r < 0.15 else "org"
        r = rng.random()
        b.pab = "none" if r < 0.04 or b.policy == "public" else "partial" if r < 0.07 else "on"
        r = rng.random()
        b.ownership = (
            None if r < 0.04 else "BucketOwnerPreferred" if r < 0.07 else "BucketOwnerEnforced"
        )
        r = rng.random()
        b.versioning = "Suspended" if r < 0.04 else None if r < 0.08 else "Enabled"
        b.object_lock = b.versioning == "Enabled" and rng.random() < 0.10


def bucket_policy(org: Org, b: Bucket) -> dict[str, Any] | None:
    """The policy document GetBucketPolicy answers for ``b`` (None: NoSuchBucketPolicy)."""
    if b.policy is None:
        return None
    objects = f"arn:aws:s3:::{b.name}/*"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OrgReadWrite",
            "Effect": "Allow",
            "Principal": {
                "AWS": sorted({f"arn:aws:iam::{a}:root" for a in (b.owner, org.management)})
            },
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": objects,
        },
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{b.name}", objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]
    if b.policy == "foreign":
        partner = OUTSIDE_ACCOUNTS[sum(map(ord, b.name)) % len(OUTSIDE_ACCOUNTS)]
        statements.append(
            {
                "Sid": "PartnerUpload",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{partner}:root"},
                "Action": "s3:PutObject",
                "Resource": objects,
            }
        )
    if b.policy == "public":
        statements.append(
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": objects,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def integrity_fails(org: Org, b: Bucket) -> list[str]:
    """The integrity checks a bucket's configuration fails (S3 applies the stricter of
    the bucket and account Block Public Access; ``partial`` leaves the policy flags off)."""
    fails = []
    blocked = b.pab == "on" or bool(b.owner and org.account_pab.get(b.owner))
    if b.policy == "public" or not blocked:
        fails.append("mlflow_artifact_bucket_not_public")
    if b.policy == "foreign":
        fails.append("mlflow_artifact_bucket_no_foreign_writers")
    if b.ownership != "BucketOwnerEnforced":
        fails.append("mlflow_artifact_bucket_acls_disabled")
    if b.versioning != "Enabled":
        fails.append("mlflow_artifact_bucket_versioning_enabled")
    return fails


INTEGRITY_CHECKS = (
    "mlflow_artifact_bucket_not_public",
    "mlflow_artifact_bucket_no_foreign_writers",
    "mlflow_artifact_bucket_acls_disabled",
    "mlflow_artifact_bucket_versioning_enabled",
)


def _pages(n: int, size: int) -> int:
    return max(1, math.ceil(n / size))


def expected_figures(org: Org, list_page: int = 100) -> dict[str, Any]:
    """What a correct scan must do and find (see ``auditor/prove/ownership.py`` for the proof).

    Minimum calls: 1 GetCallerIdentity, ceil(N/20) ListAccounts pages, an AssumeRole per
    member, a DescribeRegions and a ListBuckets per account, per (account, region) the
    List pages (at least one each), one Describe per resource, one HeadBucket per distinct
    bucket that no audited account's ListBuckets lists, and — only when that HeadBucket
    answered 200 — one ExpectedBucketOwner probe per candidate owner not already refuted,
    in sorted order until one is confirmed. Then, per distinct used bucket owned (and so
    proven by ListBuckets) by an audited account, its access configuration: 5 S3 calls,
    6 with a bucket policy; and one S3 Control GetPublicAccessBlock per such owner.
    """
    n = len(org.accounts)
    org_accounts = set(org.accounts)
    calls: Counter[str] = Counter()
    calls["sts:GetCallerIdentity"] = 1
    calls["organizations:ListAccounts"] = _pages(n, LIST_ACCOUNTS_PAGE)
    calls["sts:AssumeRole"] = n - 1
    calls["ec2:DescribeRegions"] = n
    calls["s3:ListBuckets"] = n
    max_server_pages = 1
    for acct in org.accounts:
        for region in org.regions:
            sp = _pages(len(org.servers.get((acct, region), [])), list_page)
            max_server_pages = max(max_server_pages, sp)
            calls["sagemaker:ListMlflowTrackingServers"] += sp
            calls["sagemaker:ListMlflowApps"] += _pages(
                len(org.apps.get((acct, region), [])), list_page
            )
    servers, apps = org.all_servers(), org.all_apps()
    calls["sagemaker:DescribeMlflowTrackingServer"] = len(servers)
    calls["sagemaker:DescribeMlflowApp"] = len(apps)

    users: dict[str, list[Server | App]] = defaultdict(list)
    for res in [*servers, *apps]:
        users[res.bucket].append(res)
    probes = 0
    for name, using in users.items():
        bucket = org.buckets[name]
        if bucket.owner in org_accounts:
            continue  # listed by its owner's ListBuckets: proven without a HeadBucket
        calls["s3:HeadBucket"] += 1
        if bucket.owner is None or not bucket.readable_by_org:
            continue  # 404 or 403: no probe is allowed to conclude anything more
        candidates = sorted(
            {(getattr(r, "pinned", None) or r.account) for r in using} - org_accounts
        )
        for cand in candidates:
            probes += 1
            if cand == bucket.owner:
                break
    calls["s3:HeadBucket(ExpectedBucketOwner)"] = probes

    # Integrity (auditor/prove/integrity.py): each distinct bucket owned by an audited
    # account is read once with its owner's credentials, 5 calls, 6 with a policy
    # (GetBucketPolicyStatus only then), plus one S3 Control call per owner account.
    owned_used = [org.buckets[n] for n in sorted(users) if org.buckets[n].owner in org_accounts]
    for b in owned_used:
        for op in (
            "GetBucketPolicy",
            "GetPublicAccessBlock",
            "GetBucketOwnershipControls",
            "GetBucketVersioning",
            "GetObjectLockConfiguration",
        ):
            calls[f"s3:{op}"] += 1
        if b.policy is not None:
            calls["s3:GetBucketPolicyStatus"] += 1
    if owned_used:
        calls["s3control:GetPublicAccessBlock"] = len({b.owner for b in owned_used})

    # Execution roles (auditor/prove/roles.py): each account's one role read once, as its
    # account: GetRole, ListAttachedRolePolicies, ListRolePolicies, and GetRolePolicy per
    # inline policy; AmazonS3FullAccess's GetPolicy + GetPolicyVersion once per run.
    role_accounts = sorted({r.account for r in [*servers, *apps]})
    for acct in role_accounts:
        for op in ("GetRole", "ListAttachedRolePolicies", "ListRolePolicies"):
            calls[f"iam:{op}"] += 1
        if not full_access(acct):
            calls["iam:GetRolePolicy"] += 1
    if any(full_access(a) for a in role_accounts):
        calls["iam:GetPolicy"] = calls["iam:GetPolicyVersion"] = 1

    # Longest dependency chain: every call needs the one before it (pages by NextToken,
    # a HeadBucket the Describe that names the bucket and every ListBuckets).
    chain = {
        "sts:GetCallerIdentity": 1,
        "organizations:ListAccounts": calls["organizations:ListAccounts"],
        "sts:AssumeRole": 1 if n > 1 else 0,
        "ec2:DescribeRegions": 1,
        "sagemaker:ListMlflowTrackingServers": max_server_pages,
        "sagemaker:Describe*": 1,
        "s3:HeadBucket": 1 if calls["s3:HeadBucket"] else 0,
        "s3:HeadBucket(ExpectedBucketOwner)": 1 if probes else 0,
        # after every proof: the owner's account setting, then the bucket's reads in turn
        "s3control:GetPublicAccessBlock": 1 if owned_used else 0,
        "s3:Get* (integrity)": max((5 + (b.policy is not None) for b in owned_used), default=0),
        # then a role's reads in turn (GetRole, the lists, a policy's two reads)
        "iam (execution role)": 5 if role_accounts else 0,
    }

    fails: Counter[str] = Counter()
    integrity_known = 0
    for res in [*servers, *apps]:
        kind = res.kind
        fails["mlflow_artifact_bucket_account_namespace"] += 1  # no namespace buckets
        if kind == "missing":
            fails["mlflow_artifact_bucket_exists"] += 1
        if kind in ("outside", "outside-readable"):
            fails["mlflow_artifact_bucket_owner_trusted"] += 1
        if isinstance(res, Server):
            if not res.verification:
                fails["mlflow_s3_owner_verification_enabled"] += 1
            expected_owner = res.pinned or res.account
            owner = org.buckets[res.bucket].owner
            # FAIL only on a proven owner (a 403 bucket's owner stays unknown)
            if kind not in ("missing", "outside") and owner != expected_owner:
                fails["mlflow_s3_expected_owner_matches_bucket"] += 1
        if full_access(res.account):
            fails["mlflow_execution_role_s3_write_scoped"] += 1
        bucket = org.buckets[res.bucket]
        if bucket.owner in org_accounts:  # read as its owner: each check PASS or FAIL
            integrity_known += 1
            for check in integrity_fails(org, bucket):
                fails[check] += 1
    kinds = Counter(s.kind for s in servers)
    busiest = max((len(v) for v in org.servers.values()), default=0)
    return {
        "busiest_scope_servers": busiest,
        "calls": dict(sorted(calls.items())),
        "min_total": sum(calls.values()),
        "chain": chain,
        "chain_length": sum(chain.values()),
        "resources": len(servers) + len(apps),
        "servers": len(servers),
        "apps": len(apps),
        "scopes": n * len(org.regions),
        "regions": org.regions,
        "server_buckets_by_kind": dict(sorted(kinds.items())),
        "fail_by_check": dict(sorted(fails.items())),
        # resources whose integrity checks must be PASS or FAIL (never UNKNOWN)
        "integrity_known": integrity_known,
        "integrity_checks": list(INTEGRITY_CHECKS),
    }


class Faults:
    def __init__(self, latency_s: float, throttle_rate: float, seed: int) -> None:
        self.latency_s = latency_s
        self.throttle_rate = throttle_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def throttle(self) -> bool:
        if self.throttle_rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < self.throttle_rate


class TokenBuckets:
    """AWS-style rate limits: one token bucket per (account, region, service:operation)
    of the limited services (``rate`` tokens/s, at most ``burst``; a throttled request
    takes none), as documented for EC2's API throttling
    (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html)."""

    def __init__(self, rate: float, burst: float, services: frozenset[str]) -> None:
        self.rate, self.burst, self.services = rate, burst, services
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], list[float]] = {}
        # per key: [first success, last success, successes]
        self.spans: dict[tuple[str, str, str], list[float]] = {}

    def take(self, account: str | None, region: str, service: str, operation: str) -> bool:
        if self.rate <= 0 or service not in self.services:
            return True
        key = (account or "?", region, f"{service}:{operation}")
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(key, [self.burst, now])
            bucket[0] = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
            if bucket[0] >= 1:
                bucket[0] -= 1
                span = self.spans.setdefault(key, [now, now, 0])
                span[1], span[2] = now, span[2] + 1
                return True
            return False

    def busiest(self) -> dict[str, Any]:
        """The key with the most successful calls: how long its calls took, first to last."""
        with self._lock:
            if not self.spans:
                return {}
            key, (first, last, n) = max(self.spans.items(), key=lambda kv: kv[1][2])
        return {"key": list(key), "successes": n, "span_s": last - first, "first": first}


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str, bool]] = Counter()
        # service -> (first request, last answer) on CLOCK_MONOTONIC: the span of a stage
        self.spans: dict[str, tuple[float, float]] = {}

    def add(self, service: str, operation: str, throttled: bool, started: float = 0.0) -> None:
        now = time.monotonic()
        with self._lock:
            self.counts[(service, operation, throttled)] += 1
            first, _ = self.spans.get(service, (started or now, now))
            self.spans[service] = (min(first, started or now), now)

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.spans.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            items = list(self.counts.items())
        by_kind: Counter[str] = Counter()
        throttled_by_kind: Counter[str] = Counter()
        for (service, op, throttled), n in items:
            by_kind[f"{service}:{op}"] += n
            if throttled:
                throttled_by_kind[f"{service}:{op}"] += n
        return {
            "total": sum(by_kind.values()),
            "throttled": sum(throttled_by_kind.values()),
            "by_kind": dict(sorted(by_kind.items())),
            "throttled_by_kind": dict(sorted(throttled_by_kind.items())),
            "cpu_s": time.process_time(),
            "threads": threading.active_count(),
            "span_s": {k: round(b - a, 4) for k, (a, b) in sorted(self.spans.items())},
        }


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Reply:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or {}


def _json(payload: Any, status: int = 200) -> Reply:
    return Reply(
        status, json.dumps(payload).encode(), {"Content-Type": "application/x-amz-json-1.1"}
    )


def _xml(text: str, status: int = 200) -> Reply:
    return Reply(status, text.encode(), {"Content-Type": "text/xml"})


STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
RID = "00000000-0000-0000-0000-000000000000"


S3CONTROL_NS = "http://awss3control.amazonaws.com/doc/2018-08-20/"
S3CONTROL_PREFIX = "/v20180820/"
# GET /bucket?<sub-resource>: the bucket-configuration reads of the prove stage
S3_CONFIG_READS = {
    "policy": "GetBucketPolicy",
    "policyStatus": "GetBucketPolicyStatus",
    "publicAccessBlock": "GetPublicAccessBlock",
    "ownershipControls": "GetBucketOwnershipControls",
    "versioning": "GetBucketVersioning",
    "object-lock": "GetObjectLockConfiguration",
}


def _s3_error(code: str, message: str, status: int, bucket: str) -> Reply:
    """S3's REST error body (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html)."""
    return _xml(
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}'
        f"</Message><BucketName>{_xml_escape(bucket)}</BucketName><RequestId>{RID}"
        "</RequestId></Error>",
        status,
    )


def _s3control_error(code: str, message: str, status: int) -> Reply:
    return _xml(
        f'<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>{RID}</RequestId></ErrorResponse>",
        status,
    )


def _pab_xml(ns: str, all_on: bool) -> str:
    """A PublicAccessBlockConfiguration: all four on, or the ACL flags only."""
    policy_flags = "true" if all_on else "false"
    return (
        f'<PublicAccessBlockConfiguration xmlns="{ns}"><BlockPublicAcls>true</BlockPublicAcls>'
        f"<IgnorePublicAcls>true</IgnorePublicAcls><BlockPublicPolicy>{policy_flags}"
        f"</BlockPublicPolicy><RestrictPublicBuckets>{policy_flags}</RestrictPublicBuckets>"
        "</PublicAccessBlockConfiguration>"
    )


def _sts_error(code: str, message: str, status: int = 400) -> Reply:
    return _xml(
        f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type><Code>{code}'
        f"</Code><Message>{_xml_escape(message)}</Message></Error>"
        f"<RequestId>{RID}</RequestId></ErrorResponse>",
        status,
    )


class FakeAWS:
    """Request handling, independent of the HTTP server (so it can be unit-timed)."""

    def __init__(self, org: Org, faults: Faults, limits: TokenBuckets | None = None) -> None:
        self.org = org
        self.faults = faults
        self.limits = limits
        self.stats = Stats()
        self._accounts = set(org.accounts)

    # -- identity ------------------------------------------------------------------
    def account_of(self, key: str) -> str | None:
        if key == MANAGEMENT_KEY:
            return self.org.management
        if key.startswith("ASIA") and key[4:16] in self._accounts:
            return key[4:16]
        return None

    # -- dispatch ------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: Any, body: bytes) -> Reply:
        started = time.monotonic()
        m = _CREDENTIAL_RE.search(headers.get("Authorization", ""))
        if not m:
            return Reply(403, b'{"__type":"MissingAuthenticationTokenException"}')
        key, region, service = m.groups()
        account = self.account_of(key)
        if service == "s3" and urlsplit(path).path.startswith(S3CONTROL_PREFIX):
            service = "s3control"  # S3 Control signs as "s3"; its paths are versioned
            operation, reply = self._s3control(method, path, headers, account)
        elif service == "s3":
            operation, reply = self._s3(method, path, headers, account, region)
        elif service == "iam":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            operation = form.get("Action", "?")
            reply = self._iam(operation, form, account)
        elif service in ("sts", "ec2"):
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            operation = form.get("Action", "?")
            reply = self._query(service, operation, form, account)
        else:
            target = headers.get("X-Amz-Target", "")
            operation = target.rsplit(".", 1)[-1]
            payload = json.loads(body or b"{}")
            reply = self._json_service(service, operation, payload, account, region)
        throttled = self.faults.throttle()
        if not throttled and self.limits is not None:
            throttled = not self.limits.take(account, region, service, operation.split("(")[0])
        if throttled:
            reply = self._throttled(service)
        if self.faults.latency_s:
            time.sleep(self.faults.latency_s)
        self.stats.add(service, operation, throttled, started)
        return reply

    def _throttled(self, service: str) -> Reply:
        if service in ("s3", "s3control"):
            return _xml(
                f"<Error><Code>SlowDown</Code><Message>Please reduce your request "
                f"rate.</Message><RequestId>{RID}</RequestId></Error>",
                503,
            )
        if service == "ec2":
            return _xml(
                f"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>"
                f"Request limit exceeded.</Message></Error></Errors><RequestID>{RID}"
                f"</RequestID></Response>",
                503,
            )
        if service in ("sts", "iam"):
            return _sts_error("Throttling", "Rate exceeded")
        return _json({"__type": "ThrottlingException", "message": "Rate exceeded"}, 400)

    # -- sts / ec2 (query) ---------------------------------------------------------
    def _query(self, service: str, action: str, form: dict[str, str], account: str | None) -> Reply:
        if account is None:
            if service == "ec2":
                return _xml(
                    "<Response><Errors><Error><Code>AuthFailure</Code><Message>bad key"
                    f"</Message></Error></Errors><RequestID>{RID}</RequestID>"
                    "</Response>",
                    401,
                )
            return _sts_error("InvalidClientTokenId", "The security token is invalid.", 403)
        if service == "ec2" and action == "DescribeRegions":
            items = "".join(
                f"<item><regionName>{r}</regionName><regionEndpoint>ec2.{r}."
                "amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required"
                "</optInStatus></item>"
                for r in self.org.regions
            )
            return _xml(
                f'<DescribeRegionsResponse xmlns="{EC2_NS}"><requestId>{RID}'
                f"</requestId><regionInfo>{items}</regionInfo>"
                "</DescribeRegionsResponse>"
            )
        if action == "GetCallerIdentity":
            return _xml(
                f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult>'
                f"<Arn>arn:aws:iam::{account}:user/bench</Arn><UserId>AIDABENCH"
                f"</UserId><Account>{account}</Account></GetCallerIdentityResult>"
                f"<ResponseMetadata><RequestId>{RID}</RequestId></ResponseMetadata>"
                "</GetCallerIdentityResponse>"
            )
        if action == "AssumeRole":
            target = form.get("RoleArn", "").split(":")
            member = target[4] if len(target) > 5 else ""
            if member not in self._accounts or account != self.org.management:
                return _sts_error("AccessDenied", "not authorized to perform sts:AssumeRole", 403)
            expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            role = form.get("RoleArn", "").rsplit("/", 1)[-1]
            session = form.get("RoleSessionName", "s")
            return _xml(
                f'<AssumeRoleResponse xmlns="{STS_NS}"><AssumeRoleResult><Credentials>'
                f"<AccessKeyId>ASIA{member}BNCH</AccessKeyId><SecretAccessKey>{SECRET_KEY}"
                f"</SecretAccessKey><SessionToken>bench-token-{member}</SessionToken>"
                f"<Expiration>{expires}</Expiration></Credentials><AssumedRoleUser>"
                f"<AssumedRoleId>AROABENCH:{session}</AssumedRoleId><Arn>arn:aws:sts::{member}"
                f":assumed-role/{role}/{session}</Arn></AssumedRoleUser></AssumeRoleResult>"
                f"<ResponseMetadata><RequestId>{RID}</RequestId></ResponseMetadata>"
                "</AssumeRoleResponse>"
            )
        return _sts_error("InvalidAction", f"{action} is not served by fakeaws")

    # -- iam (query): the execution roles ------------------------------------------
    def _iam(self, action: str, form: dict[str, str], account: str | None) -> Reply:
        if account is None:
            return _sts_error("InvalidClientTokenId", "The security token is invalid.", 403)
        role = form.get("RoleName", "")
        inline = [] if full_access(account) else ["mlflow-artifacts"]
        if action in ROLE_ACTIONS and role != EXECUTION_ROLE:
            return _sts_error("NoSuchEntity", f"The role {role} cannot be found.", 404)
        if action == "GetRole":
            trust = quote(json.dumps(trust_policy(account)))
            body = (
                f"<Role><Path>/</Path><RoleName>{role}</RoleName><RoleId>AROABENCH{account}"
                f"</RoleId><Arn>arn:aws:iam::{account}:role/{role}</Arn><CreateDate>"
                f"2024-01-01T00:00:00Z</CreateDate><AssumeRolePolicyDocument>{trust}"
                "</AssumeRolePolicyDocument></Role>"
            )
        elif action == "ListAttachedRolePolicies":
            members = "".join(
                f"<member><PolicyName>{a.rsplit('/', 1)[1]}</PolicyName><PolicyArn>{a}"
                "</PolicyArn></member>"
                for a in ([S3_FULL_ACCESS_ARN] if full_access(account) else [])
            )
            body = f"<AttachedPolicies>{members}</AttachedPolicies><IsTruncated>false</IsTruncated>"
        elif action == "ListRolePolicies":
            members = "".join(f"<member>{n}</member>" for n in inline)
            body = f"<PolicyNames>{members}</PolicyNames><IsTruncated>false</IsTruncated>"
        elif action == "GetRolePolicy":
            if form.get("PolicyName") not in inline:
                return _sts_error("NoSuchEntity", "The role policy cannot be found.", 404)
            doc = quote(json.dumps(scoped_policy(account)))
            body = (
                f"<RoleName>{role}</RoleName><PolicyName>{inline[0]}</PolicyName>"
                f"<PolicyDocument>{doc}</PolicyDocument>"
            )
        elif action in ("GetPolicy", "GetPolicyVersion"):
            if form.get("PolicyArn") != S3_FULL_ACCESS_ARN:
                return _sts_error("NoSuchEntity", "The policy cannot be found.", 404)
            if action == "GetPolicy":
                body = (
                    f"<Policy><PolicyName>AmazonS3FullAccess</PolicyName><Arn>"
                    f"{S3_FULL_ACCESS_ARN}</Arn><DefaultVersionId>v2</DefaultVersionId></Policy>"
                )
            else:
                doc = quote(json.dumps(S3_FULL_ACCESS))
                body = (
                    f"<PolicyVersion><Document>{doc}</Document><VersionId>v2</VersionId>"
                    "<IsDefaultVersion>true</IsDefaultVersion></PolicyVersion>"
                )
        else:
            return _sts_error("InvalidAction", f"{action} is not served by fakeaws")
        return _xml(
            f'<{action}Response xmlns="{IAM_NS}"><{action}Result>{body}</{action}Result>'
            f"<ResponseMetadata><RequestId>{RID}</RequestId></ResponseMetadata>"
            f"</{action}Response>"
        )

    # -- organizations / sagemaker (JSON 1.1) -------------------------------------
    def _json_service(
        self, service: str, op: str, p: dict[str, Any], account: str | None, region: str
    ) -> Reply:
        if account is None:
            return _json(
                {
                    "__type": "UnrecognizedClientException",
                    "message": "The security token included in the request is invalid",
                },
                400,
            )
        if service == "organizations" and op == "ListAccounts":
            if account != self.org.management:
                return _json({"__type": "AccessDeniedException", "message": "not management"}, 400)
            return self._page(
                p,
                LIST_ACCOUNTS_PAGE,
                self.org.accounts,
                "Accounts",
                lambda a: {
                    "Id": a,
                    "Arn": f"arn:aws:organizations::{self.org.management}:account/o-bench/{a}",
                    "Email": f"{a}@example.com",
                    "Name": f"bench-{a}",
                    "Status": "ACTIVE",
                    "State": "ACTIVE",
                    "JoinedMethod": "CREATED",
                    "JoinedTimestamp": EPOCH,
                },
            )
        if service != "sagemaker":
            return _json({"__type": "UnknownOperationException", "message": op}, 400)
        if op == "ListMlflowTrackingServers":
            servers = self.org.servers.get((account, region), [])
            return self._page(
                p,
                DEFAULT_LIST_PAGE,
                servers,
                "TrackingServerSummaries",
                lambda s: {
                    "TrackingServerArn": s.arn,
                    "TrackingServerName": s.name,
                    "CreationTime": EPOCH,
                    "LastModifiedTime": EPOCH,
                    "TrackingServerStatus": "Created",
                    "IsActive": "Active",
                    "MlflowVersion": "2.16.2",
                },
            )
        if op == "ListMlflowApps":
            apps = self.org.apps.get((account, region), [])
            return self._page(
                p,
                DEFAULT_LIST_PAGE,
                apps,
                "Summaries",
                lambda a: {
                    "Arn": a.arn,
                    "Name": a.name,
                    "Status": "Created",
                    "CreationTime": EPOCH,
                    "LastModifiedTime": EPOCH,
                    "MlflowVersion": "3.0",
                },
            )
        if op == "DescribeMlflowTrackingServer":
            s = self.org.by_name.get((account, region, p.get("TrackingServerName", "")))
            if s is None:
                return _json({"__type": "ResourceNotFound", "Message": "not found"}, 400)
            out = {
                "TrackingServerArn": s.arn,
                "TrackingServerName": s.name,
                "ArtifactStoreUri": f"s3://{s.bucket}/mlflow/{s.name}",
                "TrackingServerSize": "Small",
                "MlflowVersion": "2.16.2",
                "RoleArn": f"arn:aws:iam::{s.account}:role/{EXECUTION_ROLE}",
                "TrackingServerStatus": "Created",
                "IsActive": "Active",
                "TrackingServerUrl": f"https://{s.name}.example.com",
                "WeeklyMaintenanceWindowStart": "Sun:01:00",
                "AutomaticModelRegistration": False,
                "CreationTime": EPOCH,
                "LastModifiedTime": EPOCH,
                "S3BucketOwnerVerification": s.verification,
            }
            if s.pinned:
                out["S3BucketOwnerAccountId"] = s.pinned
            return _json(out)
        if op == "UpdateMlflowTrackingServer":  # what --remediate sends (bench_event.py)
            s = self.org.by_name.get((account, region, p.get("TrackingServerName", "")))
            if s is None:
                return _json({"__type": "ResourceNotFound", "Message": "not found"}, 400)
            if "S3BucketOwnerVerification" in p:
                s.verification = bool(p["S3BucketOwnerVerification"])
            if "S3BucketOwnerAccountId" in p:
                s.pinned = p["S3BucketOwnerAccountId"]
            return _json({"TrackingServerArn": s.arn})
        if op == "DescribeMlflowApp":
            a = self.org.app_by_arn.get(p.get("Arn", ""))
            if a is None or a.account != account or a.region != region:
                return _json({"__type": "ResourceNotFound", "Message": "not found"}, 400)
            return _json(
                {
                    "Arn": a.arn,
                    "Name": a.name,
                    "ArtifactStoreUri": f"s3://{a.bucket}/apps/{a.name}",
                    "MlflowVersion": "3.0",
                    "Status": "Created",
                    "RoleArn": f"arn:aws:iam::{a.account}:role/{EXECUTION_ROLE}",
                    "CreationTime": EPOCH,
                    "LastModifiedTime": EPOCH,
                }
            )
        return _json({"__type": "UnknownOperationException", "message": op}, 400)

    @staticmethod
    def _page(
        p: dict[str, Any], default_size: int, items: list[Any], key: str, render: Any
    ) -> Reply:
        start = int(p.get("NextToken") or 0)
        size = int(p.get("MaxResults") or default_size)
        chunk = items[start : start + size]
        out: dict[str, Any] = {key: [render(x) for x in chunk]}
        if start + size < len(items):
            out["NextToken"] = str(start + size)
        return _json(out)

    # -- s3 (REST-XML) -------------------------------------------------------------
    def _s3(
        self, method: str, path: str, headers: Any, account: str | None, region: str
    ) -> tuple[str, Reply]:
        url = urlsplit(path)
        bucket = unquote(url.path.lstrip("/")).split("/", 1)[0]
        if not bucket and method == "GET":
            if account is None:
                return "ListBuckets", _xml("<Error><Code>InvalidAccessKeyId</Code></Error>", 403)
            rows = "".join(
                f"<Bucket><Name>{b}</Name><CreationDate>2024-01-01T00:00:00.000Z"
                "</CreationDate></Bucket>"
                for b in self.org.owned.get(account, [])
            )
            return "ListBuckets", _xml(
                f'<ListAllMyBucketsResult xmlns="{S3_NS}"><Owner><ID>{account}</ID>'
                f"<DisplayName>bench</DisplayName></Owner><Buckets>{rows}</Buckets>"
                "</ListAllMyBucketsResult>"
            )
        if method == "HEAD" and bucket:
            expected = headers.get("x-amz-expected-bucket-owner")
            op = "HeadBucket(ExpectedBucketOwner)" if expected else "HeadBucket"
            return op, Reply(
                self._head_status(bucket, account, expected), b"", {"x-amz-bucket-region": region}
            )
        sub = {q.split("=", 1)[0] for q in url.query.split("&") if q}
        if method == "GET" and bucket and len(sub) == 1 and next(iter(sub)) in S3_CONFIG_READS:
            op = S3_CONFIG_READS[next(iter(sub))]
            return op, self._s3_config(op, bucket, account)
        return f"{method}:unsupported", _xml("<Error><Code>NotImplemented</Code></Error>", 501)

    def _s3_config(self, op: str, name: str, account: str | None) -> Reply:
        """A bucket's access configuration, answered only to its owner account.

        GetBucketPolicy (API_GetBucketPolicy.html): "If you don't have GetBucketPolicy
        permissions, Amazon S3 returns a 403 Access Denied error" (405 Method Not Allowed
        only for an identity of another account that a policy does grant it; no policy here
        grants another account a configuration read). The other reads need the owner's
        s3:Get* permission the same way, so another account gets 403 AccessDenied.
        "Not configured" answers as documented: NoSuchBucketPolicy (also for
        GetBucketPolicyStatus), NoSuchPublicAccessBlockConfiguration,
        OwnershipControlsNotFoundError, ObjectLockConfigurationNotFoundError, all 404
        (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html,
        API_GetBucketPolicyStatus.html, API_GetPublicAccessBlock.html,
        API_GetBucketOwnershipControls.html, API_GetObjectLockConfiguration.html);
        GetBucketVersioning of a bucket never versioned has no Status element
        (API_GetBucketVersioning.html).
        """
        b = self.org.buckets.get(name)
        if b is None or b.owner is None:
            return _s3_error("NoSuchBucket", "The specified bucket does not exist", 404, name)
        if account is None:
            return _s3_error("InvalidAccessKeyId", "The key does not exist", 403, name)
        if account != b.owner:
            return _s3_error("AccessDenied", "Access Denied", 403, name)
        if op == "GetBucketPolicy" or op == "GetBucketPolicyStatus":
            policy = bucket_policy(self.org, b)
            if policy is None:
                return _s3_error(
                    "NoSuchBucketPolicy", "The bucket policy does not exist", 404, name
                )
            if op == "GetBucketPolicy":
                return Reply(200, json.dumps(policy).encode(), {"Content-Type": "application/json"})
            public = "true" if b.policy == "public" else "false"
            return _xml(
                f'<PolicyStatus xmlns="{S3_NS}"><IsPublic>{public}</IsPublic></PolicyStatus>'
            )
        if op == "GetPublicAccessBlock":
            if b.pab == "none":
                return _s3_error(
                    "NoSuchPublicAccessBlockConfiguration",
                    "The public access block configuration was not found",
                    404,
                    name,
                )
            return _xml(_pab_xml(S3_NS, b.pab == "on"))
        if op == "GetBucketOwnershipControls":
            if b.ownership is None:
                return _s3_error(
                    "OwnershipControlsNotFoundError",
                    "The bucket ownership controls were not found",
                    404,
                    name,
                )
            return _xml(
                f'<OwnershipControls xmlns="{S3_NS}"><Rule><ObjectOwnership>{b.ownership}'
                "</ObjectOwnership></Rule></OwnershipControls>"
            )
        if op == "GetBucketVersioning":
            status = f"<Status>{b.versioning}</Status>" if b.versioning else ""
            return _xml(
                f'<VersioningConfiguration xmlns="{S3_NS}">{status}</VersioningConfiguration>'
            )
        if not b.object_lock:  # GetObjectLockConfiguration
            return _s3_error(
                "ObjectLockConfigurationNotFoundError",
                "Object Lock configuration does not exist for this bucket",
                404,
                name,
            )
        return _xml(
            f'<ObjectLockConfiguration xmlns="{S3_NS}"><ObjectLockEnabled>Enabled'
            "</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>30"
            "</Days></DefaultRetention></Rule></ObjectLockConfiguration>"
        )

    def _s3control(
        self, method: str, path: str, headers: Any, account: str | None
    ) -> tuple[str, Reply]:
        """S3 Control GetPublicAccessBlock (``GET /v20180820/configuration/publicAccessBlock``
        with ``x-amz-account-id``), for the caller's own account only; an account with no
        setting answers NoSuchPublicAccessBlockConfiguration 404
        (https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_GetPublicAccessBlock.html).
        """
        if (
            method != "GET"
            or urlsplit(path).path != S3CONTROL_PREFIX + "configuration/publicAccessBlock"
        ):
            return f"{method}:unsupported", _s3control_error("NotImplemented", "not served", 501)
        target = headers.get("x-amz-account-id", "")
        if account is None:
            return "GetPublicAccessBlock", _s3control_error(
                "InvalidAccessKeyId", "The key does not exist", 403
            )
        if target != account:
            return "GetPublicAccessBlock", _s3control_error("AccessDenied", "Access Denied", 403)
        if not self.org.account_pab.get(account):
            return "GetPublicAccessBlock", _s3control_error(
                "NoSuchPublicAccessBlockConfiguration",
                "The public access block configuration was not found",
                404,
            )
        return "GetPublicAccessBlock", _xml(_pab_xml(S3CONTROL_NS, True))

    def _head_status(self, name: str, account: str | None, expected: str | None) -> int:
        b = self.org.buckets.get(name)
        if b is None or b.owner is None:
            return 404
        if account is None:
            return 403
        if expected and expected != b.owner:
            return 403
        readable = (
            b.owner == account
            or (b.owner in self._accounts and account in self._accounts)
            or b.readable_by_org
        )
        return 200 if readable else 403


def make_server(app: FakeAWS, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses pooled connections
        server_version = "fakeaws"
        sys_version = ""

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, reply: Reply, head: bool = False) -> None:
            lines = [
                f"HTTP/1.1 {reply.status} X",
                f"Content-Length: {len(reply.body)}",
                f"x-amzn-RequestId: {RID}",
                f"x-amz-request-id: {RID}",
            ]
            lines += [f"{k}: {v}" for k, v in reply.headers.items()]
            data = ("\r\n".join(lines) + "\r\n\r\n").encode()
            self.wfile.write(data if head else data + reply.body)  # one write per reply

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/_"):
                self._control(body)
                return
            reply = app.handle(self.command, self.path, self.headers, body)
            self._send(reply, head=self.command == "HEAD")

        def _control(self, body: bytes) -> None:
            if self.path == "/_stats":
                self._send(
                    Reply(
                        200,
                        json.dumps(
                            {
                                **app.stats.snapshot(),
                                "busiest": app.limits.busiest() if app.limits else {},
                            }
                        ).encode(),
                        {"Content-Type": "application/json"},
                    )
                )
            elif self.path == "/_reset" and self.command == "POST":
                app.stats.reset()
                self._send(Reply(200, b'{"ok": true}', {"Content-Type": "application/json"}))
            else:
                self._send(Reply(404, b"{}", {"Content-Type": "application/json"}))

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # many clients connect at once at the start of a scan

    return Server((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--regions", type=int, default=17)
    ap.add_argument("--servers", type=int, default=2000)
    ap.add_argument("--apps", type=int, default=None, help="default: servers // 100")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--throttle-rate", type=float, default=0.02)
    ap.add_argument(
        "--rate-limit",
        default="",
        metavar="RATE:BURST",
        help="token bucket per (account, region, operation), e.g. 2:10",
    )
    ap.add_argument("--rate-limit-services", default="sagemaker")
    ap.add_argument("--hot-scopes", type=int, default=1, help="scopes of 120 servers")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("fakeaws binds loopback only")

    org = build_org(
        args.accounts, args.regions, args.servers, args.apps, args.seed, args.hot_scopes
    )
    limits = None
    if args.rate_limit:
        rate, burst = (float(v) for v in args.rate_limit.split(":"))
        services = frozenset(v for v in args.rate_limit_services.split(",") if v)
        limits = TokenBuckets(rate, burst, services)
    app = FakeAWS(org, Faults(args.latency_ms / 1000.0, args.throttle_rate, args.seed), limits)
    httpd = make_server(app, args.host, args.port)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
    )
    thread.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    host, port = httpd.server_address[:2]
    print(
        json.dumps(
            {
                "endpoint_url": f"http://{host}:{port}",
                "access_key": MANAGEMENT_KEY,
                "secret_key": SECRET_KEY,
                "management_account_id": org.management,
                "expected": expected_figures(org),
            }
        ),
        flush=True,
    )
    while not stop.wait(0.5):
        pass
    httpd.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
