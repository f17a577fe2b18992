"""params.yaml validation: every error names its key; defaults are filled in."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from inrdeblur.config import ParamsError, load_params, schema, schema_keys, validate_params
from inrdeblur.config.params import dataset_settings


@pytest.fixture()
def params(repo_root):
    return yaml.safe_load((repo_root / "params.yaml").read_text())


def problems_of(raw) -> list[str]:
    with pytest.raises(ParamsError) as info:
        validate_params(raw)
    return info.value.problems


def test_repository_params_are_valid(repo_root):
    params = load_params(repo_root / "params.yaml")
    assert list(params["studies"])[:2] == ["demo", "levin"]
    assert params["studies"]["demo"]["methods"] == ["tikhonov", "siren_tv", "hashgrid_tv"]
    assert params["studies"]["demo"]["enabled"] is True
    assert params["studies"]["levin"]["enabled"] is False


def test_defaults_are_filled(params):
    raw = copy.deepcopy(params)
    del raw["executor"]
    del raw["methods"]["siren_tv"]["fit"]["lr_min"]
    del raw["blurs"]["motion"]["noise_std"]
    filled = validate_params(raw)
    assert filled["executor"] == {"profile": "local", "cores": 2, "jobs": 64, "fit_threads": 1}
    assert filled["methods"]["siren_tv"]["fit"]["lr_min"] == 1e-5
    assert filled["blurs"]["motion"]["noise_std"] == 0.01
    assert "executor" not in raw  # the input is not modified


def test_unknown_key_is_named(params):
    params["methods"]["siren_tv"]["fit"]["iteratons"] = 10
    (problem,) = problems_of(params)
    assert problem.startswith("methods.siren_tv.fit.iteratons: unknown key")
    assert "iterations" in problem  # the allowed keys are listed


def test_unknown_top_level_section_is_named(params):
    params["metrics_"] = {}
    assert problems_of(params) == [
        "metrics_: unknown key (allowed: blurs, datasets, executor, kernel_space, methods, "
        "metrics, report, studies, two_stage)"
    ]


def test_negative_iterations_are_named(params):
    params["methods"]["siren_tv"]["fit"]["iterations"] = -5
    (problem,) = problems_of(params)
    assert problem.startswith("methods.siren_tv.fit.iterations:")
    assert "-5" in problem


def test_unknown_method_is_named(params):
    params["studies"]["demo"]["methods"] = ["siren_tv", "sirne_tv"]
    (problem,) = problems_of(params)
    assert problem.startswith("studies.demo.methods[1]: unknown method 'sirne_tv'")
    assert "siren_tv" in problem


def test_study_defaults_are_filled(params):
    for key in ("enabled", "title", "forward_models"):
        params["studies"]["demo"].pop(key, None)
    study = validate_params(params)["studies"]["demo"]
    assert (study["enabled"], study["title"], study["forward_models"]) == (True, "", [])


def test_study_keys_and_names_are_checked(params):
    params["studies"]["demo"]["seed"] = [0]
    del params["studies"]["demo"]["methods"]
    params["studies"]["Demo-2"] = params["studies"]["levin"]
    assert problems_of(params) == [
        "studies: 'Demo-2' does not match '^[a-z][a-z0-9_]*$'",
        "studies.demo.seed: unknown key (allowed: blurs, datasets, enabled, "
        "error_ratio_reference, forward_models, methods, seeds, title)",
        "studies.demo.methods: required key is missing",
    ]


def test_some_study_must_be_enabled(params):
    params["studies"] = {
        "demo": {**params["studies"]["demo"], "enabled": False},
        "levin": params["studies"]["levin"],
    }
    assert params["studies"]["levin"]["enabled"] is False
    assert problems_of(params) == ["studies: no study is enabled (defined: demo, levin)"]
    params["studies"] = {}
    assert problems_of(params) == ["studies: {} should be non-empty"]


def test_a_disabled_study_is_still_validated(params):
    levin = params["studies"]["levin"]
    assert levin["enabled"] is False
    levin["methods"] = ["tikhonov", "tikhonv"]
    levin["blurs"] = ["true_kernel_valid", "parallax"]
    levin["forward_models"] = ["motion"]
    problems = problems_of(params)
    assert problems[0].startswith("studies.levin.methods[1]: unknown method 'tikhonv'")
    assert problems[1] == (
        "studies.levin.forward_models[0]: blur 'motion' has model 'uniform'; only icb and pwb apply"
    )
    assert problems[2].startswith(
        "studies.levin: blurs.parallax.model: 'icb' needs depth and intrinsics, which dataset "
        "'levin' does not have"
    )
    assert len(problems) == 3


def test_blurs_and_datasets_are_checked_within_each_study(params):
    # parallax (ICB) needs depth, which kodak lacks. The demo study blurs the demo scenes
    # with it; a second study that blurs kodak with motion only is fine ...
    params["studies"]["photos"] = {
        "datasets": ["kodak"],
        "blurs": ["motion"],
        "methods": ["tikhonov"],
        "seeds": [0],
    }
    validate_params(params)
    # ... but not once kodak and parallax meet in one study, which the message names.
    params["studies"]["photos"]["blurs"] = ["motion", "parallax"]
    assert problems_of(params) == [
        "studies.photos: blurs.parallax.model: 'icb' needs depth and intrinsics, which "
        "dataset 'kodak' does not have (datasets with them: demo, virtualcmb, realcmb)"
    ]


def photos_study(params, blurs=("as_taken",), methods=("selfdeblur_cpu",)):
    """``params`` with an observed blur and a study of the user's photos (``scenes: all``)."""
    params["blurs"]["as_taken"] = {"model": "observed"}
    params["datasets"]["photos"] = {"root": "my_photos"}
    params["studies"]["mine"] = {
        "datasets": ["photos"],
        "blurs": list(blurs),
        "methods": list(methods),
        "seeds": [0],
    }
    return params


def test_a_blind_method_on_photos_as_taken_is_valid(params):
    filled = validate_params(photos_study(params))
    assert filled["blurs"]["as_taken"] == {"model": "observed"}  # no keys it would ignore
    assert filled["datasets"]["photos"]["scenes"] == "all"  # the folder is listed later
    # a stored observation of a uniform blur is accepted too, as before
    params["blurs"]["stored"] = {"model": "uniform", "observation": "scene"}
    params["studies"]["mine"]["blurs"] = ["as_taken", "stored"]
    validate_params(params)


def test_an_observed_blur_takes_no_other_key(params):
    photos_study(params)["blurs"]["as_taken"]["noise_std"] = 0.01
    assert problems_of(params) == [
        "blurs.as_taken.noise_std: unknown key for model 'observed' (allowed: model)"
    ]


def test_non_blind_methods_are_refused_where_there_is_no_operator(params):
    # tikhonov on the photos, which have no blur to deconvolve with ...
    problems = problems_of(photos_study(params, methods=("selfdeblur_cpu", "tikhonov")))
    assert problems == [
        "studies.mine: methods.tikhonov: type 'tikhonov_cg' deblurs with the blur's operator, "
        "and blur 'as_taken' (model 'observed') has none; only blind methods "
        "(cross_scale_inr, selfdeblur, vdip) apply",
        "studies.mine: methods.tikhonov: type 'tikhonov_cg' deblurs with a known blur, and "
        "dataset 'photos' has only its blurry photos (no sharp image, no kernel); only blind "
        "methods (cross_scale_inr, selfdeblur, vdip) apply",
    ]
    # ... and the observed blur on Levin's stored images: no operator for siren_tv either
    params["studies"]["mine"]["datasets"] = ["levin"]
    params["studies"]["mine"]["methods"] = ["siren_tv"]
    (problem,) = problems_of(params)
    assert problem.startswith("studies.mine: methods.siren_tv: type 'inr' deblurs with the ")
    assert "blur 'as_taken' (model 'observed') has none" in problem


def test_photos_cannot_be_blurred_synthetically(params):
    problems = problems_of(photos_study(params, blurs=("motion",)))
    assert problems == [
        "studies.mine: blurs.motion.observation: 'synthesize' blurs the sharp image, which "
        "dataset 'photos' does not have (no ground truth); use model 'observed'"
    ]


def test_an_observed_blur_needs_stored_blurry_images(params):
    photos_study(params)["studies"]["mine"]["datasets"] = ["kodak"]
    assert problems_of(params) == [
        "studies.mine: blurs.as_taken.model: 'observed' needs stored blurry images, which "
        "dataset 'kodak' does not have (datasets with them: demo, levin, lai, gopro, "
        "virtualcmb, realcmb, photos)"
    ]


def test_the_blind_method_types_are_those_of_the_classes():
    """Validation names the blind types without importing the methods; the classes say."""
    from inrdeblur.blur.models import BLUR_MODELS, OBSERVED
    from inrdeblur.config.params import BLIND_METHOD_TYPES, OBSERVED_MODEL
    from inrdeblur.methods import method_class

    types = schema()["$defs"]["method"]["properties"]["type"]["enum"]
    assert sorted(BLIND_METHOD_TYPES) == sorted(t for t in types if method_class(t).blind)
    assert OBSERVED_MODEL == OBSERVED
    assert schema()["$defs"]["blur"]["properties"]["model"]["enum"] == list(BLUR_MODELS)


def test_unknown_inr_type_is_named(params):
    params["methods"]["siren_tv"]["inr"]["type"] = "wire"
    (problem,) = problems_of(params)
    assert problem.startswith("methods.siren_tv.inr.type: 'wire' is not one of")


def test_wrong_type_is_named(params):
    params["studies"]["demo"]["seeds"] = [0, "one"]
    (problem,) = problems_of(params)
    assert problem.startswith("studies.demo.seeds[1]: expected integer")


def test_missing_required_key_is_named(params):
    del params["methods"]["siren_tv"]["regulariser"]
    assert problems_of(params) == ["methods.siren_tv.regulariser: required key is missing"]


def test_even_kernel_and_oversized_kernel(params):
    params["blurs"]["motion"]["kernel_size"] = 14
    assert problems_of(params) == ["blurs.motion.kernel_size: must be odd, got 14"]
    params["blurs"]["motion"]["kernel_size"] = 129
    (problem,) = problems_of(params)
    assert problem.startswith("studies.demo: blurs.motion.kernel_size: 129 px is not smaller")


def test_blur_keys_depend_on_the_model(params):
    params["blurs"]["motion"]["blur_diff"] = 1.0
    params["blurs"]["parallax"]["kernel_size"] = 15
    assert problems_of(params) == [
        "blurs.motion.blur_diff: unknown key for model 'uniform' (allowed: boundary, kernel, "
        "kernel_path, kernel_size, model, noise_std, observation, radius, seed, sigma)",
        "blurs.parallax.kernel_size: unknown key for model 'icb' (allowed: blur_diff, "
        "boundary, matte_sigma, max_layers, model, noise_std, observation, seed, trajectory)",
    ]


def test_icb_and_pwb_defaults_are_filled(params):
    params["blurs"]["bare"] = {"model": "icb"}
    blur = validate_params(params)["blurs"]["bare"]
    assert blur["trajectory"] == {
        "source": "scene",
        "scale": 1.0,
        "n_poses": 64,
        "exposure_s": 0.05,
        "translation_std_m": 0.005,
        "rotation_std_deg": 0.2,
        "inertia": 0.9,
    }
    assert (blur["blur_diff"], blur["matte_sigma"], blur["max_layers"]) == (1.0, 4.0, 100)
    assert "kernel" not in blur


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"kernel": "gaussian"}, ["blurs.k.sigma: required by kernel 'gaussian'"]),
        (
            {"kernel": "gaussian", "sigma": 2.0, "radius": 3.0},
            ["blurs.k.radius: only used by kernel 'defocus', not 'gaussian'"],
        ),
        (
            {"kernel": "defocus", "radius": 8.0},
            ["blurs.k.radius: 8.0 px does not fit in kernel_size 15 (at most 7.5)"],
        ),
        (
            {"kernel": "measured", "kernel_path": "/no/such/kernels"},
            ["blurs.k.kernel_path: no such file or directory: /no/such/kernels"],
        ),
        ({"kernel": "measured"}, ["blurs.k.kernel_path: required by kernel 'measured'"]),
    ],
)
def test_kernel_family_keys(params, settings, expected):
    params["blurs"]["k"] = {"model": "uniform", **settings}
    assert problems_of(params) == expected


def test_forward_models_must_be_scene_trajectory_icb_or_pwb(params):
    params["blurs"]["per_pixel"]["trajectory"]["scale"] = 2.0
    params["studies"]["demo"]["forward_models"] = ["motion", "per_pixel", "nope"]
    problems = problems_of(params)
    assert problems[0] == (
        "studies.demo.forward_models[0]: blur 'motion' has model 'uniform'; only icb and pwb apply"
    )
    assert problems[1].startswith(
        "studies.demo.forward_models[1]: blur 'per_pixel' must use trajectory source 'scene'"
    )
    assert problems[2].startswith("studies.demo.forward_models[2]: unknown blur 'nope'")
    assert len(problems) == 3


def test_unknown_demo_scene(params):
    params["datasets"]["demo"]["scenes"] = ["astronaut", "lena"]
    (problem,) = problems_of(params)
    assert problem.startswith("datasets.demo.scenes[1]: unknown demo scene 'lena'")


def test_dataset_sections_are_filled_with_their_defaults(params):
    del params["datasets"]["lai"]  # params.yaml sets its channels
    datasets = validate_params(params)["datasets"]
    assert datasets["lai"] == {
        "root": "data/raw/lai",
        "scenes": "all",
        "verify": True,
        "channels": "rgb",
    }
    assert datasets["gopro"] == {"root": "data/raw/gopro", "blur": "blur", "verify": False}
    assert datasets["virtualcmb"] == {
        "root": "data/raw/virtualcmb",
        "scenes": "all",
        "repair_depth": False,
    }
    assert datasets["realcmb"]["intrinsics_size"] == [1440, 1920]
    assert "mirror" not in datasets["kodak"] and "max_side" not in datasets["kodak"]
    assert datasets["kodak"]["channels"] == "rgb"


def test_dataset_options_are_checked(params):
    params["datasets"]["kodak"] = {"max_side": 8, "mirror": ""}
    params["datasets"]["realcmb"] = {"intrinsics_size": [1440], "repair_depth": "yes"}
    assert problems_of(params) == [
        "datasets.kodak.max_side: 8 is less than the minimum of 16",
        "datasets.kodak.mirror: '' should be non-empty",
        "datasets.realcmb.intrinsics_size: must be [height, width] (two integers >= 1) or "
        "null, got [1440]",
        "datasets.realcmb.repair_depth: expected boolean, got 'yes'",
    ]
    params["datasets"]["kodak"] = {"max_side": 16, "mirror": "file:///srv/kodak"}
    params["datasets"]["realcmb"] = {"intrinsics_size": None}
    validate_params(params)


def test_indexed_scene_ids_are_checked_against_the_manifest(params):
    params["datasets"]["virtualcmb"] = {"scenes": ["000", "982", "983"]}
    params["datasets"]["realcmb"] = {"scenes": ["7"]}
    assert problems_of(params) == [
        "datasets.virtualcmb.scenes[2]: unknown virtualcmb scene '983' (known: 000, 001, 002, "
        "003, 004, 005, 006, 007, ...)",
        "datasets.realcmb.scenes[0]: unknown realcmb scene '7' (known: 00, 01, 02, 03, 04, 05, "
        "06, 07, ...)",
    ]


def test_gopro_scenes_must_be_listed(params):
    params["studies"]["demo"]["datasets"] = ["demo", "gopro"]
    params["studies"]["demo"]["blurs"] = ["motion"]
    params["studies"]["demo"]["forward_models"] = []
    (problem,) = problems_of(params)
    assert problem.startswith("datasets.gopro.scenes: required: gopro's scene ids come from")
    params["datasets"]["gopro"] = {"scenes": "all"}
    (problem,) = problems_of(params)
    assert problem.startswith("datasets.gopro.scenes: must be a list of scene ids, got 'all'")
    assert "'all' is not available" in problem
    params["datasets"]["gopro"] = {"scenes": ["train.GOPR0372_07_00.000047", "GOPR0372/000047"]}
    (problem,) = problems_of(params)
    assert problem.startswith("datasets.gopro.scenes[1]: 'GOPR0372/000047' is not a scene id")
    params["datasets"]["gopro"] = {"scenes": ["train.GOPR0372_07_00.000047", "train.000047"]}
    (problem,) = problems_of(params)
    assert problem.startswith("datasets.gopro.scenes[1]: pairs dataset: scene id 'train.000047'")
    params["datasets"]["gopro"] = {"scenes": ["train.GOPR0372_07_00.000047"], "max_side": 64}
    validate_params(params)


def test_blurs_need_what_the_dataset_has(params):
    params["studies"]["demo"]["datasets"] = ["kodak"]
    params["studies"]["demo"]["blurs"] = ["motion", "parallax", "true_kernel_stored"]
    params["studies"]["demo"]["forward_models"] = []
    problems = problems_of(params)
    assert problems[0].startswith(
        "studies.demo: blurs.parallax.model: 'icb' needs depth and intrinsics, which dataset "
        "'kodak' does not have (datasets with them: demo, virtualcmb, realcmb)"
    )
    assert problems[1].startswith(
        "studies.demo: blurs.true_kernel_stored.kernel: 'scene' needs true kernels"
    )
    assert problems[2].startswith(
        "studies.demo: blurs.true_kernel_stored.observation: 'scene' needs stored blurry "
        "images, which dataset 'kodak' does not have"
    )
    assert len(problems) == 3
    params["studies"]["demo"]["datasets"] = ["lai", "virtualcmb"]
    params["studies"]["demo"]["blurs"] = ["true_kernel_stored"]
    (problem,) = problems_of(params)
    assert problem.startswith(
        "studies.demo: blurs.true_kernel_stored.kernel: 'scene' needs true kernels, which "
    )
    assert "dataset 'virtualcmb'" in problem


def test_max_side_must_leave_room_for_the_kernel(params):
    params["datasets"]["kodak"] = {"max_side": 16}
    params["studies"]["demo"]["datasets"] = ["kodak"]
    params["studies"]["demo"]["blurs"] = ["motion"]
    params["studies"]["demo"]["forward_models"] = []
    params["blurs"]["motion"]["kernel_size"] = 17
    assert problems_of(params) == [
        "studies.demo: blurs.motion.kernel_size: 17 px is not smaller than "
        "datasets.kodak.max_side 16 px"
    ]


def test_one_dataset_section_validates_on_its_own():
    assert dataset_settings("kodak", {"max_side": 64}) == {
        "root": "data/raw/kodak",
        "scenes": "all",
        "verify": True,
        "max_side": 64,
        "channels": "rgb",
    }
    with pytest.raises(ParamsError) as info:
        dataset_settings("kodak", {"verfy": False})
    assert info.value.problems == [
        "datasets.kodak.verfy: unknown key "
        "(allowed: channels, max_side, mirror, root, scenes, verify)"
    ]
    with pytest.raises(ParamsError, match="datasets.imagenet: unknown dataset"):
        dataset_settings("imagenet", {})


def test_several_problems_are_all_reported(params):
    params["methods"]["siren_tv"]["fit"]["iterations"] = 0
    params["methods"]["siren_tv"]["fit"]["lr"] = -1
    assert len(problems_of(params)) == 2


def test_every_schema_key_is_documented():
    rows = schema_keys()
    assert len(rows) > 30
    undocumented = [row["key"] for row in rows if not row["description"].strip()]
    assert undocumented == []
    assert schema()["additionalProperties"] is False


def test_params_doc_matches_the_schema(repo_root):
    """docs/params.md is generated by `inrdeblur params-doc`; it must not go stale."""
    out = subprocess.run(
        [sys.executable, "-m", "inrdeblur", "params-doc"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    doc = (repo_root / "docs" / "params.md").read_text()
    assert out.strip() in doc


def test_validation_does_not_import_torch(repo_root):
    code = (
        "import sys; from inrdeblur.config import load_params; "
        f"load_params({str(repo_root / 'params.yaml')!r}); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_check_params_cli_names_the_key(tmp_path, params):
    params["methods"]["siren_tv"]["fit"]["iterations"] = -1
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    proc = subprocess.run(
        [sys.executable, "-m", "inrdeblur", "check-params", str(bad)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "methods.siren_tv.fit.iterations" in proc.stderr
    assert str(bad) in proc.stderr


def test_check_params_cli_lists_every_study(tmp_path, params):
    params["studies"] = {
        "demo": {
            "datasets": ["demo"],
            "blurs": ["motion", "parallax"],
            "methods": ["tikhonov"],
            "seeds": [0, 1, 2],
        },
        "levin": {**params["studies"]["levin"], "enabled": False},
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    proc = subprocess.run(
        [sys.executable, "-m", "inrdeblur", "check-params", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.splitlines() == [
        f"{path}: ok",
        "  study demo: 1 dataset(s), 2 blur(s), 1 method(s), 3 seed(s)",
        "  study levin: disabled",
    ]


def test_unreadable_yaml_is_reported(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("studies: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)
