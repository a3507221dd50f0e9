"""Fixtures: a petri dev server for the whole session, fresh colonies, background executors."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from petri_testlib import (
    REPO,
    BackgroundScript,
    FreshColony,
    create_colony,
    delete_colony,
    dev_env,
    parse_exports,
)
from pycolonies import Colonies

STARTUP_TIMEOUT = 30.0


@dataclass
class PetriServer:
    port: int
    proc: subprocess.Popen
    data_dir: Path
    stdout_path: Path
    stderr_path: Path
    env: dict[str, str]
    exports: dict[str, str] = field(default_factory=dict)

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""


_SERVER: PetriServer | None = None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


@pytest.fixture(scope="session")
def petri_server(tmp_path_factory) -> PetriServer:
    """Start `petri dev` on a free port with a throw-away data dir; stop it at the end."""
    global _SERVER
    petri_bin = Path(os.environ.get("PETRI_BIN", str(REPO / "target" / "debug" / "petri")))
    if not petri_bin.exists():
        pytest.fail(f"petri binary not found at {petri_bin} (set PETRI_BIN)", pytrace=False)

    port = _free_port()
    base = tmp_path_factory.mktemp("petri")
    data_dir = base / "data"
    data_dir.mkdir()
    stdout_path = base / "petri.stdout"
    stderr_path = base / "petri.stderr"

    # Start from a clean slate: the server gets its configuration from the command line
    # and its own dev defaults, not from COLONIES_* variables of the calling shell.
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("COLONIES_")}
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [str(petri_bin), "dev", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=server_env,
        )

    server = PetriServer(port, proc, data_dir, stdout_path, stderr_path, env={})
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not _health_ok(port):
        if proc.poll() is not None:
            pytest.fail(
                f"petri dev exited with {proc.returncode} before answering /health\n"
                f"--- stdout ---\n{server.stdout()}\n--- stderr ---\n{server.stderr()}",
                pytrace=False,
            )
        if time.monotonic() > deadline:
            _stop(proc)
            pytest.fail(
                f"petri dev did not answer GET /health with 200 within {STARTUP_TIMEOUT}s\n"
                f"--- stdout ---\n{server.stdout()}\n--- stderr ---\n{server.stderr()}",
                pytrace=False,
            )
        time.sleep(0.1)

    # The export lines may be flushed slightly after the listener is up.
    export_deadline = time.monotonic() + 2.0
    while True:
        server.exports = parse_exports(server.stdout())
        if server.exports or time.monotonic() > export_deadline:
            break
        time.sleep(0.1)

    env = dev_env(port)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    server.env = dict(os.environ)
    _SERVER = server
    try:
        yield server
    finally:
        _SERVER = None
        _stop(proc)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def colonies(petri_server) -> Colonies:
    return Colonies("localhost", petri_server.port)


@pytest.fixture
def colony(colonies) -> FreshColony:
    """A fresh colony (created with the server key) with one approved `cli` member executor."""
    c = create_colony(colonies)
    yield c
    delete_colony(colonies, c)


@pytest.fixture
def executors(tmp_path):
    """Factory for background example scripts; all are stopped after the test.

    Their output is printed at teardown, so pytest shows it when the test fails.
    """
    started: list[BackgroundScript] = []

    def start(script: str, *args: str, env: dict[str, str]) -> BackgroundScript:
        b = BackgroundScript(script, list(args), env, tmp_path)
        started.append(b)
        return b

    start.started = started  # type: ignore[attr-defined]
    yield start
    for b in started:
        b.stop()
    for b in started:
        print(b.describe())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _SERVER is not None:
        tail = "\n".join(_SERVER.stderr().splitlines()[-80:])
        rep.sections.append(("petri server stderr (last 80 lines)", tail))
