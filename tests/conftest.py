"""Shared fixtures: no test may ever reach a real AWS account or a user's profile."""

from __future__ import annotations

import pytest

from auditor.aws.environ import isolated_values, variables_to_scrub


@pytest.fixture(autouse=True)
def _isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("aws-home")
    for var in variables_to_scrub():
        monkeypatch.delenv(var, raising=False)
    values = isolated_values("testing", "testing", home)
    values["AWS_CONFIG_FILE"] = str(home / "config")
    values["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "credentials")
    for var, value in values.items():
        monkeypatch.setenv(var, value)
