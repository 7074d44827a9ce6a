"""STS AssumeRole that honours the role's trust policy (moto lets anyone assume anything).

https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_manage-assume.html and
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_common-scenarios_third-party.html
(sts:ExternalId). A role that does not exist, or whose trust policy does not allow the
caller, answers 403 AccessDenied. Identity policies of the caller are not evaluated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import exceptions
from .exceptions import Response
from .iam import evaluate, load_policy
from .identity import principal_for_key

if TYPE_CHECKING:
    from .request import SimRequest
    from .state import SimState


def pre(state: SimState, req: SimRequest) -> Response | None:
    if req.operation != "AssumeRole":
        return None
    from moto.iam.models import iam_backends

    params = req.form()
    role_arn = params.get("RoleArn", "")
    caller = principal_for_key(req.access_key)
    message = (
        f"User: {caller.arns[-1]} is not authorized to perform: sts:AssumeRole on "
        f"resource: {role_arn}"
    )
    parts = role_arn.split(":")
    if len(parts) < 6 or not parts[5].startswith("role/"):
        return None  # malformed ARNs: moto's own validation answers
    account, role_name = parts[4], parts[5].split("/")[-1]
    try:
        role = iam_backends[account]["aws"].get_role(role_name)
    except Exception:
        return exceptions.access_denied("sts", message)
    context = {}
    if "ExternalId" in params:
        context["sts:ExternalId"] = params["ExternalId"]
    verdict = evaluate(
        load_policy(role.assume_role_policy_document), caller, "sts:AssumeRole", role.arn, context
    )
    if verdict != "allow":
        return exceptions.access_denied("sts", message)
    return None
