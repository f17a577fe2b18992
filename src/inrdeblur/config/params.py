"""Validation of ``params.yaml`` against its JSON schema, with clear errors.

Every error names the offending key as a dotted path (``methods.siren_tv.fit.iterations``)
so a user can find it in the file. Validation fills in the schema's defaults and then runs
the checks a schema cannot express (cross-references between sections, odd kernel sizes).
It imports neither torch nor Snakemake, so it answers within a second.
"""

from __future__ import annotations

import copy
import functools
import json
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
    problems = _unique(list(_semantic_problems(params)))
    if problems:
        raise ParamsError(source, problems)
    return params


def dataset_settings(name: str, settings: Any) -> dict[str, Any]:
    """Validate one ``datasets.<name>`` section on its own; return a default-filled copy.

    What the prepare stage runs on the JSON it is handed, so that a section written by
    hand gets the same defaults and the same errors (naming ``datasets.<name>.<key>``) as
    in a whole params file.

    Raises:
        ParamsError: an unknown dataset name, or every problem of the section.
    """
    datasets = schema()["properties"]["datasets"]["properties"]
    if name not in datasets:
        known = ", ".join(datasets)
        raise ParamsError("datasets", [f"datasets.{name}: unknown dataset (known: {known})"])
    wrapper = {
        "$defs": schema().get("$defs", {}),
        "type": "object",
        "properties": {
            "datasets": {"type": "object", "properties": {name: datasets[name]}},
        },
    }
    instance = {"datasets": {name: copy.deepcopy(settings)}}
    errors = sorted(
        _DefaultFillingValidator(wrapper).iter_errors(instance),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    problems = [msg for err in errors for msg in _describe(err)]
    if problems:
        raise ParamsError(f"datasets.{name}", _unique(problems))
    return instance["datasets"][name]


def schema_keys() -> list[dict[str, Any]]:
    """Every documented key of the schema: dotted key, type, default and description."""
    rows: list[dict[str, Any]] = []
    root = schema()

    seen: dict[tuple, dict[str, Any]] = {}

    def walk(node: dict[str, Any], prefix: str, condition: str = "") -> None:
        node = _resolve(root, node)
        for name, sub in node.get("properties", {}).items():
            sub = _resolve(root, sub)
            key = f"{prefix}.{name}" if prefix else name
            description = sub.get("description", "")
            # A key of several conditional branches is one row when it means the same in
            # each (same default and description), else one row per branch.
            same = (key, json.dumps(sub.get("default")), description)
            if same in seen:
                seen[same]["description"] = seen[same]["description"].replace(
                    ")", f", {condition})", 1
                )
                continue
            row = {
                "key": key,
                "type": _type_name(sub),
                "default": sub.get("default"),
                "description": f"({condition}) {description}" if condition else description,
            }
            seen[same] = row
            rows.append(row)
            walk(sub, key)
        for branch in node.get("allOf", []):
            if "if" in branch and "then" in branch:
                (field, test), *_ = branch["if"]["properties"].items()
                walk(branch["then"], prefix, f"{field} {' | '.join(_branch_values(test))}")
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
                sub = _resolve(schema(), sub)
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
    elif err.validator == "unevaluatedProperties":
        yield from _unknown_conditional_keys(err, prefix)
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
    elif err.validator == "oneOf" and key.endswith(".intrinsics_size"):
        yield f"{key}: must be [height, width] (two integers >= 1) or null, got {err.instance!r}"
    elif err.validator == "oneOf" and key.endswith(".error_ratio_reference"):
        yield f"{key}: must be a method name or null, got {err.instance!r}"
    elif err.validator == "type" and key.startswith("datasets.") and key.endswith(".scenes"):
        yield f"{key}: must be a list of scene ids, got {err.instance!r}{_why_listed(key)}"
    elif err.validator == "type":
        yield f"{key}: expected {err.validator_value}, got {err.instance!r}"
    else:
        yield f"{key}: {err.message}"


def _why_listed(key: str) -> str:
    """Why ``datasets.<name>.scenes`` takes only a list, for datasets whose ids need the data."""
    from inrdeblur.data.registry import DATASETS, is_scanned

    name = key.split(".")[1]
    if name in DATASETS and is_scanned(name):
        return (
            f" ({name}'s scene ids come from the files, and the workflow must know every job "
            "before the data is there, so 'all' is not available)"
        )
    return ""


def _branch_values(test: dict[str, Any]) -> list[Any]:
    """The discriminator values an ``if`` branch matches (``const`` or ``enum``)."""
    return list(test["enum"]) if "enum" in test else [test["const"]]


def _unknown_conditional_keys(err: jsonschema.ValidationError, prefix: str) -> Iterator[str]:
    """Unknown keys of an object whose allowed keys depend on a discriminator (``model``)."""
    root = schema()
    allowed = set(err.schema.get("properties", {}))
    condition = ""
    for branch in err.schema.get("allOf", []):
        (field, test), *_ = branch["if"]["properties"].items()
        if not isinstance(err.instance, dict):
            continue
        value = err.instance.get(field)
        if value in _branch_values(test):
            allowed |= set(_resolve(root, branch["then"]).get("properties", {}))
        if value in err.schema.get("properties", {}).get(field, {}).get("enum", ()):
            condition = f" for {field} {value!r}"  # valid, whether or not a branch adds keys
    if not condition:
        return  # the discriminator is missing or invalid: its own error says so
    for name in sorted(set(err.instance) - allowed):
        yield f"{prefix}{name}: unknown key{condition} (allowed: {', '.join(sorted(allowed))})"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return root["$defs"][ref.split("/")[-1]]
    return node


def _type_name(node: dict[str, Any]) -> str:
    """The type column of the params doc; alternatives joined by " or " (a "|" would split
    the Markdown table's cell)."""
    if "type" in node:
        kind = node["type"]
        return " or ".join(kind) if isinstance(kind, list) else str(kind)
    if "oneOf" in node:
        return " or ".join(str(o.get("type", "?")) for o in node["oneOf"])
    return "object"


# ---------------------------------------------------------------------------------------
# checks a schema cannot express


def _semantic_problems(params: dict[str, Any]) -> Iterator[str]:
    studies = params["studies"]
    if not any(study["enabled"] for study in studies.values()):
        yield f"studies: no study is enabled (defined: {', '.join(studies)})"
    for study_name, study in studies.items():
        yield from _study_problems(f"studies.{study_name}", study, params)
    for name, blur in params["blurs"].items():
        if blur["model"] == "uniform":
            yield from _kernel_family_problems(f"blurs.{name}", blur)
        elif blur.get("boundary") == "valid":
            yield (
                f"blurs.{name}.boundary: 'valid' applies to uniform blurs only, not "
                f"{blur['model']!r}"
            )
        if blur.get("observation") == "scene" and blur.get("boundary") == "valid":
            yield (
                f"blurs.{name}.boundary: 'valid' shrinks a synthesized image; a stored "
                "blurry image (observation 'scene') keeps the sharp image's size"
            )
    for name, method in params["methods"].items():
        size = method.get("kernel_size")
        if size is not None and size % 2 == 0:
            yield f"methods.{name}.kernel_size: must be odd, got {size}"
        if method["type"] == "cross_scale_inr":
            schedule = method["init_iterations"] + method["transition_iterations"] * (
                1 if method["coarsest_scale"] == "auto" else method["coarsest_scale"]
            )
            if schedule > method["iterations"]:
                yield (
                    f"methods.{name}.iterations: {method['iterations']} is fewer than "
                    f"init_iterations + coarsest_scale x transition_iterations ({schedule})"
                )
        if method["type"] != "inr":
            continue
        fit = method["fit"]
        if fit["lr_min"] > fit["lr"]:
            yield f"methods.{name}.fit.lr_min: {fit['lr_min']} is larger than lr {fit['lr']}"
        if method["regulariser"]["type"] == "cnn_prior" and fit["tile"] > 0:
            yield (
                f"methods.{name}.fit.tile: the cnn_prior regulariser sees the whole image; "
                f"use tile 0, not {fit['tile']}"
            )
    yield from _two_stage_problems(params)
    yield from _kernel_space_problems(params)
    yield from _scene_id_problems(params["datasets"])


def _two_stage_problems(params: dict[str, Any]) -> Iterator[str]:
    """Two-stage entries whose methods are undefined or of the wrong kind, or whose name
    is a method's."""
    methods = params["methods"]
    for name, entry in params.get("two_stage", {}).items():
        key = f"two_stage.{name}"
        if name in methods:
            yield f"{key}: {name!r} is also a method; a name is one or the other"
        for role, blind in (("blind", True), ("non_blind", False)):
            method = entry[role]
            if method not in methods:
                known = ", ".join(sorted(methods))
                yield f"{key}.{role}: unknown method {method!r} (defined under methods: {known})"
            elif (methods[method].get("type", "inr") in BLIND_METHOD_TYPES) != blind:
                kind = "a blind" if blind else "a non-blind"
                yield f"{key}.{role}: {method!r} is not {kind} method"


def _kernel_space_problems(params: dict[str, Any]) -> Iterator[str]:
    """Kernel-space settings that cannot train: a kernel family out of order or with
    even sides, a schedule ending above its start, and (when enabled) training datasets
    that no enabled study prepares."""
    settings = params.get("kernel_space")
    if not settings:
        return
    family = settings["family"]
    for key in ("min_size", "max_size"):
        if family[key] % 2 == 0:
            yield f"kernel_space.family.{key}: must be odd, got {family[key]}"
    if family["min_size"] > family["max_size"]:
        yield (
            f"kernel_space.family.min_size: {family['min_size']} is larger than max_size "
            f"{family['max_size']}"
        )
    if settings["lr_min"] > settings["lr"]:
        yield f"kernel_space.lr_min: {settings['lr_min']} is larger than lr {settings['lr']}"
    if not settings["enabled"] or (settings["weights"] and not settings["held_out"]):
        return
    prepared = {d for s in params["studies"].values() if s["enabled"] for d in s["datasets"]}
    for i, dataset in enumerate(settings["datasets"]):
        if dataset not in prepared:
            yield (
                f"kernel_space.datasets[{i}]: {dataset!r} is in no enabled study; its scenes "
                "are prepared for the studies, so add it to one"
            )


def method_names(params: dict[str, Any]) -> list[str]:
    """Every name a study may list as a method: ``methods``, then ``two_stage``."""
    return [*params["methods"], *params.get("two_stage", {})]


def resolved_recipe(params: dict[str, Any], name: str) -> dict[str, Any]:
    """What a fit of ``name`` runs: ``methods.<name>``, or for a ``two_stage`` entry
    ``{"type": "two_stage", "blind", "non_blind", "non_blind_recipe"}`` (the recipe of
    its non-blind method, so that a change to it changes this recipe too)."""
    if name in params["methods"]:
        return params["methods"][name]
    entry = params["two_stage"][name]
    return {
        "type": TWO_STAGE,
        "blind": entry["blind"],
        "non_blind": entry["non_blind"],
        "non_blind_recipe": params["methods"][entry["non_blind"]],
    }


def _study_problems(key: str, study: dict[str, Any], params: dict[str, Any]) -> Iterator[str]:
    """Undefined names in one study, and blurs that meet datasets they cannot blur."""
    two_stage = params.get("two_stage", {})
    for section in ("datasets", "blurs", "methods"):
        defined = params.get(section, {})
        for i, name in enumerate(study[section]):
            if name in defined:
                continue
            if section == "methods" and name in two_stage:
                blind = two_stage[name]["blind"]
                if blind not in study["methods"]:
                    yield (
                        f"{key}.methods[{i}]: two_stage {name!r} uses the kernels of {blind!r}; "
                        "list that method in the study too"
                    )
            else:
                known = ", ".join(sorted(defined)) or "none"
                singular = section[:-1]
                also = " or two_stage" if section == "methods" and two_stage else ""
                yield (
                    f"{key}.{section}[{i}]: unknown {singular} {name!r} "
                    f"(defined under {section}{also}: {known})"
                )
    for i, name in enumerate(study["forward_models"]):
        blur = params["blurs"].get(name)
        item = f"{key}.forward_models[{i}]"
        if blur is None:
            known = ", ".join(sorted(params["blurs"]))
            yield f"{item}: unknown blur {name!r} (defined under blurs: {known})"
        elif blur["model"] not in ("icb", "pwb"):
            yield f"{item}: blur {name!r} has model {blur['model']!r}; only icb and pwb apply"
        elif blur["trajectory"]["source"] != "scene" or blur["trajectory"]["scale"] != 1:
            yield (
                f"{item}: blur {name!r} must use trajectory source 'scene' with scale 1, the "
                "motion the reference blurry images were taken with"
            )
    yield from _error_ratio_problems(key, study, params)
    yield from _listed_scene_problems(study, params["datasets"])
    for problem in _scene_data_problems(study, params["blurs"], params["methods"]):
        yield f"{key}: {problem}"
    for problem in _max_side_problems(study, params["datasets"], params["blurs"]):
        yield f"{key}: {problem}"
    demo = params["datasets"].get("demo")
    if demo is not None and "demo" in study["datasets"]:
        for name in study["blurs"]:
            blur = params["blurs"].get(name, {})
            if blur.get("model") != "uniform" or blur.get("kernel") in OWN_SIZE_FAMILIES:
                continue
            size = blur["kernel_size"]
            if size >= demo["size"]:
                yield (
                    f"{key}: blurs.{name}.kernel_size: {size} px is not smaller than the "
                    f"demo image size {demo['size']} px"
                )


def _error_ratio_problems(key: str, study: dict[str, Any], params: dict[str, Any]) -> Iterator[str]:
    """An ``error_ratio_reference`` that is not one of the study's methods, or that no
    blur of the study could give (the error ratio needs the aligned protocol).

    That the reference is non-blind is checked when the ratios are computed
    (:func:`inrdeblur.metrics.tables.error_ratios`): whether a method type is blind is
    known to its class, and validation does not import the methods (nor torch).
    """
    reference = study.get("error_ratio_reference")
    if reference is None:
        return
    item = f"{key}.error_ratio_reference"
    if reference not in study["methods"]:
        listed = ", ".join(study["methods"])
        yield f"{item}: {reference!r} is not one of the study's methods ({listed})"
    aligned = params.get("metrics", {}).get("aligned", "auto")
    stored = [b for b in study["blurs"] if stored_observation(params["blurs"].get(b, {}))]
    if aligned == "never" or (aligned == "auto" and not stored):
        yield (
            f"{item}: the error ratio compares shift-aligned errors, and no blur of the study "
            f"is aligned (metrics.aligned {aligned!r}; 'auto' aligns blurs with observation "
            "'scene')"
        )


FAMILY_KEYS = {"gaussian": ("sigma",), "defocus": ("radius",), "measured": ("kernel_path",)}
#: kernel families whose kernels come with their own size (``kernel_size`` is not used)
OWN_SIZE_FAMILIES = ("measured", "scene")
#: the blind method types: they estimate the blur and get no operator. A fact of each
#: type's class (``Method.blind``), kept here so that validation imports no method (nor
#: torch); a test checks it against the classes.
BLIND_METHOD_TYPES: tuple[str, ...] = ("cross_scale_inr", "selfdeblur", "vdip")
#: the ``type`` of a resolved two-stage recipe (:func:`resolved_recipe`)
TWO_STAGE = "two_stage"
#: the blur model without an operator (:data:`inrdeblur.blur.models.OBSERVED`)
OBSERVED_MODEL = "observed"


def stored_observation(blur: dict[str, Any]) -> bool:
    """Whether a validated ``blurs.<name>`` takes the scene's stored blurry image as its
    observation: model 'observed', or ``observation: scene``."""
    return blur.get("model") == OBSERVED_MODEL or blur.get("observation") == "scene"


def _scene_data_problems(
    study: dict[str, Any], blurs: dict[str, Any], methods: dict[str, Any]
) -> Iterator[str]:
    """Blurs of a study that need scene data one of its datasets does not have, and
    non-blind methods where there is no operator to deblur with: on a blur of model
    'observed', or on a dataset without sharp images (only its photos are observed)."""
    from inrdeblur.data.registry import WITH_BLURRY, WITH_DEPTH, WITH_KERNEL, WITHOUT_SHARP

    non_blind = [
        (name, methods[name].get("type", "inr"))
        for name in study["methods"]
        if name in methods and methods[name].get("type", "inr") not in BLIND_METHOD_TYPES
    ]
    blind = ", ".join(BLIND_METHOD_TYPES)
    for name in study["blurs"]:
        blur = blurs.get(name)
        if blur is None:
            continue
        if blur["model"] == OBSERVED_MODEL:
            for method, kind in non_blind:
                yield (
                    f"methods.{method}: type {kind!r} deblurs with the blur's operator, and "
                    f"blur {name!r} (model {OBSERVED_MODEL!r}) has none; only blind methods "
                    f"({blind}) apply"
                )
        for dataset in study["datasets"]:
            if dataset in WITHOUT_SHARP and blur.get("observation") == "synthesize":
                yield (
                    f"blurs.{name}.observation: 'synthesize' blurs the sharp image, which "
                    f"dataset {dataset!r} does not have (no ground truth); use model "
                    f"{OBSERVED_MODEL!r}"
                )
            if blur.get("kernel") == "scene" and blur["model"] == "uniform":
                if dataset not in WITH_KERNEL:
                    yield (
                        f"blurs.{name}.kernel: 'scene' needs true kernels, which dataset "
                        f"{dataset!r} does not have (datasets with them: {', '.join(WITH_KERNEL)})"
                    )
            if blur["model"] in ("icb", "pwb") and dataset not in WITH_DEPTH:
                yield (
                    f"blurs.{name}.model: {blur['model']!r} needs depth and intrinsics, which "
                    f"dataset {dataset!r} does not have (datasets with them: "
                    f"{', '.join(WITH_DEPTH)})"
                )
            if stored_observation(blur) and dataset not in WITH_BLURRY:
                key = (
                    f"model: {OBSERVED_MODEL!r}"
                    if blur["model"] == OBSERVED_MODEL
                    else "observation: 'scene'"
                )
                yield (
                    f"blurs.{name}.{key} needs stored blurry images, which "
                    f"dataset {dataset!r} does not have (datasets with them: "
                    f"{', '.join(WITH_BLURRY)})"
                )
    for dataset in study["datasets"]:
        if dataset in WITHOUT_SHARP:
            for method, kind in non_blind:
                yield (
                    f"methods.{method}: type {kind!r} deblurs with a known blur, and dataset "
                    f"{dataset!r} has only its blurry photos (no sharp image, no kernel); "
                    f"only blind methods ({blind}) apply"
                )


def _scene_id_problems(datasets: dict[str, Any]) -> Iterator[str]:
    """Listed scene ids that the dataset's manifest does not have.

    A dataset whose ids come from the data (a ``scan`` manifest: gopro) has no manifest to
    check against; its ids are checked for their form instead.
    """
    from inrdeblur.data.registry import DATASETS, is_scanned, known_scene_ids

    for dataset, settings in datasets.items():
        if not isinstance(settings.get("scenes"), list) or dataset not in DATASETS:
            continue
        if is_scanned(dataset):
            yield from _scanned_id_problems(dataset, settings["scenes"])
            continue
        known = known_scene_ids(dataset)
        for i, scene in enumerate(settings["scenes"]):
            if scene not in known:
                shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
                yield (
                    f"datasets.{dataset}.scenes[{i}]: unknown {dataset} scene {scene!r} "
                    f"(known: {shown})"
                )


def _scanned_id_problems(dataset: str, scenes: list[str]) -> Iterator[str]:
    """Ids of a dataset without a fixed manifest that cannot be one of its ids."""
    from inrdeblur.data.registry import ID_PATTERN

    for i, scene in enumerate(scenes):
        key = f"datasets.{dataset}.scenes[{i}]"
        if not ID_PATTERN.match(scene):
            yield f"{key}: {scene!r} is not a scene id (letters, digits, '_', '.', '-')"
        elif dataset == "gopro":
            from inrdeblur.data.gopro import decode_id

            try:
                decode_id(scene)
            except ValueError as err:
                yield f"{key}: {err}"


def _listed_scene_problems(study: dict[str, Any], datasets: dict[str, Any]) -> Iterator[str]:
    """Datasets of a study whose ids come from the downloaded data but are not listed. A
    user's own folder (photos) needs no list: it is there, and read when the workflow
    builds its jobs."""
    from inrdeblur.data.registry import DATASETS, USER_FOLDERS, is_scanned

    for dataset in study["datasets"]:
        settings = datasets.get(dataset)
        if settings is None or dataset not in DATASETS or not is_scanned(dataset):
            continue
        if dataset in USER_FOLDERS:
            continue
        if not isinstance(settings.get("scenes"), list):
            yield (
                f"datasets.{dataset}.scenes: required: {dataset}'s scene ids come from the "
                "files (a scan after download), and the workflow must know every job before "
                "the data is there; list the ids to use, e.g. "
                "['train.GOPR0372_07_00.000047']"
            )


def _max_side_problems(
    study: dict[str, Any], datasets: dict[str, Any], blurs: dict[str, Any]
) -> Iterator[str]:
    """Uniform blurs whose kernel would not fit in a downscaled (``max_side``) image."""
    for dataset in study["datasets"]:
        max_side = datasets.get(dataset, {}).get("max_side")
        if max_side is None:
            continue
        for name in study["blurs"]:
            blur = blurs.get(name, {})
            if blur.get("model") != "uniform" or blur.get("kernel") in OWN_SIZE_FAMILIES:
                continue
            if blur["kernel_size"] >= max_side:
                yield (
                    f"blurs.{name}.kernel_size: {blur['kernel_size']} px is not smaller than "
                    f"datasets.{dataset}.max_side {max_side} px"
                )


def _kernel_family_problems(key: str, blur: dict[str, Any]) -> Iterator[str]:
    """Keys a uniform blur's kernel family needs, and keys it would silently ignore."""
    family = blur["kernel"]
    if family not in OWN_SIZE_FAMILIES and blur["kernel_size"] % 2 == 0:
        yield f"{key}.kernel_size: must be odd, got {blur['kernel_size']}"
    for other, keys in FAMILY_KEYS.items():
        for name in keys:
            if other == family and name not in blur:
                yield f"{key}.{name}: required by kernel {family!r}"
            elif other != family and name in blur:
                yield f"{key}.{name}: only used by kernel {other!r}, not {family!r}"
    if family == "defocus" and "radius" in blur and blur["radius"] > blur["kernel_size"] / 2:
        yield (
            f"{key}.radius: {blur['radius']} px does not fit in kernel_size "
            f"{blur['kernel_size']} (at most {blur['kernel_size'] / 2})"
        )
    if family == "measured" and "kernel_path" in blur and not Path(blur["kernel_path"]).exists():
        yield f"{key}.kernel_path: no such file or directory: {blur['kernel_path']}"
