"""Provenance recorded beside results: versions of the installed packages."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata


def package_versions(packages: Iterable[str], python: bool = False) -> dict[str, str]:
    """``{package: version}``; a package that is not installed maps to ``"not installed"``.

    With ``python=True`` the interpreter version comes first, under the key ``python``.
    """
    versions = {"python": platform.python_version()} if python else {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
