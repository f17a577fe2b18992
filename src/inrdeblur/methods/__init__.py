"""Deblurring methods: one module per ``methods.<name>.type`` of params.yaml.

A type's module is ``inrdeblur.methods.<type>``, and it defines its :class:`Method`
subclass as ``METHOD``; :func:`method_class` finds it by that name, so adding a method
type is one new module here and one ``if/then`` branch of the ``method`` schema. Types:

- ``inr``: an implicit neural representation fitted through the blur operator with a
  regulariser (:mod:`inrdeblur.methods.inr`);
- ``tikhonov_cg``: least squares with a gradient penalty, by conjugate gradients
  (:mod:`inrdeblur.methods.tikhonov_cg`);
- ``tv_primal_dual``: total-variation deconvolution by the Chambolle-Pock primal-dual
  algorithm (:mod:`inrdeblur.methods.tv_primal_dual`);
- ``richardson_lucy``: Richardson-Lucy iterations with the operator and its adjoint
  (:mod:`inrdeblur.methods.richardson_lucy`);
- ``sparse_irls``: a hyper-Laplacian derivative prior by iteratively reweighted least
  squares (:mod:`inrdeblur.methods.sparse_irls`);
- ``cross_scale_inr`` (blind): the cross-scale self-supervised INR of Zhang, Quan & Ji
  (:mod:`inrdeblur.methods.cross_scale_inr`);
- ``selfdeblur`` (blind): SelfDeblur's two deep priors (:mod:`inrdeblur.methods.selfdeblur`);
- ``vdip`` (blind): the variational deep image prior of Huo et al.
  (:mod:`inrdeblur.methods.vdip`).

A blind method (``Method.blind``) gets no operator but a kernel-size bound, and returns
its kernel estimate; the blind types share their loop in :mod:`.blind_fit`.

Every method gets the same :class:`~inrdeblur.methods.base.Problem` (observation and
operator) and returns a :class:`~inrdeblur.methods.base.MethodResult`.
"""

from __future__ import annotations

import importlib
from typing import Any

from inrdeblur.methods.base import Method, MethodResult, Problem

__all__ = ["Method", "MethodResult", "Problem", "build_method", "method_class"]

#: the type of a recipe without a ``type`` key (the schema's default)
DEFAULT_TYPE = "inr"


def method_class(type_name: str) -> type[Method]:
    """The :class:`Method` subclass of ``methods.<name>.type`` ``type_name``.

    Raises:
        ValueError: no module ``inrdeblur.methods.<type_name>`` defines ``METHOD``.
    """
    if not isinstance(type_name, str) or not type_name.isidentifier() or type_name == "base":
        raise ValueError(f"type: {type_name!r} is not a method type")
    try:
        module = importlib.import_module(f"{__name__}.{type_name}")
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{type_name}":
            raise
        raise ValueError(f"type: unknown method type {type_name!r}") from None
    cls = getattr(module, "METHOD", None)
    if not (isinstance(cls, type) and issubclass(cls, Method)) or cls.type != type_name:
        raise ValueError(f"type: module {module.__name__} defines no METHOD of type {type_name!r}")
    return cls


def build_method(recipe: dict[str, Any]) -> Method:
    """The method object of a validated recipe (``methods.<name>``)."""
    return method_class(recipe.get("type", DEFAULT_TYPE))(recipe)
