"""Which buckets each audited account owns: its ``ListBuckets``, every page.

The union over the audited accounts is the organisation's bucket -> owner map that the
prove stage starts from (a bucket absent from an account's list is proven not to be
that account's).
"""

from __future__ import annotations

from typing import Any

# ListBuckets' largest page. Unpaginated ListBuckets is refused for accounts whose bucket
# quota exceeds 10,000, so every request is a paginated one (MaxBuckets, then
# ContinuationToken): https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html
LIST_BUCKETS_PAGE = 10_000


def list_owned_buckets(s3: Any, page_size: int = LIST_BUCKETS_PAGE) -> set[str]:
    """Names of every bucket the client's account owns (``ListBuckets``, every page)."""
    names: set[str] = set()
    params: dict[str, Any] = {"MaxBuckets": page_size}
    while True:
        page = s3.list_buckets(**params)
        names.update(b["Name"] for b in page.get("Buckets", []))
        token = page.get("ContinuationToken")
        if not token:
            return names
        params["ContinuationToken"] = token
