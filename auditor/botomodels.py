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
import os
from typing import Any

import botocore.session
from botocore.loaders import Loader

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
        }
    ),
    "s3control": frozenset({"GetPublicAccessBlock"}),
    "ec2": frozenset({"DescribeRegions"}),
    "sts": frozenset({"GetCallerIdentity", "AssumeRole"}),
    "organizations": frozenset({"ListAccounts"}),
    # integrations after the reports are written (auditor.integrations)
    "securityhub": frozenset({"BatchImportFindings"}),
    "sns": frozenset({"Publish"}),
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


class LeanLoader(Loader):
    """botocore's Loader, serving trimmed ``service-2`` models for our services."""

    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        if type_name != "service-2" or service_name not in OPERATIONS:
            return super().load_service_model(service_name, type_name, api_version)
        cache = self.__dict__.setdefault("_lean_cache", {})
        key = (service_name, api_version)
        if key not in cache:  # looked up first: the full model is loaded once, then dropped
            model = super().load_service_model(service_name, type_name, api_version)
            cache[key] = trim_service_model(model, OPERATIONS[service_name])
            self._forget(model)
        return cache[key]

    def _forget(self, model: dict[str, Any]) -> None:
        """Drop botocore's cached copy of a full model once trimmed (EC2's alone is tens
        of MB parsed); the trimmed one is all that is used from then on."""
        stale = [
            key
            for key, value in self._cache.items()
            if value is model or (isinstance(value, tuple) and value and value[0] is model)
        ]
        for key in stale:
            del self._cache[key]


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


def use_lean_models(session: botocore.session.Session) -> None:
    """Make ``session`` build its clients from the trimmed models."""
    session.register_component("data_loader", lean_loader(session))
