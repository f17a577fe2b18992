"""The prepare stage: one dataset scene as a normalised scene record.

:func:`prepare_scene` dispatches on the dataset name to its reader. Readers of
downloaded datasets read the dataset's folder (``datasets.<name>.root``) and, when
``datasets.<name>.verify`` is set, check it against its checksums first.
"""

from __future__ import annotations

from typing import Any

from inrdeblur.data.registry import DATASETS
from inrdeblur.data.scene import Scene


def prepare_scene(dataset: str, scene_id: str, settings: dict[str, Any]) -> Scene:
    """The scene record of ``dataset``/``scene_id`` under validated ``datasets.<name>``."""
    if dataset == "demo":
        from inrdeblur.data.demo import make_scene

        return make_scene(scene_id, size=int(settings["size"]))
    if dataset == "levin":
        from inrdeblur.data import levin

        if settings.get("verify", True):
            levin.verify(settings["root"])
        return levin.make_scene(settings["root"], scene_id)
    raise ValueError(f"prepare: unknown dataset {dataset!r} (known: {', '.join(DATASETS)})")
