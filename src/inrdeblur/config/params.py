"""Validation of ``params.yaml`` against its JSON schema, with clear errors.

Every error names the offending key as a dotted path (``methods.siren_tv.fit.iterations``)
so a user can find it in the file. Validation fills in the schema's defaults and then runs
the checks a schema cannot express (cross-references between sections, odd kernel sizes).
It imports neither torch nor Snakemake, so it answers within a second.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_FILE = "params.schema.yaml"


class ParamsError(ValueError):
    """params.yaml is invalid; ``problems`` lists one message per offending key."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: invalid parameters\n{lines}")


@functools.cache
def schema() -> dict[str, Any]:
    """The JSON schema of params.yaml (shipped with the package)."""
    text = resources.files("inrdeblur.config").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def load_params(path: str | os.PathLike = "params.yaml") -> dict[str, Any]:
    """Read, validate and default-fill a params file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ParamsError(str(path), ["file not found"]) from err
    except yaml.YAMLError as err:
        raise ParamsError(str(path), [f"not valid YAML: {err}"]) from err
    return validate_params(raw, source=str(path))


def validate_params(raw: Any, source: str = "params.yaml") -> dict[str, Any]:
    """Validate ``raw`` params; return a copy with defaults filled in.

    Raises:
        ParamsError: listing every problem, each naming its key.
    """
    if not isinstance(raw, dict):
        raise ParamsError(source, ["the file must hold a mapping of sections"])
    params = copy.deepcopy(raw)
    validator = _DefaultFillingValidator(schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: list(map(str, e.absolute_path)))
    problems = [msg for err in errors for msg in _describe(err)]
    if problems:
        raise ParamsError(source, _unique(problems))
    problems = list(_semantic_problems(params))
    if problems:
        raise ParamsError(source, problems)
    return params


def schema_keys() -> list[dict[str, Any]]:
    """Every documented key of the schema: dotted key, type, default and description."""
    rows: list[dict[str, Any]] = []
    root = schema()

    def walk(node: dict[str, Any], prefix: str) -> None:
        node = _resolve(root, node)
        for name, sub in node.get("properties", {}).items():
            sub = _resolve(root, sub)
            key = f"{prefix}.{name}" if prefix else name
            rows.append(
                {
                    "key": key,
                    "type": _type_name(sub),
                    "default": sub.get("default"),
                    "description": sub.get("description", ""),
                }
            )
            walk(sub, key)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            walk(extra, f"{prefix}.<name>")

    walk(root, "")
    return rows


# ---------------------------------------------------------------------------------------
# jsonschema plumbing


def _fill_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema_node):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema_node)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultFillingValidator = _fill_defaults(jsonschema.Draft202012Validator)


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(err: jsonschema.ValidationError) -> Iterator[str]:
    key = _key(err.absolute_path)
    prefix = f"{key}." if err.absolute_path else ""
    if err.validator == "additionalProperties" and isinstance(err.validator_value, bool):
        allowed = sorted(err.schema.get("properties", {}))
        for name in sorted(set(err.instance) - set(allowed)):
            yield f"{prefix}{name}: unknown key (allowed: {', '.join(allowed)})"
    elif err.validator == "required":
        for name in err.validator_value:
            if isinstance(err.instance, dict) and name not in err.instance:
                yield f"{prefix}{name}: required key is missing"
    elif err.validator == "enum":
        choices = ", ".join(map(repr, err.validator_value))
        yield f"{key}: {err.instance!r} is not one of {choices}"
    elif err.validator == "propertyNames":
        yield f"{key}: invalid name {err.instance!r} (use lower-case letters, digits and '_')"
    elif err.validator == "oneOf" and "scenes" in key:
        yield f"{key}: must be 'all' or a list of scene ids, got {err.instance!r}"
    elif err.validator == "type":
        yield f"{key}: expected {err.validator_value}, got {err.instance!r}"
    else:
        yield f"{key}: {err.message}"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return root["$defs"][ref.split("/")[-1]]
    return node


def _type_name(node: dict[str, Any]) -> str:
    if "type" in node:
        return str(node["type"])
    if "oneOf" in node:
        return " | ".join(str(o.get("type", "?")) for o in node["oneOf"])
    return "object"


# ---------------------------------------------------------------------------------------
# checks a schema cannot express


def _semantic_problems(params: dict[str, Any]) -> Iterator[str]:
    experiment = params["experiment"]
    for section in ("datasets", "blurs", "methods"):
        defined = params.get(section, {})
        for i, name in enumerate(experiment[section]):
            if name not in defined:
                known = ", ".join(sorted(defined)) or "none"
                singular = section[:-1]
                yield (
                    f"experiment.{section}[{i}]: unknown {singular} {name!r} "
                    f"(defined under {section}: {known})"
                )
    for name, blur in params["blurs"].items():
        if blur["kernel_size"] % 2 == 0:
            yield f"blurs.{name}.kernel_size: must be odd, got {blur['kernel_size']}"
    for name, method in params["methods"].items():
        fit = method["fit"]
        if fit["lr_min"] > fit["lr"]:
            yield f"methods.{name}.fit.lr_min: {fit['lr_min']} is larger than lr {fit['lr']}"
    demo = params["datasets"].get("demo")
    if demo is not None:
        if isinstance(demo["scenes"], list):
            from inrdeblur.data.demo import SCENE_IDS

            for i, scene in enumerate(demo["scenes"]):
                if scene not in SCENE_IDS:
                    yield (
                        f"datasets.demo.scenes[{i}]: unknown demo scene {scene!r} "
                        f"(known: {', '.join(SCENE_IDS)})"
                    )
        if "demo" in experiment["datasets"]:
            for name in experiment["blurs"]:
                size = params["blurs"].get(name, {}).get("kernel_size", 0)
                if size >= demo["size"]:
                    yield (
                        f"blurs.{name}.kernel_size: {size} px is not smaller than the "
                        f"demo image size {demo['size']} px"
                    )
