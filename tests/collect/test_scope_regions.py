"""known_regions() reads endpoints.json alone and still answers what botocore's
get_available_regions answers for sagemaker, ec2 and s3 in every partition."""

from __future__ import annotations

import botocore.session

from auditor.collect.scope import KNOWN_REGION_PREFIXES, known_regions


def test_prefixes_are_the_models_endpoint_prefixes():
    bc = botocore.session.get_session()
    prefixes = tuple(
        bc.get_service_data(s)["metadata"]["endpointPrefix"] for s in ("sagemaker", "ec2", "s3")
    )
    assert prefixes == KNOWN_REGION_PREFIXES


def test_same_regions_as_get_available_regions():
    bc = botocore.session.get_session()
    expected: set[str] = set()
    for partition in bc.get_available_partitions():
        for service in ("sagemaker", "ec2", "s3"):
            expected.update(bc.get_available_regions(service, partition_name=partition))
    assert known_regions() == expected
    assert "us-east-1" in expected and "eu-west-1" in expected
