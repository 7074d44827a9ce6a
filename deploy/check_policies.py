"""Run parliament over every IAM policy mlflow-audit ships; fail on any unexplained finding.

Policies checked: docs/iam/*.json, and every policy document inside the CloudFormation
templates (deploy/*.cfn.yaml, docs/iam/*.cfn.yaml): role inline policies, RolePolicy,
ManagedPolicy, and the resource policies (bus, queue, bucket). CloudFormation intrinsics
are resolved to example values first, taking the true branch of every ``!If`` (the
largest policy a stack can get: optional statements are all present).

Parliament's community auditors run too. A finding is accepted only with a reason,
listed in ``EXPLAINED`` below or derived: an "unknown" SageMaker action that botocore's
own sagemaker model has (parliament's bundled IAM database is older than the MLflow App
operations), or CREDENTIALS_EXPOSURE for sts:AssumeRole limited to named roles.

Usage: ``python deploy/check_policies.py [-v]`` (-v also lists the explained findings).
Exit 0 when every finding is explained, 1 otherwise. Needs no network.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import parliament
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "111122223333"
REGION = "us-east-1"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::StackName": "mlflow-audit",
    "AWS::URLSuffix": "amazonaws.com",
}
# Example values for parameters without a usable default.
PARAMETER_EXAMPLES = {
    "CentralEventBusArn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/mlflow-audit",
    "AuditorAccountId": ACCOUNT,
    "AuditorPrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/mlflow-audit-function",
    "OrganizationId": "o-exampleorgid",
    "HistoryBucketName": "mlflow-audit-history-example",
    "ExternalId": "example-external-id",
    "SecurityLakeRoleArn": f"arn:aws:iam::{ACCOUNT}:role/AmazonSecurityLake-Provider-x-{REGION}",
}
# (resource type) -> (Ref value, Arn attribute), {name} being the logical id in lower case.
RESOURCE_EXAMPLES = {
    "AWS::SNS::Topic": (f"arn:aws:sns:{REGION}:{ACCOUNT}:{{name}}", None),
    "AWS::S3::Bucket": ("{name}-example", "arn:aws:s3:::{name}-example"),
    "AWS::Events::EventBus": ("{name}", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{{name}}"),
    "AWS::Events::Rule": ("{name}", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{{name}}"),
    "AWS::SQS::Queue": (
        f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{{name}}",
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:{{name}}",
    ),
    "AWS::Logs::LogGroup": (
        "/aws/lambda/{name}",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{{name}}",
    ),
    "AWS::IAM::Role": ("{name}", f"arn:aws:iam::{ACCOUNT}:role/{{name}}"),
    "AWS::Lambda::Function": ("{name}", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{{name}}"),
}

# (issue, what the finding names) -> why it stays. Keep each reason one line a reviewer
# can check against docs/iam/README.md.
EXPLAINED: dict[tuple[str, str], str] = {
    ("RESOURCE_STAR", "s3:ListBucket"): (
        "HeadBucket probes (with and without ExpectedBucketOwner) go to whatever bucket a "
        "tracking server names, including buckets outside the organisation"
    ),
    (
        "RESOURCE_STAR",
        "s3:ListAllMyBuckets",
    ): "ListBuckets has no resource (action is account-wide)",
    **{
        ("RESOURCE_STAR", action): (
            "the integrity checks read the configuration of whichever owned bucket a "
            "tracking server or App names; which buckets those are is what the scan finds"
        )
        for action in (
            "s3:GetBucketPolicy",
            "s3:GetBucketPolicyStatus",
            "s3:GetBucketPublicAccessBlock",
            "s3:GetBucketOwnershipControls",
            "s3:GetBucketVersioning",
            "s3:GetBucketObjectLockConfiguration",
        )
    },
}


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags kept as {"Fn::X": value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _tag)
_NO_VALUE = object()


class Template:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.doc = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
        self.parameters = self.doc.get("Parameters") or {}
        self.resources = self.doc.get("Resources") or {}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            default = self.parameters[name].get("Default")
            if name in PARAMETER_EXAMPLES and not default:
                return PARAMETER_EXAMPLES[name]
            return str(default) if default not in (None, "") else f"example-{name.lower()}"
        return self._resource(name, attribute=None)

    def _resource(self, name: str, attribute: str | None) -> str:
        kind = self.resources[name]["Type"]
        ref, arn = RESOURCE_EXAMPLES.get(kind, ("{name}", None))
        value = ref if attribute is None else (arn if attribute == "Arn" else None)
        if value is None:
            raise ValueError(f"{self.path.name}: no example for {name}.{attribute} ({kind})")
        return value.format(name=name.lower())

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self._resource(arg[0], arg[1])
            if key == "Fn::If":
                return self.resolve(arg[1])  # the true branch: every optional statement
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                variables = {k: self.resolve(v) for k, v in variables.items()}
                return re.sub(r"\$\{([^}!]+)\}", lambda m: self._sub(m[1], variables), text)
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.resolve(arg[1]))
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}

    def _sub(self, name: str, variables: dict[str, Any]) -> str:
        if name in variables:
            return str(variables[name])
        if "." in name:
            logical, attribute = name.split(".", 1)
            return self._resource(logical, attribute)
        return str(self.ref(name))

    def policies(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(label, resolved policy document) for every policy in the template."""
        for logical, resource in self.resources.items():
            props = resource.get("Properties") or {}
            kind = resource["Type"]
            if kind == "AWS::IAM::Role":
                for policy in self.resolve(props.get("Policies") or []):
                    yield f"{logical}/{policy['PolicyName']}", policy["PolicyDocument"]
            elif "PolicyDocument" in props:
                yield logical, self.resolve(props["PolicyDocument"])
            elif kind == "AWS::Events::EventBusPolicy" and "Statement" in props:
                statement = self.resolve(props["Statement"])
                yield logical, {"Version": "2012-10-17", "Statement": [statement]}


def sagemaker_operations() -> set[str]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return set(model.operation_names)


def _only_assumes_roles(policy: dict[str, Any]) -> bool:
    """True when every sts/iam credential-returning grant is sts:AssumeRole on named roles
    (or on one family of names, such as Security Lake's ``AmazonSecurityLake-Provider-*``)."""
    for statement in policy.get("Statement") or []:
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else actions or []
        resources = statement.get("Resource")
        resources = [resources] if isinstance(resources, str) else resources or []
        risky = [a for a in actions if a.lower().startswith(("sts:", "iam:"))]
        if risky and (
            risky != ["sts:AssumeRole"]
            or not all(re.search(r":role/[\w+=,.@-]+\*?$", r) for r in resources)
        ):
            return False
    return True


def explain(finding: Any, operations: set[str], policy: dict[str, Any]) -> str | None:
    issue = finding.issue
    if issue == "CREDENTIALS_EXPOSURE" and _only_assumes_roles(policy):
        return (
            "sts:AssumeRole into the named audit role is how the auditor reads member "
            "accounts (Resource limited to that role name)"
        )
    named = finding.location.get("string") if isinstance(finding.location, dict) else None
    if (
        issue == "UNKNOWN_ACTION"
        and isinstance(named, str)
        and named.startswith("sagemaker:")
        and named.split(":", 1)[1] in operations
    ):
        return (
            "parliament's IAM database predates this SageMaker operation; botocore's "
            "sagemaker model has it (IAM actions are named after the operations)"
        )
    if issue == "RESOURCE_STAR":
        detail = finding.detail if isinstance(finding.detail, list) else [finding.detail]
        reasons = [EXPLAINED.get((issue, str(action))) for action in detail]
        if reasons and all(reasons):
            return "; ".join(dict.fromkeys(r for r in reasons if r))
    return None


def documents() -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "docs" / "iam").glob("*.json")):
        yield str(path.relative_to(ROOT)), path.read_text()
    templates = sorted((ROOT / "deploy").glob("*.cfn.yaml"))
    templates += sorted((ROOT / "docs" / "iam").glob("*.cfn.yaml"))
    for path in templates:
        for label, policy in Template(path).policies():
            yield f"{path.relative_to(ROOT)}:{label}", json.dumps(policy, indent=2)


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    operations = sagemaker_operations()
    unexplained = checked = 0
    for label, text in documents():
        checked += 1
        policy = json.loads(text)
        analysed = parliament.analyze_policy_string(text, include_community_auditors=True)
        for finding in analysed.findings:
            reason = explain(finding, operations, policy)
            what = f"{label}: {finding.issue} {finding.detail or ''}".rstrip()
            if reason is None:
                unexplained += 1
                print(f"UNEXPLAINED {what} {finding.location}")
            elif verbose:
                print(f"explained   {what}: {reason}")
    print(f"parliament: {checked} policies, {unexplained} unexplained finding(s)")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
