"""Build an INR from the ``inr`` section of a method recipe."""

from __future__ import annotations

from typing import Any

from torch import nn

INR_TYPES = ("siren", "fourier", "dif", "hashgrid")


def build_inr(
    spec: dict[str, Any],
    out_features: int = 3,
    latent_shape: tuple[int, int] | None = None,
    device: Any = None,
) -> nn.Module:
    """Instantiate the INR described by ``spec`` (validated ``methods.<m>.inr``).

    Args:
        spec: the recipe's ``inr`` section, defaults filled.
        out_features: output channels (3 for RGB).
        latent_shape: (H', W') of the latent the INR paints; the dictionary field needs it
            to express its sawtooth periods in pixels.
        device: where the hash grid's backend will run ('auto' picks tiny-cuda-nn on CUDA).
    """
    kind = spec.get("type")
    if kind == "siren":
        from inrdeblur.inr.siren import Siren

        return Siren(
            out_features=out_features,
            hidden_features=int(spec["hidden_features"]),
            hidden_layers=int(spec["hidden_layers"]),
            first_omega0=float(spec["first_omega0"]),
            omega0=float(spec["omega0"]),
        )
    if kind == "fourier":
        from inrdeblur.inr.fourier import FourierFeatureMLP

        return FourierFeatureMLP(
            out_features=out_features,
            n_frequencies=int(spec["n_frequencies"]),
            sigma=float(spec["sigma"]),
            hidden_features=int(spec["hidden_features"]),
            hidden_layers=int(spec["hidden_layers"]),
        )
    if kind == "dif":
        from inrdeblur.inr.dif import THESIS_MLP_CONFIG, DictionaryField

        if latent_shape is None:
            raise ValueError("inr.type 'dif': the latent size (H, W) is required")
        variant = THESIS_MLP_CONFIG if spec["variant"] == "mlp" else {}
        return DictionaryField(
            int(latent_shape[0]),
            int(latent_shape[1]),
            out_features=out_features,
            basis_dims=tuple(spec["basis_dims"]),
            basis_resos=tuple(spec["basis_resos"]),
            total_params=int(spec["total_params"]),
            sample_mode=spec["sample_mode"],
            **variant,
        )
    if kind == "hashgrid":
        from inrdeblur.inr.hashgrid import HashGridINR

        return HashGridINR(
            out_features=out_features,
            backend=spec["backend"],
            device=device,
            **hashgrid_config(spec),
        )
    raise ValueError(f"inr.type: unknown INR {kind!r} (known: {', '.join(INR_TYPES)})")


def hashgrid_config(spec: dict[str, Any]) -> dict[str, Any]:
    """The hash grid's encoding and MLP settings: the preset, overridden by given keys."""
    from inrdeblur.inr.hashgrid import INSTANT_NGP_CONFIG, THESIS_CONFIG

    preset = INSTANT_NGP_CONFIG if spec.get("preset") == "instant_ngp" else THESIS_CONFIG
    return {key: spec.get(key, value) for key, value in preset.items()}
