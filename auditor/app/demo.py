"""``mlflow-audit demo``: the real scan pipeline over the built-in simulated organisation.

Everything runs in this process against ``auditor.sim`` (moto plus our SageMaker MLflow,
S3 ownership and STS trust simulation); no request leaves the machine. The scan itself
is the same code path as ``mlflow-audit scan --org --config POLICY``: the demo only sets
up the organisation, credentials of its management account, and a policy file.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from auditor.aws.environ import isolated_values, variables_to_scrub
from auditor.core.errors import ConfigError
from auditor.core.terminal import echo
from auditor.report.outputs import prepare_output_dir, write_atomic

DEMO_POLICY = """\
# Policy used by `mlflow-audit demo` (see docs/policy.example.yaml for every key).
# The partner-bucket server writes to a bucket that S3 proves is owned by the partner
# account {partner}, outside the organisation: reported until trusted here. Trusting an
# account you cannot inventory also means a bucket owned outside the organisation can
# no longer be proven untrusted by exclusion, only by a successful probe.
trusted_accounts: []
#  - "{partner}"
waivers:
  - check_id: mlflow_artifact_bucket_account_namespace
    resource: "arn:aws:sagemaker:*:{management}:mlflow-tracking-server/*"
    reason: management-account buckets are migrated to account regional namespaces in Q1
    expires: "{expires}"
"""


@contextmanager
def _demo_environment(key: str, secret: str, home: Path) -> Iterator[None]:
    scrub = variables_to_scrub()
    saved = {k: os.environ.get(k) for k in scrub}
    try:
        for k in scrub:
            os.environ.pop(k, None)
        os.environ.update(isolated_values(key, secret, home))
        yield
    finally:
        for k in isolated_values(key, secret, home):
            os.environ.pop(k, None)
        for k, v in saved.items():
            if v is not None:
                os.environ[k] = v


def run_demo(
    output_dir: str, formats: list[str], remediate: bool = False, security_hub: bool = False
) -> int:
    try:
        from auditor.sim import build_demo_org, simulated_aws
    except ImportError as exc:
        raise ConfigError(
            f"the demo needs the simulation extra: pip install 'mlflow-audit[sim]' ({exc})"
        ) from None
    from auditor.app.scan import run_scan_command
    from auditor.core.request import ScanRequest

    out = prepare_output_dir(output_dir)
    with simulated_aws() as sim:
        org = build_demo_org(sim)
        key, secret = sim.credentials_for(org.management_account_id)
        if security_hub:
            from auditor.sim.securityhub import enable_hub

            enable_hub(
                sim,
                [org.management_account_id, *org.accounts.values()],
                sorted({c.region for c in org.cases}),
            )
        policy_path = out / "demo-policy.yaml"
        expires = (dt.date.today() + dt.timedelta(days=90)).isoformat()
        write_atomic(
            policy_path,
            DEMO_POLICY.format(
                partner=org.partner_account_id,
                management=org.management_account_id,
                expires=expires,
            ),
        )
        echo(
            f"Simulated organisation: management account {org.management_account_id}, "
            f"members {', '.join(f'{n}={i}' for n, i in org.accounts.items())}, "
            f"external accounts {org.external_account_id} (attacker) and "
            f"{org.partner_account_id} (partner); {len(org.cases)} planted cases."
        )
        with _demo_environment(key, secret, out):
            request = ScanRequest(
                org=True,
                role_name=org.audit_role_name,
                config_path=str(policy_path),
                output_dir=str(out),
                formats=tuple(formats),
                remediate=remediate,
                yes=remediate,
                security_hub=security_hub,
                stable_wait=0,
                concurrency=16,
                # a fresh simulated organisation each time: nothing to compare with
                no_history=True,
            )
            code = run_scan_command(request)
    echo(f"Reports are in {out.resolve()} (open report.html in a browser).")
    # The planted violations make the scan's own exit code 1 (FAIL found), which is the
    # point of the demo, not a failure of it: the demo exits 0 once the reports exist.
    echo(f"Demo complete: `mlflow-audit scan` would exit {code} on this organisation.")
    return 0
