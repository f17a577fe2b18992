"""The real Snakemake and DVC fetching Levin from an HTTP mirror into data/raw.

A stdlib HTTP server on 127.0.0.1 serves the shared Levin copy and drops the connection
halfway through the first request of one file, so the fetch must resume it with a
``Range`` request. The dataset's ``root`` is left at its default (data/raw/levin), so
``prepare`` depends on the fetch; the prepared scene is compared with a direct read of
the shared copy by the Levin reader.
"""

from __future__ import annotations

import http.server
import re
import threading
from collections import defaultdict

import numpy as np
import pytest
from support import LEVIN_DIR
from tiny_project import make_dvc_project, make_project, ran, run, tiny_params, write_params

from inrdeblur.data import levin
from inrdeblur.records.scene import Scene

pytestmark = pytest.mark.workflow

SCENE_ID = "im1_kernel3"
SCENES = "data/scenes/levin"  # the prepare job's output: every selected scene
SCENE = f"{SCENES}/{SCENE_ID}.npz"
DROPPED = "/blurred/im1_kernel3_img.png"  # its first request ends halfway


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the test output quiet
        pass

    def do_GET(self):
        server = self.server
        path = server.root / self.path.lstrip("/")
        rel = self.path
        if ".." in rel or not path.is_file():
            self.send_error(404)
            return
        with server.lock:
            server.requests[rel].append(self.headers.get("Range"))
            first = len(server.requests[rel]) == 1
        body = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match.group(1)) if match else 0
        self.send_response(206 if match else 200)
        if match:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if rel == DROPPED and first:
            self.wfile.write(body[: len(body) // 2])  # then close: a dropped connection
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture(scope="module")
def levin_server():
    if not (LEVIN_DIR / "SHA256SUMS").is_file():
        pytest.skip(f"the shared Levin dataset is not present at {LEVIN_DIR}")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.root = LEVIN_DIR
    server.requests = defaultdict(list)
    server.lock = threading.Lock()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/"
    yield server
    server.shutdown()


@pytest.fixture
def local_env(tool_env):
    """The tools' environment, with 127.0.0.1 kept away from any proxy."""
    return {**tool_env, "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}


def levin_params(mirror: str, scenes: list[str]) -> dict:
    params = tiny_params()
    params["studies"] = {
        "levin": {
            "datasets": ["levin"],
            "blurs": ["true_kernel_valid"],
            "methods": ["siren_tv"],
            "seeds": [0],
        }
    }
    params["datasets"] = {"levin": {"mirror": mirror, "scenes": scenes}}  # root: default
    params["metrics"]["lpips"] = False
    return params


def _localrules(snakefile) -> set[str]:
    """The names listed under the Snakefile's `localrules:` directive."""
    lines = snakefile.read_text().splitlines()
    start = lines.index("localrules:") + 1
    names = set()
    for line in lines[start:]:
        if not line.startswith((" ", "\t")):
            break
        names.add(line.strip().rstrip(","))
    return names


def expected_files() -> list[str]:
    lines = (LEVIN_DIR / "SHA256SUMS").read_text().splitlines()
    return sorted("/" + line.split(maxsplit=1)[1].lstrip("*") for line in lines if line.strip())


def test_snakemake_fetches_once_as_a_local_rule_then_prepares(tmp_path, local_env, levin_server):
    levin_server.requests.clear()
    project = make_project(tmp_path / "p", levin_params(levin_server.url, [SCENE_ID]))
    proc = run(["snakemake", "--cores", "2", SCENES], project, local_env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert proc.stdout.count("rule fetch:") == 1, proc.stdout[-5000:]  # fetched once
    # fetch runs where Snakemake runs (login nodes have the internet); prepare may run on a
    # compute node
    local = _localrules(project / "Snakefile")
    assert {"fetch", "fetch_all", "fetch_lpips"} <= local and "prepare" not in local

    requests = dict(levin_server.requests)
    assert sorted(requests) == expected_files()  # all 44 files of the registry entry
    half = (LEVIN_DIR / DROPPED.lstrip("/")).stat().st_size // 2
    assert requests.pop(DROPPED) == [None, f"bytes={half}-"]  # resumed, not restarted
    assert all(ranges == [None] for ranges in requests.values())

    raw = project / "data" / "raw" / "levin"
    levin.verify(raw)  # the SHA256SUMS written by the fetch
    scene = Scene.load(project / SCENE)
    direct = levin.make_scene(LEVIN_DIR, SCENE_ID)
    for key in ("sharp", "blurry", "kernel"):
        np.testing.assert_array_equal(getattr(scene, key), getattr(direct, key), err_msg=key)

    again = run(["snakemake", "--cores", "2", SCENES], project, local_env, timeout=120)
    assert again.returncode == 0, again.stdout[-5000:]
    assert "Nothing to be done" in again.stdout
    assert sum(map(len, levin_server.requests.values())) == 45  # nothing fetched again


def test_dvc_fetch_stage_is_versioned_and_reruns_without_downloading(
    tmp_path, local_env, levin_server
):
    params = levin_params(levin_server.url, [SCENE_ID])
    project = make_dvc_project(tmp_path / "p", params, local_env)
    levin_server.requests.clear()
    first = run(["dvc", "repro", "synthesize"], project, local_env, timeout=300)
    assert first.returncode == 0, first.stdout[-5000:]
    assert ran(first.stdout) == {"plan", "fetch", "synthesize"}
    assert (project / "data/blurred/true_kernel_valid/levin" / f"{SCENE_ID}.npz").is_file()
    downloads = sum(map(len, levin_server.requests.values()))
    assert downloads == 45  # 44 files, one of them resumed

    status = run(["dvc", "status", "--with-deps", "synthesize"], project, local_env)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    lock = (project / "dvc.lock").read_text()
    assert re.search(
        r"path: data/raw\n\s+hash: md5\n\s+md5: \w+\.dir\n\s+size: \d+\n\s+nfiles: 46", lock
    )
    assert run(["dvc", "repro", "synthesize"], project, local_env).stdout.count("Running") == 0

    # A second scene changes `datasets` (and the plan's images): the fetch reruns and only
    # re-verifies data/raw.
    write_params(project, levin_params(levin_server.url, [SCENE_ID, "im2_kernel5"]))
    second = run(["dvc", "repro", "synthesize"], project, local_env, timeout=300)
    assert second.returncode == 0, second.stdout[-5000:]
    assert ran(second.stdout) == {"plan", "fetch", "synthesize"}
    assert sum(map(len, levin_server.requests.values())) == downloads
    status = run(["dvc", "status", "--with-deps", "synthesize"], project, local_env)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout


def test_dvc_fetch_stage_of_the_demo_needs_no_network(tmp_path, local_env):
    project = make_dvc_project(tmp_path / "p", tiny_params(), local_env)
    proc = run(["dvc", "repro", "fetch"], project, local_env, timeout=120)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert ran(proc.stdout) == {"plan", "fetch"}
    assert (project / "data/raw").is_dir() and not any((project / "data/raw").iterdir())
    status = run(["dvc", "status", "fetch"], project, local_env)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout


def test_lpips_backbone_is_an_explicit_local_target_only(tmp_path, tool_env):
    project = make_project(tmp_path / "p")  # the demo, with metrics.lpips true
    env = {**tool_env, "TORCH_HOME": str(tmp_path / "torch")}
    target = tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    dry = run(["snakemake", "-n", "--cores", "2", "fetch_lpips"], project, env, timeout=120)
    assert dry.returncode == 0, dry.stdout[-5000:]
    assert f"output: {target}" in dry.stdout  # where the LPIPS metric reads it
    everything = run(["snakemake", "-n", "--cores", "2"], project, env, timeout=120)
    assert everything.returncode == 0, everything.stdout[-5000:]
    stats = everything.stdout.split("Job stats:")[1].split("Reasons:")[0]
    assert "prepare" in stats and "fetch" not in stats  # the pipeline never needs it
