"""The prepare stage: dataset scenes as normalised scene records.

:func:`prepare_dataset` prepares every scene of a dataset that the experiment selects (one
job per dataset). :func:`prepare_scene` takes the dataset's validated ``datasets.<name>``
settings (the ``prepare`` command validates them and fills the schema's defaults), checks
the scene id against the registry's manifest and dispatches to the dataset's reader.
Readers of downloaded datasets read ``<root>/<registry root>``
(:func:`inrdeblur.data.registry.reader_root`) and, where the reader has a ``verify()`` and
``verify`` is set, check the folder first. Every error names the dataset and the scene id
as well as the file the reader names.

**Indexed manifests.** VirtualCMB and RealCMB scenes are listed by index (``000`` ...
``982``, ``00`` ... ``57``), because their real names are file names that only the data
has. Index ``i`` is ``list_ids(root)[i]`` of the reader (the sorted names, the row order
of the reference code's info CSVs). The record keeps the manifest id as its ``id`` and
stores the real ``name``, the ``index``, the local copy's ``local_scene_count`` and
``categories`` (the manifest's plus the registry's deferred ones, read from the data).

**Photos** (``dataset: photos``, :mod:`inrdeblur.data.photos`): the user's own blurry
photos, without sharp images. Their ids are the file names in ``root`` (``scenes: all``
takes every photo there), and :func:`prepare_dataset` reads every selected photo and the
folder's ``kernel_sizes.csv`` before it writes any scene, so bad input leaves nothing.

**Channels** (``channels: y``, :func:`luma_scene`): an RGB scene becomes the one-channel
luma Y of MATLAB ``rgb2ycbcr``, sharp and stored blurry image alike, before any
downscaling; gray datasets (Levin) are one channel already.

**Downscaling** (``max_side``, :func:`fit_max_side`): a scene whose longer side exceeds
``max_side`` is resampled to ``(round(H s), round(W s))`` with ``s = max_side / max(H,
W)``, so the longer side becomes ``max_side``; the per-axis factors are ``s_y = H'/H`` and
``s_x = W'/W``. A scene that already fits is returned unchanged.

- ``sharp`` and ``blurry``: area averaging (:func:`area_resize`), the exact box
  anti-aliasing filter: output pixel ``i`` is the mean of the source over
  ``[i / s, (i + 1) / s)``, fractional pixels weighted by their overlap.
- ``depth``: nearest sampling (:func:`nearest_resize`): output pixel ``i`` takes the
  source pixel under its centre, ``floor((i + 0.5) / s)``, as the demo dataset does.
  Averaging would invent depths between layers at occlusion edges (a pixel floating
  between a foreground edge and the background, which the layered blur models render as a
  spurious layer). Min-pooling keeps edges sharp too, but moves every occlusion edge
  towards the background by up to one output pixel, systematically fattening near
  objects; the centre sample keeps each edge within half an output pixel of its true
  place, with no bias. Depth values (metres) are unchanged.
- ``intrinsics``: both readers with geometry (VirtualCMB, RealCMB) put pixel ``i`` over
  ``[i, i + 1)`` (principal point ``W / 2`` for a centred camera), so a coordinate maps
  as ``u' = s_x u`` and ``K' = diag(s_x, s_y, 1) K``: ``fx, cx`` times ``s_x``, ``fy, cy``
  times ``s_y`` (:func:`scale_intrinsics`; with integer pixel centres it would be
  ``c' = (c + 0.5) s - 0.5``).
- ``kernel``: resampled by the same factors to an odd size and renormalised to sum 1
  (:func:`resample_kernel`). The stored blurry image and kernel are then only
  approximately consistent (downscaling and blurring commute only approximately), which
  ``attrs["resize"]["kernel_note"]`` records.
- the trajectory (metres, degrees) is unchanged; reader attrs that describe the stored
  files (kernel sizes, logged image sizes) keep describing them, except the blind
  methods' ``kernel_size_bound`` (Levin's, Lai's, a photo's), which becomes the smallest
  odd side holding the bound times the larger factor (:func:`scale_kernel_bound`; the
  original in ``attrs["resize"]``), so that it still bounds the downscaled kernel.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from inrdeblur.colour import rgb_to_y
from inrdeblur.data import registry
from inrdeblur.fileio import InputFileError
from inrdeblur.records.scene import Scene

#: Datasets whose manifest ids are indices into the reader's ``list_ids(root)``.
INDEXED_DATASETS: tuple[str, ...] = ("virtualcmb", "realcmb")

KERNEL_RESIZE_NOTE = (
    "The kernel was resampled by the image's downscaling factor (area integration, odd "
    "size, renormalised); the stored blurry image was downscaled separately, so blurry and "
    "sharp * kernel agree only approximately."
)
DEPTH_RESIZE_NOTE = (
    "nearest: each output pixel takes the depth of the source pixel under its centre "
    "(no depths invented between layers, occlusion edges within half an output pixel)"
)


class PrepareError(InputFileError):
    """A scene cannot be prepared; the message names the dataset, the id and the file."""


def prepare_scene(dataset: str, scene_id: str, settings: dict[str, Any]) -> Scene:
    """The scene record of ``dataset``/``scene_id`` under its ``datasets.<name>`` settings.

    ``settings`` is the validated, default-filled section
    (:func:`inrdeblur.config.dataset_settings` makes it from what a user wrote; the
    ``prepare`` command does). The scene is read and, with ``channels: y``, reduced to its
    luma and, with ``max_side``, downscaled (:func:`fit_max_side`).

    Raises:
        ValueError: an unknown dataset, or a scene id not in the dataset's manifest.
        PrepareError: a missing dataset folder, an index beyond the local copy, or any
            problem the reader reports (a file, a trajectory), prefixed with the dataset
            and the scene id.
    """
    _check_dataset(dataset)
    _check_scene_id(dataset, scene_id)
    try:
        scene = _read(dataset, scene_id, settings)
    except PrepareError:
        raise
    except ValueError as err:  # the id is known, so the data is at fault (file, trajectory)
        raise PrepareError(f"{dataset} scene {scene_id!r}: {err}") from err
    if settings.get("channels") == "y":
        scene = luma_scene(scene)
    if settings.get("max_side") is not None:
        scene = fit_max_side(scene, int(settings["max_side"]))
        if "resize" in scene.attrs:
            scene = _scale_kernel_bound(scene)
    return scene


def luma_scene(scene: Scene) -> Scene:
    """``scene`` with its sharp and stored blurry image reduced to the luma Y of MATLAB
    ``rgb2ycbcr`` (:func:`inrdeblur.colour.rgb_to_y`), one channel; a gray scene as is.

    The blur is linear and its kernels sum to 1, so the Y of a blurred RGB image is the
    blurred Y image: the stored blurry image stays consistent with the kernel.
    """
    if scene.channels == 1:
        return scene
    attrs = {**scene.attrs, "channels": "luma Y of MATLAB rgb2ycbcr (BT.601), one channel"}
    return dataclasses.replace(
        scene,
        sharp=None if scene.sharp is None else rgb_to_y(scene.sharp)[..., None].astype(np.float32),
        blurry=None if scene.blurry is None else rgb_to_y(scene.blurry)[..., None],
        attrs=attrs,
    )


def prepare_dataset(
    dataset: str, settings: dict[str, Any], out_dir: str | os.PathLike, progress: bool = True
) -> list[Path]:
    """:func:`prepare_scene` of every scene ``settings`` selects, saved as
    ``out_dir/<scene>.npz`` (each written atomically); the paths.

    One prepare job per dataset: reading a scene takes far less than starting a process,
    and a settings change reprepares every scene of the dataset anyway. ``settings``: the
    validated section, as for :func:`prepare_scene`.
    """
    _check_dataset(dataset)
    if dataset == "photos":  # ids from the folder; every photo read before any write
        scene_ids = _checked_photos(settings)
    else:
        scene_ids = registry.scene_ids(dataset, settings)
    for scene_id in scene_ids:  # every id first, before any file is written
        _check_scene_id(dataset, scene_id)
    paths = []
    for scene_id in tqdm(scene_ids, desc=f"prepare {dataset}", disable=not progress):
        path = Path(out_dir) / f"{scene_id}.npz"
        prepare_scene(dataset, scene_id, settings).save(path)
        paths.append(path)
    return paths


def _check_dataset(dataset: str) -> None:
    if dataset not in registry.DATASETS:
        raise ValueError(
            f"prepare: unknown dataset {dataset!r} (known: {', '.join(registry.DATASETS)})"
        )


def _check_scene_id(dataset: str, scene_id: str) -> None:
    """A ValueError unless ``scene_id`` is in the manifest (or, for gopro, well formed)."""
    try:
        if dataset == "gopro":
            from inrdeblur.data.gopro import decode_id

            decode_id(scene_id)
        elif dataset == "photos":
            if not isinstance(scene_id, str) or not registry.ID_PATTERN.match(scene_id):
                raise ValueError(
                    f"photos scene id {scene_id!r} is not a file name without suffix "
                    f"(it must match {registry.ID_PATTERN.pattern})"
                )
        else:
            registry.categories(dataset, scene_id)
    except ValueError as err:
        raise ValueError(f"prepare: {err}") from err


def _read(dataset: str, scene_id: str, settings: dict[str, Any]) -> Scene:
    if dataset == "demo":
        from inrdeblur.data.demo import make_scene

        scene = make_scene(scene_id, size=int(settings["size"]))
        scene.attrs["categories"] = registry.categories(dataset, scene_id)
        return scene
    root = _existing_root(dataset, scene_id, settings["root"])
    if dataset == "photos":
        from inrdeblur.data import photos

        return photos.make_scene(root, scene_id)
    if dataset in INDEXED_DATASETS:
        return _read_indexed(dataset, scene_id, settings, root)
    if dataset == "gopro":
        from inrdeblur.data import gopro

        if settings["verify"]:
            gopro.verify(root, blur=settings["blur"], expected_counts=gopro.GOPRO_PAIR_COUNTS)
        return gopro.make_scene(root, scene_id, blur=settings["blur"])
    if dataset == "levin":
        from inrdeblur.data import levin as reader
    elif dataset == "lai":
        from inrdeblur.data import lai as reader
    elif dataset == "kodak":
        from inrdeblur.data import kodak as reader
    else:  # a registry dataset without a reader here
        raise ValueError(f"prepare: no reader for dataset {dataset!r}")
    if settings["verify"]:
        reader.verify(root)
    scene = reader.make_scene(root, scene_id)
    scene.attrs["categories"] = registry.categories(dataset, scene_id)
    return scene


def _checked_photos(settings: dict[str, Any]) -> list[str]:
    """The selected photo ids (every photo for ``scenes: all``), after
    :func:`inrdeblur.data.photos.verify` has read each of them and ``kernel_sizes.csv``."""
    from inrdeblur.data import photos

    selected = settings.get("scenes", "all")
    folder = registry.reader_root("photos", settings["root"])
    try:
        return photos.verify(folder, None if selected == "all" else list(selected))
    except ValueError as err:
        raise PrepareError(f"photos: {err}") from err


def _scale_kernel_bound(scene: Scene) -> Scene:
    """A downscaled scene with its ``kernel_size_bound`` scaled (module docstring)."""
    bound = scene.attrs.get("kernel_size_bound")
    if bound is None:
        return scene
    resize = scene.attrs["resize"]
    scaled = min(scale_kernel_bound(bound, max(resize["scale"])), max(1, min(scene.shape)))
    scaled -= 1 - scaled % 2  # odd, within the image
    resize = {**resize, "original_kernel_size_bound": int(bound)}
    attrs = {**scene.attrs, "kernel_size_bound": scaled, "resize": resize}
    return dataclasses.replace(scene, attrs=attrs)


def scale_kernel_bound(bound: int, scale: float) -> int:
    """The smallest odd side, px, that holds a kernel of side ``bound`` scaled by ``scale``.

    >>> scale_kernel_bound(31, 0.25), scale_kernel_bound(31, 1.0), scale_kernel_bound(9, 0.05)
    (9, 31, 1)
    """
    side = max(1, math.ceil(bound * scale - 1e-9))
    return side if side % 2 else side + 1


def _existing_root(dataset: str, scene_id: str, root: str | os.PathLike) -> Path:
    folder = registry.reader_root(dataset, root)
    if not folder.is_dir():
        raise PrepareError(
            f"{dataset} scene {scene_id!r}: dataset folder {folder} not found "
            f"(datasets.{dataset}.root is {str(root)!r}; fetch the dataset there or set root "
            "to where it is)"
        )
    return folder


def indexed_name(dataset: str, scene_id: str, names: list[str], source: str) -> str:
    """The real name of manifest id ``scene_id`` (an index) among the local ``names``.

    >>> indexed_name("realcmb", "01", ["a", "b", "c"], "blurry/")
    'b'
    """
    index = int(scene_id)
    if index >= len(names):
        raise PrepareError(
            f"{dataset} scene {scene_id!r}: index {index} is beyond the local copy, which has "
            f"{len(names)} scene(s) in {source} (the published set has "
            f"{len(registry.known_scene_ids(dataset))}); ids are indices into the sorted names"
        )
    return names[index]


def _read_indexed(dataset: str, scene_id: str, settings: dict[str, Any], root: Path) -> Scene:
    if dataset == "virtualcmb":
        from inrdeblur.data import virtualcmb as reader

        source = str(root / "param_logs")
        options: dict[str, Any] = {}
    else:
        from inrdeblur.data import realcmb as reader

        source = str(root / "blurry")
        size = settings["intrinsics_size"]
        options = {"intrinsics_size": None if size is None else tuple(size)}
    names = reader.list_ids(root)
    name = indexed_name(dataset, scene_id, names, source)
    scene = reader.make_scene(root, name, repair_depth=settings["repair_depth"], **options)
    found = registry.categories(dataset, scene_id)
    deferred = registry.deferred_categories(dataset)
    if deferred:
        from_data = reader.categories(root, name)
        found.update({key: from_data[key] for key in deferred})
    scene.id = scene_id
    scene.attrs.update(
        name=name,
        index=int(scene_id),
        local_scene_count=len(names),
        categories=found,
    )
    published = len(registry.known_scene_ids(dataset))
    if len(names) != published:
        scene.attrs["index_note"] = (
            f"the local copy has {len(names)} scenes, the published set {published}: index "
            f"{int(scene_id)} may not be row {int(scene_id)} of the reference's info CSV"
        )
    return scene


# --------------------------------------------------------------------------- downscaling


def target_shape(shape: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(H', W') with the longer side ``max_side``; ``shape`` itself when it already fits.

    >>> target_shape((720, 1280), 512), target_shape((255, 255), 300)
    ((288, 512), (255, 255))
    """
    height, width = (int(v) for v in shape)
    if max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) rows summing to 1: overlap of source pixel ``j`` = ``[j, j + 1)`` with
    output pixel ``i``'s footprint ``[i n_in / n_out, (i + 1) n_in / n_out)``."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    start, stop = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(j + 1, stop) - np.maximum(j, start), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def area_resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` (H, W) or (H, W, C) area-averaged to ``shape`` (H', W'), float32.

    Exact box filtering: each output pixel is the mean of the source over its footprint
    (fractional source pixels weighted by their overlap), so a constant stays constant and
    the mean intensity is kept. Meant for downscaling.
    """
    array = np.asarray(image, dtype=np.float64)
    rows = _area_weights(array.shape[0], int(shape[0]))
    cols = _area_weights(array.shape[1], int(shape[1]))
    out = np.tensordot(rows, array, axes=(1, 0))  # (H', W, ...)
    out = np.moveaxis(np.tensordot(cols, out, axes=(1, 1)), 0, 1)  # (H', W', ...)
    return out.astype(np.float32)


def nearest_resize(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``array`` (H, W[, ...]) sampled at the source pixel under each output pixel's centre:
    row ``floor((i + 0.5) H / H')``, column likewise."""
    height, width = array.shape[:2]
    rows = np.minimum(np.floor((np.arange(shape[0]) + 0.5) * height / shape[0]), height - 1)
    cols = np.minimum(np.floor((np.arange(shape[1]) + 0.5) * width / shape[1]), width - 1)
    return array[rows.astype(np.int64)[:, None], cols.astype(np.int64)[None, :]]


def scale_intrinsics(
    intrinsics: np.ndarray, scale_y: float, scale_x: float, convention: str = "corner"
) -> np.ndarray:
    """K (3, 3) px of an image resampled by ``scale_x`` (columns) and ``scale_y`` (rows).

    ``convention`` is the readers' pixel convention: ``"corner"`` (pixel ``i`` covers
    ``[i, i + 1)``; both CMB readers): ``fx, cx`` times ``scale_x``, ``fy, cy`` times
    ``scale_y``. ``"centre"`` (pixel centres at integers; the demo set): focal lengths
    likewise, principal point ``(c + 0.5) s - 0.5``.

    >>> scale_intrinsics(np.array([[100.0, 0, 40], [0, 100, 30], [0, 0, 1]]), 0.5, 0.5)[:2]
    array([[50.,  0., 20.],
           [ 0., 50., 15.]])
    """
    k = np.array(intrinsics, dtype=np.float64)
    out = np.diag([scale_x, scale_y, 1.0]) @ k
    if convention == "centre":
        out[0, 2] = (k[0, 2] + 0.5) * scale_x - 0.5
        out[1, 2] = (k[1, 2] + 0.5) * scale_y - 0.5
    elif convention != "corner":
        raise ValueError(f"unknown pixel convention {convention!r}; use 'corner' or 'centre'")
    return out


def _kernel_weights(n_in: int, scale: float) -> np.ndarray:
    """(n_out, n_in) overlaps, in source pixels, of the scaled source pixels with the output
    pixels, both centred on the kernel centre; ``n_out`` is odd."""
    half = max(0, math.ceil(scale * n_in / 2 - 0.5 - 1e-9))
    n_out = 2 * half + 1
    centre_in = (n_in - 1) / 2
    j = np.arange(n_in)[None, :]
    start, stop = (j - centre_in - 0.5) * scale, (j - centre_in + 0.5) * scale
    i = np.arange(n_out)[:, None] - half
    overlap = np.clip(np.minimum(i + 0.5, stop) - np.maximum(i - 0.5, start), 0.0, None)
    return overlap / scale


def resample_kernel(kernel: np.ndarray, scale_y: float, scale_x: float) -> np.ndarray:
    """``kernel`` (k_h, k_w) for an image downscaled by ``scale_y`` x ``scale_x``: odd
    (k_h', k_w'), float32, summing to 1.

    The kernel is taken as piecewise constant over its pixels, centred on its middle
    (``(k - 1) / 2``); it is shrunk by the factors about that centre and integrated over
    the output pixels, whose centre pixel sits on the same point. The output side is the
    smallest odd one that holds the shrunk support. At scale 1 an odd kernel is unchanged.
    """
    k = np.asarray(kernel, dtype=np.float64)
    rows = _kernel_weights(k.shape[0], float(scale_y))
    cols = _kernel_weights(k.shape[1], float(scale_x))
    out = rows @ k @ cols.T
    return (out / out.sum()).astype(np.float32)


def fit_max_side(scene: Scene, max_side: int, convention: str = "corner") -> Scene:
    """``scene`` downscaled so that its longer side is ``max_side`` (module docstring).

    A scene that already fits is returned as it is. ``convention`` is the pixel convention
    of the scene's intrinsics (:func:`scale_intrinsics`). The result's
    ``attrs["resize"]`` records the sizes, the factors and the methods.
    """
    shape = scene.shape
    new_shape = target_shape(shape, max_side)
    if new_shape == shape:
        return scene
    scale_y, scale_x = new_shape[0] / shape[0], new_shape[1] / shape[1]
    record: dict[str, Any] = {
        "max_side": int(max_side),
        "original_shape": list(shape),
        "shape": list(new_shape),
        "scale": [scale_y, scale_x],
        "images": "area average",
    }
    depth = intrinsics = kernel = None
    if scene.depth is not None:
        depth = nearest_resize(scene.depth, new_shape)
        record["depth"] = DEPTH_RESIZE_NOTE
    if scene.intrinsics is not None:
        intrinsics = scale_intrinsics(scene.intrinsics, scale_y, scale_x, convention)
        record["intrinsics"] = f"scaled by (s_x, s_y), {convention} pixel convention"
        record["original_intrinsics"] = np.asarray(scene.intrinsics).tolist()
    if scene.kernel is not None:
        kernel = resample_kernel(scene.kernel, scale_y, scale_x)
        record["original_kernel_shape"] = list(scene.kernel.shape)
        record["kernel_note"] = KERNEL_RESIZE_NOTE
    return Scene(
        dataset=scene.dataset,
        id=scene.id,
        sharp=None if scene.sharp is None else np.clip(area_resize(scene.sharp, new_shape), 0, 1),
        depth=depth,
        trajectory=scene.trajectory,
        intrinsics=intrinsics,
        blurry=None
        if scene.blurry is None
        else np.clip(area_resize(scene.blurry, new_shape), 0, 1),
        kernel=kernel,
        attrs={**scene.attrs, "resize": record},
    )
