"""The shared fit checkpointer: when it saves, what it writes and refuses, the stop signals
(SIGTERM, SIGUSR1) that make a fit save and stop, and a real ``inrdeblur fit`` process
sent SIGTERM mid-fit whose rerun ends with the estimates of an uninterrupted run."""

from __future__ import annotations

import copy
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from support import tiny_siren_recipe

from inrdeblur import layout
from inrdeblur.blur.kernels import random_motion_kernel
from inrdeblur.blur.uniform import UniformBlur, convolve
from inrdeblur.fileio import read_json
from inrdeblur.fit.run import LOG_EVERY
from inrdeblur.methods.base import CheckpointError
from inrdeblur.methods.checkpoint import CHECKPOINT_FORMAT, Checkpointer, Preempted
from inrdeblur.methods.inr.fit import fit_nonblind
from inrdeblur.records.blurred import BlurredImage
from inrdeblur.records.scene import Scene

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FINGERPRINT = {"recipe_sha256": "ab12", "seed": 3, "blurry_shape": [8, 8, 1]}


class FakeClock:
    """Monotonic seconds that the test sets."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def usr1_recorder():
    """A Python handler for SIGUSR1 (recording what it gets) for the test, then the old."""
    got: list[int] = []
    before = signal.signal(signal.SIGUSR1, lambda signum, frame: got.append(signum))
    yield got
    signal.signal(signal.SIGUSR1, before)


# -- when a checkpoint is due ---------------------------------------------------------


def test_due_by_count_and_at_the_last_iteration(tmp_path):
    ckpt = Checkpointer(tmp_path / "c.pt", FINGERPRINT, every=5)
    assert [i for i in range(1, 13) if ckpt.due(i)] == [5, 10]
    assert ckpt.due(12, last=True)
    # Off by count and time: nothing is due, not even the last iteration.
    off = Checkpointer(tmp_path / "c.pt", FINGERPRINT)
    assert not any(off.due(i, last=i == 12) for i in range(1, 13))
    # No path: never due.
    assert not any(Checkpointer(None, FINGERPRINT, every=1).due(i, True) for i in range(1, 4))


def test_due_by_wall_time_since_the_start_and_the_last_save(tmp_path):
    clock = FakeClock()
    ckpt = Checkpointer(tmp_path / "c.pt", FINGERPRINT, every_seconds=10, clock=clock)
    clock.now += 9.9
    assert not ckpt.due(1)
    clock.now += 0.1  # 10 s since the checkpointer was made
    assert ckpt.due(2)
    clock.now += 2
    ckpt.save(2, 12.0, {"x": torch.zeros(1)})  # the clock restarts at this save
    clock.now += 9.5
    assert not ckpt.due(3)
    clock.now += 0.5
    assert ckpt.due(4)
    # Time-based checkpointing is on, so the last iteration is saved too.
    assert Checkpointer(tmp_path / "d.pt", FINGERPRINT, every_seconds=60).due(7, last=True)


@pytest.mark.parametrize("every, seconds", [(-1, 0), (1.5, 0), (True, 0), (0, -1), (0, np.inf)])
def test_bad_intervals_are_refused(tmp_path, every, seconds):
    with pytest.raises(ValueError, match="checkpoint_(every|seconds)"):
        Checkpointer(tmp_path / "c.pt", FINGERPRINT, every=every, every_seconds=seconds)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_a_stop_signal_makes_a_save_due_and_the_save_stop(tmp_path, signum):
    path = tmp_path / "c.pt"
    ckpt = Checkpointer(path, FINGERPRINT)  # neither by count nor by time
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1)}
    with ckpt.stop_signals():
        assert not ckpt.due(3)
        os.kill(os.getpid(), signum)  # the handler only records it
        assert ckpt.stop_signal == signum and not path.exists()
        assert ckpt.due(3)
        with pytest.raises(Preempted) as info:
            ckpt.save(3, 1.5, {"x": torch.arange(4)})
    assert {s: signal.getsignal(s) for s in before} == before  # handlers given back
    err = info.value
    assert (err.signum, err.iteration, err.path) == (signum, 3, path)
    name = signal.Signals(signum).name
    assert str(err) == (
        f"stopped by {name} at iteration 3; the checkpoint {path} is kept, a rerun resumes"
    )
    err.seed = 1
    assert f"at iteration 3 of seed 1; the checkpoint {path} is kept" in str(err)
    saved = torch.load(path, weights_only=True)
    assert saved["iteration"] == 3 and torch.equal(saved["x"], torch.arange(4))


def test_handlers_are_restored_after_an_error_and_an_unanswered_signal_is_passed_on(
    tmp_path, usr1_recorder
):
    ckpt = Checkpointer(tmp_path / "c.pt", FINGERPRINT, every=1)
    mine = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(RuntimeError), ckpt.stop_signals():
        assert signal.getsignal(signal.SIGUSR1) == ckpt._record
        raise RuntimeError("the fit failed")
    assert signal.getsignal(signal.SIGUSR1) is mine and usr1_recorder == []

    # A signal after the loop's last check is not swallowed: the old handler gets it.
    with ckpt.stop_signals():
        os.kill(os.getpid(), signal.SIGUSR1)
        assert usr1_recorder == []
    assert usr1_recorder == [signal.SIGUSR1]
    assert signal.getsignal(signal.SIGUSR1) is mine


def test_stop_signals_does_nothing_outside_the_main_thread(tmp_path):
    seen = []

    def worker():
        with Checkpointer(tmp_path / "c.pt", FINGERPRINT).stop_signals():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [before]


# -- what is written and read back ----------------------------------------------------


def test_save_and_load_round_trip_in_the_fit_nonblind_layout(tmp_path):
    path = tmp_path / "sub" / "c.pt"
    ckpt = Checkpointer(path, FINGERPRINT, every=2)
    assert ckpt.load() is None  # nothing yet
    model = torch.nn.Linear(3, 2)
    state = {"model": model.state_dict(), "rng_cpu": torch.get_rng_state(), "none": None}
    ckpt.save(4, 2.25, state)
    assert [p.name for p in path.parent.iterdir()] == ["c.pt"]  # no temporaries
    raw = torch.load(path, weights_only=True)
    assert list(raw)[:4] == ["format", "fingerprint", "iteration", "seconds"]
    assert (raw["format"], raw["fingerprint"], raw["iteration"], raw["seconds"]) == (
        CHECKPOINT_FORMAT,
        FINGERPRINT,
        4,
        2.25,
    )
    loaded = Checkpointer(path, copy.deepcopy(FINGERPRINT)).load()
    assert loaded["iteration"] == 4 and loaded["none"] is None
    assert torch.equal(loaded["rng_cpu"], state["rng_cpu"])
    for key, value in model.state_dict().items():
        assert torch.equal(loaded["model"][key], value)
    with pytest.raises(ValueError, match="reserved"):
        ckpt.save(5, 3.0, {"iteration": 1})


def test_a_checkpoint_of_another_fit_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "c.pt"
    Checkpointer(path, FINGERPRINT).save(2, 1.0, {})
    other = {**FINGERPRINT, "seed": 4}
    with pytest.raises(CheckpointError) as info:
        Checkpointer(path, other).load()
    message = str(info.value)
    assert message.startswith(f"{path}: checkpoint of a different fit")
    assert "seed 3 in the checkpoint, 4 now" in message and "recipe_sha256" not in message


def test_a_truncated_or_foreign_file_is_a_clear_error(tmp_path):
    path = tmp_path / "c.pt"
    Checkpointer(path, FINGERPRINT).save(2, 1.0, {"x": torch.ones(1000)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(path))}: not a readable fit"):
        Checkpointer(path, FINGERPRINT).load()
    torch.save({"format": 99, "fingerprint": FINGERPRINT}, path)
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(path))}: checkpoint format 99"):
        Checkpointer(path, FINGERPRINT).load()


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    ckpt = Checkpointer(path, FINGERPRINT, every=1)
    ckpt.save(1, 0.5, {"x": torch.zeros(3)})

    def dies_half_way(obj, f):
        Path(f).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save(2, 1.0, {"x": torch.ones(3)})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # the temporary file is gone
    assert ckpt.saved_iteration == 1
    assert Checkpointer(path, FINGERPRINT).load()["iteration"] == 1


# -- a fit stopped by a signal --------------------------------------------------------

RECIPE = tiny_siren_recipe(iterations=20)


def smooth_problem(size: int, kernel_size: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sharp, blurry, kernel): a smooth colour image, 'valid'-blurred by a motion kernel."""
    rng = np.random.default_rng(0)
    kernel = random_motion_kernel(kernel_size, 4)
    n, m = size + kernel_size - 1, kernel_size // 2
    latent = torch.from_numpy(rng.random((1, 3, n, n)).astype(np.float32))
    latent = torch.nn.functional.avg_pool2d(latent, 3, stride=1, padding=1)
    blurry = convolve(latent, torch.from_numpy(kernel), "valid")[0].permute(1, 2, 0).numpy()
    sharp = latent[0, :, m:-m, m:-m].permute(1, 2, 0).numpy()
    return np.ascontiguousarray(sharp), np.ascontiguousarray(blurry), kernel


def test_a_signalled_fit_saves_the_next_iteration_stops_and_resumes_bit_identically(tmp_path):
    sharp, blurry, kernel = smooth_problem(16)
    op = UniformBlur(kernel, blurry.shape[:2])
    reference = fit_nonblind(blurry, op, RECIPE, seed=2, sharp=sharp, progress=False)

    def signal_at_7(row):
        if row["iteration"] == 7:
            os.kill(os.getpid(), signal.SIGUSR1)

    path = tmp_path / "c.pt"
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(Preempted) as info:
        fit_nonblind(
            blurry, op, RECIPE, 2, sharp, False, checkpoint_path=path, on_iteration=signal_at_7
        )
    assert signal.getsignal(signal.SIGUSR1) == before
    # The signal came after iteration 7: iteration 8 was finished, saved, and the fit ended.
    assert (info.value.signum, info.value.iteration) == (signal.SIGUSR1, 8)
    assert torch.load(path, weights_only=True)["iteration"] == 8
    resumed = fit_nonblind(blurry, op, RECIPE, 2, sharp, False, checkpoint_path=path)
    assert resumed.extra["resumed_from"] == 8
    assert resumed.estimate.tobytes() == reference.estimate.tobytes()
    assert [r["loss"] for r in resumed.trace] == [r["loss"] for r in reference.trace]


# -- a real `inrdeblur fit` process sent SIGTERM --------------------------------------

CLI_RECIPE = copy.deepcopy(RECIPE)
ITERATIONS = 400  # about 1 s a seed on one CPU thread
CLI_RECIPE["fit"]["iterations"] = ITERATIONS
SEEDS = (0, 1)
IMAGE = {"blur": "motion", "dataset": "toy", "scene": "smooth"}


def fit_command(root: Path) -> list[str]:
    """``inrdeblur fit`` for the scene written in ``root``: checkpoints only by signal
    (``--checkpoint-every 0``, and the default 300 s is never reached)."""
    sharp, blurry, kernel = smooth_problem(24)
    Scene(dataset="toy", id="smooth", sharp=sharp).save(layout.scene_path("toy", "smooth", root))
    attrs = {"blur": "motion", "settings": {"model": "uniform"}}
    BlurredImage(blurry=blurry, attrs=attrs, kernel=kernel).save(
        layout.blurred_path(root=root, **IMAGE)
    )
    return [
        sys.executable, "-m", "inrdeblur", "fit", "--method", "siren", "--blur", "motion",
        "--dataset", "toy", "--scene", "smooth", "--recipe", json.dumps(CLI_RECIPE),
        "--seeds", *map(str, SEEDS), "--threads", "1", "--checkpoint-every", "0",
    ]  # fmt: skip


def run_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_a_fit_job_sent_sigterm_mid_fit_resumes_to_the_uninterrupted_estimates(tmp_path):
    rng_seed = random.randrange(2**32)
    fraction = random.Random(rng_seed).uniform(0.05, 0.7)
    fit_dir = Path(layout.FIT_SCENE_DIR.format(method="siren", **IMAGE))
    ckpt_dir = Path(layout.FIT_CHECKPOINT_DIR.format(method="siren", **IMAGE))

    clean_root = tmp_path / "clean"
    clean = subprocess.run(
        fit_command(clean_root), cwd=clean_root, env=run_env(), capture_output=True, text=True
    )
    assert clean.returncode == 0, clean.stderr[-2000:]
    # Its log (stderr, not a terminal) has no progress bar but a line every LOG_EVERY
    # iterations of each seed, and one when the seed is done.
    assert "\r" not in clean.stderr and "it/s" not in clean.stderr
    for seed in SEEDS:
        lines = [line for line in clean.stderr.splitlines() if f" seed{seed}: " in line]
        steps = [int(line.split("iteration ")[1].split(",")[0]) for line in lines[:-1]]
        assert steps == list(range(LOG_EVERY, ITERATIONS + 1, LOG_EVERY)), lines
        assert f"done, {ITERATIONS} iterations, PSNR" in lines[-1]
    # The signal lands a random fraction of one clean seed's fit time after the first fit
    # started: inside seed 0 or, on a machine faster than during the clean run, seed 1.
    fit_seconds = read_json(clean_root / fit_dir / "seed0" / "meta.json")["time_s"]
    delay = fraction * fit_seconds
    why = (
        f"(random seed {rng_seed}: SIGTERM {delay:.2f} s into the job; a seed {fit_seconds:.2f} s)"
    )

    root = tmp_path / "job"
    cmd = fit_command(root)
    proc = subprocess.Popen(
        cmd, cwd=root, env=run_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    chunks: list[bytes] = []

    def read_stderr() -> None:
        while chunk := proc.stderr.read1(4096):
            chunks.append(chunk)

    pump = threading.Thread(target=read_stderr, daemon=True)
    pump.start()
    # The first progress bar appears once the first fit holds the signal handlers.
    deadline = time.monotonic() + 60
    while b"seed0:" not in b"".join(chunks) and proc.poll() is None:
        assert time.monotonic() < deadline, f"no progress bar {why}"
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    returncode = proc.wait(timeout=60)
    pump.join(timeout=10)
    stderr = b"".join(chunks).decode(errors="replace")
    if returncode == -signal.SIGTERM:
        # Between two fits (writing one seed's outputs, reading the next one's inputs) the
        # signal has its usual effect: the finished seeds are written, nothing is partial.
        assert "stopped by SIGTERM" not in stderr, why
        stopped_at, victim = None, None
        written = [s for s in SEEDS if (root / fit_dir / f"seed{s}" / "meta.json").is_file()]
        assert written == list(SEEDS[: len(written)]) and len(written) < len(SEEDS), why
    else:
        assert returncode == 128 + signal.SIGTERM, f"{why}\n{stderr[-2000:]}"
        match = re.search(
            r"^inrdeblur fit: stopped by SIGTERM at iteration (\d+) of seed (\d+); "
            r"the checkpoint (\S+) is kept, a rerun resumes$",
            stderr.strip().splitlines()[-1],
        )
        assert match, f"{why}\n{stderr[-2000:]}"
        stopped_at, victim = int(match.group(1)), int(match.group(2))
        checkpoint = ckpt_dir / f"seed{victim}.pt"
        assert match.group(3) == str(checkpoint), why
        assert 0 < stopped_at < ITERATIONS, why
        assert torch.load(root / checkpoint, weights_only=True)["iteration"] == stopped_at, why
        assert sorted(p.name for p in (root / ckpt_dir).iterdir()) == [
            f"seed{s}.pt" for s in SEEDS if s <= victim
        ], why
        assert not (root / fit_dir / f"seed{victim}").exists(), why  # nothing partial
        assert (root / fit_dir / "seed0" / "meta.json").is_file() == (victim == 1), why
    shutil.rmtree(root / fit_dir, ignore_errors=True)  # Snakemake clears a failed job's output

    rerun = subprocess.run(cmd, cwd=root, env=run_env(), capture_output=True, text=True)
    assert rerun.returncode == 0, f"{why}\n{rerun.stderr[-2000:]}"
    assert not (root / ckpt_dir).exists(), why
    for seed in SEEDS:
        folder = fit_dir / f"seed{seed}"
        resumed = read_json(root / folder / "meta.json")["resumed_from"]
        if victim is not None:
            expected = stopped_at if seed == victim else (ITERATIONS if seed < victim else 0)
            assert resumed == expected, f"seed {seed} {why}"
        assert (root / folder / "estimate.npz").read_bytes() == (
            clean_root / folder / "estimate.npz"
        ).read_bytes(), f"seed {seed} {why}"
