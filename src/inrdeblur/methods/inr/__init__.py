"""Method type ``inr``: an implicit neural representation fitted through the blur operator.

The INR paints the latent image; the known operator blurs it to the observation's size and
the loss is the mean squared error plus a regulariser (:mod:`.regularisers`, :mod:`.priors`).
The loop, tiling and checkpoints are in :mod:`.fit`. The recipe has three sections:
``inr`` (the network, :func:`inrdeblur.inr.build_inr`), ``regulariser`` and ``fit``.
"""

from __future__ import annotations

from typing import Any

from inrdeblur.methods.base import IterationCallback, Method, MethodResult, Problem
from inrdeblur.methods.inr.fit import fit_nonblind


class InrMethod(Method):
    """An INR + regulariser fitted with Adam (:func:`~inrdeblur.methods.inr.fit.fit_nonblind`)."""

    type = "inr"

    def run(
        self,
        problem: Problem,
        seed: int,
        *,
        progress: bool = True,
        checkpoint_path: str | None = None,
        checkpoint_every: int = 0,
        checkpoint_seconds: float = 0,
        on_iteration: IterationCallback | None = None,
    ) -> MethodResult:
        if problem.operator is None:
            raise ValueError(f"{problem.description}: an 'inr' method needs the blur operator")
        return fit_nonblind(
            problem.blurry,
            problem.operator,
            self._fit_recipe(),
            seed,
            sharp=problem.sharp,
            progress=progress,
            description=problem.description,
            checkpoint_path=checkpoint_path,
            checkpoint_every=checkpoint_every,
            checkpoint_seconds=checkpoint_seconds,
            on_iteration=on_iteration,
        )

    def _fit_recipe(self) -> dict[str, Any]:
        """The recipe without ``type`` and ``tuned_on``, which do not change the fit: the
        form the checkpoint fingerprint has always had."""
        return {k: v for k, v in self.recipe.items() if k not in ("type", "tuned_on")}


METHOD = InrMethod
