"""The SageMaker resource kinds mlflow-audit audits, each described once, as data.

Like Cloud Custodian's ``TypeInfo``: everything the stages need to know about a kind
(how to list and describe it, which response fields carry its identity and artifact
store, whether it has the owner-verification fields, how it is updated, which IAM actions
that takes, how evidence names the calls) lives in one ``ResourceKind``. Collection,
facts, evidence, fixes, remediation, the IAM documents' test and the simulation's call
table read it; adding a kind is one entry here plus its simulation support.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.core.model import MLFLOW_APP, TRACKING_SERVER


@dataclass(frozen=True, slots=True)
class ResourceKind:
    name: str  # the findings' resource_type
    label: str  # for people: "tracking server"
    plural: str  # "tracking servers"
    # SageMaker API operation names (CamelCase, as in the service model and IAM)
    list_api: str
    describe_api: str
    update_api: str | None  # None: no remediation for this kind
    # ListX: the page key, and the summary field that identifies one resource
    list_key: str
    list_id_field: str
    list_arn_field: str
    # DescribeX: the request parameter that takes that identifier
    describe_param: str
    # DescribeX response fields (the API model guarantees name and ARN)
    name_field: str
    arn_field: str
    status_field: str
    uri_field: str = "ArtifactStoreUri"
    verification_field: str | None = None  # S3BucketOwnerVerification, where it exists
    owner_field: str | None = None  # S3BucketOwnerAccountId, where it exists
    # Statuses in which the update operation is accepted (anything else is in flux)
    stable_statuses: frozenset[str] = frozenset()

    @property
    def has_owner_verification(self) -> bool:
        return self.verification_field is not None

    @property
    def read_actions(self) -> tuple[str, ...]:
        return (f"sagemaker:{self.list_api}", f"sagemaker:{self.describe_api}")

    @property
    def write_actions(self) -> tuple[str, ...]:
        return (f"sagemaker:{self.update_api}",) if self.update_api else ()

    @property
    def operations(self) -> tuple[str, ...]:
        """The API operations the scanner (and remediation) may call for this kind."""
        return tuple(op for op in (self.list_api, self.describe_api, self.update_api) if op)

    @staticmethod
    def method(api: str) -> str:
        """boto3's method (and paginator) name for an API operation name."""
        return "".join("_" + c.lower() if c.isupper() else c for c in api).lstrip("_")


TRACKING_SERVER_KIND = ResourceKind(
    name=TRACKING_SERVER,
    label="tracking server",
    plural="tracking servers",
    list_api="ListMlflowTrackingServers",
    describe_api="DescribeMlflowTrackingServer",
    update_api="UpdateMlflowTrackingServer",
    list_key="TrackingServerSummaries",
    list_id_field="TrackingServerName",
    list_arn_field="TrackingServerArn",
    describe_param="TrackingServerName",
    name_field="TrackingServerName",
    arn_field="TrackingServerArn",
    status_field="TrackingServerStatus",
    verification_field="S3BucketOwnerVerification",
    owner_field="S3BucketOwnerAccountId",
    stable_statuses=frozenset(
        {
            "Created",
            "Updated",
            "Started",
            "Stopped",
            "MaintenanceComplete",
            "UpdateFailed",
            "StartFailed",
            "StopFailed",
            "MaintenanceFailed",
        }
    ),
)

MLFLOW_APP_KIND = ResourceKind(
    name=MLFLOW_APP,
    label="MLflow App",
    plural="MLflow Apps",
    list_api="ListMlflowApps",
    describe_api="DescribeMlflowApp",
    update_api=None,  # SPEC: remediation is UpdateMlflowTrackingServer only
    list_key="Summaries",
    list_id_field="Arn",
    list_arn_field="Arn",
    describe_param="Arn",
    name_field="Name",
    arn_field="Arn",
    status_field="Status",
)

KINDS: dict[str, ResourceKind] = {k.name: k for k in (TRACKING_SERVER_KIND, MLFLOW_APP_KIND)}


def kind_of(resource_type: str) -> ResourceKind:
    return KINDS[resource_type]
