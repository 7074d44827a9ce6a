"""Lean botocore clients: service models trimmed to the operations mlflow-audit calls.

A botocore client builds a Python class with one method (and docstring) per operation
of its service at construction: ~0.9 MB and ~15 ms for SageMaker's ~400 operations,
EC2's ~750 are worse. An organisation-wide scan builds one client per (account, region),
i.e. tens of thousands, so that cost, not the network, would bound the scan. This
loader serves the installed botocore model (never a stale copy) with only the
operations we use and the shapes they reach; everything else (endpoints, retries,
paginators, signing, the user's AWS_DATA_PATH) is botocore's own.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import botocore
import botocore.session
from botocore.loaders import Loader

#: Where trimmed models are kept between processes ($MLFLOW_AUDIT_MODEL_CACHE, else the
#: user's cache directory); a directory ``_models`` inside the package (written when the
#: Lambda zip is built: ``python -m auditor.aws.models DIR``) is read too.
CACHE_ENV = "MLFLOW_AUDIT_MODEL_CACHE"
PACKAGED_MODELS = Path(__file__).resolve().parent.parent / "_models"

# Every operation the product calls, per service. Adding a call means adding it here.
OPERATIONS: dict[str, frozenset[str]] = {
    "sagemaker": frozenset(
        {
            "ListMlflowTrackingServers",
            "DescribeMlflowTrackingServer",
            "UpdateMlflowTrackingServer",
            "ListMlflowApps",
            "DescribeMlflowApp",
        }
    ),
    "s3": frozenset(
        {
            "HeadBucket",
            "ListBuckets",
            # artifact store integrity (auditor.integrity), read as the bucket's owner
            "GetBucketPolicy",
            "GetBucketPolicyStatus",
            "GetPublicAccessBlock",
            "GetBucketOwnershipControls",
            "GetBucketVersioning",
            "GetObjectLockConfiguration",
            # --history s3://bucket/key (auditor.history.s3), as the caller
            "GetObject",
            "PutObject",
            # results under s3://bucket/prefix/ (auditor.app.results), as the caller
            "ListObjectsV2",
        }
    ),
    "s3control": frozenset({"GetPublicAccessBlock"}),
    "ec2": frozenset({"DescribeRegions"}),
    # execution roles (auditor.prove.roles), read once per role as the role's account
    "iam": frozenset(
        {
            "GetRole",
            "ListAttachedRolePolicies",
            "GetPolicy",
            "GetPolicyVersion",
            "ListRolePolicies",
            "GetRolePolicy",
        }
    ),
    "sts": frozenset({"GetCallerIdentity", "AssumeRole"}),
    "organizations": frozenset({"ListAccounts"}),
    # integrations after the reports are written (auditor.integrations.push)
    "securityhub": frozenset({"BatchImportFindings"}),
    "sns": frozenset({"Publish"}),
    # the AWS Config custom rule's answer (auditor.integrations.config_rule)
    "config": frozenset({"PutEvaluations"}),
}


def _shape_refs(shape: dict[str, Any]) -> list[str]:
    refs = [m["shape"] for m in shape.get("members", {}).values()]
    for key in ("member", "key", "value"):
        if key in shape:
            refs.append(shape[key]["shape"])
    return refs


def trim_service_model(model: dict[str, Any], operations: frozenset[str]) -> dict[str, Any]:
    """A copy of ``model`` with only ``operations`` and the shapes they reach."""
    ops = {name: op for name, op in model["operations"].items() if name in operations}
    missing = operations - set(ops)
    if missing:
        raise RuntimeError(f"installed botocore lacks {sorted(missing)}: upgrade boto3")
    shapes = model["shapes"]
    keep: set[str] = set()
    todo = []
    for op in ops.values():
        for key in ("input", "output"):
            if key in op:
                todo.append(op[key]["shape"])
        todo.extend(err["shape"] for err in op.get("errors", []))
    while todo:
        name = todo.pop()
        if name in keep or name not in shapes:
            continue
        keep.add(name)
        todo.extend(_shape_refs(shapes[name]))
    trimmed = {k: v for k, v in model.items() if k not in ("operations", "shapes")}
    trimmed["operations"] = copy.deepcopy(ops)
    trimmed["shapes"] = {name: shapes[name] for name in keep}
    return trimmed


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlflow-audit" / "models"


def cache_name(service_name: str, api_version: str | None) -> str:
    """File name of a trimmed model: botocore's version, the service, the API version and
    a digest of the operations kept, so a stale copy is never read (a new botocore or a
    new call in OPERATIONS is another name)."""
    ops = ",".join(sorted(OPERATIONS[service_name]))
    digest = hashlib.sha256(ops.encode()).hexdigest()[:12]
    return f"botocore-{botocore.__version__}-{service_name}-{api_version or 'latest'}-{digest}.json"


class LeanLoader(Loader):
    """botocore's Loader, serving trimmed ``service-2`` models for our services.

    A trimmed model is kept on disk (``cache_dir``; read-only copies in
    ``PACKAGED_MODELS``) so that later processes, a Lambda cold start above all, read a
    few kB instead of parsing the full model (sagemaker's is ~1 MB of JSON). Disk copies
    are used only without extra model search paths (AWS_DATA_PATH): a user's own models
    are always read live. Any failure reading or writing a copy falls back to trimming.
    """

    def __init__(
        self, extra_search_paths: list[str] | None = None, *, disk_copies: bool = True
    ) -> None:
        super().__init__(extra_search_paths=extra_search_paths)
        self.lean_models: dict[tuple[str, str | None], Any] = {}
        self.disk_copies = disk_copies and not extra_search_paths
        # botocore's Loader keeps every answer but takes no lock: the pool's threads that
        # build their first client of a service together would each parse its model (and
        # list botocore's data directory, ~450 folders, to find it): 8 parses of
        # SageMaker's 1 MB model at a 20-account scan. Loads are serialised; a cached
        # answer is then a dictionary lookup under an uncontended lock.
        self._loading = threading.RLock()

    def load_data_with_path(self, name: str) -> Any:
        with self._loading:
            return super().load_data_with_path(name)

    def list_available_services(self, type_name: str) -> Any:
        with self._loading:
            return super().list_available_services(type_name)

    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        with self._loading:
            return self._load_service_model(service_name, type_name, api_version)

    def _load_service_model(
        self, service_name: str, type_name: str, api_version: str | None
    ) -> Any:
        if type_name != "service-2" or service_name not in OPERATIONS:
            return super().load_service_model(service_name, type_name, api_version)
        cache = self.lean_models
        key = (service_name, api_version)
        if key not in cache:  # looked up first: the full model is loaded once, then dropped
            stored = self._read_stored(service_name, api_version)
            if stored is not None:
                cache[key] = stored
                return stored
            model = self._full_model(service_name, type_name, api_version)
            cache[key] = trim_service_model(model, OPERATIONS[service_name])
            self._store(service_name, api_version, cache[key])
        return cache[key]

    def _read_stored(self, service_name: str, api_version: str | None) -> Any:
        if not self.disk_copies:
            return None
        name = cache_name(service_name, api_version)
        for folder in (cache_dir(), PACKAGED_MODELS):
            try:
                model = json.loads((folder / name).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(model, dict) and set(model.get("operations", {})) == set(
                OPERATIONS[service_name]
            ):
                return model
        return None

    def _store(self, service_name: str, api_version: str | None, model: Any) -> None:
        if not self.disk_copies:
            return
        write_model(cache_dir(), service_name, api_version, model)

    def _full_model(self, service_name: str, type_name: str, api_version: str | None) -> Any:
        """The full model, parsed by a loader of its own: botocore's Loader keeps every
        answer for its lifetime, and a full model (EC2's is tens of MB parsed) must not
        outlive its trimming. Same search paths and extras as this loader."""
        loader = Loader(
            extra_search_paths=list(self.search_paths),
            file_loader=self.file_loader,
            include_default_search_paths=False,
        )
        return loader.load_service_model(service_name, type_name, api_version)


_LOADER: LeanLoader | None = None


def lean_loader(session: botocore.session.Session) -> LeanLoader:
    """One process-wide loader (models parsed once), honouring AWS_DATA_PATH/data_path."""
    global _LOADER
    if _LOADER is None:
        data_path = session.get_config_variable("data_path") or ""
        extra = [
            os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep) if p
        ]
        _LOADER = LeanLoader(extra_search_paths=extra)
    return _LOADER


def write_model(folder: Path, service_name: str, api_version: str | None, model: Any) -> None:
    """Write one trimmed model atomically; a failure (read-only disk) is ignored."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".model-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(model, fh, separators=(",", ":"))
        os.replace(tmp, folder / cache_name(service_name, api_version))
    except OSError:
        return


def build_models(folder: Path) -> list[Path]:
    """Trim every service of OPERATIONS (its latest API version) into ``folder``: run at
    build time into the package's ``_models`` so that the Lambda never parses a full model."""
    loader = LeanLoader(disk_copies=False)
    written = []
    for service in sorted(OPERATIONS):
        write_model(folder, service, None, loader.load_service_model(service, "service-2"))
        written.append(folder / cache_name(service, None))
    return written


def use_lean_models(session: botocore.session.Session) -> None:
    """Make ``session`` build its clients from the trimmed models."""
    session.register_component("data_loader", lean_loader(session))


if __name__ == "__main__":  # python -m auditor.aws.models DIR
    import sys

    for path in build_models(Path(sys.argv[1]) if len(sys.argv) > 1 else PACKAGED_MODELS):
        print(path)
