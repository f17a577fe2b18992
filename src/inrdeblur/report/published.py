"""Published figures, shown in the report beside ours where the protocol matches.

``published_results.csv`` (package data) holds the numbers the papers report, one row per
method and table: the source key (``<paper>_T<table>``), the citation and table number,
the dataset and subset (``all_32``, a Lai category, ...), the task, the method, PSNR, SSIM,
LPIPS x 1e4 (as the thesis reports it), time per image (s), model size (MB), the error
ratio, and the protocol note that must travel with the number (e.g. the thesis' SSIM with
``data_range=2``). They are quoted, never computed here.

A published row belongs beside one of our (dataset, blur) results when both measure the
same thing (:func:`matching_rows`):

- the dataset is the paper's (:data:`DATASETS`: ``levin`` is "Levin", ``lai`` is
  "Lai_uniform", ``realcmb`` and ``virtualcmb`` the thesis' CMB sets);
- the observation is the dataset's stored blurred image (``observation: scene``): every
  published figure here was measured on those, so a synthesised observation matches none;
- the forward model is the paper's: ``model: uniform`` with ``kernel: scene`` for the
  Levin and Lai tasks ``nonblind_uniform`` (known kernel) and ``blind_uniform``;
  ``model: icb`` for the thesis' ``nonblind_icb``.

Levin's and Lai's figures use the shift-aligned protocol (:data:`ALIGNED_DATASETS`), so
they are compared with our aligned PSNR and SSIM; the thesis' with the plain ones.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

#: the columns of published_results.csv, in order
COLUMNS = (
    "source", "citation", "table", "dataset", "subset", "task", "method", "psnr", "ssim",
    "lpips_x1e4", "time_s", "size_mb", "error_ratio", "protocol_note",
)  # fmt: skip
_NUMBERS = ("psnr", "ssim", "lpips_x1e4", "time_s", "size_mb", "error_ratio")
#: our dataset names -> the name in published_results.csv
DATASETS = {
    "levin": "Levin",
    "lai": "Lai_uniform",
    "realcmb": "RealCMB",
    "virtualcmb": "VirtualCMB",
}
#: published datasets whose figures are shift-aligned (comp_upto_shift, Levin et al. 2009)
ALIGNED_DATASETS = frozenset({"Levin", "Lai_uniform"})
#: the published tasks each of our forward models measures (with the stored observation)
TASKS = {
    "uniform": frozenset({"nonblind_uniform", "blind_uniform"}),
    "icb": frozenset({"nonblind_icb"}),
}


@dataclass(frozen=True)
class PublishedRow:
    """One published figure; numbers are NaN where the paper gives none."""

    source: str
    citation: str
    table: str
    dataset: str
    subset: str
    task: str
    method: str
    psnr: float
    ssim: float
    lpips_x1e4: float
    time_s: float
    size_mb: float
    error_ratio: float
    protocol_note: str

    @property
    def aligned(self) -> bool:
        """Whether the figure is shift-aligned (compare with our aligned metrics)."""
        return self.dataset in ALIGNED_DATASETS

    @property
    def label(self) -> str:
        """``method (task, subset)``, as the report shows it."""
        task = self.task.replace("_", " ")
        return f"{self.method} ({task}, {self.subset.replace('_', ' ')})"


def _number(text: str, where: str, column: str) -> float:
    if text.strip() == "":
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: column {column!r} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: column {column!r} is not finite: {text!r}")
    return value


def parse_published(text: str, name: str = "published_results.csv") -> list[PublishedRow]:
    """Rows of a published-results CSV (the columns of :data:`COLUMNS`).

    Raises:
        ValueError: the header differs, or a number column holds something else (names
            ``name`` and the line).
    """
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ValueError(f"{name}: columns must be {', '.join(COLUMNS)}; got {reader.fieldnames}")
    rows = []
    for line, record in enumerate(reader, start=2):
        where = f"{name}, line {line}"
        if any(record[c] is None for c in COLUMNS) or None in record:
            raise ValueError(f"{where}: expected {len(COLUMNS)} fields")
        values: dict[str, Any] = {c: record[c].strip() for c in COLUMNS}
        for column in _NUMBERS:
            values[column] = _number(record[column], where, column)
        if not values["source"] or not values["method"] or not values["dataset"]:
            raise ValueError(f"{where}: source, dataset and method must not be empty")
        rows.append(PublishedRow(**values))
    return rows


def load_published() -> list[PublishedRow]:
    """The package's published_results.csv."""
    text = resources.files(__package__).joinpath("published_results.csv").read_text("utf-8")
    return parse_published(text)


def matching_rows(
    dataset: str, blur: dict[str, Any], rows: list[PublishedRow]
) -> list[PublishedRow]:
    """The published rows measured on the same data with the same forward model as our
    ``dataset`` under the blur settings ``blur`` (``blurs.<name>`` of params.yaml); see
    the module docstring."""
    name = DATASETS.get(dataset)
    if name is None or blur.get("observation", "synthesize") != "scene":
        return []
    model = blur.get("model")
    if model == "uniform" and blur.get("kernel") != "scene":
        return []
    tasks = TASKS.get(model, frozenset())
    return [row for row in rows if row.dataset == name and row.task in tasks]
