"""Fixtures for the workflow tests."""

try:  # tests/workflow as a package (with __init__.py) or as a rootdir-relative dir
    from .conftest_slurm import slurm_cluster  # noqa: F401
except ImportError:
    from conftest_slurm import slurm_cluster  # noqa: F401
