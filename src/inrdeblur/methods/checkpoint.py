"""Checkpoints of iterative fits, and a clean stop when the scheduler asks the job to end.

One :class:`Checkpointer` serves every iterative method. Its loop asks :meth:`Checkpointer.due`
after each iteration and, when it answers True, hands :meth:`Checkpointer.save` the state
it needs to go on; a rerun of the same fit finds the file, :meth:`Checkpointer.load` checks
that it belongs to that fit, and the loop restarts from the saved iteration.

What is saved when: a checkpoint holds the whole state at the end of one iteration, never
in the middle of one. One is written

- every ``every`` iterations (0: never by count);
- when ``every_seconds`` wall-clock seconds have passed since the last save (or since the
  checkpointer was made) (0: never by time);
- at the last iteration, when either of the two is on, so that a job killed while writing
  its outputs only renders on its rerun;
- as soon as the iteration in progress ends after a stop signal (SIGTERM or SIGUSR1)
  arrived inside :meth:`Checkpointer.stop_signals`; the save then raises
  :class:`Preempted`, so the fit ends right after a consistent checkpoint.

Why the signals: SLURM sends SIGTERM to a job's processes when it is cancelled, preempted
or reaches its time limit, then SIGKILL ``KillWait`` seconds later (30 s by default);
``sbatch --signal=USR1@<seconds>`` (or ``--signal=TERM@<seconds>``) sends a signal that many
seconds before the time limit. Either way the fit saves the iteration it is on and stops,
so a preempted, cancelled or timed-out job loses at most one iteration's work instead of
everything since its last periodic checkpoint. A signal outside a ``stop_signals`` block
has its usual effect.

Guarantees:

- the file is written atomically (a temporary file beside it, then a rename): a kill at
  any moment leaves either the previous checkpoint or the new one, never a partial file;
- a resumed fit ends with the same estimate and trace (``seconds`` aside) as an
  uninterrupted one, bit for bit on the CPU with the same torch thread count, provided the
  method saves everything its next iteration reads (parameters, optimiser, schedule, RNG
  states, the trace so far);
- a checkpoint of another fit (its fingerprint differs: recipe, seed, data) or of another
  layout is never resumed: :class:`~inrdeblur.methods.base.CheckpointError` names the file
  and what differs.

On disk (:data:`CHECKPOINT_FORMAT` 1): a ``torch.save``'d dict with ``format``,
``fingerprint`` (the fit's identity, a JSON-able dict), ``iteration`` (iterations done),
``seconds`` (the fit's wall time up to the checkpoint, summed over the runs before it) and
the method's own named state objects (tensors, ``state_dict``s), read back with
``weights_only=True`` onto the CPU.

>>> ckpt = Checkpointer("fit.pt", {"seed": 0}, every=10)  # due() reads no file
>>> [ckpt.due(i, last=i == 25) for i in (9, 10, 11, 25)]
[False, True, False, True]
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from inrdeblur.fileio import atomic_path
from inrdeblur.methods.base import TRACE_COLUMNS, CheckpointError

#: version of the checkpoint layout (the module docstring describes it)
CHECKPOINT_FORMAT = 1
#: signals that make a fit save and stop: SLURM's termination signal, and the one users
#: ask for ahead of the time limit with ``sbatch --signal=USR1@<seconds>``
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
#: keys of the file that the checkpointer itself writes; a method's state may not use them
RESERVED_KEYS = ("format", "fingerprint", "iteration", "seconds")
#: what a CheckpointError suggests
_HINT = "delete it to start the fit afresh"


class Preempted(Exception):
    """The fit saved a checkpoint and stopped because a stop signal arrived.

    Attributes:
        signum: the signal's number (a shell reports the exit status ``128 + signum``).
        iteration: iterations done at the checkpoint, where a rerun resumes.
        path: the checkpoint file, kept for the rerun.
        seed: the fit's seed in the experiment, when the caller knows it (the fit stage
            sets it; the message names it).
    """

    def __init__(
        self, signum: int, iteration: int, path: str | os.PathLike, seed: int | None = None
    ):
        super().__init__(signum, iteration, str(path))
        self.signum = int(signum)
        self.iteration = int(iteration)
        self.path = Path(path)
        self.seed = seed

    @property
    def signal_name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    def __str__(self) -> str:
        of_seed = "" if self.seed is None else f" of seed {self.seed}"
        return (
            f"stopped by {self.signal_name} at iteration {self.iteration}{of_seed}; "
            f"the checkpoint {self.path} is kept, a rerun resumes"
        )


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """``torch.save`` ``state`` to ``path`` atomically (temporary file, then rename)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Read a fit checkpoint (tensors on the CPU) and check it belongs to ``fingerprint``.

    Raises:
        CheckpointError: unreadable, of another format, or of a different fit; the message
            names the file and what differs.
    """
    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and torch errors alike
        raise CheckpointError(f"{path}: not a readable fit checkpoint ({err}); {_HINT}") from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path}: checkpoint format {found!r}, this version writes {CHECKPOINT_FORMAT}; {_HINT}"
        )
    saved = state.get("fingerprint", {})
    if not isinstance(saved, dict):
        saved = {}
    diffs = [
        f"{key} {saved.get(key)!r} in the checkpoint, {value!r} now"
        for key, value in fingerprint.items()
        if saved.get(key) != value
    ]
    if diffs:
        raise CheckpointError(
            f"{path}: checkpoint of a different fit ({'; '.join(diffs)}); {_HINT}"
        )
    return state


class Checkpointer:
    """Where, when and what one fit checkpoints; see the module docstring.

    Args:
        path: the checkpoint file; None for a fit without checkpoints (then nothing is
            ever due, :meth:`load` returns None and :meth:`stop_signals` installs nothing).
        fingerprint: what identifies the fit (JSON-able values); a checkpoint whose
            fingerprint differs in any key is refused.
        every: iterations between checkpoints, 0 for none by count.
        every_seconds: wall-clock seconds (of ``clock``) after which a checkpoint is due,
            counted from the last save or from the checkpointer's creation; 0 for none.
        clock: monotonic seconds, :func:`time.monotonic` (tests inject their own).

    A typical loop::

        ckpt = Checkpointer(path, fingerprint, every=50, every_seconds=300)
        state = ckpt.load()  # None, or the dict saved last: restore from it
        with ckpt.stop_signals():
            for it in range(first, n):
                ...  # one iteration
                if ckpt.due(it + 1, last=it + 1 == n):
                    ckpt.save(it + 1, seconds, {"model": model.state_dict(), ...})
    """

    def __init__(
        self,
        path: str | os.PathLike | None,
        fingerprint: dict[str, Any],
        every: int = 0,
        every_seconds: float = 0.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        if isinstance(every, bool) or int(every) != every or every < 0:
            raise ValueError(f"checkpoint_every: must be an integer >= 0, got {every!r}")
        if (
            isinstance(every_seconds, bool)
            or not isinstance(every_seconds, int | float)
            or not 0 <= every_seconds < math.inf
        ):
            raise ValueError(
                f"checkpoint_seconds: must be a finite number >= 0, got {every_seconds!r}"
            )
        self.path = None if path is None else Path(path)
        self.fingerprint = dict(fingerprint)
        self.every = int(every)
        self.every_seconds = float(every_seconds)
        self._clock = clock
        self._last_save = clock()
        #: number of the stop signal received inside stop_signals(), else None
        self.stop_signal: int | None = None
        #: iteration of the last checkpoint this checkpointer wrote, else None
        self.saved_iteration: int | None = None
        self._preempted = False

    @property
    def enabled(self) -> bool:
        """Whether checkpoints are written by count or time (a stop signal saves anyway)."""
        return self.path is not None and (self.every > 0 or self.every_seconds > 0)

    def load(self) -> dict[str, Any] | None:
        """The saved state (tensors on the CPU) when the file exists, else None.

        Raises:
            CheckpointError: the file is unreadable, of another format or of another fit;
                the message names the file and the fingerprint keys that differ.
        """
        if self.path is None or not self.path.is_file():
            return None
        return load_checkpoint(self.path, self.fingerprint)

    def due(self, iteration: int, last: bool = False) -> bool:
        """Whether to save after ``iteration`` iterations (``last``: the fit's final one).

        True at multiples of ``every``, at the last iteration when checkpointing is on, once
        ``every_seconds`` have passed since the last save (or the start), and after a stop
        signal; always False without a path.
        """
        if self.path is None:
            return False
        if self.stop_signal is not None:
            return True
        if self.every and iteration % self.every == 0:
            return True
        if last and self.enabled:
            return True
        return bool(self.every_seconds) and self._clock() - self._last_save >= self.every_seconds

    def save(self, iteration: int, seconds: float, state: dict[str, Any]) -> None:
        """Write the checkpoint of ``iteration`` iterations done, atomically.

        ``seconds``: the fit's wall time so far; ``state``: the method's named state
        objects (keys other than :data:`RESERVED_KEYS`). The previous checkpoint stays
        intact if the write fails.

        Raises:
            Preempted: after the file is in place, when a stop signal has arrived: the
                caller's loop ends on a consistent checkpoint.
        """
        if self.path is None:
            raise ValueError("this fit has no checkpoint path")
        clash = sorted(set(state) & set(RESERVED_KEYS))
        if clash:
            raise ValueError(f"checkpoint state keys {clash} are reserved")
        save_checkpoint(
            self.path,
            {
                "format": CHECKPOINT_FORMAT,
                "fingerprint": self.fingerprint,
                "iteration": int(iteration),
                "seconds": float(seconds),
                **state,
            },
        )
        self._last_save = self._clock()
        self.saved_iteration = int(iteration)
        if self.stop_signal is not None:
            self._preempted = True
            raise Preempted(self.stop_signal, iteration, self.path)

    def _record(self, signum: int, frame: Any) -> None:
        """The signal handler: remember the signal, nothing else (no I/O here)."""
        self.stop_signal = signum

    @contextlib.contextmanager
    def stop_signals(self, signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
        """Within the block, ``signals`` only set :attr:`stop_signal`: the next :meth:`due`
        is True and the next :meth:`save` raises :class:`Preempted`.

        The previous handlers are put back on exit. A signal that arrived but was not acted
        on (it came after the loop's last :meth:`due`) is then raised again, so it reaches
        the previous handler instead of being lost. Outside the main thread (where Python
        cannot set handlers), or without a path, the block changes nothing.
        """
        if self.path is None or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.getsignal(signum) for signum in signals}
        for signum in signals:
            signal.signal(signum, self._record)
        finished = False
        try:
            yield
            finished = True
        finally:
            for signum, handler in previous.items():
                # None: a handler not set from Python; the default is the closest we have
                signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if finished and self.stop_signal is not None and not self._preempted:
            signal.raise_signal(self.stop_signal)


def trace_tensor(trace: list[dict[str, float]]) -> Any:
    """A fit's trace as a (n, len(TRACE_COLUMNS)) float64 tensor, for its checkpoint."""
    import torch

    rows = [[float(row[c]) for c in TRACE_COLUMNS] for row in trace]
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, len(TRACE_COLUMNS))


def trace_rows(values: Any) -> list[dict[str, float]]:
    """The trace rows of :func:`trace_tensor`'s tensor (``iteration`` an int)."""
    rows = []
    for row in values.tolist():
        record = dict(zip(TRACE_COLUMNS, row, strict=True))
        record["iteration"] = int(record["iteration"])
        rows.append(record)
    return rows


def rng_state(device: Any) -> dict[str, Any]:
    """The torch RNG states a fit checkpoints: ``rng_cpu`` and, on a CUDA ``device``,
    ``rng_cuda`` (else None)."""
    import torch

    cuda = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
    return {"rng_cpu": torch.get_rng_state(), "rng_cuda": cuda}


def restore_rng(state: dict[str, Any], device: Any) -> None:
    """Put back the RNG states :func:`rng_state` saved in ``state``."""
    import torch

    torch.set_rng_state(state["rng_cpu"])
    if device.type == "cuda" and state.get("rng_cuda") is not None:
        torch.cuda.set_rng_state_all(state["rng_cuda"])
