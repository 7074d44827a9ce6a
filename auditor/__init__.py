"""mlflow-audit: prove who owns the S3 artifact buckets of SageMaker Managed MLflow."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mlflow-audit")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+checkout"

__all__ = ["__version__"]
