import pytest

from auditor.core.artifacts import account_namespace, bucket_name_error, parse_artifact_store_uri


@pytest.mark.parametrize(
    ("uri", "bucket", "style", "prefix", "region"),
    [
        ("s3://ml-artifacts/models", "ml-artifacts", "s3", "models", None),
        ("s3://ml-artifacts", "ml-artifacts", "s3", "", None),
        (
            "https://ml-artifacts.s3.us-west-2.amazonaws.com/m/x",
            "ml-artifacts",
            "virtual-hosted",
            "m/x",
            "us-west-2",
        ),
        ("https://ml-artifacts.s3.amazonaws.com/m", "ml-artifacts", "virtual-hosted", "m", None),
        (
            "https://ml.artifacts.s3.eu-west-1.amazonaws.com/",
            "ml.artifacts",
            "virtual-hosted",
            "",
            "eu-west-1",
        ),
        (
            "https://ml-artifacts.s3-eu-west-1.amazonaws.com/m",
            "ml-artifacts",
            "virtual-hosted",
            "m",
            "eu-west-1",
        ),
        (
            "https://s3.eu-central-1.amazonaws.com/ml-artifacts/p/q",
            "ml-artifacts",
            "path",
            "p/q",
            "eu-central-1",
        ),
        ("https://s3.amazonaws.com/ml-artifacts", "ml-artifacts", "path", "", None),
        (
            "https://ml-a.s3.dualstack.ap-south-1.amazonaws.com/x",
            "ml-a",
            "virtual-hosted",
            "x",
            "ap-south-1",
        ),
    ],
)
def test_parses_every_documented_uri_form(uri, bucket, style, prefix, region):
    parsed = parse_artifact_store_uri(uri)
    assert parsed.valid
    assert (parsed.bucket, parsed.style, parsed.prefix, parsed.region) == (
        bucket,
        style,
        prefix,
        region,
    )


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        (None, "empty"),
        ("", "empty"),
        ("https://example.com/artifacts", "not an Amazon S3 endpoint"),
        ("ftp://bucket/x", "must start with s3:// or https://"),
        ("s3://Upper-Case/x", "not a valid bucket name"),
        ("s3://ab/x", "not a valid bucket name"),
        ("s3://a..b/x", "two adjacent periods"),
        ("s3://192.168.5.4/x", "IP address"),
        ("https://s3.us-east-1.amazonaws.com/", "names no bucket"),
        ("https://bucket.s3.us-east-1.amazonaws.com:8443/x", "port"),
        ("s3:///nobucket", "names no bucket"),
        ("s3://bucket-s3alias/x", "reserves"),
    ],
)
def test_rejects_uris_that_name_no_bucket_with_a_reason(uri, reason):
    parsed = parse_artifact_store_uri(uri)
    assert not parsed.valid
    assert parsed.bucket is None
    assert reason in parsed.error


def test_markup_in_prefix_does_not_change_the_bucket():
    parsed = parse_artifact_store_uri("s3://ml-artifacts/<script>alert(1)</script>")
    assert parsed.bucket == "ml-artifacts"
    assert parsed.prefix == "<script>alert(1)</script>"


def test_account_regional_namespace_names_prove_an_account():
    ns = account_namespace("amzn-ml-111122223333-us-west-2-an")
    assert ns is not None
    assert (ns.account_id, ns.region) == ("111122223333", "us-west-2")
    assert account_namespace("ml-artifacts-111122223333-us-west-2") is None
    assert account_namespace("ml-artifacts-11112222333-us-west-2-an") is None  # 11 digits
    assert account_namespace("111122223333-us-west-2-an") is None  # no prefix


def test_bucket_name_rules():
    assert bucket_name_error("good-name.1") is None
    assert bucket_name_error("-bad") is not None
    assert bucket_name_error("x" * 64) is not None
    assert bucket_name_error("xn--punycode") is not None
