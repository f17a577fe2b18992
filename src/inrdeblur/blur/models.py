"""The blur models, found by name, and the operator a blur recipe describes.

A blur model is one module of :mod:`inrdeblur.blur` whose ``OPERATOR`` is a
:class:`~inrdeblur.blur.operator.BlurOperator` subclass with ``scene_inputs`` and
``from_recipe``; :data:`MODELS` maps the ``model`` of a ``blurs.<name>`` recipe to it.
Synthesis, the non-blind fits and the blur-formation study all build their operator with
:func:`build_operator`, so the image a fit explains is blurred by exactly the operator it
was made with.

One model has no operator: :data:`OBSERVED` (``model: observed``), whose observation is
the scene's stored blurry image as it is (the user's own photo), with no kernel and no
noise. Only a blind method, which estimates the blur itself, can deblur it; it needs
nothing of the scene but that image (:func:`scene_inputs`).

>>> operator_class("uniform").__name__, operator_class("uniform").scene_inputs
('UniformBlur', ('kernel',))
>>> BLUR_MODELS[-1], scene_inputs(OBSERVED)
('observed', ())
"""

from __future__ import annotations

import importlib
from typing import Any

from inrdeblur.blur.operator import BlurOperator

#: blur model name -> the module that defines its ``OPERATOR``
MODELS = {
    "uniform": "inrdeblur.blur.uniform",
    "icb": "inrdeblur.blur.icb",
    "pwb": "inrdeblur.blur.pwb",
}
#: the blur model without an operator: the scene's stored blurry image, taken as it is
OBSERVED = "observed"
#: every value of ``blurs.<name>.model``: the models with an operator, then :data:`OBSERVED`
BLUR_MODELS: tuple[str, ...] = (*MODELS, OBSERVED)


def operator_class(model: str) -> type[BlurOperator]:
    """The operator class of a blur model name.

    Raises:
        ValueError: an unknown model, or :data:`OBSERVED`, which has no operator.
    """
    if model == OBSERVED:
        raise ValueError(
            f"model: {OBSERVED!r} has no blur operator: its observation is the scene's stored "
            "blurry image as it is, so only a blind method (which estimates the blur) applies"
        )
    if model not in MODELS:
        known = ", ".join(BLUR_MODELS)
        raise ValueError(f"model: unknown blur model {model!r} (known: {known})")
    cls = importlib.import_module(MODELS[model]).OPERATOR
    if not (isinstance(cls, type) and issubclass(cls, BlurOperator)) or cls.model != model:
        raise TypeError(f"{MODELS[model]}.OPERATOR is not the BlurOperator of model {model!r}")
    return cls


def scene_inputs(model: str) -> tuple[str, ...]:
    """What a blur model needs of the scene (its operator's ``scene_inputs``); none for
    :data:`OBSERVED`. Raises ValueError for an unknown model."""
    return () if model == OBSERVED else operator_class(model).scene_inputs


def build_operator(
    settings: dict[str, Any], image_shape: tuple[int, int], **inputs: Any
) -> BlurOperator:
    """The operator of a validated blur recipe.

    Args:
        settings: ``blurs.<name>`` with defaults filled (``model`` and its keys).
        image_shape: (H, W) of the blurry image.
        inputs: what the model needs of the scene, by the names of its ``scene_inputs``:
            ``kernel`` (k_h, k_w) for 'uniform'; ``depth`` (H, W) metres, ``trajectory``
            and ``intrinsics`` (3, 3) px for 'icb' and 'pwb'. Others are ignored.
    """
    model = settings["model"]
    cls = operator_class(model)
    missing = [name for name in cls.scene_inputs if inputs.get(name) is None]
    if missing:
        raise ValueError(f"{model} blur: needs {', '.join(missing)} of the scene")
    return cls.from_recipe(settings, image_shape, **{k: inputs[k] for k in cls.scene_inputs})
