"""The dataset registry: which datasets exist, where they come from, which scenes they have.

The registry is ``inrdeblur/data/registry.yaml``, shipped in the package; its header
documents the format. This module reads it once (:func:`load_registry`) and expands each
dataset's manifest into its scene ids and their categories (:func:`manifest`), before any
data is generated or downloaded, so that a dry run of a whole experiment knows every job.

Two kinds of manifest exist. A ``fixed`` manifest is a list of rules that expand to the
ids; a ``scan`` manifest (GoPro, photos) has no rules: its ids are whatever the reader's
``list_ids(root)`` finds in the data, so the experiment must list the scenes it uses,
except in a folder of the user's own (:data:`USER_FOLDERS`: photos), which is there before
the workflow starts and is listed then (:func:`inrdeblur.experiment.dataset_scene_ids`).

It imports neither torch nor any reader, so params validation stays fast.

>>> DATASETS[:4]
('demo', 'levin', 'lai', 'kodak')
>>> manifest("levin")[10]
('im2_kernel3', {'image': 2, 'kernel': 3})
>>> known_scene_ids("virtualcmb")[-1], categories("lai", "text_05_kernel_04")
('982', {'category': 'text', 'image': 5, 'kernel': 4})
"""

from __future__ import annotations

import collections
import copy
import functools
import itertools
import os
import re
import string
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

REGISTRY_FILE = "registry.yaml"
#: What every scene id must look like (it is a file name and a Snakemake wildcard).
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")


class RegistryError(ValueError):
    """The registry has no such entry or id, or an entry breaks the documented format."""


@functools.cache
def _registry() -> dict[str, dict[str, Any]]:
    text = resources.files("inrdeblur.data").joinpath(REGISTRY_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not all(isinstance(e, dict) for e in data.values()):
        raise RegistryError(f"{REGISTRY_FILE}: must be a mapping of entries, each a mapping")
    for name, item in data.items():
        if item.get("kind") not in ("dataset", "weights"):
            raise RegistryError(
                f"{REGISTRY_FILE}: {name}.kind must be 'dataset' or 'weights', "
                f"got {item.get('kind')!r}"
            )
    return data


def load_registry() -> dict[str, dict[str, Any]]:
    """Every registry entry by name, in file order (a copy: changing it changes nothing)."""
    return copy.deepcopy(_registry())


def entry(name: str) -> dict[str, Any]:
    """The registry entry ``name`` (a copy); an unknown name lists the known ones."""
    registry = _registry()
    if name not in registry:
        raise RegistryError(f"unknown registry entry {name!r} (known: {', '.join(registry)})")
    return copy.deepcopy(registry[name])


#: Names of the registry entries of kind ``dataset``, in registry order.
DATASETS: tuple[str, ...] = tuple(n for n, e in _registry().items() if e["kind"] == "dataset")

# What a dataset's scenes carry. These are facts about the readers, kept here beside the
# registry rather than in it; tests check each against what the reader returns.
#: datasets whose scenes carry depth, a trajectory, intrinsics and a reference blurry image
WITH_REFERENCE_BLUR: tuple[str, ...] = ("demo", "virtualcmb", "realcmb")
#: datasets whose scenes carry depth and intrinsics (what 'icb' and 'pwb' blurs need)
WITH_DEPTH: tuple[str, ...] = WITH_REFERENCE_BLUR
#: datasets whose scenes carry a stored blurry image (``observation: scene`` blurs)
WITH_BLURRY: tuple[str, ...] = (
    "demo",
    "levin",
    "lai",
    "gopro",
    "virtualcmb",
    "realcmb",
    "photos",
)
#: datasets whose scenes have no sharp image (no reference metrics, nothing to synthesize)
WITHOUT_SHARP: tuple[str, ...] = ("photos",)
#: datasets that are a folder of the user's own: nothing is fetched into it, and its
#: ``scenes: all`` are the files the reader lists there when the workflow builds its jobs
#: (:func:`inrdeblur.experiment.dataset_scene_ids`)
USER_FOLDERS: tuple[str, ...] = ("photos",)
#: datasets whose scenes carry their true blur kernel (``kernel: scene`` blurs)
WITH_KERNEL: tuple[str, ...] = ("levin", "lai")


def _dataset(name: str) -> dict[str, Any]:
    registry = _registry()
    if name not in registry or registry[name]["kind"] != "dataset":
        raise RegistryError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
    return registry[name]


def manifest_source(name: str) -> str:
    """``"fixed"`` (ids known without the data) or ``"scan"`` (ids come from the data)."""
    return str(_dataset(name)["manifest"]["source"])


def is_scanned(name: str) -> bool:
    """True when dataset ``name``'s ids can only be listed after download."""
    return manifest_source(name) == "scan"


def deferred_categories(name: str) -> list[str]:
    """Names of the categories of ``name`` that only the data can tell (filled at prepare)."""
    return list(_dataset(name)["manifest"].get("deferred_categories") or [])


def reader_root(name: str, root: str | os.PathLike) -> Path:
    """The folder the reader of ``name`` reads: ``root`` (``data/raw/<name>`` by default)
    joined with the entry's ``root`` (e.g. ``synthetic_dataset`` for Lai)."""
    return Path(root) / str(_dataset(name).get("root") or "")


def _axis_values(name: str, axis: str, spec: Any) -> list[Any]:
    if isinstance(spec, str):
        match = _RANGE.match(spec)
        if match is None:
            raise RegistryError(f"{name}: axis {axis!r}: {spec!r} is neither a list nor 'a..b'")
        first, last = int(match.group(1)), int(match.group(2))
        if last < first:
            raise RegistryError(f"{name}: axis {axis!r}: empty range {spec!r}")
        return list(range(first, last + 1))
    if not isinstance(spec, list) or not spec:
        raise RegistryError(f"{name}: axis {axis!r} must be a non-empty list or 'a..b'")
    return spec


def expand_rule(name: str, rule: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``[(id, categories)]`` of one manifest rule of entry ``name`` (format: the YAML header).

    >>> expand_rule("x", {"ids": "im{image}_k{kernel:02d}", "image": "1..2", "kernel": [3]})
    [('im1_k03', {'image': 1, 'kernel': 3}), ('im2_k03', {'image': 2, 'kernel': 3})]
    """
    if not isinstance(rule, dict) or "ids" not in rule:
        raise RegistryError(f"{name}: a manifest rule must be a mapping with 'ids', got {rule!r}")
    constants = rule.get("categories") or {}
    if not isinstance(constants, dict):
        raise RegistryError(f"{name}: a rule's 'categories' must be a mapping")
    axes = {key: value for key, value in rule.items() if key not in ("ids", "categories")}
    ids = rule["ids"]
    if isinstance(ids, list):
        if axes:
            raise RegistryError(f"{name}: an explicit id list takes no axes, got {sorted(axes)}")
        return [(str(i), dict(constants)) for i in ids]
    if not isinstance(ids, str):
        raise RegistryError(f"{name}: 'ids' must be a list or a template string, got {ids!r}")
    fields: list[str] = []
    try:
        parsed = list(string.Formatter().parse(ids))
    except ValueError as err:
        raise RegistryError(f"{name}: template {ids!r}: {err}") from err
    for _, field, _, _ in parsed:
        if field is None:
            continue
        if not field.isidentifier():
            raise RegistryError(f"{name}: template {ids!r}: field {{{field}}} is not an axis name")
        if field not in fields:
            fields.append(field)
    if set(fields) != set(axes):
        raise RegistryError(
            f"{name}: template {ids!r} has fields {fields} but the rule's axes are {sorted(axes)}"
        )
    values = [_axis_values(name, field, axes[field]) for field in fields]
    out = []
    for combo in itertools.product(*values):
        axis_values = dict(zip(fields, combo, strict=True))
        try:
            scene_id = ids.format(**axis_values)
        except (ValueError, TypeError) as err:
            raise RegistryError(f"{name}: template {ids!r} with {axis_values}: {err}") from err
        out.append((scene_id, {**constants, **axis_values}))
    return out


@functools.cache
def _manifest(name: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    spec = _dataset(name)["manifest"]
    if spec["source"] == "scan":
        raise RegistryError(
            f"dataset {name!r} has no fixed manifest: its scene ids come from the data (the "
            f"reader's list_ids(root) after download), so they cannot be listed here; name the "
            f"scenes to use in datasets.{name}.scenes"
        )
    if spec["source"] != "fixed":
        raise RegistryError(f"{name}: manifest source must be 'fixed' or 'scan'")
    expanded = [item for rule in spec["rules"] for item in expand_rule(name, rule)]
    ids = [i for i, _ in expanded]
    bad = [i for i in ids if not ID_PATTERN.match(i)]
    if bad:
        raise RegistryError(f"{name}: ids {bad[:5]} do not match {ID_PATTERN.pattern}")
    duplicates = sorted(i for i, n in collections.Counter(ids).items() if n > 1)
    if duplicates:
        raise RegistryError(f"{name}: duplicate ids {duplicates[:5]}")
    count = spec.get("count")
    if count is not None and count != len(ids):
        raise RegistryError(f"{name}: manifest expands to {len(ids)} ids, count says {count}")
    return tuple(expanded)


def manifest(name: str) -> list[tuple[str, dict[str, Any]]]:
    """``[(id, categories)]`` of dataset ``name``'s fixed manifest, in the dataset's order.

    Raises:
        RegistryError: an unknown dataset, a ``scan`` manifest (ids come from the data),
            or a manifest that breaks the format (wrong count, duplicate or bad ids).
    """
    return [(scene_id, dict(cats)) for scene_id, cats in _manifest(name)]


def known_scene_ids(name: str) -> list[str]:
    """Every scene id of ``name``'s manifest, in the dataset's order (fixed manifests only)."""
    return [scene_id for scene_id, _ in _manifest(name)]


@functools.cache
def _categories_by_id(name: str) -> dict[str, dict[str, Any]]:
    return dict(_manifest(name))


def categories(name: str, scene_id: str) -> dict[str, Any]:
    """The manifest categories of one scene (not the deferred ones, which need the data)."""
    table = _categories_by_id(name)
    if scene_id not in table:
        known = list(table)
        shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
        raise RegistryError(f"unknown {name} scene {scene_id!r} (known: {shown})")
    return dict(table[scene_id])


def category_values(name: str) -> frozenset[str]:
    """Every value of the ``category`` of ``name``'s fixed manifest (Lai's five image
    categories); empty when its manifest has none or comes from the data."""
    if name not in DATASETS or is_scanned(name):
        return frozenset()
    return frozenset(str(cats["category"]) for _, cats in _manifest(name) if "category" in cats)


def scene_ids(name: str, settings: dict[str, Any]) -> list[str]:
    """Scene ids of ``name`` selected by its validated ``datasets.<name>`` settings.

    ``settings["scenes"]`` is ``"all"`` (the whole manifest; an error for a ``scan``
    manifest, which needs the data: :func:`inrdeblur.experiment.dataset_scene_ids` lists
    a user's folder) or a list of ids, returned as given.
    """
    selected = settings.get("scenes", "all")
    return known_scene_ids(name) if selected == "all" else list(selected)


def has_reference_blur(name: str) -> bool:
    """True when every scene of ``name`` can enter the blur-formation experiment."""
    return name in WITH_REFERENCE_BLUR
