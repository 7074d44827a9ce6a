"""Organizations and account-level helpers: enabled regions (EC2 DescribeRegions), suspension.

DescribeRegions without ``AllRegions`` lists only the regions enabled for the account
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeRegions.html);
opt-in regions are disabled until enabled
(https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-regions.html).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import boto3

from .exceptions import Response, request_id

if TYPE_CHECKING:
    from .request import SimRequest
    from .state import SimState

# Regions enabled by default in every account (AWS calls them "opt-in-not-required").
DEFAULT_REGIONS = (
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)


@lru_cache(maxsize=1)
def all_regions() -> tuple[str, ...]:
    """Every commercial-partition region botocore knows for EC2."""
    regions = set(boto3.session.Session().get_available_regions("ec2")) | set(DEFAULT_REGIONS)
    return tuple(sorted(regions))


def enabled_regions(state: SimState, account_id: str) -> list[str]:
    with state.lock:
        return list(state.enabled_regions.get(account_id, DEFAULT_REGIONS))


def describe_regions(state: SimState, req: SimRequest) -> Response | None:
    if req.operation != "DescribeRegions":
        return None
    params = req.form()
    enabled = set(enabled_regions(state, req.account_id))
    if params.get("AllRegions", "false").lower() == "true":
        regions = sorted(set(all_regions()) | enabled)
    else:
        regions = sorted(enabled)
    names = [v for k, v in params.items() if k.startswith("RegionName.")]
    if names:
        regions = [r for r in regions if r in names]
    filters: dict[str, list[str]] = {}
    for k, v in params.items():
        if k.startswith("Filter.") and k.endswith(".Name"):
            idx = k.split(".")[1]
            filters[v] = [
                val for kk, val in params.items() if kk.startswith(f"Filter.{idx}.Value.")
            ]
    items = []
    for region in regions:
        if region in DEFAULT_REGIONS:
            status = "opt-in-not-required"
        else:
            status = "opted-in" if region in enabled else "not-opted-in"
        if "region-name" in filters and region not in filters["region-name"]:
            continue
        if "opt-in-status" in filters and status not in filters["opt-in-status"]:
            continue
        items.append(
            f"<item><regionName>{escape(region)}</regionName>"
            f"<regionEndpoint>ec2.{escape(region)}.amazonaws.com</regionEndpoint>"
            f"<optInStatus>{status}</optInStatus></item>"
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<requestId>{request_id()}</requestId><regionInfo>{''.join(items)}</regionInfo>"
        "</DescribeRegionsResponse>"
    ).encode()
    return 200, {"Content-Type": "text/xml"}, body


def set_account_status(account_id: str, status: str) -> None:
    """Mark an organization member SUSPENDED/ACTIVE (AWS has no API to suspend an account)."""
    from moto.organizations.models import organizations_backends

    for _acct, by_partition in list(organizations_backends.items()):
        for backend in list(by_partition.values()):
            for account in getattr(backend, "accounts", []):
                if account.id == account_id:
                    account.status = status
                    account.state = status
                    return
    raise KeyError(f"account {account_id} is not in any simulated organization")
