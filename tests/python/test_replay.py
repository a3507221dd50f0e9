"""Replay protection from pycolonies' side: what it lacks, and that petri's own CLI has it.

pycolonies 1.0.25 signs only the Colonies message, with no nonce, time or server id, so a broker
started with `--require-replay-protection` refuses it with a clear reason, while the `petri` CLI
(the Rust SDK) keeps working. By default (no flag) pycolonies works unchanged: the rest of the
suite shows that.
"""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
from pycolonies import Colonies, ColoniesConnectionError

from petri_testlib import REPO, poll, production_server_key, stop_processes

PETRI = os.environ.get("PETRI_BIN", str(REPO / "target" / "debug" / "petri"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def strict_server(tmp_path):
    """`petri server start` (plain HTTP on loopback) that requires replay protection."""
    port = _free_port()
    prvkey, server_id = production_server_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLONIES_", "PETRI_"))}
    env.update(COLONIES_SERVER_ID=server_id, PETRI_LOG="warn", PETRI_REQUIRE_REPLAY_PROTECTION="true")
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(
        [PETRI, "server", "start", "--insecure", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )

    def up():
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "server.log").read_text())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    poll(up, 30, what="the strict broker")
    yield port, prvkey
    stop_processes([proc], [log])


def test_pycolonies_is_refused_where_replay_protection_is_required(strict_server):
    port, prvkey = strict_server
    colonies = Colonies("localhost", port)
    with pytest.raises(ColoniesConnectionError, match="requires replay protection"):
        colonies.list_colonies(prvkey)


def test_the_petri_cli_signs_with_replay_protection(strict_server):
    port, prvkey = strict_server
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLONIES_")}
    env.update(COLONIES_SERVER_HOST="localhost", COLONIES_SERVER_PORT=str(port), COLONIES_SERVER_PRVKEY=prvkey,
               COLONIES_TLS="false")
    added = subprocess.run([PETRI, "colony", "add", "--name", "strict"], env=env, capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    listed = subprocess.run([PETRI, "--json", "colony", "ls"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "strict" in listed.stdout
