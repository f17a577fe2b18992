"""The convergence table against hand-computed medians and quartiles, its thinning, its
file round trip, and the figure drawn from it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from inrdeblur.fileio import InputFileError
from inrdeblur.metrics.convergence import (
    CONVERGENCE_COLUMNS,
    concat_convergence,
    convergence_summary,
    read_convergence,
    read_trace,
    write_convergence,
)
from inrdeblur.report import figures


def trace(psnrs: list[float], seconds: list[float]) -> pd.DataFrame:
    n = len(psnrs)
    return pd.DataFrame(
        {"iteration": range(1, n + 1), "psnr": psnrs, "seconds": seconds, "loss": [0.0] * n}
    )


def test_medians_and_quartiles_per_iteration():
    traces = [
        trace([20.0, 24.0], [1.0, 2.0]),
        trace([22.0, 25.0], [3.0, 6.0]),
        trace([21.0, 30.0], [2.0, 4.0]),
        trace([23.0, 26.0], [1.5, 3.0]),
    ]
    table = convergence_summary(traces, "demo", "motion", "siren_tv")
    assert tuple(table.columns) == CONVERGENCE_COLUMNS
    assert table["iteration"].tolist() == [1, 2] and table["n_fits"].tolist() == [4, 4]
    first, second = table.to_dict("records")
    # PSNRs 20, 21, 22, 23: median 21.5; quartiles by linear interpolation at positions
    # 0.75 and 2.25 of the sorted values: 20.75 and 22.25. Times 1, 1.5, 2, 3: median 1.75.
    assert (first["psnr_median"], first["psnr_q25"], first["psnr_q75"]) == (21.5, 20.75, 22.25)
    assert first["seconds"] == 1.75
    # 24, 25, 26, 30: median 25.5, quartiles 24.75 and 27; times 2, 3, 4, 6: median 3.5
    assert (second["psnr_median"], second["psnr_q25"], second["psnr_q75"]) == (25.5, 24.75, 27.0)
    assert second["seconds"] == 3.5
    assert {first["dataset"], first["blur"], first["method"]} == {"demo", "motion", "siren_tv"}


def test_a_fit_that_stopped_early_counts_with_its_final_estimate():
    # Fit 2 stops after iteration 2 (a converged solver); later it counts as 30 dB at 2 s.
    traces = [
        trace([20.0, 24.0, 26.0, 27.0], [1.0, 2.0, 3.0, 4.0]),
        trace([22.0, 30.0], [1.0, 2.0]),
    ]
    table = convergence_summary(traces, "d", "b", "m").set_index("iteration")
    assert table["n_fits"].tolist() == [2, 2, 1, 1]  # still running
    assert table.loc[3, "psnr_median"] == (26.0 + 30.0) / 2
    assert table.loc[4, "psnr_median"] == (27.0 + 30.0) / 2  # the two final PSNRs
    assert table.loc[4, "seconds"] == (4.0 + 2.0) / 2
    assert table.loc[4, "psnr_q25"] == 27.0 + 0.25 * 3.0


def test_nan_psnr_is_left_out_of_the_quantiles():
    traces = [trace([20.0, 24.0], [1.0, 2.0]), trace([22.0, math.nan], [1.0, 2.0])]
    table = convergence_summary(traces, "d", "b", "m").set_index("iteration")
    assert table.loc[2, "psnr_median"] == 24.0 and table.loc[2, "n_fits"] == 2
    assert table.loc[1, "psnr_median"] == 21.0


def test_long_fits_are_thinned_to_evenly_spaced_iterations_with_both_ends():
    n = 1000
    psnr = list(np.linspace(20, 30, n))
    table = convergence_summary([trace(psnr, list(range(n)))], "d", "b", "m", max_points=100)
    iterations = table["iteration"].tolist()
    assert len(iterations) == 100 and iterations[0] == 1 and iterations[-1] == n
    assert len(set(np.diff(iterations))) <= 2  # evenly spaced up to rounding
    assert table["psnr_median"].iloc[-1] == pytest.approx(30.0)


def test_tables_round_trip_and_concatenate_sorted(tmp_path):
    a = convergence_summary([trace([20.0], [0.5])], "demo", "parallax", "siren_tv")
    b = convergence_summary([trace([21.0], [0.25])], "demo", "motion", "tikhonov")
    table = concat_convergence([a, b, convergence_summary([], "x", "y", "z")])
    assert table["blur"].tolist() == ["motion", "parallax"]
    path = tmp_path / "c.csv"
    write_convergence(path, table)
    pd.testing.assert_frame_equal(read_convergence(path), table, check_dtype=False)
    assert concat_convergence([]).empty


def test_bad_files_are_named(tmp_path):
    with pytest.raises(InputFileError, match="trace not found"):
        read_trace(tmp_path / "nope.csv")
    bad = tmp_path / "trace.csv"
    bad.write_text("iteration,loss\n1,0.5\n")
    with pytest.raises(InputFileError, match=r"trace\.csv: trace lacks column\(s\) psnr, seconds"):
        read_trace(bad)
    other = tmp_path / "c.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(InputFileError, match="c.csv: columns must be"):
        read_convergence(other)


def test_the_figure_has_a_panel_per_blur_and_a_line_and_band_per_method():
    table = concat_convergence(
        [
            convergence_summary([trace([20.0, 25.0], [1.0, 2.0])], "demo", blur, method)
            for blur in ("motion", "parallax")
            for method in ("siren_tv", "tikhonov")
        ]
    )
    fig = figures.convergence(table)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["demo / motion", "demo / parallax"]
    for ax in axes:
        assert len(ax.lines) == 2 and len(ax.collections) == 2  # medians, IQR bands
        np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1.0, 2.0])
        np.testing.assert_array_equal(ax.lines[0].get_ydata(), [20.0, 25.0])
    assert figures.figure_png(fig).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="empty"):
        figures.convergence(concat_convergence([]))
