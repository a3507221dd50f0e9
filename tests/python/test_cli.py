"""The `colonies` CLI commands shown in the seeds, run as `petri` commands against `petri dev`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from petri_testlib import REPO, poll

PETRI = Path(os.environ.get("PETRI_BIN", str(REPO / "target" / "debug" / "petri")))

# Seed 001's echo spec (its trailing comma removed: it is not valid JSON; "func" is the older name of "funcname").
ECHO_SPEC = {
    "conditions": {"executortype": "echo_executor"},
    "func": "echo",
    "args": ["helloworld"],
    "priority": 0,
    "maxexectime": 10,
    "maxretries": 3,
    "maxwaittime": 100,
}

# Seed 000's secure-sum DAG, as a JSON array of function specs.
SECURE_SUM = [
    {
        "nodename": name,
        "conditions": {"executortype": kind, "dependencies": deps},
        "funcname": func,
        "kwargs": {"paillier-pubkey": "eyJuIjogIjQwNDI...."},
        "maxexectime": 600,
        "maxretries": 3,
    }
    for name, kind, deps, func in [
        ("r1:get_patent_data", "r1-hospital_executor", [], "get_patient_data"),
        ("r2:get_patent_data", "r2-hospital_executor", [], "get_patient_data"),
        ("cloud:sum_patent_data", "cloud-hospital-executor", ["r1:get_patent_data", "r2:get_patent_data"],
         "sum_patient_data"),
    ]
]


def petri(env: dict[str, str], *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    res = subprocess.run([str(PETRI), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"petri {' '.join(args)} exited {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def petri_json(env: dict[str, str], *args: str):
    return json.loads(petri(env, "--json", *args).stdout)


def write(tmp_path: Path, name: str, value) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(value))
    return str(path)


def test_function_submit_psw_get_and_ls(petri_server, colony, executors, tmp_path):
    env = colony.example_env(petri_server.env)
    spec = write(tmp_path, "echo_func_spec.json", ECHO_SPEC)

    out = petri(env, "function", "submit", "--spec", spec).stdout
    assert "submitted" in out
    waiting = petri_json(env, "process", "psw")
    assert len(waiting) == 1 and waiting[0]["spec"]["funcname"] == "echo"
    pid = waiting[0]["processid"]
    assert pid in petri(env, "process", "psw").stdout

    table = petri(env, "process", "get", "-p", pid).stdout
    for heading in ("Process:", "FunctionSpec:", "Conditions:", "Attributes:", "echo_executor", "helloworld"):
        assert heading in table, table

    # An echo executor serves it; `--wait` prints the output.
    executors("echo_executor.py", env=env)
    poll(lambda: petri_json(env, "process", "pss"), timeout=30, what="the echo process to succeed")
    done = petri_json(env, "process", "get", "-p", pid)
    assert done["state"] == 2 and done["out"] == ["helloworld"]
    waited = petri(env, "function", "submit", "--spec", spec, "--wait", "--timeout", "30").stdout
    assert "Output: helloworld" in waited

    functions = petri(env, "function", "ls").stdout
    assert "echo" in functions and "Calls" in functions and "Served by" in functions
    stats = petri_json(env, "function", "ls")
    assert sum(f["counter"] for f in stats if f["funcname"] == "echo") == 2


def test_workflow_submit_ls_get(petri_server, colony, tmp_path):
    env = colony.example_env(petri_server.env)
    spec = write(tmp_path, "workflow.json", SECURE_SUM)
    out = petri(env, "workflow", "submit", "--spec", spec).stdout
    graph_id = out.split()[1]
    listed = petri_json(env, "workflow", "ls", "--state", "waiting")
    assert [g["processgraphid"] for g in listed] == [graph_id]
    shown = petri_json(env, "workflow", "get", "--id", graph_id)
    nodes = {p["spec"]["nodename"]: p for p in shown["processes"]}
    assert set(nodes) == {"r1:get_patent_data", "r2:get_patent_data", "cloud:sum_patent_data"}
    assert nodes["cloud:sum_patent_data"]["waitforparents"] is True
    assert len(nodes["cloud:sum_patent_data"]["parents"]) == 2
    assert "cloud:sum_patent_data" in petri(env, "workflow", "get", "--id", graph_id).stdout


def test_admin_commands(petri_server, colony):
    env = colony.example_env(petri_server.env)
    assert "alive" in petri(env, "server", "alive").stdout
    assert petri_json(env, "server", "status")["alive"] is True
    assert colony.name in [c["name"] for c in petri_json(env, "colony", "ls")]
    names = [e["executorname"] for e in petri_json(env, "executor", "ls")]
    assert colony.executorname in names
    petri(env, "executor", "reject", "--name", colony.executorname)
    states = {e["executorname"]: e["state"] for e in petri_json(env, "executor", "ls")}
    assert states[colony.executorname] == 2


def test_errors_are_one_line_and_non_zero(petri_server, colony, tmp_path):
    env = colony.example_env(petri_server.env)
    res = petri(env, "process", "get", "-p", "0" * 64, check=False)
    assert res.returncode != 0
    assert res.stderr.strip().count("\n") == 0 and res.stderr.startswith("error:"), res.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"func": "echo",}')
    res = petri(env, "function", "submit", "--spec", str(bad), check=False)
    assert res.returncode != 0 and "not valid JSON" in res.stderr
    no_key = {k: v for k, v in env.items() if k != "COLONIES_SERVER_PRVKEY"}
    res = petri(no_key, "colony", "ls", check=False)
    assert res.returncode != 0 and "COLONIES_SERVER_PRVKEY" in res.stderr
