"""Changes since the last committed results: the report's view of ``dvc metrics diff``.

``results/metrics.json`` (:data:`inrdeblur.layout.METRICS_JSON`) is a DVC metrics file kept
in git, not in the DVC cache, so the version committed at ``HEAD`` is the previous result
of every dataset, blur and method. :func:`metric_changes` compares it with the current
one, quantity by quantity, as ``dvc metrics diff`` does (HEAD against the workspace).

>>> old = {"demo": {"motion": {"tv": {"psnr": 28.0, "ssim": 0.8}}}}
>>> new = {"demo": {"motion": {"tv": {"psnr": 28.5, "ssim": 0.8}, "rl": {"psnr": 27.0}}}}
>>> [(r["method"], r["quantity"], r["change"]) for r in metric_changes(old, new)]
[('rl', 'psnr', 'new'), ('tv', 'psnr', 0.5)]
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from typing import Any

from inrdeblur import layout

__all__ = ["COMPARED", "committed_metrics", "metric_changes"]

#: quantities of metrics.json the report compares, in column order
COMPARED = ("psnr", "ssim", "lpips", "psnr_aligned", "time_s")


def committed_metrics(
    root: str | os.PathLike = ".", path: str = layout.METRICS_JSON, rev: str = "HEAD"
) -> dict[str, Any] | None:
    """``path`` as committed at ``rev`` of the git repository at ``root``; None when
    ``root`` is not a git checkout, or ``rev`` has no such file or no valid JSON there."""
    try:
        result = subprocess.run(
            ["git", "show", f"{rev}:./{path}"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        data = json.loads(result.stdout)
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _leaves(metrics: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (dataset, blur, method): leaf
        for dataset, by_blur in metrics.items()
        if isinstance(by_blur, dict)
        for blur, by_method in by_blur.items()
        if isinstance(by_method, dict)
        for method, leaf in by_method.items()
        if isinstance(leaf, dict)
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def metric_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Every quantity of :data:`COMPARED` that differs between two metrics.json contents.

    One row per (dataset, blur, method, quantity) with ``old``, ``new`` (None when absent
    or null) and ``change``: ``new - old``, or ``"new"`` / ``"removed"`` when only one
    side has a number. Rows are sorted by dataset, blur, method and :data:`COMPARED` order;
    unchanged quantities are left out.
    """
    before, after = _leaves(old), _leaves(new)
    rows = []
    for key in sorted(set(before) | set(after)):
        for quantity in COMPARED:
            a = _number(before.get(key, {}).get(quantity))
            b = _number(after.get(key, {}).get(quantity))
            if a is None and b is None or a == b:
                continue
            change: float | str = "new" if a is None else "removed" if b is None else b - a
            dataset, blur, method = key
            rows.append(
                {
                    "dataset": dataset,
                    "blur": blur,
                    "method": method,
                    "quantity": quantity,
                    "old": a,
                    "new": b,
                    "change": change,
                }
            )
    return rows
