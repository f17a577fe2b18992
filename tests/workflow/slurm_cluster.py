"""A throw-away single-node SLURM cluster for integration tests.

``SlurmCluster`` starts its *own* ``munged``, ``slurmctld`` and ``slurmd`` from a
private temporary directory and stops them again, so the tests never depend on (or
disturb) a SLURM installation that already runs on the machine:

* every configuration file (``slurm.conf``, ``gres.conf``, ``cgroup.conf``) is written
  into the temporary directory and selected with ``SLURM_CONF``; ``/etc/slurm`` is
  never read or written;
* state, spool, log and pid files live in the temporary directory;
* ``SlurmctldPort``/``SlurmdPort`` are free ports picked at start-up;
* ``munged`` uses its own key, socket, pid, log and seed files, and SLURM is pointed at
  that socket with ``AuthInfo=socket=...``;
* the node advertises ``gpus`` (default 1) fake GPUs (``Gres=gpu:N``; gres.conf points
  at /dev/null clones made with mknod in the temporary directory) so that
  ``sbatch --gpus=1`` -- what the Snakemake SLURM plugin submits for ``gpu: 1`` --
  is scheduled on a machine without a GPU; jobs see ``CUDA_VISIBLE_DEVICES=0`` etc.;
* the client commands (``srun``, ``sbatch``, ...) are wrapped so that ``SLURM_CONF``
  survives inside jobs even when a tool drops it (the Snakemake jobstep plugin does);
* the daemons get PR_SET_PDEATHSIG, so they die with the process that started them
  (start the cluster from the main thread).

Typical use::

    with SlurmCluster() as cluster:
        cluster.run(["sbatch", "--wait", "--wrap", "hostname"])
        subprocess.run(["snakemake", "--executor", "slurm", ...], env=cluster.env)

The SLURM and munge binaries come from the Debian packages ``slurmctld slurmd
slurm-client munge``. When they are missing they are installed with ``apt-get`` if we
run as root; otherwise the current test is skipped (``pytest.skip``).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

#: Debian packages that provide everything the cluster needs.
SLURM_PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
#: Executables that must be on PATH (or in /usr/sbin) for the cluster to start.
REQUIRED_BINARIES = ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "sinfo", "scontrol")
#: Snakemake command-line options for running a workflow on a ``SlurmCluster``
#: (snakemake-executor-plugin-slurm 2.x, cluster without accounting/slurmdbd):
#: ``squeue`` instead of ``sacct`` for status checks (works because MinJobAge=600),
#: a short first status check instead of the default 40 s, no account
#: (a no-op in plugin 2.8.0, whose account guess then fails harmlessly), and keep the
#: logs of successful jobs under ``.snakemake/slurm_logs``.
SNAKEMAKE_SLURM_ARGS = (
    "--executor",
    "slurm",
    "--slurm-no-account",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--slurm-keep-successful-logs",
    "--latency-wait",
    "5",
)
#: Job states after which a job does not change any more.
FINISHED_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
        "REVOKED",
    }
)
#: Prefixes of environment variables that would leak a surrounding SLURM job or the
#: user's SLURM client defaults into our cluster; they are removed from ``env``.
_FOREIGN_ENV_PREFIXES = ("SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "SQUEUE_", "SINFO_", "SCONTROL_")
_SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")
_TMP_PREFIX = "slurmtest-"
_FALLBACK_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/random")
#: SLURM client commands that get a SLURM_CONF-defaulting wrapper (see
#: ``SlurmCluster._write_client_wrappers``).
CLIENT_COMMANDS = ("srun", "sbatch", "salloc", "squeue", "scancel", "scontrol", "sinfo", "sacct")


class SlurmClusterError(RuntimeError):
    """The cluster could not be installed, started or used."""


# --------------------------------------------------------------------------- helpers


def _which(name: str) -> str | None:
    """``shutil.which`` that also looks into the sbin directories (daemons live there).

    Wrapper directories of other ``SlurmCluster`` instances are skipped.
    """
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if _TMP_PREFIX not in d]
    return shutil.which(name, path=os.pathsep.join([*dirs, *_SBIN_DIRS]))


def missing_binaries() -> list[str]:
    return [name for name in REQUIRED_BINARIES if _which(name) is None]


def _skip(reason: str):
    try:
        import pytest
    except ImportError:  # pragma: no cover - used outside pytest
        raise SlurmClusterError(reason) from None
    pytest.skip(reason)


def ensure_slurm_installed(timeout: float = 900) -> float | None:
    """Make sure the SLURM/munge binaries exist.

    Returns the seconds ``apt-get`` took, or ``None`` when nothing had to be installed.
    Skips the calling test when the binaries are missing and we are not root, and raises
    ``SlurmClusterError`` when the installation fails.
    """
    missing = missing_binaries()
    if not missing:
        return None
    if os.geteuid() != 0:
        _skip(
            f"SLURM binaries {missing} are missing and installing "
            f"{' '.join(SLURM_PACKAGES)} with apt-get needs root"
        )
    if _which("apt-get") is None:
        _skip(f"SLURM binaries {missing} are missing and apt-get is not available")

    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "-o",
        "Dpkg::Options::=--force-confdef",
        "-o",
        "Dpkg::Options::=--force-confold",
        *SLURM_PACKAGES,
    ]
    # Keep the packages' maintainer scripts from starting the *system* daemons.  Docker
    # images usually ship such a policy-rc.d already; otherwise we add it temporarily.
    policy = Path("/usr/sbin/policy-rc.d")
    added_policy = False
    if not policy.exists():
        try:
            policy.write_text("#!/bin/sh\n# added by tests/workflow/slurm_cluster.py\nexit 101\n")
            policy.chmod(0o755)
            added_policy = True
        except OSError as exc:  # pragma: no cover - read-only /usr
            log.warning("could not write %s: %s", policy, exc)

    log.warning("installing %s with apt-get (missing: %s)", " ".join(SLURM_PACKAGES), missing)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            install, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            # Possibly stale package lists: refresh them once and retry.
            log.warning("apt-get install failed (%s); running apt-get update", proc.returncode)
            subprocess.run(
                ["apt-get", "update", "-q"],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            proc = subprocess.run(
                install, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
    finally:
        if added_policy:
            policy.unlink(missing_ok=True)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise SlurmClusterError(
            f"apt-get install {' '.join(SLURM_PACKAGES)} failed with exit code "
            f"{proc.returncode} after {elapsed:.1f}s:\n{_tail(proc.stdout + proc.stderr, 40)}"
        )
    still_missing = missing_binaries()
    if still_missing:
        raise SlurmClusterError(f"after apt-get install, still missing: {still_missing}")
    log.warning("installed SLURM packages in %.1f s", elapsed)
    return elapsed


def _free_ports(count: int) -> list[int]:
    """Ask the kernel for ``count`` distinct free TCP ports."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _file_tail(path: Path, lines: int = 30) -> str:
    try:
        return _tail(path.read_text(errors="replace"), lines)
    except OSError:
        return "<missing>"


def _available_memory_mb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4096


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child
    """Kill the daemon if the test process dies without running the teardown."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        proc_stat = Path(f"/proc/{pid}/stat").read_text()
        return proc_stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


# --------------------------------------------------------------------------- cluster


class SlurmCluster:
    """Context manager for a private single-node SLURM cluster.

    Attributes available after ``start()``:

    ``env``
        environment (dict) for subprocesses: a copy of ``os.environ`` without foreign
        ``SLURM_*``/``SBATCH_*`` variables, with ``SLURM_CONF`` pointing at our config
        and ``path_prepend`` (by default the directory of ``sys.executable``, i.e. the
        virtualenv's ``bin``) first on ``PATH``.
    ``root``, ``conf_path``, ``node``, ``partition``, ``ports``, ``pids``
    ``install_seconds``, ``start_seconds``
    """

    def __init__(
        self,
        *,
        cpus: int | None = None,
        real_memory_mb: int | None = None,
        gpus: int = 1,
        partition: str = "debug",
        cluster_name: str = "inrtest",
        min_job_age: int = 600,
        start_timeout: float = 60.0,
        stop_timeout: float = 15.0,
        install: bool = True,
        base_dir: str | os.PathLike | None = None,
        keep_dir: bool | None = None,
        path_prepend: Iterable[str | os.PathLike] | None = None,
        extra_env: Mapping[str, str] | None = None,
        debug_level: str = "info",
    ) -> None:
        self.cpus = cpus or os.cpu_count() or 1
        # Leave headroom for the test process itself; slurmd is started with
        # SlurmdParameters=config_overrides, so a too-large value would not drain the
        # node, but jobs could then overcommit the machine.
        self.real_memory_mb = real_memory_mb or max(1024, int(_available_memory_mb() * 0.75))
        self.gpus = gpus
        self.partition = partition
        self.cluster_name = cluster_name
        self.min_job_age = min_job_age
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.install = install
        self.base_dir = base_dir
        if keep_dir is None:
            keep_dir = os.environ.get("SLURM_CLUSTER_KEEP_DIR", "") not in ("", "0")
        self.keep_dir = keep_dir
        self.path_prepend = (
            [str(Path(sys.executable).parent)]
            if path_prepend is None
            else [str(p) for p in path_prepend]
        )
        self.extra_env = dict(extra_env or {})
        self.debug_level = debug_level

        self.node = socket.gethostname().split(".")[0]
        self.root: Path | None = None
        self.conf_path: Path | None = None
        self.env: dict[str, str] = {}
        self.ports: dict[str, int] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.install_seconds: float | None = None
        self.start_seconds: float | None = None
        self._started = False
        self._stopped = False

    # ------------------------------------------------------------------ paths
    def path(self, *parts: str) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root.joinpath(*parts)

    @property
    def munge_socket(self) -> Path:
        return self.path("munge", "munge.socket")

    @property
    def log_files(self) -> dict[str, Path]:
        return {
            "munged": self.path("log", "munged.log"),
            "slurmctld": self.path("log", "slurmctld.log"),
            "slurmd": self.path("log", "slurmd.log"),
            "munged.stdio": self.path("log", "munged.stdio"),
            "slurmctld.stdio": self.path("log", "slurmctld.stdio"),
            "slurmd.stdio": self.path("log", "slurmd.stdio"),
        }

    @property
    def pids(self) -> dict[str, int]:
        """PIDs of the daemons this object started."""
        return {name: proc.pid for name, proc in self.procs.items()}

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> SlurmCluster:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ------------------------------------------------------------------ start
    def start(self) -> SlurmCluster:
        if self._started:
            raise SlurmClusterError("cluster already started")
        self._started = True
        if self.install:
            self.install_seconds = ensure_slurm_installed()
        else:
            missing = missing_binaries()
            if missing:
                _skip(f"SLURM binaries {missing} are missing (install=False)")

        t0 = time.monotonic()
        try:
            self._make_dirs()
            self.ports = dict(zip(("slurmctld", "slurmd"), _free_ports(2), strict=True))
            self._write_configs()
            self._build_env()
            self._start_munged()
            self._start_slurmctld()
            self._start_slurmd()
            self._wait_idle()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        log.warning(
            "SLURM cluster %s up in %.1f s (SLURM_CONF=%s, ports %s, pids %s)",
            self.cluster_name,
            self.start_seconds,
            self.conf_path,
            self.ports,
            self.pids,
        )
        return self

    def _make_dirs(self) -> None:
        # Unix socket paths are limited to 108 bytes, so keep the directory short.
        self.root = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=self.base_dir))
        self.root.chmod(0o700)
        for sub in ("bin", "dev", "etc", "state", "spool", "log", "run", "munge"):
            d = self.path(sub)
            d.mkdir()
            d.chmod(0o700)
        if len(str(self.munge_socket)) > 100:
            raise SlurmClusterError(f"socket path too long: {self.munge_socket}")

    def _write_configs(self) -> None:
        etc = self.path("etc")
        self.conf_path = etc / "slurm.conf"
        gres = f" Gres=gpu:{self.gpus}" if self.gpus else ""
        lines = [
            "# Written by tests/workflow/slurm_cluster.py -- private test cluster",
            f"ClusterName={self.cluster_name}",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPort={self.ports['slurmctld']}",
            f"SlurmdPort={self.ports['slurmd']}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={self.path('state')}",
            f"SlurmdSpoolDir={self.path('spool')}",
            f"SlurmctldPidFile={self.path('run', 'slurmctld.pid')}",
            f"SlurmdPidFile={self.path('run', 'slurmd.pid')}",
            f"SlurmctldLogFile={self.log_files['slurmctld']}",
            f"SlurmdLogFile={self.log_files['slurmd']}",
            f"SlurmctldDebug={self.debug_level}",
            f"SlurmdDebug={self.debug_level}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            # Jobs that do not ask for memory must not grab the whole node.
            "DefMemPerCPU=512",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "MailProg=/bin/true",
            f"MinJobAge={self.min_job_age}",
            "ReturnToService=2",
            "SchedulerType=sched/backfill",
            "SchedulerParameters=batch_sched_delay=0",
            # Real hardware may differ from what we advertise (no GPU at all).
            "SlurmdParameters=config_overrides",
            "SlurmdTimeout=120",
            "InactiveLimit=0",
            "KillWait=5",
            "GresTypes=gpu",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} "
            f"RealMemory={self.real_memory_mb}{gres} State=UNKNOWN",
            f"PartitionName={self.partition} Nodes={self.node} Default=YES "
            "MaxTime=INFINITE State=UP",
            "",
        ]
        self.conf_path.write_text("\n".join(lines))
        gres_lines = ["AutoDetect=off"]
        # slurmd drops a GPU without a device file ("Removing file-less GPU ... from final
        # GRES list") and the controller then drains the node ("gres/gpu count reported
        # lower than configured (0 < 1)").  The file must be a character or block device
        # ("... is not a valid character or block device, fix your gres.conf" -- then no
        # CUDA_VISIBLE_DEVICES) with a distinct name ("gpu duplicate device file name").
        # So we create /dev/null clones in our directory; nothing opens them because
        # TaskPlugin=task/none does no device confinement.
        for dev in self._fake_gpu_devices():
            gres_lines.append(f"NodeName={self.node} Name=gpu File={dev}")
        (etc / "gres.conf").write_text("\n".join(gres_lines) + "\n")
        # Only read by cgroup plugins, which we do not use; present so that nothing falls
        # back to /etc/slurm/cgroup.conf.
        (etc / "cgroup.conf").write_text("CgroupPlugin=autodetect\n")

    def _fake_gpu_devices(self) -> list[str]:
        devices = []
        try:
            for i in range(self.gpus):
                dev = self.path("dev", f"gpu{i}")
                os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # like /dev/null
                devices.append(str(dev))
        except OSError as exc:
            # No mknod (unprivileged container): fall back to harmless system devices.
            log.warning("mknod failed (%s); using system character devices as fake GPUs", exc)
            devices = [d for d in _FALLBACK_DEVICES if Path(d).is_char_device()]
            if len(devices) < self.gpus:
                raise SlurmClusterError(f"cannot fake {self.gpus} GPU device files") from exc
            devices = devices[: self.gpus]
        return devices

    def _build_env(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_ENV_PREFIXES)}
        self._write_client_wrappers()
        path = [
            str(self.path("bin")),
            *self.path_prepend,
            *env.get("PATH", os.defpath).split(os.pathsep),
        ]
        path += [d for d in _SBIN_DIRS if d not in path]
        env["PATH"] = os.pathsep.join(dict.fromkeys(p for p in path if p))
        env["SLURM_CONF"] = str(self.conf_path)
        env.update(self.extra_env)
        self.env = env

    def _write_client_wrappers(self) -> None:
        """Put ``srun``/``sbatch``/... wrappers that default ``SLURM_CONF`` to ours on PATH.

        snakemake-executor-plugin-slurm-jobstep (0.6.x) removes every ``SLURM_*``
        variable except the job id ones -- ``SLURM_CONF`` included -- before it runs
        ``srun`` inside the job.  That srun then looks for /etc/slurm/slurm.conf and
        fails with "fetch_config: DNS SRV lookup failed" / "Could not establish a
        configuration source".  The wrappers (first on ``env['PATH']``, which sbatch
        exports to the jobs) restore our config whenever the variable is unset.
        """
        for name in CLIENT_COMMANDS:
            real = _which(name)
            if real is None:
                continue
            wrapper = self.path("bin", name)
            conf = shlex.quote(str(self.conf_path))
            wrapper.write_text(
                "#!/bin/sh\n"
                "# Written by tests/workflow/slurm_cluster.py: default SLURM_CONF to the\n"
                "# private test cluster (the slurm jobstep plugin drops it for srun).\n"
                f'if [ -z "${{SLURM_CONF:-}}" ]; then SLURM_CONF={conf}; export SLURM_CONF; fi\n'
                f'exec {shlex.quote(real)} "$@"\n'
            )
            wrapper.chmod(0o755)

    def _spawn(self, name: str, argv: Sequence[str]) -> subprocess.Popen:
        stdio = open(self.log_files[f"{name}.stdio"], "ab")  # noqa: SIM115 - closed by Popen
        try:
            proc = subprocess.Popen(
                argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdio,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                preexec_fn=_set_pdeathsig,
            )
        finally:
            stdio.close()
        self.procs[name] = proc
        log.info("started %s pid %d: %s", name, proc.pid, shlex.join(argv))
        return proc

    def _check_alive(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is not None:
            raise SlurmClusterError(
                f"{name} exited with code {proc.returncode} during start-up\n"
                + self.describe_logs()
            )

    def _start_munged(self) -> None:
        key = self.path("munge", "munge.key")
        mungekey = _which("mungekey")
        created = False
        if mungekey:
            proc = subprocess.run(
                [mungekey, "--create", f"--keyfile={key}", "--force"],
                capture_output=True,
                text=True,
                check=False,
            )
            created = proc.returncode == 0 and key.exists()
        if not created:
            key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        argv = [
            _which("munged") or "munged",
            "--foreground",
            "--force",
            f"--socket={self.munge_socket}",
            f"--key-file={key}",
            f"--pid-file={self.path('run', 'munged.pid')}",
            f"--log-file={self.log_files['munged']}",
            f"--seed-file={self.path('munge', 'munged.seed')}",
            "--num-threads=2",
        ]
        self._spawn("munged", argv)
        deadline = time.monotonic() + 20
        munge, unmunge = _which("munge"), _which("unmunge")
        while True:
            self._check_alive("munged")
            if self.munge_socket.exists():
                if not (munge and unmunge):
                    break
                enc = subprocess.run(
                    [munge, "-n", f"--socket={self.munge_socket}"],
                    capture_output=True,
                    check=False,
                )
                if enc.returncode == 0:
                    dec = subprocess.run(
                        [unmunge, f"--socket={self.munge_socket}"],
                        input=enc.stdout,
                        capture_output=True,
                        check=False,
                    )
                    if dec.returncode == 0:
                        break
            if time.monotonic() > deadline:
                raise SlurmClusterError("munged did not answer in 20 s\n" + self.describe_logs())
            time.sleep(0.2)

    def _start_slurmctld(self) -> None:
        argv = [_which("slurmctld") or "slurmctld", "-D", "-c", "-f", str(self.conf_path)]
        self._spawn("slurmctld", argv)
        deadline = time.monotonic() + self.start_timeout
        while True:
            self._check_alive("slurmctld")
            ping = self.run(["scontrol", "ping"], check=False, timeout=15)
            if ping.returncode == 0 and "UP" in ping.stdout:
                return
            if time.monotonic() > deadline:
                raise SlurmClusterError(
                    f"slurmctld did not answer 'scontrol ping' in {self.start_timeout:.0f} s: "
                    f"{ping.stdout.strip()} {ping.stderr.strip()}\n" + self.describe_logs()
                )
            time.sleep(0.3)

    def _start_slurmd(self) -> None:
        argv = [_which("slurmd") or "slurmd", "-D", "-f", str(self.conf_path), "-N", self.node]
        self._spawn("slurmd", argv)

    def _wait_idle(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        state = ""
        while True:
            for name in self.procs:
                self._check_alive(name)
            res = self.run(
                ["sinfo", "-h", "-N", "-n", self.node, "-o", "%T"], check=False, timeout=15
            )
            state = res.stdout.strip()
            if res.returncode == 0 and state.rstrip("*~#!%$@^-") == "idle":
                return
            if time.monotonic() > deadline:
                reason = self.run(
                    ["sinfo", "-h", "-N", "-o", "%N %T %E"], check=False, timeout=15
                ).stdout
                raise SlurmClusterError(
                    f"node {self.node} not idle after {self.start_timeout:.0f} s "
                    f"(sinfo: {state!r} {res.stderr.strip()}; reason: {reason.strip()})\n"
                    + self.describe_logs()
                )
            time.sleep(0.5)

    # ------------------------------------------------------------------ use
    def run(
        self,
        cmd: str | Sequence[str],
        *,
        check: bool = True,
        timeout: float | None = 120,
        env: Mapping[str, str] | None = None,
        **kwargs,
    ) -> subprocess.CompletedProcess:
        """Run ``cmd`` with the cluster environment (text mode, output captured).

        A string is run through the shell; a sequence is executed directly.  ``env``
        entries are added on top of ``self.env``.
        """
        if not self.env:
            raise SlurmClusterError("cluster environment not prepared; call start() first")
        full_env = dict(self.env)
        if env:
            full_env.update(env)
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        proc = subprocess.run(
            cmd,
            shell=isinstance(cmd, str),
            env=full_env,
            timeout=timeout,
            check=False,
            **kwargs,
        )
        if check and proc.returncode != 0:
            shown = cmd if isinstance(cmd, str) else shlex.join(cmd)
            raise SlurmClusterError(
                f"command failed with exit code {proc.returncode}: {shown}\n"
                f"stdout:\n{_tail(proc.stdout or '')}\nstderr:\n{_tail(proc.stderr or '')}"
            )
        return proc

    def sbatch(self, *args: str, timeout: float | None = 300) -> str:
        """Submit with ``sbatch --parsable`` and return the job id (``--wait`` allowed)."""
        res = self.run(["sbatch", "--parsable", *args], timeout=timeout)
        return res.stdout.strip().splitlines()[-1].split(";")[0]

    def job_state(self, job_id: str) -> str:
        """State of a job from ``squeue --states=all`` (no accounting), else scontrol."""
        res = self.run(["squeue", "-h", "--states=all", "-j", str(job_id), "-o", "%T"], check=False)
        state = res.stdout.strip()
        if res.returncode == 0 and state:
            return state.split()[0]
        res = self.run(["scontrol", "-o", "show", "job", str(job_id)], check=False)
        for field in res.stdout.split():
            if field.startswith("JobState="):
                return field.split("=", 1)[1]
        return "UNKNOWN"

    def wait_job(self, job_id: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state = self.job_state(job_id)
            if state in FINISHED_STATES:
                return state
            if time.monotonic() > deadline:
                raise SlurmClusterError(f"job {job_id} still {state} after {timeout} s")
            time.sleep(0.5)

    def describe_logs(self, lines: int = 25) -> str:
        """Tails of the daemon logs (for error messages)."""
        if self.root is None:
            return ""
        parts = []
        for name in ("munged", "slurmctld", "slurmd"):
            # In the foreground the daemons copy every log line to stderr, which also
            # has the messages written before the log file was opened; prefer it.
            for path in (self.log_files[f"{name}.stdio"], self.log_files[name]):
                if path.exists() and path.stat().st_size:
                    parts.append(f"--- {name} ({path}) ---\n{_file_tail(path, lines)}")
                    break
        return "\n".join(parts)

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """Cancel our jobs, stop our daemons (by PID) and remove the temp dir.

        Idempotent, and safe after a start that failed half-way.
        """
        if self._stopped:
            return
        self._stopped = True
        try:
            self._cancel_jobs()
        except Exception as exc:  # noqa: BLE001 - best effort
            log.warning("could not cancel jobs: %s", exc)
        # slurmd first (it owns the job steps), then the controller, then munge.
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.get(name)
            if proc is not None:
                self._terminate(name, proc)
        self._kill_leftover_stepds()
        if self.root is not None and self.root.exists():
            if self.keep_dir:
                log.warning("keeping SLURM test cluster directory %s", self.root)
            else:
                shutil.rmtree(self.root, ignore_errors=True)

    def _cancel_jobs(self) -> None:
        ctld = self.procs.get("slurmctld")
        if not self.env or ctld is None or ctld.poll() is not None:
            return
        res = self.run(["squeue", "-h", "-o", "%i"], check=False, timeout=15)
        job_ids = res.stdout.split()
        if not job_ids:
            return
        self.run(["scancel", *job_ids], check=False, timeout=15)
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline:
            res = self.run(
                ["squeue", "-h", "-t", "PENDING,RUNNING,COMPLETING,SUSPENDED", "-o", "%i"],
                check=False,
                timeout=15,
            )
            if res.returncode != 0 or not res.stdout.strip():
                return
            time.sleep(0.5)
        log.warning("jobs still active after scancel: %s", res.stdout.split())

    def _terminate(self, name: str, proc: subprocess.Popen) -> None:
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %d) ignored SIGTERM; sending SIGKILL", name, proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=self.stop_timeout)

    def _kill_leftover_stepds(self) -> None:
        """Kill ``slurmstepd`` processes that belong to *our* cluster.

        slurmd daemonises one slurmstepd per job step; they inherit slurmd's
        environment, so ours are recognised by our ``SLURM_CONF`` value.
        """
        if self.conf_path is None:
            return
        marker = f"SLURM_CONF={self.conf_path}".encode()
        for pid in self.stepd_pids(marker):
            log.warning("killing leftover slurmstepd pid %d", pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def stepd_pids(self, marker: bytes | None = None) -> list[int]:
        if marker is None:
            if self.conf_path is None:
                return []
            marker = f"SLURM_CONF={self.conf_path}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if not (entry / "comm").read_text().startswith("slurmstepd"):
                    continue
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in environ:
                pids.append(int(entry.name))
        return pids

    def alive_pids(self) -> list[int]:
        """PIDs we started (daemons and our slurmstepds) that are still running."""
        pids = [pid for pid in self.pids.values() if _pid_alive(pid)]
        return pids + [pid for pid in self.stepd_pids() if _pid_alive(pid)]
