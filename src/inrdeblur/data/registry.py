"""Which scenes each dataset has, known before anything is generated or downloaded."""

from __future__ import annotations

from typing import Any

DATASETS = ("demo",)


def scene_ids(dataset: str, settings: dict[str, Any]) -> list[str]:
    """Scene ids of ``dataset`` selected by its validated ``datasets.<name>`` settings."""
    if dataset == "demo":
        from inrdeblur.data.demo import SCENE_IDS

        selected = settings.get("scenes", "all")
        return list(SCENE_IDS) if selected == "all" else list(selected)
    raise ValueError(f"unknown dataset {dataset!r} (known: {', '.join(DATASETS)})")
