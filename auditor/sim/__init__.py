"""A simulated AWS organisation for mlflow-audit: moto plus SageMaker MLflow, S3 ownership,
STS trust policies, enabled regions and injected faults. See docs/simulation.md."""

from .demo_org import build_demo_org
from .identity import MANAGEMENT_ACCOUNT_ID
from .org_builder import DemoOrg, PlantedCase
from .request import CallRecord
from .server import SimServer
from .simulated import SimulatedAWS, simulated_aws

__all__ = [
    "MANAGEMENT_ACCOUNT_ID",
    "CallRecord",
    "DemoOrg",
    "PlantedCase",
    "SimServer",
    "SimulatedAWS",
    "build_demo_org",
    "simulated_aws",
]
