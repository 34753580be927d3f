"""Shared fixtures: a throw-away copy of the Kedro project and tiny synthetic sources."""
from __future__ import annotations

import atexit
import contextlib
import dataclasses
import fcntl
import json
import functools
import gzip
import os
import shutil
import signal
import subprocess
import urllib.request
import time
import socket
import sys
import tempfile
from pathlib import Path

# Two xdist workers and the processes they start share the cores; an OpenBLAS
# that also starts a thread per core spins against them (a 1000x128 by 128x1000
# product took 0.43 s with two threads under that load, 0.08 s with one: every
# FID, KID and nearest-neighbour distance). Set before NumPy loads it; inherited
# by every subprocess the tests start.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from wgan_lab.data.idx import encode_idx  # noqa: E402
from wgan_lab.data.sources import IDX_FILES  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WGAN_LAB_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

os.environ.setdefault("DO_NOT_TRACK", "1")


def write_idx_source(directory: Path, n_train: int = 60, n_test: int = 20, size: int = 28,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """Write gzipped IDX files of random digits-like images with balanced labels."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for key, name in IDX_FILES.items():
        (directory / name).write_bytes(gzip.compress(encode_idx(arrays[key])))
    return arrays


def copy_project(root: Path) -> Path:
    """The project's configuration in ``root``, without conf/local."""
    root.mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "conf", root / "conf",
                    ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    # The package is imported from the installed project; Kedro only checks src/ exists.
    (root / "src").mkdir()
    return root


@functools.cache
def _empty_mlflow_store() -> Path:
    """An MLflow SQLite store as MLflow creates it, made once per test process."""
    import mlflow

    folder = Path(tempfile.mkdtemp(prefix="wgan-lab-mlflow-"))
    atexit.register(shutil.rmtree, folder, True)
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
    return folder / "mlflow.db"


def new_mlflow_store(path: Path) -> str:
    """A new, empty MLflow SQLite store at ``path``, as its URI. A copy of one MLflow
    made: creating the schema (its migrations) costs about 1.6 CPU seconds a store,
    and the suite makes a store for every project."""
    shutil.copy(_empty_mlflow_store(), path)
    return f"sqlite:///{path}"


@pytest.fixture
def kedro_project(tmp_path, monkeypatch) -> Path:
    """A copy of the project's configuration in a temporary root, as the working directory."""
    root = copy_project(tmp_path / "project")
    monkeypatch.chdir(root)
    # MLflow caches stores by URI, so the relative default (sqlite:///mlflow.db)
    # would keep pointing at the first test's project; spell it out absolute.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", new_mlflow_store(root / "mlflow.db"))
    return root


# A compare run of seconds: tiny networks, a few steps, a small protocol.
TINY_EVALUATION = {"evaluation": {"classifier": {"epochs": 1, "feature_dim": 16},
                                  "protocol": {"n_samples": 30, "kid_subsets": 3,
                                               "kid_subset_size": 20, "k": 3}}}


@contextlib.contextmanager
def tiny_compare_run(project: Path):
    """A project in ``project`` after a tiny `compare` run of gan, wgan and wgan_gp, as the
    working directory with its own MLflow store, both restored on exit."""
    from tests.configs import tiny_training

    copy_project(project)
    old_cwd, old_uri = os.getcwd(), os.environ.get("MLFLOW_TRACKING_URI")
    os.chdir(project)
    os.environ["MLFLOW_TRACKING_URI"] = new_mlflow_store(project / "mlflow.db")
    try:
        write_idx_source(project / "data/01_raw/mnist", n_train=60, n_test=30)
        params = dict(TINY_EVALUATION)
        for variant in ("gan", "wgan", "wgan_gp"):
            params.update(tiny_training(variant, schedule={"steps": 8, "eval_every": 2,
                                                           "eval_samples": 20}))
        run_pipeline(project, "compare", params=params)
        yield project
    finally:
        os.chdir(old_cwd)
        if old_uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old_uri


def run_pipeline(project: Path, pipeline: str, params: dict | None = None,
                 env: str | None = None) -> dict:
    """Run ``pipeline`` through a real KedroSession in ``project``."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    import mlflow

    bootstrap_project(project)
    try:
        with KedroSession.create(project_path=project, env=env,
                                 runtime_params=params or {}) as session:
            return session.run(pipeline_names=[pipeline])
    finally:
        # kedro-mlflow's hook is a process-wide singleton: a run left active by
        # one session would be reused by the next test's session, and a session
        # with tracking disabled would reopen the previous session's run id.
        while mlflow.active_run():
            mlflow.end_run()
        from kedro_mlflow.framework.hooks.mlflow_hook import mlflow_hook
        mlflow_hook.run_id = None


@pytest.fixture
def shared_mnist(shared_mnist_module) -> Path:
    return shared_mnist_module


@pytest.fixture(scope="module")
def shared_mnist_module() -> Path:
    return require_shared_dataset("mnist")


@pytest.fixture(scope="session")
def quick_mnist_classifier(tmp_path_factory) -> Path:
    """The quick environment's domain classifier on the real MNIST, trained once per
    test session, as the pipeline's cache folder (its fingerprint: the data and the
    settings, so a pipeline with other data or settings retrains instead).

    The xdist workers of a session share it: the first trains it under a file lock
    and the others wait, instead of each training its own copy on the same cores."""
    from wgan_lab.data.processing import hold_out, to_unit_range, validate
    from wgan_lab.data.sources import FetchOptions, read_source
    from wgan_lab.evaluation.features import ClassifierConfig, load_or_train_classifier
    from wgan_lab.variants import load_parameters

    # Under xdist, the parent of a worker's base folder is this session's alone.
    session_root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        session_root = session_root.parent
    cache = session_root / "quick_mnist_classifier"
    with open(session_root / "quick_mnist_classifier.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cache / "classifier.json").is_file():
            parameters = load_parameters(REPO_ROOT, env="quick")
            processing = parameters["data_processing"]
            raw = read_source("mnist", require_shared_dataset("mnist"),
                              FetchOptions(download=False))
            validate(raw, max_skipped_fraction=processing["max_skipped_fraction"])
            splits = hold_out(raw, processing["test_fraction"], processing["seed"])
            load_or_train_classifier(cache, to_unit_range(splits.train_images),
                                     splits.train_labels, to_unit_range(splits.test_images),
                                     splits.test_labels,
                                     ClassifierConfig(**parameters["evaluation"]["classifier"]))
    return cache


@pytest.fixture(scope="session")
def quick_mnist_extractor(quick_mnist_classifier):
    """The session's classifier as a feature extractor, with its test accuracy."""
    import json

    import keras

    from wgan_lab.evaluation.features import FeatureExtractor

    info = json.loads((quick_mnist_classifier / "classifier.json").read_text())
    model = keras.models.load_model(quick_mnist_classifier / "classifier.keras")
    return FeatureExtractor(model), info["test_accuracy"]


def with_real_mnist(project: Path, classifier: Path, folder: str = "mnist-quick") -> None:
    """Real MNIST in ``project``'s raw data, and the session's trained classifier where
    the pipeline looks for its cache, so the run does not train it again."""
    shutil.copytree(require_shared_dataset("mnist"), project / "data/01_raw/mnist")
    shutil.copytree(classifier, project / "data/06_models" / folder / "classifier")


def require_shared_dataset(name: str) -> Path:
    """The real dataset ``name`` under SHARED_DATA; skipped when absent, failed under CI."""
    path = SHARED_DATA / name
    missing = [f for f in IDX_FILES.values() if not (path / f).is_file()]
    if missing:
        message = (f"real {name} not found under {path} (missing {', '.join(missing)}); "
                   f"set WGAN_LAB_SHARED_DATA to the folder that holds it")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}. CI must run the real-data tests.", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture
def spawn():
    """Start subprocesses that cannot outlive the test.

    ``spawn(args, **popen_kwargs)`` starts each in its own process group; at
    teardown (after a pass, a failure or pytest-timeout's interrupt) every
    group still running is killed with its children, so a hung worker or
    server never holds CI's cores or ports.
    """
    started: list[subprocess.Popen] = []

    def start(args, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(args, start_new_session=True, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)


def kedro_run_cli(project: Path, *args: str, timeout: float = 600) -> str:
    """``kedro run <args>`` in ``project`` as a user types it; its output, or a failed test."""
    proc = subprocess.run([sys.executable, "-m", "kedro", "run", *args], cwd=project,
                          # Wide columns keep rich from wrapping the lines tests look for.
                          env={**os.environ, "DO_NOT_TRACK": "1", "COLUMNS": "400"},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return proc.stdout


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mlflow_server(backend: str, artifacts: Path, env: dict[str, str] | None = None
                        ) -> tuple[subprocess.Popen, str]:
    """A real `mlflow server` on a free loopback port, answering: (process, uri)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", backend, "--artifacts-destination", str(artifacts),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=env)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2):
                return proc, uri
        except OSError:
            if proc.poll() is not None:
                pytest.fail("mlflow server exited")
            time.sleep(0.5)
    kill_group(proc)
    pytest.fail("mlflow server did not start")


@pytest.fixture
def mlflow_server_proc(tmp_path):
    """A real `mlflow server` (SQLite store) on a free loopback port: (process, uri)."""
    proc, uri = start_mlflow_server(new_mlflow_store(tmp_path / "server.db"), tmp_path / "artifacts")
    yield proc, uri
    kill_group(proc)


def kill_group(proc):
    """Kill the server and the workers it forked."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


@pytest.fixture
def mlflow_server(mlflow_server_proc):
    return mlflow_server_proc[1]


@dataclasses.dataclass(frozen=True)
class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1 with password authentication."""

    port: int
    user: str
    password: str

    def url(self, database: str, with_password: bool = True) -> str:
        secret = f":{self.password}" if with_password else ""
        return f"postgresql://{self.user}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')


def _postgres_bin() -> Path | None:
    """Debian's PostgreSQL programs (initdb, pg_ctl), or None."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="session")
def postgres_server():
    """initdb + pg_ctl in a temporary folder; password authentication only (scram),
    so a URL without the password is refused. Skipped without PostgreSQL, failed
    under CI, whose .ci/run installs Debian's package."""
    bindir = _postgres_bin()
    if bindir is None:
        message = "PostgreSQL is not installed (apt-get install postgresql)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must run the PostgreSQL tests", pytrace=False)
        pytest.skip(message)
    # Not under pytest's folder: the postgres user cannot enter root's 0700 folders.
    root = Path(tempfile.mkdtemp(prefix="wgan-lab-postgres-"))
    server = PostgresServer(port=free_port(), user="lab", password="pg-S3cret-never-shown")
    (root / "pwfile").write_text(server.password + "\n")
    # initdb refuses to run as root: as root (CI), the server runs as Debian's postgres user.
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        shutil.chown(root / "pwfile", "postgres")
    data = root / "data"
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", server.user,
                    "--auth=scram-sha-256", f"--pwfile={root / 'pwfile'}"],
                   check=True, capture_output=True)
    options = f"-c listen_addresses=127.0.0.1 -p {server.port} -k {root}"
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                    "-l", str(root / "server.log"), "-w", "-t", "60", "start"],
                   check=True, capture_output=True)
    try:
        yield server
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


# What makes a test take tens of seconds: subprocesses, servers, real data and training
# (2), a project run in-process (1).
HEAVY_FIXTURES = {"spawn": 2, "postgres_server": 2, "quick_mnist_classifier": 2,
                  "shared_mnist_module": 2, "mlflow_server": 1, "mlflow_server_proc": 1,
                  "kedro_project": 1}


def _weight(item) -> int:
    marked = 2 if item.get_closest_marker("slow") or item.get_closest_marker("integration") \
        else 0
    return marked + sum(HEAVY_FIXTURES.get(name, 0) for name in getattr(item, "fixturenames", ()))


# Seconds each test file took in a CI run (tests/file_seconds.py makes it from
# pytest's --durations output). Files it does not list are placed by their heavy
# fixtures and marks, at about 10 s a point.
FILE_SECONDS = json.loads((Path(__file__).with_name("file_seconds.json")).read_text())


def pytest_collection_modifyitems(config, items):
    """The longest files first, each file's tests together and in order: the two
    xdist workers (one file at a time) start on the longest work, so neither is left
    alone with a long file at the end."""
    weights: dict = {}
    for item in items:
        weights[item.path] = weights.get(item.path, 0) + 10 * _weight(item)
    for path in weights:
        relative = path.relative_to(REPO_ROOT).as_posix()
        weights[path] = FILE_SECONDS.get(relative, weights[path])
    order = {item.path: i for i, item in reversed(list(enumerate(items)))}
    items.sort(key=lambda item: (-weights[item.path], order[item.path]))
