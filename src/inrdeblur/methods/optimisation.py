"""The gradient step shared by the methods that fit networks by gradient descent.

:class:`AdamCosine` is the INR fits' optimiser: fused Adam over parameter groups, a cosine
learning-rate schedule from each group's ``lr`` to ``lr_min`` over the fit's iterations,
optional gradient-norm clipping of the first group (the network's), and, under mixed
precision on CUDA, a gradient scaler. A fit calls :meth:`AdamCosine.step` once per
iteration with its loss and keeps :meth:`AdamCosine.state_dict` in its checkpoint, so the
loop around it (rendering, data term, regulariser, trace) is the method's own.
"""

from __future__ import annotations

from typing import Any

import torch


class AdamCosine:
    """Adam with a cosine schedule, gradient clipping and an optional AMP gradient scaler.

    Args:
        groups: optimiser parameter groups, each with its ``lr``; the first group's
            parameters are the ones clipped.
        iterations: steps of the schedule (the fit's iterations).
        lr_min: learning rate the schedule ends at.
        grad_clip: maximum gradient norm of the first group; 0 disables clipping.
        amp: scale the loss with a CUDA gradient scaler (mixed precision).
    """

    def __init__(
        self,
        groups: list[dict[str, Any]],
        *,
        iterations: int,
        lr_min: float,
        grad_clip: float,
        amp: bool = False,
    ):
        self.clipped = list(groups[0]["params"])
        self.grad_clip = float(grad_clip)
        # The fused kernel updates every tensor in one pass (CPU and CUDA): about 10 % more
        # hash-grid points per second on the CPU (benchmarks/hashgrid_speed.py).
        self.optimiser = torch.optim.Adam(groups, fused=True)
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimiser, T_max=iterations, eta_min=lr_min
        )
        self.scaler = torch.amp.GradScaler("cuda") if amp else None

    def step(self, loss: torch.Tensor) -> float:
        """Backpropagate ``loss``, clip, update the parameters and advance the schedule;
        returns the learning rate (of the first group) the update used."""
        optimiser = self.optimiser
        optimiser.zero_grad(set_to_none=True)
        lr = optimiser.param_groups[0]["lr"]
        if self.scaler is None:
            loss.backward()
            if self.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.clipped, self.grad_clip)
            optimiser.step()
        else:
            self.scaler.scale(loss).backward()
            if self.grad_clip > 0:
                self.scaler.unscale_(optimiser)
                torch.nn.utils.clip_grad_norm_(self.clipped, self.grad_clip)
            self.scaler.step(optimiser)
            self.scaler.update()
        self.schedule.step()
        return lr

    def state_dict(self) -> dict[str, Any]:
        """Optimiser, schedule and scaler state, for a checkpoint."""
        return {
            "optimiser": self.optimiser.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.optimiser.load_state_dict(state["optimiser"])
        self.schedule.load_state_dict(state["schedule"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
