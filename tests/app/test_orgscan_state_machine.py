"""The nightly organisation scan, run by moto's Step Functions interpreter.

The state machine is the one in deploy/orgscan.cfn.yaml, taken from the template as it
is; moto executes it (its ASL engine: Distributed Map, Retry, Catch, Choice), and each
``lambda:invoke`` task is answered by the product's handler, in-process, against the
simulated organisation. Only the ARNs CloudFormation would substitute are filled in,
and the retrier's sleeps are recorded instead of slept.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.config import default_user_config
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from auditor.app.orgmerge import FAILED_BATCH_OPERATION, merge_handler
from auditor.app.orgscan import batch_handler, plan_handler
from auditor.cli import main
from auditor.collect.accounts import shard_of
from auditor.sim import build_demo_org, simulated_aws
from auditor.sim.org_builder import EXECUTION_ROLE_NAME

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "orgscan.cfn.yaml"
BUCKET = "mlflow-audit-results"
REGIONS = ("us-east-1", "eu-west-1")
FUNCTIONS = {"plan": plan_handler, "batch": batch_handler, "merge": merge_handler}
ARNS = {
    "PlanFunctionArn": "plan",
    "ScanFunctionArn": "batch",
    "MergeFunctionArn": "merge",
}


class _CfnLoader(yaml.SafeLoader):
    pass


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def template_definition(account_id: str) -> str:
    """The state machine's Definition, with the DefinitionSubstitutions filled in."""
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    props = template["Resources"]["StateMachine"]["Properties"]
    assert set(props["DefinitionSubstitutions"]) == set(ARNS)
    text = json.dumps(props["Definition"])
    for name, function in ARNS.items():
        arn = f"arn:aws:lambda:us-east-1:{account_id}:function:mlflow-audit-orgscan-{function}"
        text = text.replace("${" + name + "}", arn)
    assert "${" not in text
    return text


class Throttled(LambdaClientError):
    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate exceeded")


class Lambdas:
    """Routes moto's Lambda invoke to the product's handlers; injects failures."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.fail_shard: str | None = None  # this batch's function raises, every time
        self.throttle_once: str | None = None  # Lambda throttles this batch's first invoke
        self._lock = threading.Lock()

    def invoke(self, backend, function_name, qualifier, body, headers, response_headers):
        function = function_name.rsplit(":", 1)[-1].rsplit("-", 1)[-1]
        event = json.loads(body) if body else {}
        shard = event.get("shard") if function == "batch" else None
        with self._lock:
            self.calls[shard or function] += 1
            first = self.calls[shard or function] == 1
        if shard and shard == self.throttle_once and first:
            raise Throttled()
        try:
            if shard and shard == self.fail_shard:
                raise RuntimeError(f"simulated crash of batch {shard}")
            result = FUNCTIONS[function](event, None)
        except Exception as exc:  # what the Lambda runtime reports for an unhandled error
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        return json.dumps(result).encode()


@pytest.fixture(scope="module")
def org():
    with simulated_aws() as sim:
        demo = build_demo_org(sim)
        mgmt = demo.management_account_id
        sim.session_for(mgmt).client("s3").create_bucket(Bucket=BUCKET)
        yield sim, demo


@pytest.fixture
def stack(org, monkeypatch):
    sim, demo = org
    mgmt = demo.management_account_id
    key, secret = sim.credentials_for(mgmt)
    for name, value in {
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_AUDIT_RESULTS": f"s3://{BUCKET}/orgscan/",
        "MLFLOW_AUDIT_BATCH_SIZE": "1",  # four accounts: four batches
        "MLFLOW_AUDIT_REGIONS": ",".join(REGIONS),
        "MLFLOW_AUDIT_HISTORY": f"s3://{BUCKET}/orgscan/history.sqlite",
        "MLFLOW_AUDIT_FAIL_ON": "high",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    monkeypatch.setitem(default_user_config, "lambda", {"use_docker": False})
    lambdas = Lambdas()
    monkeypatch.setattr(
        LambdaSimpleBackend,
        "invoke",
        lambda self, *args: lambdas.invoke(self, *args),
    )
    sleeps: list[float] = []
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=sleeps.append))
    sfn = sim.session_for(mgmt).client("stepfunctions")
    machine = sfn.create_state_machine(
        name="mlflow-audit-orgscan",
        definition=template_definition(mgmt),
        roleArn=f"arn:aws:iam::{mgmt}:role/mlflow-audit-orgscan",
    )["stateMachineArn"]
    s3 = sim.session_for(mgmt).client("s3")

    def run(name: str) -> tuple[dict, dict]:
        """Execute the state machine; (its description, the merged findings.json)."""
        arn = sfn.start_execution(stateMachineArn=machine, name=name)["executionArn"]
        deadline = time.monotonic() + 600
        while (desc := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not finish"
            time.sleep(0.2)
        key = f"orgscan/runs/{name}/report/findings.json"
        doc = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        return desc, doc

    return SimpleNamespace(
        run=run, lambdas=lambdas, sleeps=sleeps, s3=s3, sim=sim, demo=demo, sfn=sfn
    )


def rows(doc):
    return sorted(
        (f["account_id"], f["resource_name"], f["check_id"], f["status"]) for f in doc["findings"]
    )


def single_scan(tmp_path: Path) -> dict:
    args = ["scan", "--org", "--format", "json", "--no-history", "--output-dir", str(tmp_path)]
    for region in REGIONS:
        args += ["--region", region]
    CliRunner().invoke(main, args, catch_exceptions=False)
    return json.loads((tmp_path / "findings.json").read_text())


@pytest.mark.slow
def test_batches_merge_to_exactly_what_one_scan_finds(stack, tmp_path, monkeypatch):
    full = single_scan(tmp_path)
    every = sorted(a["account_id"] for a in full["run"]["accounts"])
    stack.lambdas.throttle_once = "1/4"  # Lambda throttles the first batch once: retried
    # the merge publishes the one SNS message of the night, as the caller
    mgmt = stack.demo.management_account_id
    sns = stack.sim.session_for(mgmt).client("sns")
    topic = sns.create_topic(Name="mlflow-audit-nightly")["TopicArn"]
    monkeypatch.setenv("MLFLOW_AUDIT_TOPIC_ARN", topic)
    desc, merged = stack.run("night-one")
    assert merged["notification"]["status"] == "published", merged["notification"]
    assert merged["notification"]["topic_arn"] == topic

    # the demo organisation denies SageMaker to dev in eu-west-1: one scan is incomplete
    # (exit 3 semantics, here with a FAIL: exit 1), and so is the merged run, which ends
    # the execution in its Fail state once recorded
    assert full["run"]["complete"] is False and len(full["errors"]) == 1
    assert desc["status"] == "FAILED" and desc["error"] == "MlflowAudit.IncompleteRun"
    assert merged["run"]["complete"] is False and merged["summary"]["exit_code"] == 1
    assert rows(merged) == rows(full)
    assert merged["errors"] == full["errors"]
    assert merged["summary"]["by_status"] == full["summary"]["by_status"]
    assert [m["shard"] for m in merged["run"]["merged_from"]] == ["1/4", "2/4", "3/4", "4/4"]
    assert sorted(a["account_id"] for a in merged["run"]["accounts"]) == every
    # the batches are the plan's, each invoked once (plus the throttled attempt)
    assert stack.lambdas.calls == Counter(
        {"plan": 1, "merge": 1, "1/4": 2, "2/4": 1, "3/4": 1, "4/4": 1}
    )
    assert len(stack.sleeps) == 1 and 0 <= stack.sleeps[0] <= 2  # full jitter of 2 s
    # one shard document per batch, the reports beside the merged findings.json
    listed = stack.s3.list_objects_v2(Bucket=BUCKET, Prefix="orgscan/runs/night-one/")
    keys = {o["Key"].removeprefix("orgscan/runs/night-one/") for o in listed["Contents"]}
    assert keys == {
        *(f"shards/000{k}-of-0004/findings.json" for k in range(1, 5)),
        "report/findings.json",
        "report/findings.csv",
        "report/report.html",
    }
    assert merged["history"]["scope_key"] == f"org:{mgmt}|regions:eu-west-1,us-east-1|shard:-"


def problems(doc, accounts=None):
    """The problems the history keeps: a follow-on of a root FAIL is none of its own."""
    return {
        (f["check_id"], f["resource_arn"])
        for f in doc["findings"]
        if f["status"] in ("FAIL", "UNKNOWN", "MUTED")
        and not f.get("caused_by")
        and (accounts is None or f["account_id"] in accounts)
    }


@pytest.fixture
def nothing_denied(stack):
    """The demo's one denied scope allowed, so that a whole night is complete."""
    dev = stack.demo.accounts["dev"]
    stack.sim.faults.allow(dev, "eu-west-1", "sagemaker")
    yield
    stack.sim.faults.deny(dev, "eu-west-1", "sagemaker")


@pytest.mark.slow
def test_nights_diff_and_a_failed_batch_is_carried_forward(stack, nothing_denied):
    sim, demo = stack.sim, stack.demo
    _, first = stack.run("night-a")  # may follow the first test's run: same history scope

    # a new problem appears before the second night: a server on a bucket nobody created
    dev = demo.accounts["dev"]
    sim.session_for(dev).client("sagemaker").create_mlflow_tracking_server(
        TrackingServerName="night-b-new",
        ArtifactStoreUri=f"s3://mlflow-never-created-{dev}/mlflow",
        RoleArn=f"arn:aws:iam::{dev}:role/{EXECUTION_ROLE_NAME}",
        S3BucketOwnerVerification=True,
    )
    desc, second = stack.run("night-b")
    assert desc["status"] == "SUCCEEDED"
    history = second["history"]
    assert history["previous_run_id"] == first["run"]["id"]
    new = {(f["check_id"], f["resource_arn"]) for f in second["findings"] if f["change"] == "new"}
    assert new and all(arn.endswith("/night-b-new") for _, arn in new)
    assert history["new"] == len(new)
    assert history["unchanged"] == len(problems(first)) and history["resolved"] == []
    # a known problem keeps when it was first seen; a new one was first seen tonight
    seen = {(f["check_id"], f["resource_arn"]): f["first_seen"] for f in first["findings"]}
    for f in second["findings"]:
        identity = (f["check_id"], f["resource_arn"])
        if f["change"] == "unchanged":
            assert f["first_seen"] == seen[identity] is not None
        elif f["change"] == "new":
            assert f["first_seen"] == second["run"]["started_at"]

    # the third night, the batch holding dev fails twice: recorded, merged, never partial
    every = [a["account_id"] for a in second["run"]["accounts"]]
    shard = f"{shard_of(dev, 4)}/4"
    stack.lambdas.fail_shard = shard
    stack.lambdas.calls.clear()
    desc, third = stack.run("night-c")
    assert desc["status"] == "FAILED" and desc["error"] == "MlflowAudit.IncompleteRun"
    assert stack.lambdas.calls[shard] == 2  # the first attempt and its one retry
    lost = {a for a in every if shard_of(a, 4) == shard_of(dev, 4)}
    assert third["run"]["complete"] is False and third["summary"]["exit_code"] == 1
    errors = {e["account_id"]: e for e in third["errors"]}
    assert set(errors) == lost
    assert all(e["operation"] == FAILED_BATCH_OPERATION for e in errors.values())
    assert all(shard in e["message"] for e in errors.values())
    statuses = {a["account_id"]: a["status"] for a in third["run"]["accounts"]}
    assert {a for a, s in statuses.items() if s == "error"} == lost
    assert not problems(third, lost)  # nothing of them read tonight ...
    carried = problems(second, lost)
    assert carried and third["history"]["carried_forward"] == len(carried)  # ... kept
    assert third["history"]["resolved"] == [] and third["history"]["new"] == 0

    # the fourth night is whole again: nothing is new, the carried problems are still known
    stack.lambdas.fail_shard = None
    desc, fourth = stack.run("night-d")
    assert desc["status"] == "SUCCEEDED"
    assert fourth["history"]["new"] == 0 and fourth["history"]["resolved"] == []
    assert problems(fourth) == problems(second)
