"""Trimmed models: kept on disk (read back identical, never stale, never with AWS_DATA_PATH), parsed once per process."""

from __future__ import annotations

import json
import threading

import botocore
import pytest

from auditor.aws import models as botomodels
from auditor.aws.models import OPERATIONS, LeanLoader, build_models, cache_name


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(botomodels.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(botomodels, "PACKAGED_MODELS", tmp_path / "packaged")
    return tmp_path / "cache"


def test_written_once_then_read_back_identical(cache):
    first = LeanLoader().load_service_model("sagemaker", "service-2")
    path = cache / cache_name("sagemaker", None)
    assert path.is_file() and botocore.__version__ in path.name
    assert json.loads(path.read_text()) == first
    second = LeanLoader().load_service_model("sagemaker", "service-2")  # a new process
    assert second == first and set(second["operations"]) == OPERATIONS["sagemaker"]


def test_a_copy_for_other_operations_is_not_used(cache, monkeypatch):
    LeanLoader().load_service_model("sts", "service-2")
    path = cache / cache_name("sts", None)
    stale = json.loads(path.read_text())
    stale["operations"].pop("AssumeRole")
    path.write_text(json.dumps(stale))
    assert "AssumeRole" in LeanLoader().load_service_model("sts", "service-2")["operations"]
    # a new call in OPERATIONS is another file name: the old copy is never read
    monkeypatch.setitem(OPERATIONS, "sts", OPERATIONS["sts"] | {"GetSessionToken"})
    assert cache_name("sts", None) != path.name


def test_corrupt_copy_falls_back_to_trimming(cache):
    cache.mkdir(parents=True)
    (cache / cache_name("s3", None)).write_text("{not json")
    model = LeanLoader().load_service_model("s3", "service-2")
    assert set(model["operations"]) == OPERATIONS["s3"]


def test_extra_search_paths_never_use_disk_copies(cache, tmp_path):
    loader = LeanLoader(extra_search_paths=[str(tmp_path / "models")])
    loader.load_service_model("sts", "service-2")
    assert not (cache / cache_name("sts", None)).exists()


def test_build_models_for_the_package(cache, tmp_path):
    out = tmp_path / "packaged"
    paths = build_models(out)
    assert {p.name for p in paths} == {cache_name(s, None) for s in OPERATIONS}
    model = LeanLoader().load_service_model("organizations", "service-2")
    assert model == json.loads((out / cache_name("organizations", None)).read_text())


def test_the_full_model_is_dropped_once_trimmed(cache):
    loader = LeanLoader(disk_copies=False)
    lean = loader.load_service_model("sagemaker", "service-2")
    assert set(lean["operations"]) == OPERATIONS["sagemaker"]

    def models(value, depth=0):
        if isinstance(value, dict) and "operations" in value and "shapes" in value:
            yield value
        elif depth < 3 and isinstance(value, dict | list | tuple):
            for item in value.values() if isinstance(value, dict) else value:
                yield from models(item, depth + 1)

    kept = [m for attr in vars(loader).values() for m in models(attr)]
    assert kept and all(set(m["operations"]) <= OPERATIONS["sagemaker"] for m in kept)


class _CountingLoader(LeanLoader):
    """Counts the full models it parses (each one is botocore's whole JSON file)."""

    def __init__(self) -> None:
        super().__init__(disk_copies=False)
        self.full_parses = 0

    def _full_model(self, service_name, type_name, api_version):
        self.full_parses += 1
        return super()._full_model(service_name, type_name, api_version)


def test_threads_building_their_first_client_together_parse_the_model_once():
    loader = _CountingLoader()
    start = threading.Barrier(16)
    models = []

    def first_client() -> None:
        start.wait()
        models.append(loader.load_service_model("sagemaker", "service-2"))
        loader.load_service_model("sagemaker", "endpoint-rule-set-1")

    threads = [threading.Thread(target=first_client) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loader.full_parses == 1
    assert len(models) == 16 and all(m is models[0] for m in models)
    assert set(models[0]["operations"]) == OPERATIONS["sagemaker"]
