"""Which scenes each dataset has, known before anything is generated or downloaded."""

from __future__ import annotations

from typing import Any

DATASETS = ("demo", "levin")
#: datasets whose scenes carry depth, a trajectory, intrinsics and a reference blurry image
WITH_REFERENCE_BLUR = ("demo",)
#: datasets whose scenes carry a stored blurry image (``observation: scene`` blurs)
WITH_BLURRY = ("demo", "levin")
#: datasets whose scenes carry their true blur kernel (``kernel: scene`` blurs)
WITH_KERNEL = ("levin",)


def known_scene_ids(dataset: str) -> list[str]:
    """Every scene id of ``dataset``'s manifest, in the dataset's order."""
    if dataset == "demo":
        from inrdeblur.data.demo import SCENE_IDS
    elif dataset == "levin":
        from inrdeblur.data.levin import SCENE_IDS
    else:
        raise ValueError(f"unknown dataset {dataset!r} (known: {', '.join(DATASETS)})")
    return list(SCENE_IDS)


def scene_ids(dataset: str, settings: dict[str, Any]) -> list[str]:
    """Scene ids of ``dataset`` selected by its validated ``datasets.<name>`` settings."""
    selected = settings.get("scenes", "all")
    return known_scene_ids(dataset) if selected == "all" else list(selected)


def has_reference_blur(dataset: str) -> bool:
    """True when every scene of ``dataset`` can enter the blur-formation experiment."""
    return dataset in WITH_REFERENCE_BLUR
