"""The kernel-space training stage through the real Snakemake: part of the default target
only when enabled, trained on the prepared demo scenes, its outputs where the layout says."""

from __future__ import annotations

import json
import re

import pytest
from tiny_project import make_project, run, tiny_params

pytestmark = pytest.mark.workflow


def params(enabled: bool) -> dict:
    p = tiny_params()
    p["studies"]["demo"].update(blurs=["motion"], seeds=[0], forward_models=[])
    p["kernel_space"] = {
        "enabled": enabled,
        "datasets": ["demo"],
        "family": {"min_size": 5, "max_size": 7},
        "crop": 24,
        "iterations": 3,
        "held_out": 1,
        "retrieval_pairs": 2,
    }
    return p


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("ks") / "p", params(True))


def planned(project, env) -> dict[str, int]:
    dry = run(["snakemake", "-n", "--cores", "2"], project, env)
    assert dry.returncode == 0, dry.stdout[-3000:]
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", dry.stdout, flags=re.M)}


def test_the_stage_is_planned_only_when_enabled(project, tool_env):
    assert planned(project, tool_env)["train_kernel_space"] == 1
    (project / "off.yaml").write_text(json.dumps(params(False)))
    dry = run(["snakemake", "-n", "--cores", "2", "--configfile", "off.yaml"], project, tool_env)
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert "train_kernel_space" not in dry.stdout


def test_it_trains_on_the_prepared_scenes(project, tool_env):
    proc = run(["snakemake", "--cores", "2", "results/kernel_space"], project, tool_env)
    assert proc.returncode == 0, proc.stdout[-5000:]
    out = project / "results" / "kernel_space"
    files = sorted(p.name for p in out.iterdir() if not p.name.startswith(".snakemake"))
    assert files == ["meta.json", "retrieval.csv", "trace.csv", "weights.pt"]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["images"] == ["demo/astronaut"]
    assert meta["retrieval"]["scenes"] == ["demo/motorcycle"]
    assert meta["iterations"] == 3 and meta["size"] == "small"
    assert not (project / "results" / "checkpoints" / "kernel_space.pt").exists()
    assert not (project / "results" / "fits").exists()  # nothing else was run


def test_the_report_shows_the_training_curve(project, tool_env):
    proc = run(["snakemake", "--cores", "2"], project, tool_env)
    assert proc.returncode == 0, proc.stdout[-5000:]
    html = (project / "reports" / "index.html").read_text(encoding="utf-8")
    section = html[html.index('<section id="kernel-space"') :]
    section = section[: section.index("</section>")]
    from inrdeblur.networks.kernel_space import KernelWizard

    n = sum(p.numel() for p in KernelWizard("small").parameters())
    assert f"small ({n:,} parameters)" in section
    assert "<td>3</td>" in section and "trained here" in section
    assert "(2 pairs, 1 scene)" in section and "A(x, E(x, y))" in section
    assert 'alt="kernel-space training curve"' in section and "data:image/png;base64," in section
    assert '<a href="#kernel-space">Kernel space</a>' in html
    assert (project / "reports" / "figures" / "kernel_space" / "training.png").is_file()
