"""A three-party computation run as a petri workflow: two data-owner executors and three
compute-node executors (`petri mpc data|node --executor`), the session's parameters in the function
specs, the shares only on the nodes' mutual-TLS links. The broker's database must hold neither
input, and only alice's node learns the answer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

from crypto import Crypto

from petri_testlib import REPO, stop_processes

PETRI = Path(os.environ.get("PETRI_BIN", str(REPO / "target" / "debug" / "petri")))
ALICE, BOB = 3141592653, 2718281828  # distinctive u32 values


def petri(*args: str, env=None) -> str:
    res = subprocess.run([str(PETRI), *args], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, f"petri {' '.join(args[:3])} exited {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res.stdout


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def test_mpc_session_as_a_workflow(petri_server, tmp_path):
    pki = str(tmp_path / "pki")
    petri("pki", "--dir", pki, "init")
    petri("pki", "--dir", pki, "org", "--name", "fed", "--dns", "fed.test", "--ip", "127.0.0.0/8")
    ips = {"compute0": "127.0.0.1", "compute1": "127.0.0.2", "compute2": "127.0.0.3",
           "alice": "127.0.1.1", "bob": "127.0.1.2", "client": "127.0.0.9"}
    for name, ip in ips.items():
        petri("pki", "--dir", pki, "node", "--org", "fed", "--name", name, "--ip", ip, "--out", str(tmp_path / name))
    ports = {name: free_port(ip) for name, ip in ips.items()}
    addr = {name: f"{ips[name]}:{ports[name]}" for name in ips}

    def tls(name):
        d = tmp_path / name
        return ["--ca", str(d / "ca.pem"), "--cert", str(d / "cert.pem"), "--key", str(d / "key.pem")]

    def executor_env():
        env = dict(os.environ)
        env["COLONIES_PRVKEY"] = Crypto().prvkey()
        env["PETRI_LOG"] = "info"
        return env

    (tmp_path / "alice.json").write_text(json.dumps({"wf": {"wealth": {"type": "u32", "value": ALICE}}}))
    (tmp_path / "bob.json").write_text(json.dumps({"wf": {"wealth": {"type": "u32", "value": BOB}}}))
    parties = sum((["--party", ips[f"compute{i}"]] for i in range(3)), [])
    procs = []
    logs = []
    try:
        for owner in ["alice", "bob"]:
            log = open(tmp_path / f"{owner}.log", "w")
            logs.append(log)
            procs.append(subprocess.Popen(
                [str(PETRI), "mpc", "data", "--listen", addr[owner], "--name", owner,
                 "--input", str(tmp_path / f"{owner}.json"), "--out", str(tmp_path / f"out-{owner}"),
                 "--executor", owner, *parties, *tls(owner)],
                stdout=log, stderr=log, env=executor_env()))
        for i in range(3):
            name = f"compute{i}"
            log = open(tmp_path / f"{name}.log", "w")
            logs.append(log)
            procs.append(subprocess.Popen(
                [str(PETRI), "mpc", "node", "--listen", addr[name], "--peer-timeout", "30",
                 "--data", f"alice={addr['alice']}", "--data", f"bob={addr['bob']}",
                 "--result", f"alice={addr['alice']}", "--executor", name, *tls(name)],
                stdout=log, stderr=log, env=executor_env()))

        program = {
            "format": "petri-mpc/1",
            "inputs": [{"name": "a", "from": "alice", "value": "wealth", "type": "u32"},
                       {"name": "b", "from": "bob", "value": "wealth", "type": "u32"}],
            "steps": [{"out": "alice_is_richer", "op": "gt", "args": ["a", "b"]}],
            "outputs": [{"value": "alice_is_richer", "to": "alice"}],
        }
        nodes = [addr[f"compute{i}"] for i in range(3)]
        session = "wf-millionaires"
        specs = []
        for owner in ["alice", "bob"]:
            specs.append({"nodename": f"{owner}-data", "funcname": "mpc_data", "kwargs": {"data_key": "wf"},
                          "conditions": {"executortype": "mpc-data", "executornames": [owner]},
                          "maxexectime": 60, "maxwaittime": 60})
        for i in range(3):
            specs.append({"nodename": f"party{i}", "funcname": "mpc_party",
                          "kwargs": {"session": session, "program": program, "party": i, "nodes": nodes,
                                     "data_key": "wf", "timeout_secs": 60},
                          "conditions": {"executortype": "mpc-compute", "executornames": [f"compute{i}"],
                                         "dependencies": ["alice-data", "bob-data"]},
                          "maxexectime": 120, "maxwaittime": 60})
        specs.append({"nodename": "alice-result", "funcname": "mpc_result",
                      "kwargs": {"session": session, "outputs": ["alice_is_richer"], "timeout_secs": 60},
                      "conditions": {"executortype": "mpc-data", "executornames": ["alice"],
                                     "dependencies": ["party0", "party1", "party2"]},
                      "maxexectime": 120, "maxwaittime": 60})
        spec_file = tmp_path / "workflow.json"
        spec_file.write_text(json.dumps(specs))
        # Executors register themselves; wait until all five have.
        deadline = time.monotonic() + 60
        while True:
            listed = json.loads(petri("--json", "executor", "ls"))
            names = {e.get("executorname") for e in listed}
            if {"alice", "bob", "compute0", "compute1", "compute2"} <= names:
                break
            assert all(p.poll() is None for p in procs), "a node exited early"
            assert time.monotonic() < deadline, f"executors did not register: {names}"
            time.sleep(0.2)
        petri("workflow", "submit", "--spec", str(spec_file), "--wait")

        result = json.loads((tmp_path / "out-alice" / f"{session}.json").read_text())
        assert result["alice_is_richer"]["values"] == [1]
        assert not (tmp_path / "out-bob" / f"{session}.json").exists()
    finally:
        stop_processes(procs, logs)

    stored = b"".join(p.read_bytes() for p in Path(petri_server.data_dir).rglob("*") if p.is_file())
    assert b"mpc_party" in stored, "the check below looks at the broker's files"
    for secret in (ALICE, BOB):
        assert str(secret).encode() not in stored, f"{secret} reached the broker"
