"""Input validation against botocore's SageMaker service model.

SageMaker's front end rejects input its model forbids (a missing required member, a string
too short or too long, one outside its ``pattern`` or ``enum``, an integer out of range)
with ``ValidationException`` before any operation runs; the simulation does the same, with
AWS's "N validation errors detected" message format.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import botocore.session

from .exceptions import invalid

if TYPE_CHECKING:
    from botocore.model import OperationModel, ServiceModel, Shape


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    """botocore's SageMaker model, loaded once (it is large)."""
    return botocore.session.get_session().get_service_model("sagemaker")


def _op(name: str) -> OperationModel:
    return service_model().operation_model(name)


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _validate_shape(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    """Append to ``problems`` every constraint ``value`` breaks (one validator per type)."""
    validator = _VALIDATORS.get(shape.type_name)
    if validator is not None:
        validator(shape, value, path, problems)


def _shown(value: Any) -> str:
    return json.dumps(value)[:200] if not isinstance(value, str) else value


def _validate_structure(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"Value at '{path}' failed to satisfy constraint: must be a structure")
        return
    for req in shape.required_members:
        if value.get(req) is None:
            problems.append(
                f"Value null at '{_join(path, req)}' failed to satisfy "
                "constraint: Member must not be null"
            )
    for key, member in shape.members.items():
        if key in value and value[key] is not None:
            _validate_shape(member, value[key], _join(path, key), problems)


def _validate_string(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    shown = _shown(value)
    if not isinstance(value, str):
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must be a string"
        )
        return
    if "min" in meta and len(value) < meta["min"]:
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: Member "
            f"must have length greater than or equal to {meta['min']}"
        )
    if "max" in meta and len(value) > meta["max"]:
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: Member "
            f"must have length less than or equal to {meta['max']}"
        )
    if "pattern" in meta and not pattern_matches(meta["pattern"], value):
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: Member "
            f"must satisfy regular expression pattern: {meta['pattern']}"
        )
    if shape.enum and value not in shape.enum:
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: Member "
            f"must satisfy enum value set: [{', '.join(shape.enum)}]"
        )


def _validate_integer(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(
            f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: "
            "Member must be an integer"
        )
        return
    if "min" in meta and value < meta["min"]:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: Member "
            f"must have value greater than or equal to {meta['min']}"
        )
    if "max" in meta and value > meta["max"]:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: Member "
            f"must have value less than or equal to {meta['max']}"
        )


def _validate_boolean(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, bool):
        problems.append(
            f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: "
            "Member must be a boolean"
        )


def _validate_list(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    if not isinstance(value, list):
        problems.append(f"Value at '{path}' failed to satisfy constraint: must be a list")
        return
    if "max" in meta and len(value) > meta["max"]:
        problems.append(
            f"Value at '{path}' failed to satisfy constraint: Member must have "
            f"length less than or equal to {meta['max']}"
        )
    for i, item in enumerate(value):
        _validate_shape(shape.member, item, f"{path}.{i + 1}", problems)


# Shape types not listed (map, timestamp, blob, ...) are not checked.
_VALIDATORS = {
    "structure": _validate_structure,
    "string": _validate_string,
    "integer": _validate_integer,
    "long": _validate_integer,
    "boolean": _validate_boolean,
    "list": _validate_list,
}


_UNICODE_CLASS = re.compile(r"^\(?\[((?:\\p\{[LZN]\})+)(.*)\]\*\)?$")


@lru_cache(maxsize=256)
def _compile(pattern: str) -> Any:
    """Compile a Smithy pattern; ``[\\p{L}\\p{Z}\\p{N}...]*`` becomes a per-character test."""
    m = _UNICODE_CLASS.match(pattern)
    if m:
        cats = tuple(re.findall(r"\\p\{([LZN])\}", m.group(1)))
        literals = set(re.sub(r"\\(.)", r"\1", m.group(2)))
        return cats, literals
    return re.compile(pattern, re.DOTALL)


def pattern_matches(pattern: str, value: str) -> bool:
    compiled = _compile(pattern)
    if isinstance(compiled, tuple):
        cats, literals = compiled
        return all(ch in literals or unicodedata.category(ch)[0] in cats for ch in value)
    return compiled.fullmatch(value) is not None


def _join(path: str, key: str) -> str:
    return f"{path}.{_lower_first(key)}" if path else _lower_first(key)


def validate(operation: str, params: dict[str, Any]) -> None:
    """Raise ValidationException the way SageMaker does for input the model forbids."""
    shape = _op(operation).input_shape
    problems: list[str] = []
    if shape is not None:
        _validate_shape(shape, params, "", problems)
    if problems:
        n = len(problems)
        raise invalid(
            f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(problems)
        )
