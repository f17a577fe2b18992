"""Tests for the dataset registry file ``inrdeblur/data/registry.yaml`` and its loader.

The manifest expansion below is a second, deliberately small implementation of the format
documented at the top of the YAML file, against which the loader
(:mod:`inrdeblur.data.registry`) is checked; the expected id counts come from the
datasets' own descriptions (Levin 4 x 8, Lai 5 categories x 5 images x 4 kernels, Kodak
24, ParallaxICB README ``--id`` ranges 0-982 and 0-57), and the Levin hashes from the
shared reference copy's SHA256SUMS.
"""

from __future__ import annotations

import importlib
import importlib.resources
import inspect
import itertools
import re
import string
from typing import Any

import pytest
import yaml
from support import LEVIN_DIR

from inrdeblur.data import demo, kodak, lai, levin
from inrdeblur.data import registry as loader

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
NAMES = [
    "demo",
    "levin",
    "lai",
    "kodak",
    "gopro",
    "virtualcmb",
    "realcmb",
    "photos",
    "lpips_alexnet",
]
DATASETS = [name for name in NAMES if name != "lpips_alexnet"]
ENTRY_FIELDS = {"kind", "title", "licence", "citation", "homepage", "files"}
DATASET_FIELDS = {"reader", "root", "layout", "manifest"}
FILE_FIELDS = {"path", "url", "sha256", "unpack"}
EXPECTED_COUNTS = {
    "demo": 7,
    "levin": 32,
    "lai": 100,
    "kodak": 24,
    "virtualcmb": 983,
    "realcmb": 58,
}
_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")


def expand_rule(rule: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``[(id, categories)]`` of one manifest rule, as the registry header documents."""
    constants = dict(rule.get("categories") or {})
    axes = {key: value for key, value in rule.items() if key not in ("ids", "categories")}
    ids = rule["ids"]
    if isinstance(ids, list):
        assert not axes, f"an explicit id list takes no axes: {sorted(axes)}"
        return [(str(i), dict(constants)) for i in ids]
    fields: list[str] = []
    for _, name, _, _ in string.Formatter().parse(ids):
        if name is not None and name not in fields:
            fields.append(name)
    assert set(fields) == set(axes), f"template {ids!r} fields {fields} != axes {sorted(axes)}"
    values = []
    for name in fields:
        spec = axes[name]
        if isinstance(spec, str):
            match = _RANGE.match(spec)
            assert match, f"axis {name}: {spec!r} is neither a list nor 'a..b'"
            first, last = int(match.group(1)), int(match.group(2))
            values.append(list(range(first, last + 1)))
        else:
            assert isinstance(spec, list) and spec, f"axis {name}: empty or not a list"
            values.append(spec)
    out = []
    for combo in itertools.product(*values):
        categories = dict(zip(fields, combo, strict=True))
        out.append((ids.format(**categories), {**constants, **categories}))
    return out


def expand_manifest(manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``[(id, categories)]`` of a whole manifest: its rules in turn, concatenated."""
    out = []
    for rule in manifest["rules"]:
        out.extend(expand_rule(rule))
    return out


def _read_file() -> dict[str, Any]:
    text = (importlib.resources.files("inrdeblur.data") / "registry.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def registry() -> dict[str, Any]:
    return loader.load_registry()


# --------------------------------------------------------------------------- the helper


def test_expansion_helper_on_the_documented_example():
    rule = {"ids": "im{image}_kernel{kernel}", "image": "1..4", "kernel": "1..8"}
    expanded = expand_rule(rule)
    assert len(expanded) == 32
    assert [i for i, _ in expanded[:3]] == ["im1_kernel1", "im1_kernel2", "im1_kernel3"]
    assert expanded[8][0] == "im2_kernel1"  # first field varies slowest
    assert dict(expanded)["im3_kernel7"] == {"image": 3, "kernel": 7}
    padded = expand_rule({"ids": "{index:03d}", "index": "0..2", "categories": {"a": "b"}})
    assert [i for i, _ in padded] == ["000", "001", "002"]
    assert padded[2][1] == {"a": "b", "index": 2}


# --------------------------------------------------------------------------- structure


def test_has_exactly_the_planned_entries(registry):
    assert list(registry) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_entry_has_the_required_fields(registry, name):
    entry = registry[name]
    assert ENTRY_FIELDS <= set(entry), ENTRY_FIELDS - set(entry)
    for key in ("title", "licence", "citation", "homepage"):
        assert isinstance(entry[key], str) and entry[key].strip(), f"{name}.{key} is empty"
    assert entry["homepage"].startswith(("http://", "https://"))
    assert entry["kind"] == ("weights" if name == "lpips_alexnet" else "dataset")
    assert isinstance(entry["files"], list)
    for item in entry["files"]:
        assert FILE_FIELDS <= set(item), f"{name}: {item} lacks {FILE_FIELDS - set(item)}"
        assert isinstance(item["path"], str) and item["path"]
        assert not item["path"].startswith("/") and ".." not in item["path"].split("/")
        assert isinstance(item["url"], str)
        assert item["url"] == "" or item["url"].startswith(("http://", "https://"))
        assert isinstance(item["unpack"], bool)
        if "size" in item:
            assert isinstance(item["size"], int) and item["size"] > 0
    if entry["kind"] == "dataset":
        assert DATASET_FIELDS <= set(entry), DATASET_FIELDS - set(entry)
        assert isinstance(entry["layout"], dict)
        assert all(isinstance(p, str) and p for p in entry["layout"].values())
        assert entry["manifest"]["source"] in ("fixed", "scan")


def _all_files(registry):
    for name, entry in registry.items():
        for item in entry["files"]:
            yield name, item


def test_no_sha256_is_a_guess(registry):
    """A sha256 is either "" (unknown) or exactly 64 lowercase hex digits."""
    for name, item in _all_files(registry):
        digest = item["sha256"]
        assert isinstance(digest, str), f"{name}/{item['path']}: sha256 {digest!r} not a string"
        assert digest == "" or SHA256_PATTERN.match(digest), f"{name}/{item['path']}: {digest!r}"


def test_file_paths_are_unique_per_entry(registry):
    for name, entry in registry.items():
        paths = [item["path"] for item in entry["files"]]
        assert len(paths) == len(set(paths)), name


def test_lpips_backbone_carries_only_its_name_prefix(registry):
    (item,) = registry["lpips_alexnet"]["files"]
    assert item["url"] == "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
    assert item["sha256"] == ""
    assert item["sha256_prefix"] == "7be5be79"
    assert item["url"].rsplit("-", 1)[1].removesuffix(".pth") == item["sha256_prefix"]


# --------------------------------------------------------------------------- Levin hashes


def _shared_levin_sums() -> dict[str, str]:
    sums = LEVIN_DIR / "SHA256SUMS"
    if not sums.is_file():
        pytest.skip(f"the shared Levin dataset is not present at {LEVIN_DIR}")
    entries = {}
    for line in sums.read_text().splitlines():
        digest, _, rel = line.partition("  ")
        entries[rel] = digest
    return entries


def test_levin_hashes_equal_the_shared_sha256sums(registry):
    expected = _shared_levin_sums()
    listed = {item["path"]: item["sha256"] for item in registry["levin"]["files"]}
    assert listed == expected
    sizes = {item["path"]: item["size"] for item in registry["levin"]["files"]}
    assert sizes == {rel: (LEVIN_DIR / rel).stat().st_size for rel in expected}


def test_levin_urls_point_at_the_selfdeblur_copy(registry):
    for item in registry["levin"]["files"]:
        name = item["path"].rsplit("/", 1)[1]
        folder = "datasets/levin/" if item["path"].startswith("blurred/") else "datasets/levin/gt/"
        assert item["url"].startswith("https://raw.githubusercontent.com/csdwren/SelfDeblur/")
        assert item["url"].endswith(folder + name), item["url"]


# --------------------------------------------------------------------------- manifests


@pytest.mark.parametrize("name", list(EXPECTED_COUNTS))
def test_fixed_manifest_expands_to_the_published_count(registry, name):
    manifest = registry[name]["manifest"]
    assert manifest["source"] == "fixed"
    expanded = expand_manifest(manifest)
    ids = [i for i, _ in expanded]
    assert len(ids) == EXPECTED_COUNTS[name] == manifest["count"]
    assert len(set(ids)) == len(ids), "duplicate ids"
    bad = [i for i in ids if not ID_PATTERN.match(i)]
    assert not bad, bad[:5]


def test_gopro_manifest_is_a_scan(registry):
    manifest = registry["gopro"]["manifest"]
    assert manifest["source"] == "scan" and manifest["rules"] == []
    assert manifest["count"] == 2103 + 1111  # DeepDeblur_release README: train + test pairs


def test_manifests_match_the_readers(registry):
    """The YAML and the reader modules list the same ids in the same order."""
    for name, module_ids in [
        ("demo", demo.SCENE_IDS),
        ("levin", levin.SCENE_IDS),
        ("lai", lai.SCENE_IDS),
        ("kodak", kodak.SCENE_IDS),
    ]:
        assert [i for i, _ in expand_manifest(registry[name]["manifest"])] == list(module_ids)


def test_manifest_categories(registry):
    levin_ids = dict(expand_manifest(registry["levin"]["manifest"]))
    assert levin_ids["im4_kernel8"] == {"image": 4, "kernel": 8}
    lai_ids = expand_manifest(registry["lai"]["manifest"])
    # The authors' list/synthetic_uniform.txt starts and ends with these.
    assert lai_ids[0] == ("manmade_01_kernel_01", {"category": "manmade", "image": 1, "kernel": 1})
    assert lai_ids[-1] == ("text_05_kernel_04", {"category": "text", "image": 5, "kernel": 4})
    assert sum(1 for _, c in lai_ids if c["category"] == "saturated") == 20
    demo_ids = dict(expand_manifest(registry["demo"]["manifest"]))
    assert demo_ids["motorcycle"] == {"depth_model": "stereo"}
    assert sum(1 for c in demo_ids.values() if c["depth_model"] == "layered") == 6
    cmb = [i for i, _ in expand_manifest(registry["virtualcmb"]["manifest"])]
    assert (cmb[0], cmb[-1]) == ("000", "982")
    assert registry["virtualcmb"]["manifest"]["deferred_categories"] == ["motion_group", "tag"]
    real = [i for i, _ in expand_manifest(registry["realcmb"]["manifest"])]
    assert (real[0], real[-1]) == ("00", "57")


def test_layout_fields_are_known(registry):
    """Every layout field is {id}, a category of the manifest, or named in the notes."""
    for name in DATASETS:
        entry = registry[name]
        expanded = expand_manifest(entry["manifest"])
        categories = set().union(*(c.keys() for _, c in expanded)) if expanded else set()
        for role, template in entry["layout"].items():
            for _, field, _, _ in string.Formatter().parse(template):
                if field is None or field == "id" or field in categories:
                    continue
                assert (
                    f"{{{field}}}" in entry.get("notes", "")
                    or entry["manifest"]["source"] == "scan"
                ), f"{name}.layout.{role}: field {{{field}}} is not explained"


def test_levin_layout_formats_to_the_reader_paths(registry):
    layout = registry["levin"]["layout"]
    for sid, categories in expand_manifest(registry["levin"]["manifest"]):
        assert layout["sharp"].format(id=sid, **categories) == levin.sharp_path(sid)
        assert layout["kernel"].format(id=sid, **categories) == levin.kernel_path(sid)
        assert layout["blurry"].format(id=sid, **categories) == levin.blurry_path(sid)


def test_lai_and_kodak_layouts_format_to_the_reader_paths(registry):
    layout = registry["lai"]["layout"]
    for sid, categories in expand_manifest(registry["lai"]["manifest"]):
        assert layout["sharp"].format(id=sid, **categories) == lai.sharp_path(sid)
        assert layout["kernel"].format(id=sid, **categories) == lai.kernel_path(sid)
        assert layout["blurry"].format(id=sid, **categories) == lai.blurry_path(sid)
    for sid, categories in expand_manifest(registry["kodak"]["manifest"]):
        assert registry["kodak"]["layout"]["sharp"].format(id=sid, **categories) == (
            kodak.image_path(sid)
        )
    urls = [item["url"] for item in registry["kodak"]["files"]]
    assert urls == [kodak.image_url(sid) for sid in kodak.SCENE_IDS]


# --------------------------------------------------------------------------- the loader


def test_loader_gives_the_file_as_it_is_and_copies():
    assert loader.load_registry() == _read_file()
    first = loader.load_registry()
    first["levin"]["manifest"]["rules"].clear()
    loader.entry("kodak")["files"].clear()
    assert loader.load_registry() == _read_file()


def test_loader_datasets_are_the_dataset_entries(registry):
    assert loader.DATASETS == tuple(n for n, e in registry.items() if e["kind"] == "dataset")
    assert loader.DATASETS == tuple(DATASETS)
    for group in (
        loader.WITH_REFERENCE_BLUR,
        loader.WITH_DEPTH,
        loader.WITH_BLURRY,
        loader.WITH_KERNEL,
    ):
        assert set(group) <= set(loader.DATASETS)
    # a scene with a reference blur has a stored blurry image
    assert set(loader.WITH_REFERENCE_BLUR) <= set(loader.WITH_BLURRY)


@pytest.mark.parametrize("name", list(EXPECTED_COUNTS))
def test_loader_manifest_equals_the_independent_expansion(registry, name):
    expected = expand_manifest(registry[name]["manifest"])
    assert loader.manifest(name) == expected
    assert loader.known_scene_ids(name) == [i for i, _ in expected]
    assert loader.scene_ids(name, {"scenes": "all"}) == [i for i, _ in expected]
    scene_id, categories = expected[len(expected) // 2]
    assert loader.categories(name, scene_id) == categories
    assert loader.manifest_source(name) == "fixed" and not loader.is_scanned(name)


def test_loader_lists_and_reads_ids_only_where_the_manifest_has_them():
    for call in (
        lambda: loader.manifest("gopro"),
        lambda: loader.known_scene_ids("gopro"),
        lambda: loader.scene_ids("gopro", {"scenes": "all"}),
        lambda: loader.categories("gopro", "train.GOPR0372_07_00.000047"),
    ):
        with pytest.raises(loader.RegistryError, match="ids come from the data") as err:
            call()
        assert "datasets.gopro.scenes" in str(err.value)
    chosen = ["train.GOPR0372_07_00.000047", "test.GOPR0384_11_00.000001"]
    assert loader.scene_ids("gopro", {"scenes": chosen}) == chosen
    assert loader.is_scanned("gopro")
    assert loader.deferred_categories("virtualcmb") == ["motion_group", "tag"]
    assert loader.deferred_categories("levin") == []


def test_loader_errors_name_what_is_known():
    with pytest.raises(loader.RegistryError, match="unknown registry entry 'levn'") as err:
        loader.entry("levn")
    assert "levin" in str(err.value) and "lpips_alexnet" in str(err.value)
    with pytest.raises(loader.RegistryError, match="unknown dataset 'lpips_alexnet'"):
        loader.manifest("lpips_alexnet")
    with pytest.raises(loader.RegistryError, match="unknown kodak scene 'kodim25'") as err:
        loader.categories("kodak", "kodim25")
    assert "kodim01" in str(err.value)


def test_loader_reader_root_joins_the_entry_root(tmp_path):
    assert loader.reader_root("lai", tmp_path) == tmp_path / "synthetic_dataset"
    assert loader.reader_root("gopro", tmp_path) == tmp_path / "GOPRO_Large"
    assert loader.reader_root("levin", tmp_path) == tmp_path


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"ids": ["a", "b"], "image": "1..2"}, "explicit id list takes no axes"),
        ({"ids": "im{image}", "image": "1..2", "kernel": [1]}, "fields"),
        ({"ids": "im{image}_{kernel}", "image": "1..2"}, "fields"),
        ({"ids": "im{image}", "image": "1-2"}, "neither a list nor 'a..b'"),
        ({"ids": "im{image}", "image": "3..1"}, "empty range"),
        ({"ids": "im{0}", "0": [1]}, "not an axis name"),
    ],
)
def test_loader_rejects_malformed_rules(rule, message):
    with pytest.raises(loader.RegistryError, match=message):
        loader.expand_rule("x", rule)


@pytest.mark.parametrize(
    "rule",
    [
        {"ids": "im{image}_kernel{kernel}", "image": "1..4", "kernel": "1..8"},
        {"ids": "{index:03d}", "index": "0..2", "categories": {"a": "b"}},
        {"ids": ["astronaut", "camera"], "categories": {"depth_model": "layered"}},
        {"ids": "{c}_{n:02d}", "c": ["x", "y"], "n": [1, 10]},
    ],
)
def test_loader_rules_expand_like_the_helper(rule):
    assert loader.expand_rule("x", rule) == expand_rule(rule)


@pytest.mark.parametrize("name", DATASETS)
def test_every_dataset_names_a_reader_that_reads_scenes(name):
    """The registry's reader is an importable module with make_scene(root, scene_id);
    the demo's generates its scenes, so it takes a size instead of a root."""
    module = importlib.import_module(loader.entry(name)["reader"])
    parameters = list(inspect.signature(module.make_scene).parameters)[:2]
    assert parameters == (["scene_id", "size"] if name == "demo" else ["root", "scene_id"])
