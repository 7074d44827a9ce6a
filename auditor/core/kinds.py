"""The resource kinds mlflow-audit audits, each described once, as data.

Like Cloud Custodian's ``TypeInfo``: everything the stages need to know about a kind
(which service and calls list, describe and update it, where its identity, status and
artifact store are in the Describe answer, whether it can verify its bucket's owner,
how its ARN and its CloudFormation type are written, how people call it) lives in one
``ResourceKind``. Collection, facts, fixes, evidence, remediation, the findings
document, the OCSF format and the IAM documents' test read it; ``KINDS`` is the
registry they iterate.

Adding a kind is one ``ResourceKind`` passed to :func:`register_kind` (the shipped ones
below), the rules that apply to it (``resource_types`` in ``rules/``), its operations
in the lean service models (``auditor.aws.models``) when its service is one of ours,
its IAM actions in ``docs/iam/``, and its simulation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jmespath

from auditor.core.model import MLFLOW_APP, TRACKING_SERVER


@functools.lru_cache(maxsize=256)
def _compiled(path: str) -> Any:
    return jmespath.compile(path)


@dataclass(frozen=True, slots=True)
class ResourceKind:
    name: str  # the findings' resource_type
    label: str  # for people: "tracking server"
    plural: str  # "MLflow tracking servers"
    short: str  # what a sentence about one calls it: "server"
    # The service: botocore's client name (also the IAM and evidence prefix), and what
    # people call it.
    service: str
    service_label: str
    # API operation names (CamelCase, as in the service model and IAM)
    list_api: str
    describe_api: str
    # The operation that changes the resource's configuration: printed in the fix
    # commands; called by ``--remediate`` only when the kind can verify its bucket's
    # owner (``remediable``). None: nothing can be changed.
    update_api: str | None
    # ListX: the page key, and the summary fields that identify one resource
    list_key: str
    list_id_field: str
    list_arn_field: str
    # DescribeX (and UpdateX): the request parameter that takes that identifier
    describe_param: str
    # Where the DescribeX answer keeps each value: a JMESPath expression, so a value
    # nested in the answer ("DefaultUserSettings.SharingSettings.S3OutputPath") is read
    # as easily as a top-level field.
    name_field: str
    arn_field: str
    status_field: str
    uri_field: str = "ArtifactStoreUri"
    verification_field: str | None = None  # S3BucketOwnerVerification, where it exists
    owner_field: str | None = None  # S3BucketOwnerAccountId, where it exists
    # The execution role, and whether new models go to the Model Registry automatically
    # (an expression that yields true or false, for a kind whose answer is an enum).
    role_field: str | None = "RoleArn"
    model_registration_field: str | None = None
    # The UpdateX parameters that set those values (default: the Describe field's name,
    # for a kind whose fields are top-level).
    uri_param: str | None = None
    verification_param: str | None = None
    owner_param: str | None = None
    # Statuses in which the update operation is accepted (anything else is in flux)
    stable_statuses: frozenset[str] = frozenset()
    # ARN: arn:<partition>:<service>:<region>:<account>:<arn_type>/<id>
    arn_type: str = ""  # default: the kind's name
    # The CloudFormation resource type (OCSF's resources[].type); None: "Other"
    cfn_type: str | None = None
    # The service's API version, named by evidence in OCSF's api.service.version
    api_version: str | None = None

    @property
    def has_owner_verification(self) -> bool:
        return self.verification_field is not None

    @property
    def remediable(self) -> bool:
        """Whether ``--remediate`` can pin the bucket's owner on this kind."""
        return self.update_api is not None and self.has_owner_verification

    @property
    def identified_by_arn(self) -> bool:
        """Whether List, Describe and Update take the ARN (else the name)."""
        return self.list_id_field == self.list_arn_field

    @property
    def read_actions(self) -> tuple[str, ...]:
        return (f"{self.service}:{self.list_api}", f"{self.service}:{self.describe_api}")

    @property
    def write_actions(self) -> tuple[str, ...]:
        return (f"{self.service}:{self.update_api}",) if self.remediable else ()

    @property
    def operations(self) -> tuple[str, ...]:
        """The API operations the scanner (and remediation) may call for this kind."""
        update = (self.update_api,) if self.remediable and self.update_api else ()
        return (self.list_api, self.describe_api, *update)

    def identifier(self, name: str, arn: str) -> str:
        """What ``describe_param`` takes for the resource ``name`` / ``arn``: the ARN, the
        name when the kind is listed by name, else the id that ends the ARN
        (``arn:...:<arn_type>/<id>``) for a kind whose name is only a display name."""
        if self.identified_by_arn:
            return arn
        if self.list_id_field == self.name_field:
            return name
        return arn.rsplit("/", 1)[-1]

    def arn(self, region: str, account_id: str, name: str) -> str:
        """The ARN of the resource ``name`` of this kind (in the ``aws`` partition)."""
        return f"arn:aws:{self.service}:{region}:{account_id}:{self.arn_type or self.name}/{name}"

    def value(self, answer: Any, path: str | None) -> Any:
        """The value at ``path`` of a Describe answer (None when absent or no path)."""
        if path is None or not isinstance(answer, dict):
            return None
        return _compiled(path).search(answer)

    def param(self, param: str | None, field: str | None) -> str:
        """An UpdateX parameter: ``param`` when given, else the Describe ``field``'s name."""
        name = param or field
        if name is None:
            raise ValueError(f"{self.name}: no update parameter for that value")
        return name

    @staticmethod
    def method(api: str) -> str:
        """boto3's method (and paginator) name for an API operation name."""
        return "".join("_" + c.lower() if c.isupper() else c for c in api).lstrip("_")

    @staticmethod
    def cli(api: str) -> str:
        """The AWS CLI's name of an operation or parameter (``update-mlflow-app``)."""
        return ResourceKind.method(api).replace("_", "-")


TRACKING_SERVER_KIND = ResourceKind(
    name=TRACKING_SERVER,
    label="tracking server",
    plural="MLflow tracking servers",
    short="server",
    service="sagemaker",
    service_label="SageMaker",
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
    model_registration_field="AutomaticModelRegistration",
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
    cfn_type="AWS::SageMaker::MlflowTrackingServer",
    api_version="2017-07-24",
)

MLFLOW_APP_KIND = ResourceKind(
    name=MLFLOW_APP,
    label="MLflow App",
    plural="MLflow Apps",
    short="App",
    service="sagemaker",
    service_label="SageMaker",
    list_api="ListMlflowApps",
    describe_api="DescribeMlflowApp",
    # Printed in the fix that points an App at another bucket; never called: an App has
    # no owner verification to turn on.
    update_api="UpdateMlflowApp",
    list_key="Summaries",
    list_id_field="Arn",
    list_arn_field="Arn",
    describe_param="Arn",
    name_field="Name",
    arn_field="Arn",
    status_field="Status",
    # An App says AutoModelRegistrationEnabled or AutoModelRegistrationDisabled.
    model_registration_field="ModelRegistrationMode == 'AutoModelRegistrationEnabled'",
    cfn_type="AWS::SageMaker::MlflowApp",
    api_version="2017-07-24",
)

#: Every kind a scan lists, by name, in the order scopes list them.
KINDS: dict[str, ResourceKind] = {}


def register_kind(kind: ResourceKind) -> ResourceKind:
    """Add ``kind`` to ``KINDS`` (every stage reads the registry when it runs)."""
    if kind.name in KINDS and KINDS[kind.name] != kind:
        raise ValueError(f"another resource kind is already named {kind.name!r}")
    KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind added by :func:`register_kind` (a test's own kind, afterwards)."""
    KINDS.pop(name, None)


def kind_of(resource_type: str) -> ResourceKind:
    return KINDS[resource_type]


register_kind(TRACKING_SERVER_KIND)
register_kind(MLFLOW_APP_KIND)
