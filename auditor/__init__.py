"""mlflow-audit: prove who owns the S3 artifact buckets of SageMaker Managed MLflow."""

# The one definition of the version (pyproject reads it: [tool.hatch.version]); a plain
# string, because importlib.metadata costs a cold start (a Lambda event run) ~50 ms.
__version__ = "0.1.0"

__all__ = ["__version__"]
