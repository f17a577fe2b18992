"""Convergence: how each method's PSNR grows with iterations and wall time, over its fits.

Every fit writes a trace (``trace.csv``: iteration, loss, psnr, seconds, ...; see
:mod:`inrdeblur.fit.run`). One evaluate job summarises the traces of its evaluation set
(one method on one blur of one dataset, every scene and seed) into one convergence table
(:func:`convergence_summary`), written to :data:`inrdeblur.layout.CONVERGENCE_SET`; the
aggregate stage concatenates them into :data:`inrdeblur.layout.CONVERGENCE_TABLE`, which the
report draws (PSNR against wall time, median and interquartile band over fits).

Columns (:data:`CONVERGENCE_COLUMNS`): ``dataset``, ``blur``, ``method``, ``iteration``,
``n_fits`` (the fits still running at that iteration), ``seconds`` (the median wall time
at it), ``psnr_median``, ``psnr_q25``, ``psnr_q75`` (PSNR of the estimate against the sharp
image, the same image the fit sees: the trace's own PSNR, not the evaluate stage's). A fit
that stopped before the others (a solver that met its tolerance) counts at the later
iterations with its final PSNR and time, the estimate it delivered: so the statistics are
always over every fit of the set, and the last row's median is the median final PSNR,
not that of the slowest fits alone. Rows are thinned to at most :data:`MAX_POINTS`
iterations per set, evenly spaced, the first and last always kept, so a table stays small
however long the fits ran.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from inrdeblur.fileio import InputFileError, write_text
from inrdeblur.metrics.tables import read_table, to_csv

#: columns of a convergence table, in order
CONVERGENCE_COLUMNS = (
    "dataset", "blur", "method", "iteration", "n_fits", "seconds", "psnr_median", "psnr_q25",
    "psnr_q75",
)  # fmt: skip
#: most iterations kept per evaluation set
MAX_POINTS = 100
_TRACE_NEEDS = ("iteration", "psnr", "seconds")
#: column types of a convergence table that the metrics tables do not already define
_DTYPES = {
    "iteration": "int64", "n_fits": "int64", "seconds": "float64", "psnr_median": "float64",
    "psnr_q25": "float64", "psnr_q75": "float64",
}  # fmt: skip


def read_trace(path: str | os.PathLike) -> pd.DataFrame:
    """The ``iteration``, ``psnr`` and ``seconds`` columns of a fit's trace.csv.

    Raises:
        InputFileError: the file is missing, unreadable or lacks one of those columns.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: trace not found")
    try:
        trace = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as err:
        raise InputFileError(f"{path}: not a readable trace ({err})") from err
    missing = [c for c in _TRACE_NEEDS if c not in trace.columns]
    if missing:
        raise InputFileError(f"{path}: trace lacks column(s) {', '.join(missing)}")
    return trace[list(_TRACE_NEEDS)]


def _thin(iterations: np.ndarray, max_points: int) -> np.ndarray:
    """At most ``max_points`` of the sorted ``iterations``, evenly spaced, ends kept."""
    if len(iterations) <= max_points:
        return iterations
    keep = np.unique(np.round(np.linspace(0, len(iterations) - 1, max_points)).astype(int))
    return iterations[keep]


def convergence_summary(
    traces: Iterable[pd.DataFrame],
    dataset: str,
    blur: str,
    method: str,
    max_points: int = MAX_POINTS,
) -> pd.DataFrame:
    """The convergence table of one evaluation set from the traces of its fits.

    Per iteration: the number of fits still running, the median wall time, and the
    median and quartiles (linear interpolation, as :func:`numpy.quantile`) of the PSNR
    over every fit, a finished fit with its final values (module docstring); NaN PSNRs (a
    fit without a sharp image) are left out of the quantiles. Thinned to ``max_points``
    iterations.
    """
    traces = [t.sort_values("iteration") for t in traces if not t.empty]
    if not traces:
        return pd.DataFrame(columns=list(CONVERGENCE_COLUMNS))
    iterations = np.unique(np.concatenate([t["iteration"].to_numpy() for t in traces]))
    psnr = np.full((len(iterations), len(traces)), np.nan)
    seconds = np.full((len(iterations), len(traces)), np.nan)
    running = np.zeros((len(iterations), len(traces)), dtype=bool)
    for j, trace in enumerate(traces):
        rows = np.searchsorted(iterations, trace["iteration"].to_numpy())
        psnr[rows, j] = trace["psnr"].to_numpy(dtype=np.float64)
        seconds[rows, j] = trace["seconds"].to_numpy(dtype=np.float64)
        running[rows, j] = True
        after = slice(rows[-1] + 1, None)  # a finished fit keeps its final estimate
        psnr[after, j], seconds[after, j] = psnr[rows[-1], j], seconds[rows[-1], j]
    out = []
    for i in np.searchsorted(iterations, _thin(iterations, max_points)):
        values = psnr[i][np.isfinite(psnr[i])]
        q25, median, q75 = (
            np.quantile(values, [0.25, 0.5, 0.75]) if values.size else (math.nan,) * 3
        )
        out.append(
            {
                "dataset": dataset,
                "blur": blur,
                "method": method,
                "iteration": int(iterations[i]),
                "n_fits": int(running[i].sum()),
                "seconds": float(np.nanmedian(seconds[i])),
                "psnr_median": float(median),
                "psnr_q25": float(q25),
                "psnr_q75": float(q75),
            }
        )
    return pd.DataFrame(out, columns=list(CONVERGENCE_COLUMNS))


def concat_convergence(tables: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The convergence tables of several sets as one, sorted by dataset, blur, method."""
    frames = [t for t in tables if not t.empty]
    if not frames:
        return pd.DataFrame(columns=list(CONVERGENCE_COLUMNS))
    table = pd.concat(frames, ignore_index=True)[list(CONVERGENCE_COLUMNS)]
    return table.sort_values(["dataset", "blur", "method", "iteration"], kind="stable").reset_index(
        drop=True
    )


def read_convergence(path: str | os.PathLike) -> pd.DataFrame:
    """A convergence table written by :func:`write_convergence`, read exactly
    (:func:`~inrdeblur.metrics.tables.read_table`).

    Raises:
        InputFileError: missing, unreadable, or with other columns.
    """
    table = read_table(path, _DTYPES)
    if tuple(table.columns) != CONVERGENCE_COLUMNS:
        raise InputFileError(
            f"{path}: columns must be {', '.join(CONVERGENCE_COLUMNS)}; got {list(table.columns)}"
        )
    return table


def write_convergence(path: str | os.PathLike, table: pd.DataFrame) -> None:
    """Write ``table`` as CSV atomically, floats round-tripping exactly
    (:func:`~inrdeblur.metrics.tables.to_csv`)."""
    write_text(path, to_csv(table))
