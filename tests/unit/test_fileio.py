"""Atomic writes leave nothing half-written; readers name the file in every error."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from inrdeblur.fileio import (
    InputFileError,
    atomic_path,
    read_image,
    read_json,
    read_npz,
    write_json,
    write_png,
)


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out" / "result.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_write_json_turns_nan_into_null(tmp_path):
    write_json(tmp_path / "m.json", {"lpips": float("nan"), "psnr": np.float32(20.5)})
    assert read_json(tmp_path / "m.json") == {"lpips": None, "psnr": 20.5}


def test_png_round_trip_quantises_to_8_bit(tmp_path):
    image = np.linspace(0, 1, 4 * 5 * 3).reshape(4, 5, 3)
    write_png(tmp_path / "x.png", image)
    back = read_image(tmp_path / "x.png")
    assert np.abs(back - image).max() <= 0.5 / 255 + 1e-7


def test_corrupt_image_names_the_file(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(InputFileError, match="broken.png: not a readable image"):
        read_image(path)


def test_missing_files_are_named(tmp_path):
    for reader in (read_image, read_npz, read_json):
        with pytest.raises(InputFileError, match="nothere"):
            reader(tmp_path / "nothere")


def test_non_finite_png_is_refused(tmp_path):
    with pytest.raises(ValueError, match="non-finite"):
        write_png(tmp_path / "nan.png", np.full((2, 2), np.nan))
    assert not (tmp_path / "nan.png").exists()


def test_outputs_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
