"""The ``>>>`` examples in the package's docstrings run, so they cannot go stale."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import inrdeblur


def modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(inrdeblur.__path__, prefix="inrdeblur.")
        if info.name != "inrdeblur.__main__"
    )


def test_the_package_has_examples():
    finder = doctest.DocTestFinder()
    examples = sum(
        len(test.examples)
        for name in modules()
        for test in finder.find(importlib.import_module(name))
    )
    assert examples >= 30


@pytest.mark.parametrize("name", modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
