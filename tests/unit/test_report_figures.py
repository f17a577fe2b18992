"""The quality-time Pareto front and the seed spread of the report's figures, against
brute-force and NumPy computations, and when the seed-spread figure is drawn."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from inrdeblur.metrics import tables
from inrdeblur.report import figures


def _brute_force_front(times: np.ndarray, psnrs: np.ndarray) -> set[int]:
    """Indices no other point weakly dominates with one strict improvement."""
    front = set()
    for i in range(len(times)):
        if not any(
            times[j] <= times[i]
            and psnrs[j] >= psnrs[i]
            and (times[j] < times[i] or psnrs[j] > psnrs[i])
            for j in range(len(times))
            if j != i
        ):
            front.add(i)
    return front


@pytest.mark.parametrize("seed", range(5))
def test_pareto_front_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Ties on a rounded grid exercise the weak-dominance cases.
    times = np.round(rng.uniform(1, 10, 12))
    psnrs = np.round(rng.uniform(20, 30, 12))
    names = [f"m{i}" for i in range(12)]
    means = pd.DataFrame({"time_s": times, "psnr": psnrs}, index=names)
    front = figures.pareto_methods(means)
    assert {names.index(m) for m in front} == _brute_force_front(times, psnrs)
    # Fastest first, and along the front PSNR rises as time does (a staircase).
    assert list(means.loc[front, "time_s"]) == sorted(means.loc[front, "time_s"])
    assert all(np.diff(means.loc[front, "psnr"].to_numpy()) > 0)


def test_pareto_front_keeps_exact_duplicates() -> None:
    """Two methods with identical means dominate neither: both are on the front."""
    means = pd.DataFrame({"time_s": [2.0, 2.0, 3.0], "psnr": [28.0, 28.0, 27.0]}, index=list("abc"))
    assert sorted(figures.pareto_methods(means)) == ["a", "b"]


def _records(psnr: dict[tuple[str, str, int], float]) -> pd.DataFrame:
    rows = []
    for (method, scene, seed), value in psnr.items():
        rows.append(
            {
                "dataset": "toy",
                "blur": "box",
                "method": method,
                "scene": scene,
                "seed": seed,
                "psnr": value,
                "ssim": 0.9,
                "lpips": None,
                "lpips_status": "missing: offline",
                "psnr_blurry": 20.0,
                "ssim_blurry": 0.5,
                "lpips_blurry": None,
                "time_s": 1.0 + seed,
                "size_mb": 0.1,
                "iterations": 10,
                "device": "cpu",
            }
        )
    return tables.metrics_table(rows)


def test_seed_spread_is_max_minus_min_over_seeds() -> None:
    rng = np.random.default_rng(3)
    values = {
        (m, s, k): float(rng.uniform(20, 30))
        for m, s, k in itertools.product(["a", "b"], ["s1", "s2", "s3"], [0, 1, 2])
    }
    values.pop(("b", "s3", 1))
    values.pop(("b", "s3", 2))  # one seed left: no spread for b/s3
    spreads = figures.seed_spreads(_records(values))
    got = {(r.method, r.scene): (r.n_seeds, r.spread) for r in spreads.itertuples()}
    assert set(got) == {(m, s) for m in "ab" for s in ("s1", "s2", "s3")} - {("b", "s3")}
    for (method, scene), (n, spread) in got.items():
        seeds = [v for (m, s, _), v in values.items() if (m, s) == (method, scene)]
        assert n == len(seeds)
        assert spread == pytest.approx(np.ptp(seeds), abs=1e-12)


def test_seed_spread_figure_only_with_two_seeds(tmp_path) -> None:
    one_seed = _records({("a", "s1", 0): 25.0, ("b", "s1", 0): 26.0})
    with pytest.raises(ValueError, match="two seeds"):
        figures.seed_spread(one_seed)
    assert "seed_spread" not in figures.write_figures(one_seed, tmp_path / "one")
    assert not (tmp_path / "one" / "seed_spread.png").exists()
    two_seeds = _records({("a", "s1", 0): 25.0, ("a", "s1", 1): 25.5, ("b", "s1", 0): 26.0})
    written = figures.write_figures(two_seeds, tmp_path / "two")
    assert list(written) == [*figures.FIGURES, "seed_spread"]
    png = (tmp_path / "two" / "seed_spread.png").read_bytes()
    assert png == written["seed_spread"] and png.startswith(b"\x89PNG")
    assert "seed_spread" in figures.FIGURE_CAPTIONS


def test_seed_spread_figure_marks_every_seed_in_a_panel_per_method() -> None:
    """One panel per method with two seeds on a scene; in it one mark per fit of those
    scenes (a lone seed is left out), a line per scene from its worst seed to its best,
    and the scenes in the order of the method's mean PSNR."""
    from matplotlib.collections import LineCollection, PathCollection

    rng = np.random.default_rng(5)
    values = {
        (m, s, k): float(rng.uniform(20, 30))
        for m, s, k in itertools.product("ab", ("s1", "s2", "s3"), (0, 1, 2))
    }
    values.pop(("b", "s3", 1))
    values.pop(("b", "s3", 2))  # b/s3 has one seed: not drawn
    values.update({("c", s, 0): 25.0 for s in ("s1", "s2")})  # c has one seed: no panel
    fig = figures.seed_spread(_records(values))
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["a\ntoy / box", "b\ntoy / box"]
    for ax, method in zip(axes, "ab", strict=True):
        fits = {(s, k): v for (m, s, k), v in values.items() if m == method}
        scenes = {s for s, _ in fits if sum(1 for t, _ in fits if t == s) >= 2}
        drawn = {(s, k): v for (s, k), v in fits.items() if s in scenes}
        means = {s: np.mean([v for (t, _), v in drawn.items() if t == s]) for s in scenes}
        order = sorted(scenes, key=means.get)
        assert [t.get_text() for t in ax.get_xticklabels()] == order
        points = np.concatenate(
            [c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)]
        )
        expected = sorted((order.index(s), v) for (s, _), v in drawn.items())
        np.testing.assert_allclose(sorted(map(tuple, points)), expected)
        (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
        spans = sorted((seg[0][0], min(seg[:, 1]), max(seg[:, 1])) for seg in lines.get_segments())
        seeds = {s: [v for (t, _), v in drawn.items() if t == s] for s in scenes}
        np.testing.assert_allclose(
            spans, sorted((order.index(s), min(v), max(v)) for s, v in seeds.items())
        )


def _forward_records() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = [
        {"dataset": d, "blur": b, "model": m, "scene": f"s{i}", "psnr": float(rng.uniform(25, 35))}
        for d in ("demo", "virtualcmb")
        for b, m in (("parallax", "icb"), ("per_pixel", "pwb"))
        for i in range(3)
    ]
    return pd.DataFrame(rows)


def test_blur_formation_figure_draws_every_scene_and_the_means() -> None:
    records = _forward_records()
    fig = figures.blur_formation(records)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["demo", "virtualcmb"]
    for ax, (_, data) in zip(axes, records.groupby("dataset"), strict=True):
        lines = [line.get_ydata() for line in ax.get_lines()]
        scenes = [list(y) for y in lines if len(y) == 2 and not np.isclose(y[0], y[1])]
        bars = [float(y[0]) for y in lines if len(y) == 2 and np.isclose(y[0], y[1])]
        for _, rows in data.groupby("scene"):
            assert list(rows.sort_values("blur")["psnr"]) in scenes
        assert sorted(bars) == pytest.approx(sorted(data.groupby("blur")["psnr"].mean()))
        assert [t.get_text() for t in ax.get_xticklabels()] == [
            "parallax\n(icb)",
            "per_pixel\n(pwb)",
        ]


def test_blur_formation_figure_only_with_records(tmp_path) -> None:
    metrics = _records({("a", "s1", 0): 25.0})
    assert "blur_formation" not in figures.write_figures(metrics, tmp_path / "none")
    written = figures.write_figures(metrics, tmp_path / "with", forward_records=_forward_records())
    assert list(written)[-1] == "blur_formation" and "blur_formation" in figures.FIGURE_CAPTIONS
    with pytest.raises(ValueError, match="empty"):
        figures.blur_formation(_forward_records().iloc[:0])
