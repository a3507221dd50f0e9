"""pycolonies over HTTPS and WSS: `petri server start --tls-cert/--tls-key` with certificates from
`petri pki`, and an unmodified pycolonies client that trusts the petri root through the standard
variables of its HTTP and websocket libraries (REQUESTS_CA_BUNDLE, WEBSOCKET_CLIENT_CA_BUNDLE)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from petri_testlib import REPO, SUCCESSFUL, create_colony, poll, production_server_key, with_server_key
from pycolonies import Colonies, ColoniesConnectionError, func_spec


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _petri() -> str:
    return os.environ.get("PETRI_BIN", str(REPO / "target" / "debug" / "petri"))


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    pki = tmp_path / "pki"
    broker = tmp_path / "broker"
    for args in (
        ["init"],
        ["org", "--name", "ops", "--dns", "localhost", "--ip", "127.0.0.0/8"],
        ["node", "--org", "ops", "--name", "broker", "--dns", "localhost", "--ip", "127.0.0.1", "--out", str(broker)],
    ):
        subprocess.run([_petri(), "pki", "--dir", str(pki), *args], check=True, capture_output=True)
    port = _free_port()
    log = open(tmp_path / "server.log", "wb")
    server_prvkey, server_id = production_server_key()
    env = dict(os.environ, COLONIES_SERVER_ID=server_id, PETRI_LOG="warn")
    proc = subprocess.Popen(
        [_petri(), "server", "start", "--bind", "127.0.0.1", "--port", str(port),
         "--data-dir", str(tmp_path / "data"),
         "--tls-cert", str(broker / "cert.pem"), "--tls-key", str(broker / "key.pem")],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    ca = str(broker / "ca.pem")

    def up():
        try:
            return requests.get(f"https://localhost:{port}/health", verify=ca, timeout=1).ok
        except requests.RequestException:
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "server.log").read_text())
            return False

    poll(up, 30, what="the TLS broker")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)
    monkeypatch.setenv("WEBSOCKET_CLIENT_CA_BUNDLE", ca)
    yield port, ca, server_prvkey
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_pycolonies_runs_a_process_over_https_and_waits_over_wss(tls_server):
    port, _, server_prvkey = tls_server
    colonies = with_server_key(Colonies("localhost", port, tls=True), server_prvkey)
    colony = create_colony(colonies, prefix="tls")
    spec = func_spec(func="echo", args=["over tls"], colonyname=colony.name, executortype=colony.executortype,
                     maxexectime=10, maxretries=0)
    process = colonies.submit_func_spec(spec, colony.executor_prvkey)

    def worker():
        time.sleep(0.3)
        assigned = colonies.assign(colony.name, 5, colony.executor_prvkey)
        colonies.close(assigned.processid, ["done over tls"], colony.executor_prvkey)

    thread = threading.Thread(target=worker)
    thread.start()
    done = colonies.wait(process, 20, colony.executor_prvkey)  # websocket over WSS
    thread.join()
    assert done.state == SUCCESSFUL
    assert done.output == ["done over tls"]


def test_pycolonies_refuses_a_broker_whose_root_it_does_not_trust(tls_server, monkeypatch):
    port, _, _ = tls_server
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    colonies = Colonies("localhost", port, tls=True)
    with pytest.raises(ColoniesConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        colonies.list_colonies("11" * 32)
