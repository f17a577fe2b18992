"""pytest fixture for a private single-node SLURM cluster (see ``slurm_cluster.py``).

Import it into a conftest.py to make it available::

    from conftest_slurm import slurm_cluster  # noqa: F401
"""

from __future__ import annotations

import logging

import pytest

try:  # tests/workflow as a package (with __init__.py) or as a rootdir-relative dir
    from .slurm_cluster import SlurmCluster
except ImportError:
    from slurm_cluster import SlurmCluster

log = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node SLURM cluster, shared by the whole test session.

    Installs the Debian SLURM/munge packages if needed (root only; the test is skipped
    otherwise), and stops the daemons it started at the end of the session.  Pass
    ``slurm_cluster.env`` to every subprocess that talks to the cluster.
    """
    with SlurmCluster() as cluster:
        if cluster.install_seconds is not None:
            log.warning("SLURM packages installed in %.1f s", cluster.install_seconds)
        log.warning("SLURM cluster started in %.1f s", cluster.start_seconds)
        yield cluster
