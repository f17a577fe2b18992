"""Images of the visual grid: large scenes embedded downscaled by block means, error maps
as lossless palette PNGs of the same colours."""

from __future__ import annotations

import base64
import io

import matplotlib
import numpy as np
import pandas as pd
from PIL import Image

from inrdeblur.fileio import encode_palette_png
from inrdeblur.metrics.errormap import colour_error, error_indices, error_map
from inrdeblur.report.html import GridRow, _grid_tables, area_downscale, thumbnail_factor


def _decode(uri: str) -> np.ndarray:
    header, data = uri.split(",", 1)
    assert header == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def test_thumbnail_factor_is_the_smallest_that_fits() -> None:
    assert thumbnail_factor((320, 200, 3), 320) == 1
    assert thumbnail_factor((321, 200, 3), 320) == 2
    assert thumbnail_factor((720, 1280, 3), 320) == 4
    for side in range(1, 2000, 37):
        factor = thumbnail_factor((side, 5), 320)
        assert side / factor <= 320 and (factor == 1 or side / (factor - 1) > 320)


def test_area_downscale_is_the_block_mean() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((11, 7, 3))
    small = area_downscale(image, 3)
    assert small.shape == (3, 2, 3)
    for i in range(3):
        for j in range(2):
            block = image[3 * i : 3 * i + 3, 3 * j : 3 * j + 3]
            assert np.allclose(small[i, j], block.mean(axis=(0, 1)))


def test_palette_error_map_has_the_rgb_colours() -> None:
    rng = np.random.default_rng(1)
    error = np.abs(rng.normal(0, 0.1, (40, 50)))
    error[0, 0], error[0, 1] = 0.0, 5.0  # both ends of the scale
    indices, palette = error_indices(error, vmax=0.2)
    # matplotlib's own colouring of the map, independent of the index lookup
    rgb = matplotlib.colormaps["hot"](np.clip(error / 0.2, 0.0, 1.0))[..., :3]
    assert np.array_equal(palette[indices], rgb)
    assert np.array_equal(colour_error(error, vmax=0.2), rgb)
    decoded = np.asarray(
        Image.open(io.BytesIO(encode_palette_png(indices, palette))).convert("RGB")
    )
    assert np.array_equal(decoded, np.round(rgb * 255).astype(np.uint8))


def test_grid_embeds_large_scenes_downscaled() -> None:
    rng = np.random.default_rng(2)
    sharp = rng.random((700, 130, 3)).astype(np.float32)
    blurry = np.clip(sharp + 0.1, 0, 1).astype(np.float32)
    estimate = np.clip(sharp + rng.normal(0, 0.05, sharp.shape), 0, 1).astype(np.float32)
    row = GridRow("d", "b", "s", 0, ["m"], sharp, blurry, {"m": estimate})
    metrics = pd.DataFrame(
        [{"dataset": "d", "blur": "b", "method": "m", "scene": "s", "seed": 0, "psnr": 30.0,
          "psnr_blurry": 20.0}]
    )  # fmt: skip
    (table,) = _grid_tables([row], metrics, thumbnail_px=320)
    (cells,) = table["rows"]
    assert cells["factor"] == 3 and cells["shape"] == "130×700"
    shown = _decode(cells["cells"]["m"]["estimate"])
    assert shown.shape == (233, 43, 3)
    assert np.array_equal(shown, np.round(area_downscale(estimate, 3) * 255).astype(np.uint8))
    # The error map is the block mean of the full-resolution error, then coloured.
    error = _decode(cells["cells"]["m"]["error"])
    expected = colour_error(area_downscale(error_map(estimate, sharp), 3), vmax=0.2)
    assert np.array_equal(error, np.round(expected * 255).astype(np.uint8))
    assert _decode(cells["sharp"]).shape == (233, 43, 3)
    # A small scene is embedded as it is.
    small = GridRow("d", "b", "s", 0, ["m"], sharp[:64, :64], blurry[:64, :64],
                    {"m": estimate[:64, :64]})  # fmt: skip
    (table,) = _grid_tables([small], metrics, thumbnail_px=320)
    assert table["rows"][0]["factor"] == 1
    assert _decode(table["rows"][0]["cells"]["m"]["estimate"]).shape == (64, 64, 3)
