"""Three-party computations run as petri workflows: two data-owner executors and three
compute-node executors (`petri mpc data|node --executor`), the session's parameters in the function
specs, the shares only on the nodes' mutual-TLS links. The broker's database must hold neither
input, and only alice's node learns the answer.

The data owners answer under their policies (`--policy`: the analyst's key id, the program's hash,
alice as the only result node), and the compute nodes run only sessions of the initiators they are
configured with (`--initiator`). The attacks of issue 12 are tests here: a program that sends bob's
raw input to alice, submitted by the analyst the compute nodes obey, and the fair program submitted
by a colony member they do not obey. Both must fail with a reason, and alice's node must receive
nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from crypto import Crypto

from petri_testlib import DEV_COLONY_NAME, DEV_COLONY_PRVKEY, DEV_ID, REPO, rand_suffix, stop_processes

PETRI = Path(os.environ.get("PETRI_BIN", str(REPO / "target" / "debug" / "petri")))
ALICE, BOB = 3141592653, 2718281828  # distinctive u32 values

FAIR = {
    "format": "petri-mpc/1",
    "inputs": [{"name": "a", "from": "alice", "value": "wealth", "type": "u32"},
               {"name": "b", "from": "bob", "value": "wealth", "type": "u32"}],
    "steps": [{"out": "alice_is_richer", "op": "gt", "args": ["a", "b"]}],
    "outputs": [{"value": "alice_is_richer", "to": "alice"}],
}

# The attack of issue 12: bob's raw input, straight to alice.
RAW = {
    "format": "petri-mpc/1",
    "inputs": [{"name": "b", "from": "bob", "value": "wealth", "type": "u32"}],
    "steps": [],
    "outputs": [{"value": "b", "to": "alice"}],
}


def petri(*args: str, env=None, check: bool = True) -> str:
    res = subprocess.run([str(PETRI), *args], capture_output=True, text=True, timeout=180, env=env)
    if check:
        assert res.returncode == 0, f"petri {' '.join(args[:3])} exited {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res.stdout


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


@dataclass
class Federation:
    dir: Path
    nodes: list[str]
    procs: list[subprocess.Popen] = field(default_factory=list)

    def out(self, owner: str, session: str) -> Path:
        return self.dir / f"out-{owner}" / f"{session}.json"

    def audit(self, owner: str) -> list[dict]:
        text = (self.dir / f"{owner}.audit.jsonl").read_text()
        return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def federation(petri_server, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("mpc")
    pki = str(tmp_path / "pki")
    petri("pki", "--dir", pki, "init")
    petri("pki", "--dir", pki, "org", "--name", "fed", "--dns", "fed.test", "--ip", "127.0.0.0/8")
    ips = {"compute0": "127.0.0.1", "compute1": "127.0.0.2", "compute2": "127.0.0.3",
           "alice": "127.0.1.1", "bob": "127.0.1.2"}
    for name, ip in ips.items():
        petri("pki", "--dir", pki, "node", "--org", "fed", "--name", name, "--ip", ip, "--out", str(tmp_path / name))
    ports = {name: free_port(ip) for name, ip in ips.items()}
    addr = {name: f"{ips[name]}:{ports[name]}" for name in ips}
    nodes = [addr[f"compute{i}"] for i in range(3)]

    def tls(name):
        d = tmp_path / name
        return ["--ca", str(d / "ca.pem"), "--cert", str(d / "cert.pem"), "--key", str(d / "key.pem")]

    def executor_env():
        env = dict(os.environ)
        env["COLONIES_PRVKEY"] = Crypto().prvkey()
        env["PETRI_LOG"] = "info"
        return env

    # Each data owner pins the fair program's hash, lets only the analyst (the dev user, who
    # submits the workflows) ask, and only alice receive results.
    (tmp_path / "fair.json").write_text(json.dumps(FAIR))
    fair_hash = petri("mpc", "hash", str(tmp_path / "fair.json")).strip()
    assert len(fair_hash) == 64, fair_hash
    for owner, value in [("alice", ALICE), ("bob", BOB)]:
        (tmp_path / f"{owner}.json").write_text(json.dumps({"wf": {"wealth": {"type": "u32", "value": value}}}))
        (tmp_path / f"{owner}.policy.toml").write_text(
            f'owner = "{owner}"\naudit_log = "{owner}.audit.jsonl"\n'
            f'[[dataset]]\nname = "wf"\ninitiators = ["{DEV_ID}"]\nprograms = ["{fair_hash}"]\n'
            f'recipients = ["alice"]\nmin_cohort = 1\n')
    parties = sum((["--party", ips[f"compute{i}"]] for i in range(3)), [])
    fed = Federation(tmp_path, nodes)
    logs = []
    try:
        for owner in ["alice", "bob"]:
            log = open(tmp_path / f"{owner}.log", "w")
            logs.append(log)
            fed.procs.append(subprocess.Popen(
                [str(PETRI), "mpc", "data", "--listen", addr[owner], "--name", owner,
                 "--input", str(tmp_path / f"{owner}.json"), "--policy", str(tmp_path / f"{owner}.policy.toml"),
                 "--out", str(tmp_path / f"out-{owner}"), "--executor", owner, *parties, *tls(owner)],
                stdout=log, stderr=log, env=executor_env()))
        for i in range(3):
            name = f"compute{i}"
            log = open(tmp_path / f"{name}.log", "w")
            logs.append(log)
            fed.procs.append(subprocess.Popen(
                [str(PETRI), "mpc", "node", "--listen", addr[name], "--peer-timeout", "30",
                 "--party-id", str(i), *sum((["--node", n] for n in nodes), []), "--initiator", DEV_ID,
                 "--data", f"alice={addr['alice']}", "--data", f"bob={addr['bob']}",
                 "--result", f"alice={addr['alice']}", "--executor", name, *tls(name)],
                stdout=log, stderr=log, env=executor_env()))
        # Executors register themselves; wait until all five have.
        deadline = time.monotonic() + 60
        while True:
            listed = json.loads(petri("--json", "executor", "ls"))
            names = {e.get("executorname") for e in listed}
            if {"alice", "bob", "compute0", "compute1", "compute2"} <= names:
                break
            assert all(p.poll() is None for p in fed.procs), "a node exited early"
            assert time.monotonic() < deadline, f"executors did not register: {names}"
            time.sleep(0.2)
        yield fed
    finally:
        stop_processes(fed.procs, logs)


def workflow(fed: Federation, session: str, program: dict, with_data: bool = True) -> list[dict]:
    specs = []
    parents = []
    if with_data:
        for owner in ["alice", "bob"]:
            specs.append({"nodename": f"{owner}-data", "funcname": "mpc_data", "kwargs": {"data_key": "wf"},
                          "conditions": {"executortype": "mpc-data", "executornames": [owner]},
                          "maxexectime": 60, "maxwaittime": 60})
            parents.append(f"{owner}-data")
    for i in range(3):
        specs.append({"nodename": f"party{i}", "funcname": "mpc_party",
                      "kwargs": {"session": session, "program": program, "party": i, "nodes": fed.nodes,
                                 "data_key": "wf", "timeout_secs": 60},
                      "conditions": {"executortype": "mpc-compute", "executornames": [f"compute{i}"],
                                     "dependencies": parents},
                      "maxexectime": 120, "maxwaittime": 60})
    specs.append({"nodename": "alice-result", "funcname": "mpc_result",
                  "kwargs": {"session": session, "outputs": [o["value"] for o in program["outputs"]],
                             "timeout_secs": 60},
                  "conditions": {"executortype": "mpc-data", "executornames": ["alice"],
                                 "dependencies": ["party0", "party1", "party2"]},
                  "maxexectime": 120, "maxwaittime": 60})
    return specs


def submit(fed: Federation, name: str, specs: list[dict], env=None) -> tuple[int, dict[str, dict]]:
    """Submits a workflow and waits for it; returns its state and its processes by node name."""
    spec_file = fed.dir / f"{name}.workflow.json"
    spec_file.write_text(json.dumps(specs))
    graph = json.loads(petri("--json", "workflow", "submit", "--spec", str(spec_file), "--wait", "--timeout", "150",
                             env=env, check=False))
    got = json.loads(petri("--json", "workflow", "get", "--id", graph["processgraphid"], env=env))
    processes = {p["spec"]["nodename"]: p for p in got["processes"]}
    return got["processgraph"]["state"], processes


def test_mpc_session_as_a_workflow(petri_server, federation):
    session = "wf-millionaires"
    state, _ = submit(federation, "fair", workflow(federation, session, FAIR))
    assert state == 2, "the workflow succeeds"

    result = json.loads(federation.out("alice", session).read_text())
    assert result["alice_is_richer"]["values"] == [1]
    assert not federation.out("bob", session).exists()
    # Both owners released their shares to the three parties, and wrote that down.
    for owner in ["alice", "bob"]:
        released = [e for e in federation.audit(owner) if e["reference"] == session]
        assert [e["decision"] for e in released] == ["released"] * 3, released
        assert all(e["initiators"] == [DEV_ID] and e["to"] == ["alice"] for e in released)

    stored = b"".join(p.read_bytes() for p in Path(petri_server.data_dir).rglob("*") if p.is_file())
    assert b"mpc_party" in stored, "the check below looks at the broker's files"
    for secret in (ALICE, BOB):
        assert str(secret).encode() not in stored, f"{secret} reached the broker"


def test_a_workflow_sending_bobs_input_to_alice_learns_nothing(federation):
    """The analyst the compute nodes obey submits a program that outputs bob's raw input to
    alice. Bob's node refuses to release shares for a program its policy does not pin, every
    party fails with that reason, and alice's node receives nothing."""
    session = "wf-raw"
    state, processes = submit(federation, "raw", workflow(federation, session, RAW))
    assert state == 3, "the workflow fails"
    for i in range(3):
        errors = " ".join(processes[f"party{i}"]["errors"])
        assert "refused by the data owner's policy" in errors and "is not allowed on dataset" in errors, errors
        assert "data node bob" in errors, errors
    assert not federation.out("alice", session).exists()
    refused = [e for e in federation.audit("bob") if e["reference"] == session]
    assert [e["decision"] for e in refused] == ["refused"] * 3, refused
    assert all(e["to"] == ["alice"] and e["initiators"] == [DEV_ID] for e in refused)
    # alice's node never received a share of the session's output (it logs each one it takes).
    alice_log = (federation.dir / "alice.log").read_text()
    assert "output share received" in alice_log, "the check below looks at the right lines"
    assert not [line for line in alice_log.splitlines() if "output share received" in line and session in line]
    assert str(BOB) not in alice_log


def test_a_member_the_compute_nodes_do_not_obey_starts_no_session(colonies, federation):
    """A colony member (approved, so the broker assigns its processes) submits the fair program
    straight to the compute nodes. They run sessions only for their configured initiators."""
    crypto = Crypto()
    prvkey = crypto.prvkey()
    name = f"member-{rand_suffix()}"
    colonies.add_executor({"executorname": name, "executorid": crypto.id(prvkey), "colonyname": DEV_COLONY_NAME,
                           "executortype": "member"}, DEV_COLONY_PRVKEY)
    colonies.approve_executor(DEV_COLONY_NAME, name, DEV_COLONY_PRVKEY)
    env = dict(os.environ)
    env["COLONIES_PRVKEY"] = prvkey
    session = "wf-member"
    state, processes = submit(federation, "member", workflow(federation, session, FAIR, with_data=False), env=env)
    assert state == 3, "the workflow fails"
    for i in range(3):
        errors = " ".join(processes[f"party{i}"]["errors"])
        assert "may not run sessions on this compute node" in errors, errors
    assert not federation.out("alice", session).exists()
    assert not [e for e in federation.audit("bob") if e["reference"] == session]
