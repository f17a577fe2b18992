"""Tests for ``inrdeblur fetch`` on real files: the CLI as the workflow calls it.

Levin comes from the shared reference copy as a mirror (a folder and a ``file://`` URL);
its expected hashes are read from that copy's own ``SHA256SUMS`` and checked with
``hashlib``, and the written ``SHA256SUMS`` is checked by the readers' own ``verify``.
The LPIPS backbone is only tested failing: no file with the published name prefix can be
made here.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import pytest
from support import LEVIN_DIR

from inrdeblur.cli import main
from inrdeblur.data import lai, levin
from inrdeblur.data.download import STAMP_FILE, torch_hub_dir
from inrdeblur.data.registry import entry
from inrdeblur.fileio import InputFileError

LAI_ROOT = "synthetic_dataset"  # registry: lai.root


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_sums(path: Path) -> dict[str, str]:
    """``{path: sha256}`` of a ``sha256sum`` file (a second, minimal parser)."""
    pairs = (line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip())
    return {name.lstrip("*"): digest for digest, name in pairs}


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root``: its modification time (ns) and SHA-256."""
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, sha(p.read_bytes()))
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def fetch(name: str, raw: Path, mirror: str | Path | None = None) -> int:
    argv = ["fetch", name, "--raw-dir", str(raw), "--no-progress"]
    return main(argv + (["--mirror", str(mirror)] if mirror is not None else []))


@pytest.fixture(scope="module")
def levin_sums() -> dict[str, str]:
    if not (LEVIN_DIR / "SHA256SUMS").is_file():
        pytest.skip(f"the shared Levin dataset is not present at {LEVIN_DIR}")
    return parse_sums(LEVIN_DIR / "SHA256SUMS")


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_levin_from_a_mirror_gets_sha256sums_and_a_rerun_changes_nothing(
    tmp_path, levin_sums, as_url
):
    raw = tmp_path / "raw"
    mirror = LEVIN_DIR.as_uri() if as_url else LEVIN_DIR
    assert fetch("levin", raw, mirror) == 0
    folder = raw / "levin"
    assert len(levin_sums) == 44  # 4 sharp images, 8 kernels, 32 blurred images
    for rel, digest in levin_sums.items():
        assert sha((folder / rel).read_bytes()) == digest
    assert parse_sums(folder / "SHA256SUMS") == levin_sums
    levin.verify(folder)  # the prepare stage's check passes on the fetched copy
    assert (folder / STAMP_FILE).is_file()
    assert sorted(os.listdir(raw)) == ["levin"]  # no record (every hash known), no tmp-*

    before = snapshot(raw)
    assert fetch("levin", raw, mirror) == 0
    assert snapshot(raw) == before  # verified, nothing rewritten
    assert fetch("levin", raw) == 0  # no mirror needed for a copy that is there
    assert snapshot(raw) == before


def test_a_removed_stamp_is_written_again_without_fetching(tmp_path, levin_sums):
    # Snakemake deletes a job's output (the stamp) before it reruns the job, e.g. after
    # datasets.levin.mirror changed; the copy is then verified and stamped again.
    raw = tmp_path / "raw"
    assert fetch("levin", raw, LEVIN_DIR) == 0
    stamp = raw / "levin" / STAMP_FILE
    first = json.loads(stamp.read_text())
    stamp.unlink()
    assert fetch("levin", raw, tmp_path / "no-such-mirror") == 0  # proves nothing is copied
    assert json.loads(stamp.read_text()) == first
    assert parse_sums(raw / "levin" / "SHA256SUMS") == levin_sums


def test_a_corrupted_mirror_file_is_named_with_both_hashes(tmp_path, levin_sums, capsys):
    mirror = tmp_path / "mirror"
    shutil.copytree(LEVIN_DIR, mirror)
    rel = "blurred/im2_kernel5_img.png"
    data = bytearray((mirror / rel).read_bytes())
    data[1000] ^= 0xFF
    (mirror / rel).write_bytes(bytes(data))
    raw = tmp_path / "raw"
    assert fetch("levin", raw, mirror) == 2
    err = capsys.readouterr().err
    assert "im2_kernel5_img.png" in err
    assert levin_sums[rel] in err and sha(bytes(data)) in err
    assert not (raw / "levin").exists()
    assert list(raw.iterdir()) == []  # no levin.tmp-* folder either


def test_lpips_backbone_failing_its_name_prefix_leaves_the_cache_untouched(
    tmp_path, monkeypatch, capsys
):
    torch_home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    name = "alexnet-owt-7be5be79.pth"
    fake = b"not the ImageNet AlexNet weights"
    assert not sha(fake).startswith("7be5be79")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / name).write_bytes(fake)
    assert fetch("lpips_alexnet", tmp_path / "raw", mirror) == 2
    err = capsys.readouterr().err
    assert name in err and "7be5be79" in err and sha(fake) in err
    assert not torch_home.exists()  # no file, no part file, no empty folders
    assert not (tmp_path / "raw").exists()  # nothing recorded

    assert fetch("lpips_alexnet", tmp_path / "raw", tmp_path / "nowhere") == 2
    assert f"{tmp_path / 'nowhere'}: mirror folder not found" in capsys.readouterr().err


def test_the_backbone_goes_where_torch_and_the_lpips_metric_look(tmp_path, monkeypatch):
    import torch.hub

    from inrdeblur.metrics.perceptual import backbone_path

    weights = entry("lpips_alexnet")["layout"]["weights"]
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert torch_hub_dir() == Path(torch.hub.get_dir()) == tmp_path / "xdg" / "torch" / "hub"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert torch_hub_dir() == Path(torch.hub.get_dir()) == tmp_path / "th" / "hub"
    assert torch_hub_dir() / weights == backbone_path()


@pytest.mark.parametrize("name", ["lai", "virtualcmb", "realcmb"])
def test_datasets_without_a_file_list_explain_how_to_get_them(tmp_path, capsys, name):
    assert fetch(name, tmp_path / "raw") == 2
    err = capsys.readouterr().err
    assert entry(name)["homepage"] in err
    assert "--mirror" in err and f"datasets.{name}.mirror" in err
    assert f"datasets.{name}.root" in err and str(tmp_path / "raw" / name) in err
    assert not (tmp_path / "raw").exists()


def test_the_demo_is_generated_and_unknown_names_are_listed(tmp_path, capsys):
    assert fetch("demo", tmp_path / "raw", tmp_path) == 2
    assert "generated" in capsys.readouterr().err
    assert fetch("nosuch", tmp_path / "raw") == 2
    assert "known: demo, levin" in capsys.readouterr().err
    assert not (tmp_path / "raw").exists()


def make_lai(folder: Path) -> dict[str, bytes]:
    """Every file Lai's reader expects, with random bytes, under ``folder/synthetic_dataset``."""
    rng = random.Random(7)
    files = {f"{LAI_ROOT}/{rel}": rng.randbytes(200) for rel in lai.EXPECTED_FILES}
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return files


def test_lai_is_copied_from_a_mirror_folder_with_its_hashes_recorded(tmp_path, capsys):
    files = make_lai(tmp_path / "mirror")
    raw = tmp_path / "raw"
    assert fetch("lai", raw, tmp_path / "mirror") == 0
    folder = raw / "lai"
    for rel, data in files.items():
        assert (folder / rel).read_bytes() == data
    record = json.loads((raw / "lai.checksums.json").read_text())
    assert record == {rel: {"sha256": sha(d), "size": len(d)} for rel, d in files.items()}
    sums = parse_sums(folder / LAI_ROOT / "SHA256SUMS")
    assert sums == {rel.removeprefix(f"{LAI_ROOT}/"): sha(d) for rel, d in files.items()}
    lai.verify(folder / LAI_ROOT)  # reads the written SHA256SUMS

    before = snapshot(raw)
    assert fetch("lai", raw, tmp_path / "mirror") == 0
    assert fetch("lai", raw) == 0  # without the mirror: checked against its stamp
    assert snapshot(raw) == before

    victim = folder / LAI_ROOT / "uniform" / f"{lai.SCENE_IDS[5]}.png"
    victim.write_bytes(b"changed")
    with pytest.raises(InputFileError, match="sha256 mismatch"):
        lai.verify(folder / LAI_ROOT)
    capsys.readouterr()
    assert fetch("lai", raw, tmp_path / "mirror") == 2
    assert str(victim) in capsys.readouterr().err
    assert victim.read_bytes() == b"changed"  # a copy that fails is never deleted


def test_a_copy_placed_by_hand_is_verified_recorded_and_later_checked(tmp_path, capsys):
    raw = tmp_path / "raw"
    files = make_lai(raw / "lai")  # unpacked by hand, as the registry's notes say
    assert fetch("lai", raw) == 0
    record = json.loads((raw / "lai.checksums.json").read_text())
    assert record == {rel: {"sha256": sha(d), "size": len(d)} for rel, d in files.items()}
    assert (raw / "lai" / STAMP_FILE).is_file()
    lai.verify(raw / "lai" / LAI_ROOT)

    gone = raw / "lai" / LAI_ROOT / "kernel" / "kernel_02.png"
    gone.unlink()
    assert fetch("lai", raw) == 2
    assert str(gone) in capsys.readouterr().err


def test_an_http_mirror_cannot_stand_in_for_a_missing_file_list(tmp_path, capsys):
    assert fetch("lai", tmp_path / "raw", "http://127.0.0.1:9/lai") == 2
    assert "http://127.0.0.1:9/lai: an http(s) mirror cannot be listed" in capsys.readouterr().err
