"""Build an INR from the ``inr`` section of a method recipe."""

from __future__ import annotations

from typing import Any

from torch import nn

from inrdeblur.inr.siren import Siren


def build_inr(spec: dict[str, Any], out_features: int = 3) -> nn.Module:
    """Instantiate the INR described by ``spec`` (validated ``methods.<m>.inr``)."""
    kind = spec.get("type")
    if kind == "siren":
        return Siren(
            out_features=out_features,
            hidden_features=int(spec["hidden_features"]),
            hidden_layers=int(spec["hidden_layers"]),
            first_omega0=float(spec["first_omega0"]),
            omega0=float(spec["omega0"]),
        )
    raise ValueError(f"inr.type: unknown INR {kind!r} (known: siren)")
