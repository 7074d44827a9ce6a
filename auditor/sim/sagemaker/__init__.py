"""SageMaker Managed MLflow (tracking servers and MLflow Apps), which moto lacks.

Laid out per concern, as moto lays out a service: ``models`` (the resources and their
store, with status transitions), ``servers``/``apps``/``tags`` (the operations on the
store), ``validation`` (input checked against botocore's service model, as SageMaker's
front end does), ``pagination`` (how the List operations filter, sort and page, as data),
``exceptions`` (the error codes) and ``responses`` (which requests are answered, on the
wire).
"""

from .exceptions import ApiError
from .models import INACTIVE, UNSTABLE, MlflowApp, MlflowStore, TrackingServer
from .responses import APP_OPS, SERVER_OPS, TAG_OPS, handle, not_offered
from .validation import pattern_matches, validate

__all__ = [
    "APP_OPS",
    "INACTIVE",
    "SERVER_OPS",
    "TAG_OPS",
    "UNSTABLE",
    "ApiError",
    "MlflowApp",
    "MlflowStore",
    "TrackingServer",
    "handle",
    "not_offered",
    "pattern_matches",
    "validate",
]
