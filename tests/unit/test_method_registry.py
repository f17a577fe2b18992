"""The method registry: ``methods.<name>.type`` names a module of :mod:`inrdeblur.methods`."""

from __future__ import annotations

import pkgutil
import sys
import types

import numpy as np
import pytest

import inrdeblur.methods as methods
from inrdeblur.config.params import schema
from inrdeblur.methods import Method, MethodResult, Problem, build_method, method_class


def schema_types() -> list[str]:
    return schema()["$defs"]["method"]["properties"]["type"]["enum"]


def test_every_schema_type_has_its_module_and_every_module_its_schema_branch():
    modules = [m.name for m in pkgutil.iter_modules(methods.__path__)]
    with_method = [name for name in modules if name in schema_types() or _defines_method(name)]
    assert sorted(with_method) == sorted(schema_types())
    branches = [
        b["if"]["properties"]["type"]["const"] for b in schema()["$defs"]["method"]["allOf"]
    ]
    assert sorted(branches) == sorted(schema_types())
    for name in schema_types():
        assert method_class(name).type == name


def _defines_method(name: str) -> bool:
    import importlib

    return hasattr(importlib.import_module(f"inrdeblur.methods.{name}"), "METHOD")


@pytest.mark.parametrize("bad", ["nope", "base", "classical", "../x", 3])
def test_an_unknown_type_is_an_error_naming_it(bad):
    with pytest.raises(ValueError, match="type: "):
        method_class(bad)


def test_a_recipe_without_type_is_an_inr():
    assert type(build_method({"inr": {}, "regulariser": {}, "fit": {}})).type == "inr"


def test_a_new_type_is_one_module(monkeypatch):
    """The whole contract of a method type: a module ``inrdeblur.methods.<type>`` with a
    :class:`Method` subclass as ``METHOD`` (and, in params.yaml, one schema branch)."""

    class Identity(Method):
        type = "identity"

        def run(self, problem, seed, **options):
            return MethodResult(problem.blurry.copy(), [], 0.0, 0.0, 0, "cpu")

    module = types.ModuleType("inrdeblur.methods.identity")
    module.METHOD = Identity
    monkeypatch.setitem(sys.modules, "inrdeblur.methods.identity", module)
    blurry = np.zeros((4, 5, 1), dtype=np.float32)
    result = build_method({"type": "identity"}).run(Problem(blurry), seed=0)
    np.testing.assert_array_equal(result.estimate, blurry)


def test_problem_checks_its_shapes():
    with pytest.raises(ValueError, match=r"\(H, W, 1\) or \(H, W, 3\)"):
        Problem(np.zeros((4, 4, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="does not match the observation"):
        Problem(np.zeros((4, 4, 1)), sharp=np.zeros((4, 4, 3)))


def test_observation_hash_covers_shape_and_values():
    a = np.arange(12, dtype=np.float32).reshape(2, 6, 1)
    digest = Problem(a).observation_sha256()
    assert digest == Problem(a.copy()).observation_sha256()
    assert digest != Problem(a.reshape(3, 4, 1)).observation_sha256()
    b = a.copy()
    b[0, 0, 0] = np.nextafter(b[0, 0, 0], np.float32(1))
    assert digest != Problem(b).observation_sha256()
