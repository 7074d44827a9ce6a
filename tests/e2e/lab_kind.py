"""A third resource kind that exists only in the tests: "labs", a fake AWS service.

Everything the product needs to scan it is declared here, the way a new kind is
declared: its service model (found by botocore through ``AWS_DATA_PATH``), one
``ResourceKind`` passed to ``register_kind``, the rules that apply to it (``--rules-dir``)
and its simulation (a ``before-send`` handler, botocore's own way to answer a request
without sending it, the way moto plugs in). Its Describe answer nests every value, so
the kind can only be read through the paths it declares.

Run as a program (``python -m tests.e2e.lab_kind OUT``), in a process of its own so
that botocore reads the model path before any client exists: it plants two labs in
the simulated caller account, runs ``mlflow-audit scan`` with ``--remediate --dry-run``
into ``OUT/plan`` and with ``--remediate --yes`` into ``OUT/applied``, and writes the
labs' final state and the calls they received to ``OUT/labs.json``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

LAB = "mlflow-lab"
SERVICE = "labs"
API_VERSION = "2024-01-01"

_S = {"shape": "String"}
_B = {"shape": "Boolean"}
MODEL: dict[str, Any] = {
    "version": "2.0",
    "metadata": {
        "apiVersion": API_VERSION,
        "endpointPrefix": SERVICE,
        "jsonVersion": "1.1",
        "protocol": "json",
        "serviceFullName": "Fake Labs",
        "serviceId": "Labs",
        "signatureVersion": "v4",
        "signingName": SERVICE,
        "targetPrefix": "Labs",
        "uid": f"{SERVICE}-{API_VERSION}",
    },
    "operations": {
        name: {
            "name": name,
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": f"{name}Request"},
            "output": {"shape": f"{name}Response"},
            "errors": [{"shape": "ResourceNotFound"}],
        }
        for name in ("ListLabs", "DescribeLab", "UpdateLab")
    },
    "shapes": {
        "String": {"type": "string"},
        "Boolean": {"type": "boolean"},
        "Integer": {"type": "integer"},
        "ResourceNotFound": {
            "type": "structure",
            "members": {"Message": _S},
            "exception": True,
        },
        "ListLabsRequest": {
            "type": "structure",
            "members": {"NextToken": _S, "MaxResults": {"shape": "Integer"}},
        },
        "ListLabsResponse": {
            "type": "structure",
            "members": {"Labs": {"shape": "LabSummaries"}, "NextToken": _S},
        },
        "LabSummaries": {"type": "list", "member": {"shape": "LabSummary"}},
        "LabSummary": {"type": "structure", "members": {"LabId": _S, "LabArn": _S}},
        "DescribeLabRequest": {
            "type": "structure",
            "required": ["LabId"],
            "members": {"LabId": _S},
        },
        "DescribeLabResponse": {"type": "structure", "members": {"Lab": {"shape": "Lab"}}},
        "Lab": {
            "type": "structure",
            "members": {
                "LabId": _S,
                "LabArn": _S,
                "DisplayName": _S,
                "State": _S,
                "Storage": {"shape": "Storage"},
            },
        },
        "Storage": {
            "type": "structure",
            "members": {"ArtifactUri": _S, "OwnerCheck": {"shape": "OwnerCheck"}},
        },
        "OwnerCheck": {"type": "structure", "members": {"Enabled": _B, "AccountId": _S}},
        "UpdateLabRequest": {
            "type": "structure",
            "required": ["LabId"],
            "members": {
                "LabId": _S,
                "ArtifactUri": _S,
                "OwnerCheckEnabled": _B,
                "OwnerAccountId": _S,
            },
        },
        "UpdateLabResponse": {"type": "structure", "members": {"LabArn": _S}},
    },
}
PAGINATORS = {
    "pagination": {
        "ListLabs": {
            "input_token": "NextToken",
            "output_token": "NextToken",
            "limit_key": "MaxResults",
            "result_key": "Labs",
        }
    }
}
ENDPOINTS = {
    "version": "1.0",
    "parameters": {
        "Region": {
            "builtIn": "AWS::Region",
            "required": False,
            "documentation": "The region of the endpoint.",
            "type": "String",
        }
    },
    "rules": [
        {
            "conditions": [],
            "endpoint": {"url": f"https://{SERVICE}.{{Region}}.amazonaws.com"},
            "type": "endpoint",
        }
    ],
}

RULES = {
    "lab_artifact_bucket_exists.yaml": """
id: lab_artifact_bucket_exists
title: The lab's artifact bucket exists
severity: critical
resource_types: [mlflow-lab]
reads: [bucket.exists]
pass_when: bucket.exists
exposes: true
message:
  PASS: "Bucket {{ bucket.name }} of lab {{ resource.name }} exists."
  FAIL: "Bucket {{ bucket.name }} of lab {{ resource.name }} does not exist."
risk: Anyone can create the bucket and receive the lab's artifacts.
fix:
  auto: true
  text: "{{ fix.reason }}"
  command: "{{ fix.command }}"
""",
    "lab_owner_check_enabled.yaml": """
id: lab_owner_check_enabled
title: The lab verifies the owner of its artifact bucket
severity: high
resource_types: [mlflow-lab]
reads: [resource.owner_verification]
pass_when: resource.owner_verification
verifies_owner: true
message:
  PASS: "Lab {{ resource.name }} verifies that {{ expected_owner }} owns its bucket."
  FAIL: "Lab {{ resource.name }} does not verify who owns its bucket."
risk: The lab would use a bucket of that name owned by anyone.
fix:
  auto: true
  text: "{{ fix.reason }}"
  command: "{{ fix.command }}"
""",
}


def lab_kind() -> Any:
    from auditor.core.kinds import ResourceKind

    return ResourceKind(
        name=LAB,
        label="lab",
        plural="labs",
        short="lab",
        service=SERVICE,
        service_label="Labs",
        list_api="ListLabs",
        describe_api="DescribeLab",
        update_api="UpdateLab",
        list_key="Labs",
        list_id_field="LabId",
        list_arn_field="LabArn",
        describe_param="LabId",
        name_field="Lab.DisplayName",
        arn_field="Lab.LabArn",
        status_field="Lab.State",
        uri_field="Lab.Storage.ArtifactUri",
        verification_field="Lab.Storage.OwnerCheck.Enabled",
        owner_field="Lab.Storage.OwnerCheck.AccountId",
        uri_param="ArtifactUri",
        verification_param="OwnerCheckEnabled",
        owner_param="OwnerAccountId",
        stable_statuses=frozenset({"Ready"}),
        arn_type="lab",
        cfn_type="Custom::Lab",
        api_version=API_VERSION,
    )


def write_service_model(data_path: Path) -> None:
    """The files botocore reads for a service, under an ``AWS_DATA_PATH`` directory."""
    folder = data_path / SERVICE / API_VERSION
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "service-2.json").write_text(json.dumps(MODEL))
    (folder / "paginators-1.json").write_text(json.dumps(PAGINATORS))
    (folder / "endpoint-rule-set-1.json").write_text(json.dumps(ENDPOINTS))


class LabService:
    """The fake service's state and its answers, per (account, region)."""

    def __init__(self, accounts_by_key: dict[str, str]) -> None:
        self.accounts_by_key = accounts_by_key
        self.labs: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.calls: list[dict[str, Any]] = []

    def plant(self, account: str, region: str, lab_id: str, name: str, uri: str, **check: Any):
        arn = f"arn:aws:{SERVICE}:{region}:{account}:lab/{lab_id}"
        self.labs.setdefault((account, region), {})[lab_id] = {
            "LabId": lab_id,
            "LabArn": arn,
            "DisplayName": name,
            "State": "Ready",
            "Storage": {"ArtifactUri": uri, "OwnerCheck": check},
        }
        return arn

    def __call__(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        auth = request.headers.get("Authorization", b"")
        auth = auth.decode() if isinstance(auth, bytes) else auth
        key, region = re.search(r"Credential=([^/]+)/\d{8}/([^/]+)/", auth).groups()
        target = request.headers["X-Amz-Target"]
        operation = (target.decode() if isinstance(target, bytes) else target).split(".")[-1]
        params = json.loads(request.body or b"{}")
        account = self.accounts_by_key[key]
        self.calls.append({"account": account, "region": region, "operation": operation})
        status, body = self._answer(self.labs.get((account, region), {}), operation, params)
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        return AWSResponse(request.url, status, headers, _Raw(json.dumps(body).encode()))

    @staticmethod
    def _answer(labs: dict[str, Any], operation: str, params: dict[str, Any]):
        if operation == "ListLabs":
            return 200, {"Labs": [{"LabId": k, "LabArn": v["LabArn"]} for k, v in labs.items()]}
        lab = labs.get(params.get("LabId"))
        if lab is None:
            return 400, {"__type": "ResourceNotFound", "Message": "no such lab"}
        if operation == "UpdateLab":
            storage = lab["Storage"]
            if "ArtifactUri" in params:
                storage["ArtifactUri"] = params["ArtifactUri"]
            if "OwnerCheckEnabled" in params:
                storage["OwnerCheck"]["Enabled"] = params["OwnerCheckEnabled"]
            if "OwnerAccountId" in params:
                storage["OwnerCheck"]["AccountId"] = params["OwnerAccountId"]
            return 200, {"LabArn": lab["LabArn"]}
        return 200, {"Lab": lab}


class _Raw:
    """A response body botocore can stream."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any):
        yield self.body


def main(out: Path) -> None:
    data_path = out / "models"
    write_service_model(data_path)
    os.environ["AWS_DATA_PATH"] = str(data_path)  # before botocore reads any model
    rules = out / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    for name, text in RULES.items():
        (rules / name).write_text(text)

    import botocore.handlers
    from click.testing import CliRunner

    from auditor.cli import main as cli
    from auditor.core.kinds import register_kind
    from auditor.sim import MANAGEMENT_ACCOUNT_ID as ACCOUNT
    from auditor.sim import simulated_aws

    register_kind(lab_kind())
    with simulated_aws() as sim:
        key, secret = sim.credentials_for(ACCOUNT)
        os.environ.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
        service = LabService({key: ACCOUNT})
        botocore.handlers.BUILTIN_HANDLERS.append((f"before-send.{SERVICE}", service))
        sim.session_for(ACCOUNT).client("s3").create_bucket(Bucket=f"lab-safe-{ACCOUNT}")
        service.plant(
            ACCOUNT,
            "us-east-1",
            "lab-7f3a",
            "open-lab",
            f"s3://lab-gone-{ACCOUNT}/runs",
            Enabled=False,
        )
        service.plant(
            ACCOUNT,
            "us-east-1",
            "lab-9c1d",
            "safe-lab",
            f"s3://lab-safe-{ACCOUNT}/runs",
            Enabled=True,
            AccountId=ACCOUNT,
        )
        common = ["scan", "--region", "us-east-1", "--rules-dir", str(rules), "--no-history"]
        common += ["--format", "json,ocsf", "--quiet", "--remediate"]
        exits = {}
        for name, extra in (("plan", ["--dry-run"]), ("applied", ["--yes"])):
            args = [*common, *extra, "--output-dir", str(out / name)]
            exits[name] = CliRunner().invoke(cli, args, catch_exceptions=False).exit_code
        state = {
            "account": ACCOUNT,
            "exits": exits,
            "labs": service.labs[(ACCOUNT, "us-east-1")],
            "calls": service.calls,
        }
        (out / "labs.json").write_text(json.dumps(state, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
