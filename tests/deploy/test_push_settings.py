"""The nightly organisation scan pushes what a central scan pushes: its merge function
takes the same push settings (Security Hub, SNS, Security Lake) as the central function,
under the names the handler reads, with the permission each needs."""

from __future__ import annotations

from pathlib import Path

import yaml

from auditor.app.aws_lambda import ENV_PREFIX, config_from_env

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PUSHES = ("SECURITY_HUB", "TOPIC_ARN", "SECURITY_LAKE", "SECURITY_LAKE_ROLE")
LAKE = "s3://aws-security-data-lake-us-east-1-x/ext/mlflow-audit/"
LAKE_ROLE = "arn:aws:iam::111111111111:role/AmazonSecurityLake-Provider-mlflow-audit"


class _CfnLoader(yaml.SafeLoader):
    pass


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_CfnLoader.add_multi_constructor("!", _tagged)


def _template(name: str) -> dict:
    return yaml.load((DEPLOY / name).read_text(), Loader=_CfnLoader)


def _variables(template: dict, function: str) -> dict:
    props = template["Resources"][function]["Properties"]
    return props["Environment"]["Variables"]


def test_the_merge_takes_every_push_setting_the_central_function_takes():
    central = _variables(_template("central.cfn.yaml"), "Function")
    merge = _variables(_template("orgscan.cfn.yaml"), "MergeFunction")
    for name in PUSHES:
        assert ENV_PREFIX + name in central, name
        assert ENV_PREFIX + name in merge, name
    lake_vars = {k for k in central if k.startswith(ENV_PREFIX + "SECURITY_LAKE")}
    assert lake_vars and lake_vars <= set(merge)


def test_the_merge_reads_the_lake_settings_it_is_given():
    config = config_from_env(
        {
            ENV_PREFIX + "SECURITY_LAKE": LAKE,
            ENV_PREFIX + "SECURITY_LAKE_ROLE": LAKE_ROLE,
            ENV_PREFIX + "SECURITY_LAKE_EXTERNAL_ID": "ext-1",
        }
    )
    assert (config.security_lake, config.security_lake_role) == (LAKE, LAKE_ROLE)
    assert config.security_lake_external_id == "ext-1"


def test_the_merge_role_may_assume_the_lake_provider_role_only_when_given_one():
    template = _template("orgscan.cfn.yaml")
    condition = template["Conditions"]["SecurityLakeRole"]
    assert condition == {"Not": [{"Equals": [{"Ref": "SecurityLakeRoleArn"}, ""]}]}
    policies = template["Resources"]["MergeRole"]["Properties"]["Policies"]
    lake = [p["If"] for p in policies if "If" in p and p["If"][0] == "SecurityLakeRole"]
    assert lake, "no policy conditioned on the provider role"
    statements = lake[0][1]["PolicyDocument"]["Statement"]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("sts:AssumeRole", {"Ref": "SecurityLakeRoleArn"})
    ]
    location = template["Parameters"]["SecurityLakeLocation"]
    central = _template("central.cfn.yaml")["Parameters"]["SecurityLakeLocation"]
    assert location["AllowedPattern"] == central["AllowedPattern"]
