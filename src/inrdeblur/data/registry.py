"""Which scenes each dataset has, known before anything is generated or downloaded."""

from __future__ import annotations

from typing import Any

DATASETS = ("demo",)
#: datasets whose scenes carry depth, a trajectory, intrinsics and a reference blurry image
WITH_REFERENCE_BLUR = ("demo",)


def scene_ids(dataset: str, settings: dict[str, Any]) -> list[str]:
    """Scene ids of ``dataset`` selected by its validated ``datasets.<name>`` settings."""
    if dataset == "demo":
        from inrdeblur.data.demo import SCENE_IDS

        selected = settings.get("scenes", "all")
        return list(SCENE_IDS) if selected == "all" else list(selected)
    raise ValueError(f"unknown dataset {dataset!r} (known: {', '.join(DATASETS)})")


def has_reference_blur(dataset: str) -> bool:
    """True when every scene of ``dataset`` can enter the blur-formation experiment."""
    return dataset in WITH_REFERENCE_BLUR
