"""Report figures (seaborn on matplotlib's Agg renderer), written as PNG.

Every figure takes the long metrics table of :func:`inrdeblur.metrics.tables.metrics_table`
and has one panel per (dataset, blur). Figures are built on a bare
:class:`matplotlib.figure.Figure` (no pyplot, no global style or backend change) and saved
without a ``Software`` tag and without random jitter, so the same table gives the same
PNG bytes. Fits without a PSNR (a scene without a sharp image: the user's photos) are left
out of every figure; a (dataset, blur) with none gets no panel, and a figure with no panel
is not drawn.

=====================  ==============================================================
name                   content
=====================  ==============================================================
``psnr_vs_time``       PSNR against fit time, one point per fit, per-method means and
                       their quality-time Pareto front
``psnr_per_scene``     PSNR per scene and method (all seeds) beside the blurry input
``psnr_gain``          PSNR gain over the blurry input per scene, mean over seeds
``seed_spread``        PSNR per scene, one mark per seed and a line over the seeds' range,
                       a panel per method with two seeds or more on a scene
``convergence``        PSNR against wall time during the fits, median and interquartile
                       band over fits (from the convergence table of
                       :mod:`inrdeblur.metrics.convergence`, when there is one)
``blur_formation``     each blur model's PSNR against the scenes' reference blurry
                       images, one line per scene across the models (from the
                       blur-formation records, when there are some)
=====================  ==============================================================
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from inrdeblur import layout
from inrdeblur.fileio import atomic_path
from inrdeblur.metrics.convergence import CONVERGENCE_COLUMNS
from inrdeblur.metrics.tables import BLURRY_METHOD, METRIC_COLUMNS

__all__ = [
    "FIGURES",
    "FIGURE_CAPTIONS",
    "blur_formation",
    "convergence",
    "figure_png",
    "kernel_space_training",
    "method_palette",
    "pareto_methods",
    "psnr_gain",
    "psnr_per_scene",
    "psnr_vs_time",
    "render_figures",
    "scored_fits",
    "seed_spread",
    "seed_spread_panels",
    "seed_spreads",
    "write_figures",
]

#: Dots per inch of the written PNGs.
DPI = 110
#: Fit times spanning more than this factor get a logarithmic time axis.
LOG_TIME_RATIO = 10.0
#: Panels with more scenes than this show one box per method instead of one slot per scene.
MAX_SCENE_SLOTS = 30
#: Colour of the blurry input in every figure.
BLURRY_COLOR = (0.55, 0.55, 0.55)
_RC = {
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "legend.fontsize": 9.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
}


def method_palette(methods: list[str]) -> dict[str, tuple[float, float, float]]:
    """One colour per method (colour-blind safe for up to 10), grey for the blurry input."""
    import seaborn as sns

    names = sorted(set(methods) - {BLURRY_METHOD})
    colors = sns.color_palette("colorblind" if len(names) <= 10 else "husl", len(names))
    palette = {name: tuple(color) for name, color in zip(names, colors, strict=True)}
    palette[BLURRY_METHOD] = BLURRY_COLOR
    return palette


def scored_fits(metrics: pd.DataFrame) -> pd.DataFrame:
    """The rows of a metrics table that have a PSNR (not those of a scene without a sharp
    image, whose PSNR is NaN)."""
    return metrics[metrics["psnr"].notna()].reset_index(drop=True)


def _has_psnr(table: pd.DataFrame, column: str) -> bool:
    """False only for a table with rows whose ``column`` is NaN in every row (fits without
    a sharp image); a table without rows or without the column is left to the figure
    functions' own errors."""
    return table.empty or column not in table.columns or bool(table[column].notna().any())


def _panels(metrics: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """One ``(dataset, blur, fits)`` per (dataset, blur) with a fit that has a PSNR."""
    missing = [c for c in METRIC_COLUMNS if c not in metrics.columns]
    if missing:
        raise ValueError(f"metrics table lacks column(s) {', '.join(missing)}")
    if metrics.empty:
        raise ValueError("metrics table is empty: nothing to plot")
    scored = scored_fits(metrics)
    if scored.empty:
        raise ValueError("no fit has a PSNR (no sharp image to compare with): nothing to plot")
    return [
        (dataset, blur, group.reset_index(drop=True))
        for (dataset, blur), group in scored.groupby(["dataset", "blur"], sort=True)
    ]


def _figure(n_panels: int, panel_width: float, panel_height: float) -> tuple[Figure, list]:
    """A figure with ``n_panels`` axes in rows of at most 3, returned as a flat list."""
    ncols = min(3, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(
        figsize=(panel_width * ncols + 1.6, panel_height * nrows), dpi=DPI, layout="constrained"
    )
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _legend(fig: Figure, handles: list) -> None:
    """One legend for the whole figure, right of the panels."""
    fig.legend(handles=handles, loc="outside right upper", frameon=False)


def _method_handles(methods: list[str], palette: dict, blurry: bool = True) -> list:
    names = ([BLURRY_METHOD] if blurry else []) + methods
    return [Line2D([], [], marker="o", linestyle="none", color=palette[m], label=m) for m in names]


def pareto_methods(means: pd.DataFrame) -> list[str]:
    """The methods on the quality-time Pareto front of ``means`` (index: method; columns
    ``time_s`` and ``psnr``), fastest first: those that no other method matches or beats
    on both time and PSNR while being strictly better on one.

    >>> means = pd.DataFrame({"time_s": [1.0, 10.0, 5.0, 10.0], "psnr": [25.0, 30.0, 24.0, 29.0]},
    ...                      index=["a", "b", "c", "d"])
    >>> pareto_methods(means)
    ['a', 'b']
    """
    front = []
    for method, row in means.iterrows():
        dominated = (
            (means["time_s"] <= row["time_s"])
            & (means["psnr"] >= row["psnr"])
            & ((means["time_s"] < row["time_s"]) | (means["psnr"] > row["psnr"]))
        )
        if not dominated.any():
            front.append(method)
    return sorted(front, key=lambda m: (means.loc[m, "time_s"], -means.loc[m, "psnr"]))


def psnr_vs_time(metrics: pd.DataFrame) -> Figure:
    """PSNR (dB) against fit time (s): every fit as a dot, each method's mean as a diamond,
    the Pareto front of the means (:func:`pareto_methods`) as a black step line.

    The dashed grey line is the mean PSNR of the blurry input. The time axis is
    logarithmic when the fit times of a panel span more than :data:`LOG_TIME_RATIO`.
    """
    import seaborn as sns

    panels = _panels(metrics)
    methods = sorted({m for _, _, data in panels for m in data["method"]})
    palette = method_palette(methods)
    with sns.axes_style("whitegrid"), _rc_context():
        fig, axes = _figure(len(panels), 4.6, 3.6)
        for ax, (dataset, blur, data) in zip(axes, panels, strict=True):
            sns.scatterplot(
                data=data,
                x="time_s",
                y="psnr",
                hue="method",
                hue_order=methods,
                palette=palette,
                alpha=0.55,
                s=28,
                linewidth=0,
                legend=False,
                ax=ax,
            )
            means = data.groupby("method", sort=True)[["time_s", "psnr"]].mean()
            for method, mean in means.iterrows():
                ax.scatter(
                    mean["time_s"],
                    mean["psnr"],
                    marker="D",
                    s=70,
                    color=palette[method],
                    edgecolor="black",
                    linewidth=1.0,
                    zorder=4,
                )
            front = means.loc[pareto_methods(means)]
            if len(front) > 1:
                ax.step(
                    front["time_s"], front["psnr"], where="post", color="black", lw=1.0, zorder=3
                )
            blurry = data.drop_duplicates("scene")["psnr_blurry"].mean()
            ax.axhline(blurry, color=BLURRY_COLOR, linestyle="--", linewidth=1.2, zorder=1)
            times = data["time_s"].to_numpy()
            if times.min() > 0 and times.max() / times.min() > LOG_TIME_RATIO:
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_title(f"{dataset} / {blur}")
            ax.set_xlabel("fit time (s)")
            ax.set_ylabel("PSNR (dB)")
        handles = _method_handles(methods, palette, blurry=False) + [
            Line2D(
                [],
                [],
                marker="D",
                linestyle="none",
                color="white",
                markeredgecolor="black",
                label="method mean",
            ),
            Line2D([], [], color="black", lw=1.0, label="Pareto front of the means"),
            Line2D([], [], linestyle="--", color=BLURRY_COLOR, label="blurry input (mean)"),
        ]
        _legend(fig, handles)
    return fig


def _per_scene_frame(data: pd.DataFrame, value: str, blurry_value: str | None) -> pd.DataFrame:
    """Fits' ``value`` with, optionally, one extra row per scene for the blurry input."""
    frame = data[["scene", "method", "seed", value]].rename(columns={value: "value"})
    if blurry_value is None:
        return frame
    blurry = data.drop_duplicates("scene")[["scene", blurry_value]]
    blurry = blurry.rename(columns={blurry_value: "value"}).assign(method=BLURRY_METHOD, seed=0)
    return pd.concat([blurry, frame], ignore_index=True)


def _scene_axis(ax, scenes: list[str]) -> None:
    ax.set_xlabel("scene")
    if len(scenes) > 6 or max(len(s) for s in scenes) > 8:
        ax.tick_params(axis="x", labelrotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")


def _scene_panel_width(panels: list[tuple[str, str, pd.DataFrame]], n_methods: int) -> float:
    """Panel width (inches) of the per-scene figures: wider with more scenes, if one panel."""
    if len(panels) > 1:
        return 4.6
    n_scenes = panels[0][2]["scene"].nunique()
    if n_scenes > MAX_SCENE_SLOTS:
        return 4.6
    return float(np.clip(1.5 + 0.2 * n_scenes * (n_methods + 1), 4.6, 12.0))


def _method_boxplot(ax, means: pd.DataFrame, order: list[str], palette: dict) -> None:
    """One box per method over per-scene means (used when there are too many scenes)."""
    import seaborn as sns

    sns.boxplot(
        data=means,
        x="method",
        y="value",
        hue="method",
        order=order,
        hue_order=order,
        palette=palette,
        legend=False,
        fliersize=2,
        ax=ax,
    )
    ax.set_xlabel("")


def psnr_per_scene(metrics: pd.DataFrame) -> Figure:
    """PSNR (dB) per scene: one dot per fit (all seeds), dodged by method, with the blurry
    input's PSNR in grey as the reference. Panels with more than :data:`MAX_SCENE_SLOTS`
    scenes show one box per method over the per-scene means instead."""
    import seaborn as sns

    panels = _panels(metrics)
    methods = sorted({m for _, _, data in panels for m in data["method"]})
    palette = method_palette(methods)
    order = [BLURRY_METHOD, *methods]
    with sns.axes_style("whitegrid"), _rc_context():
        fig, axes = _figure(len(panels), _scene_panel_width(panels, len(methods)), 3.8)
        for ax, (dataset, blur, data) in zip(axes, panels, strict=True):
            frame = _per_scene_frame(data, "psnr", "psnr_blurry")
            scenes = sorted(frame["scene"].unique())
            if len(scenes) > MAX_SCENE_SLOTS:
                means = frame.groupby(["method", "scene"], as_index=False)["value"].mean()
                _method_boxplot(ax, means, order, palette)
            else:
                sns.stripplot(
                    data=frame,
                    x="scene",
                    y="value",
                    hue="method",
                    order=scenes,
                    hue_order=order,
                    palette=palette,
                    dodge=True,
                    jitter=False,
                    size=5,
                    marker="o",
                    linewidth=0.4,
                    edgecolor="white",
                    legend=False,
                    ax=ax,
                )
                _scene_axis(ax, scenes)
            ax.set_title(f"{dataset} / {blur}")
            ax.set_ylabel("PSNR (dB)")
        _legend(fig, _method_handles(methods, palette))
    return fig


def psnr_gain(metrics: pd.DataFrame) -> Figure:
    """PSNR gain (dB) over the blurry input per scene: bars are means over seeds, dots are
    the individual seeds. Panels with more than :data:`MAX_SCENE_SLOTS` scenes show one
    box per method over the per-scene means instead."""
    import seaborn as sns

    panels = _panels(metrics)
    methods = sorted({m for _, _, data in panels for m in data["method"]})
    palette = method_palette(methods)
    with sns.axes_style("whitegrid"), _rc_context():
        fig, axes = _figure(len(panels), _scene_panel_width(panels, len(methods)), 3.8)
        for ax, (dataset, blur, data) in zip(axes, panels, strict=True):
            frame = data.assign(value=data["psnr"] - data["psnr_blurry"])
            scenes = sorted(frame["scene"].unique())
            present = [m for m in methods if m in set(frame["method"])]
            means = frame.groupby(["method", "scene"], as_index=False)["value"].mean()
            if len(scenes) > MAX_SCENE_SLOTS:
                _method_boxplot(ax, means, present, palette)
            else:
                sns.barplot(
                    data=means,
                    x="scene",
                    y="value",
                    hue="method",
                    order=scenes,
                    hue_order=present,
                    palette=palette,
                    errorbar=None,
                    dodge=True,
                    alpha=0.85,
                    legend=False,
                    ax=ax,
                )
                sns.stripplot(
                    data=frame,
                    x="scene",
                    y="value",
                    hue="method",
                    order=scenes,
                    hue_order=present,
                    palette={m: (0.1, 0.1, 0.1) for m in present},
                    dodge=True,
                    jitter=False,
                    size=3,
                    legend=False,
                    ax=ax,
                )
                _scene_axis(ax, scenes)
            ax.axhline(0.0, color="black", linewidth=0.8)
            ax.set_title(f"{dataset} / {blur}")
            ax.set_ylabel("PSNR gain over blurry input (dB)")
        _legend(fig, _method_handles(methods, palette, blurry=False))
    return fig


def seed_spreads(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, blur, method, scene) with two seeds or more with a PSNR: ``n_seeds``
    and ``spread``, the PSNR's max - min over the seeds (dB).

    >>> m = pd.DataFrame({"dataset": "d", "blur": "b", "method": "x", "scene": ["s", "s", "t"],
    ...                   "seed": [0, 1, 0], "psnr": [30.0, 30.5, 29.0]})
    >>> seed_spreads(m)[["scene", "n_seeds", "spread"]].to_dict("records")
    [{'scene': 's', 'n_seeds': 2, 'spread': 0.5}]
    """
    keys = ["dataset", "blur", "method", "scene"]
    grouped = metrics.groupby(keys, sort=True)["psnr"]
    table = pd.DataFrame(
        {"n_seeds": grouped.count(), "spread": grouped.max() - grouped.min()}
    ).reset_index()
    return table[table["n_seeds"] >= 2].reset_index(drop=True)


#: markers of the seeds in the seed-spread figure, in seed order (then repeated)
SEED_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")


def seed_spread_panels(metrics: pd.DataFrame) -> list[tuple[str, str, str, pd.DataFrame]]:
    """``(dataset, blur, method, fits)`` of every method with two seeds or more on a scene
    of a (dataset, blur): its scored fits on those scenes, every seed."""
    spreads = seed_spreads(metrics)
    scored = scored_fits(metrics)
    panels = []
    for (dataset, blur, method), group in spreads.groupby(["dataset", "blur", "method"]):
        fits = scored[
            (scored["dataset"] == dataset)
            & (scored["blur"] == blur)
            & (scored["method"] == method)
            & scored["scene"].isin(set(group["scene"]))
        ]
        panels.append((dataset, blur, method, fits.reset_index(drop=True)))
    return panels


def seed_spread(metrics: pd.DataFrame) -> Figure:
    """The PSNR of every seed, per scene: a panel per method and (dataset, blur) where the
    method has two seeds or more on a scene, one mark per seed (its marker says which), a
    line from a scene's worst seed to its best. Scenes are ordered by the method's mean
    PSNR; past :data:`MAX_SCENE_SLOTS` scenes their names are left off.

    Raises:
        ValueError: no method has two seeds on any scene.
    """
    import seaborn as sns

    _panels(metrics)  # checks the columns
    panels = seed_spread_panels(metrics)
    if not panels:
        raise ValueError("no scene has two seeds of a method: no seed spread to plot")
    palette = method_palette(sorted({method for _, _, method, _ in panels}))
    seeds = sorted({int(s) for *_, fits in panels for s in fits["seed"]})
    marker = {seed: SEED_MARKERS[i % len(SEED_MARKERS)] for i, seed in enumerate(seeds)}
    n_scenes = max(fits["scene"].nunique() for *_, fits in panels)
    width = 4.6 if n_scenes <= 12 else min(7.0, 2.0 + 0.2 * min(n_scenes, MAX_SCENE_SLOTS))
    with sns.axes_style("whitegrid"), _rc_context():
        fig, axes = _figure(len(panels), width, 3.4)
        for ax, (dataset, blur, method, fits) in zip(axes, panels, strict=True):
            order = list(fits.groupby("scene")["psnr"].mean().sort_values().index)
            slot = {scene: i for i, scene in enumerate(order)}
            x = fits["scene"].map(slot)
            colour = palette[method]
            span = fits.groupby("scene")["psnr"].agg(["min", "max"])
            ax.vlines([slot[s] for s in span.index], span["min"], span["max"], color=colour, lw=1.2)
            for seed, group in fits.groupby("seed"):
                ax.scatter(
                    x[group.index],
                    group["psnr"],
                    marker=marker[int(seed)],
                    s=22,
                    color=colour,
                    edgecolor="black",
                    linewidth=0.4,
                    zorder=3,
                )
            ax.set_xticks(range(len(order)))
            if len(order) <= MAX_SCENE_SLOTS:
                ax.set_xticklabels(order)
                _scene_axis(ax, order)
            else:
                ax.set_xticklabels([])
                ax.set_xlabel(f"{len(order)} scenes, by mean PSNR")
            ax.set_xlim(-0.6, len(order) - 0.4)
            ax.set_title(f"{method}\n{dataset} / {blur}")
            ax.set_ylabel("PSNR (dB)")
        handles = [
            Line2D([], [], marker=marker[k], linestyle="none", color="white",
                   markeredgecolor="black", label=f"seed {k}")
            for k in seeds
        ]  # fmt: skip
        _legend(fig, handles)
    return fig


def kernel_space_training(trace: pd.DataFrame) -> Figure:
    """The kernel space's training curve: Charbonnier loss (log scale) and the PSNR of
    the re-synthesised blurry batch against the true one, per iteration, with their
    running medians over 5 % of the run.

    Raises:
        ValueError: the trace has no rows or lacks a column.
    """
    import seaborn as sns

    missing = [c for c in ("iteration", "loss", "psnr") if c not in trace.columns]
    if missing or trace.empty:
        raise ValueError(f"kernel-space trace: no rows or no column(s) {missing}")
    window = max(1, len(trace) // 20)
    with sns.axes_style("whitegrid"), _rc_context():
        fig, axes = _figure(2, 4.6, 3.2)
        for ax, column, label in zip(
            axes, ("loss", "psnr"), ("Charbonnier loss", "re-synthesis PSNR (dB)"), strict=True
        ):
            ax.plot(trace["iteration"], trace[column], color=BLURRY_COLOR, linewidth=0.6)
            median = trace[column].rolling(window, min_periods=1).median()
            ax.plot(trace["iteration"], median, color="black", linewidth=1.4)
            ax.set_xlabel("iteration")
            ax.set_ylabel(label)
        axes[0].set_yscale("log")
    return fig


#: caption of the kernel-space training figure
KERNEL_SPACE_CAPTION = (
    "Kernel-space training: the Charbonnier loss between A(x, E(x, y)) and y on each "
    "training batch (left), and the PSNR of that re-synthesis against y (right); grey: "
    "per iteration, black: running median over 5 % of the run."
)


def convergence(table: pd.DataFrame) -> Figure:
    """Median PSNR (dB) against median wall time (s) over the fits of each method, with
    the interquartile band, one panel per (dataset, blur); a logarithmic time axis when the
    panel's times span more than :data:`LOG_TIME_RATIO`. Iterations without a PSNR (fits
    without a sharp image) are left out.

    Raises:
        ValueError: columns are missing, or the table has no PSNR.
    """
    import seaborn as sns

    missing = [c for c in CONVERGENCE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"convergence table lacks column(s) {', '.join(missing)}")
    if table.empty:
        raise ValueError("convergence table is empty: nothing to plot")
    table = table[table["psnr_median"].notna()]
    if table.empty:
        raise ValueError("no convergence PSNR (no sharp image to compare with): nothing to plot")
    panels = list(table.groupby(["dataset", "blur"], sort=True))
    methods = sorted(table["method"].unique())
    palette = method_palette(methods)
    with sns.axes_style("whitegrid"), _rc_context():
        fig, axes = _figure(len(panels), 4.6, 3.6)
        for ax, ((dataset, blur), data) in zip(axes, panels, strict=True):
            for method, line in data.groupby("method", sort=True):
                line = line.sort_values("iteration")
                seconds = line["seconds"].to_numpy(dtype=np.float64)
                color = palette[method]
                ax.fill_between(
                    seconds, line["psnr_q25"], line["psnr_q75"], color=color, alpha=0.2, lw=0
                )
                ax.plot(seconds, line["psnr_median"], color=color, lw=1.5, label=method)
            positive = data["seconds"][data["seconds"] > 0]
            if len(positive) and positive.max() / positive.min() > LOG_TIME_RATIO:
                ax.set_xscale("log")
            ax.set_title(f"{dataset} / {blur}")
            ax.set_xlabel("wall time (s)")
            ax.set_ylabel("PSNR (dB)")
        handles = [Line2D([], [], color=palette[m], lw=1.5, label=m) for m in methods]
        _legend(fig, handles)
    return fig


def blur_formation(records: pd.DataFrame) -> Figure:
    """PSNR (dB) of each blur model's image against the scene's reference blurry image,
    one panel per dataset: a dot per scene and model, a grey line joining a scene's
    models (which model reproduces that scene better), a black bar at each model's mean.

    ``records``: the per-scene blur-formation table
    (:func:`inrdeblur.studies.blur_formation.forward_model_tables`).

    Raises:
        ValueError: columns are missing, or the table is empty.
    """
    import seaborn as sns

    missing = [c for c in ("dataset", "blur", "model", "scene", "psnr") if c not in records]
    if missing:
        raise ValueError(f"blur-formation table lacks column(s) {', '.join(missing)}")
    if records.empty:
        raise ValueError("blur-formation table is empty: nothing to plot")
    panels = list(records.groupby("dataset", sort=True))
    with sns.axes_style("whitegrid"), _rc_context():
        fig, axes = _figure(len(panels), 4.2, 3.6)
        for ax, (dataset, data) in zip(axes, panels, strict=True):
            blurs = list(dict.fromkeys(data["blur"]))
            x = {blur: i for i, blur in enumerate(blurs)}
            for _, scene in data.groupby("scene", sort=True):
                scene = scene.sort_values("blur", key=lambda b: b.map(x))
                ax.plot(scene["blur"].map(x), scene["psnr"], color=BLURRY_COLOR, lw=0.8,
                        alpha=0.6, marker="o", markersize=4, zorder=2)  # fmt: skip
            means = data.groupby("blur")["psnr"].mean()
            for blur, mean in means.items():
                ax.plot([x[blur] - 0.2, x[blur] + 0.2], [mean, mean], color="black", lw=2.0,
                        zorder=3)  # fmt: skip
            models = data.drop_duplicates("blur").set_index("blur")["model"]
            ax.set_xticks(range(len(blurs)), [f"{b}\n({models[b]})" for b in blurs])
            ax.set_xlim(-0.5, len(blurs) - 0.5)
            ax.set_title(dataset)
            ax.set_ylabel("PSNR against the reference blur (dB)")
    return fig


def _rc_context():
    import matplotlib

    return matplotlib.rc_context(_RC)


#: name -> (figure function, caption), in report order.
FIGURES: dict[str, tuple[Callable[[pd.DataFrame], Figure], str]] = {
    "psnr_vs_time": (
        psnr_vs_time,
        "Quality against time. Small dots are individual fits (every scene and seed), "
        "diamonds are per-method means, the black step line joins the means on the Pareto "
        "front (no other method is both faster and better), and the dashed grey line is "
        "the mean PSNR of the blurry input. The time axis is logarithmic when fit times "
        f"span more than a factor of {LOG_TIME_RATIO:g}.",
    ),
    "psnr_per_scene": (
        psnr_per_scene,
        "PSNR per scene. Each dot is one fit (one seed); grey dots are the blurry input, "
        "the reference every method starts from. Panels with more than "
        f"{MAX_SCENE_SLOTS} scenes show one box per method over per-scene means instead.",
    ),
    "psnr_gain": (
        psnr_gain,
        "PSNR gain over the blurry input per scene. Bars are means over seeds, black dots "
        "are individual seeds; values below zero mean the estimate is worse than the input. "
        f"Panels with more than {MAX_SCENE_SLOTS} scenes show one box per method over "
        "per-scene means instead.",
    ),
}
#: caption of the seed-spread figure, drawn when some scene has two seeds of a method
SEED_SPREAD_CAPTION = (
    "Seed spread: the PSNR of every seed on every scene a method was fitted on with two "
    "seeds or more, one panel per method (one mark per seed, its shape the seed; a line "
    "spans a scene's worst to best seed; scenes ordered by the method's mean PSNR). Long "
    "lines mean a single seed's number is not reliable."
)
#: caption of the convergence figure, drawn from the convergence table
CONVERGENCE_CAPTION = (
    "Convergence: PSNR of the estimate against wall time during the fits. Lines are "
    "medians over a method's fits (every scene, and every seed it was fitted with in any "
    "study) at each iteration, plotted at "
    "their median time; bands span the 25th to 75th percentile. The PSNR is the fit's "
    "own trace (against the sharp image, not shift-aligned)."
)
#: caption of the blur-formation figure, drawn from the blur-formation records
BLUR_FORMATION_CAPTION = (
    "Blur formation: how well each blur model reproduces the scenes' reference blurry "
    "images along their own camera trajectories (PSNR of the model's blurred sharp image "
    "against the reference). Grey lines join the models of one scene; black bars are "
    "means over scenes (the blur-formation table above has them with their spread)."
)
#: name -> caption.
FIGURE_CAPTIONS: dict[str, str] = {
    **{name: caption for name, (_, caption) in FIGURES.items()},
    "seed_spread": SEED_SPREAD_CAPTION,
    "convergence": CONVERGENCE_CAPTION,
    "blur_formation": BLUR_FORMATION_CAPTION,
}


def figure_png(fig: Figure) -> bytes:
    """Encode ``fig`` as PNG bytes (Agg, fixed DPI, no ``Software`` tag: deterministic)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return buffer.getvalue()


def render_figures(metrics: pd.DataFrame) -> dict[str, bytes]:
    """All :data:`FIGURES` as ``{name: PNG bytes}``, in report order; none when no fit has
    a PSNR (only scenes without a sharp image)."""
    if not _has_psnr(metrics, "psnr"):
        return {}
    return {name: figure_png(make(metrics)) for name, (make, _) in FIGURES.items()}


def write_figures(
    metrics: pd.DataFrame,
    out_dir: str | os.PathLike = layout.REPORT_FIGURES,
    convergence_table: pd.DataFrame | None = None,
    forward_records: pd.DataFrame | None = None,
) -> dict[str, bytes]:
    """Render all :data:`FIGURES` (with :func:`seed_spread` when a scene has two seeds of
    a method, :func:`convergence` when ``convergence_table`` is given and has a PSNR, and
    :func:`blur_formation` when ``forward_records`` is) and write each to
    ``<out_dir>/<name>.png`` atomically.

    Returns ``{name: PNG bytes}`` (what was written), in report order.
    """
    pngs = render_figures(metrics)
    if not seed_spreads(metrics).empty:
        pngs["seed_spread"] = figure_png(seed_spread(metrics))
    if (
        convergence_table is not None
        and not convergence_table.empty
        and _has_psnr(convergence_table, "psnr_median")
    ):
        pngs["convergence"] = figure_png(convergence(convergence_table))
    if forward_records is not None and not forward_records.empty:
        pngs["blur_formation"] = figure_png(blur_formation(forward_records))
    for name, png in pngs.items():
        with atomic_path(Path(out_dir) / f"{name}.png") as tmp:
            tmp.write_bytes(png)
    return pngs
