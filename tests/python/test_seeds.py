"""The seed documents' Python examples, run end to end against `petri dev`.

Each example is a standalone script in examples/ that uses only pycolonies 1.0.25.
Executors run as background subprocesses; submitters run to completion.
"""

from __future__ import annotations

import ast
import re

import pytest

from petri_testlib import (
    DEV_COLONY_NAME,
    DEV_PRVKEY,
    SUCCESSFUL,
    last_line,
    poll,
    run_example,
)

GRAPH_RE = re.compile(r"^Workflow ([0-9a-f]{64}) submitted$", re.M)


def processes_by_nodename(colonies, graph, prvkey):
    procs = {}
    for pid in graph.processids:
        p = colonies.get_process(pid, prvkey)
        procs[p.spec.nodename] = p
    return procs


def test_echo_in_dev_colony(petri_server, colonies, executors):
    """Seed 001 echo executor + echo.py, in the `dev` colony exactly as `petri dev` sets it up."""
    env = petri_server.env
    executor = executors("echo_executor.py", env=env)
    res = run_example("echo.py", env, timeout=90, background=[executor])
    assert ast.literal_eval(last_line(res.stdout)) == ["helloworld"], res.stdout

    pid = re.search(r"Process ([0-9a-f]{64}) submitted", res.stdout).group(1)
    p = colonies.get_process(pid, DEV_PRVKEY)
    assert p.state == SUCCESSFUL
    assert p.output == ["helloworld"]
    assert p.spec.conditions.colonyname == DEV_COLONY_NAME
    assert p.spec.funcname == "echo"


def test_func_spec_example1(petri_server, colonies, colony, executors):
    """Seed 001 code injection: sum_nums(1, 2) on python_executor prints 3; the function shows one call."""
    env = colony.example_env(petri_server.env)
    executor = executors("python_executor.py", env=env)
    res = run_example("func_spec_example1.py", env, timeout=90, background=[executor])
    assert last_line(res.stdout) == "3", res.stdout

    funcs = colonies.get_functions_by_colony(colony.name, colony.executor_prvkey) or []
    sum_nums = [f for f in funcs if f["funcname"] == "sum_nums"]
    assert len(sum_nums) == 1, funcs
    assert sum_nums[0]["counter"] == 1, sum_nums
    assert sum_nums[0]["colonyname"] == colony.name


def test_workflow_example(petri_server, colonies, colony, executors):
    """Seed 001 workflow: sum_nums(gen_nums()) prints 3, and sum_nums got gen_nums' output as input."""
    env = colony.example_env(petri_server.env)
    executor = executors("python_executor.py", env=env)
    res = run_example("workflow_example.py", env, timeout=90, background=[executor])
    assert last_line(res.stdout) == "3", res.stdout

    graphid = GRAPH_RE.search(res.stdout).group(1)
    key = colony.executor_prvkey
    graph = poll(lambda: (g := colonies.get_processgraph(graphid, key)).state == SUCCESSFUL and g,
                 timeout=10, what="workflow state SUCCESS")
    procs = processes_by_nodename(colonies, graph, key)
    assert set(procs) == {"gen_nums", "sum_nums"}
    assert procs["gen_nums"].output == [1, 2]
    assert procs["sum_nums"].input == [1, 2]
    assert procs["sum_nums"].output == [3]
    assert procs["sum_nums"].parents == [procs["gen_nums"].processid]
    assert graph.rootprocessids == [procs["gen_nums"].processid]


def test_mapreduce_example(petri_server, colonies, colony, executors):
    """Seed 001 dynamic processgraph: map adds 5 gen_nums children before reduce; prints 15."""
    env = colony.example_env(petri_server.env)
    executor = executors("python_executor.py", env=env)
    res = run_example("mapreduce_example.py", env, timeout=90, background=[executor])
    assert last_line(res.stdout) == "15", res.stdout

    graphid = GRAPH_RE.search(res.stdout).group(1)
    key = colony.executor_prvkey
    graph = poll(lambda: (g := colonies.get_processgraph(graphid, key)).state == SUCCESSFUL and g,
                 timeout=10, what="workflow state SUCCESS")
    procs = processes_by_nodename(colonies, graph, key)
    gen_names = {f"gen_nums_{i}" for i in range(5)}
    assert set(procs) == {"map", "reduce"} | gen_names
    assert len(graph.processids) == 7
    gen_ids = {procs[n].processid for n in gen_names}
    assert set(procs["map"].children) == gen_ids
    assert set(procs["reduce"].parents) == gen_ids
    for n in gen_names:
        assert procs[n].state == SUCCESSFUL
        assert procs[n].parents == [procs["map"].processid]
        assert procs[n].children == [procs["reduce"].processid]
        assert procs[n].output == [1, 2]
    assert procs["reduce"].input == [1, 2] * 5
    assert procs["reduce"].output == [15]


SIM_TYPES = ["ice-kubeexecutor", "lumi-small-hpcexecutor", "lumi-small-hpcexecutor", "leonardo-booster-hpcexecutor"]


def test_cross_platform_dag(petri_server, colonies, colony, executors):
    """Seed 000: 11-node DAG ice-0 -> lumi-0..7 -> leonardo-0 -> ice-1 across three executor types."""
    env = colony.example_env(petri_server.env)
    env["SIM_SLEEP_SCALE"] = "0.05"
    started = [executors("sim_executor.py", t, env=env) for t in SIM_TYPES]
    res = run_example("cross_platform_dag.py", env, timeout=60, background=started)
    graphid = last_line(res.stdout)
    assert re.fullmatch(r"[0-9a-f]{64}", graphid), res.stdout

    key = colony.executor_prvkey

    def graph_done():
        g = colonies.get_processgraph(graphid, key)
        return g if g.state in (SUCCESSFUL, 3) else None

    try:
        graph = poll(graph_done, timeout=60, interval=0.25, what="DAG to finish")
    except AssertionError as e:
        raise AssertionError(str(e) + "\n" + "\n".join(b.describe() for b in started)) from None
    assert graph.state == SUCCESSFUL, "\n".join(b.describe() for b in started)
    assert len(graph.processids) == 11

    procs = processes_by_nodename(colonies, graph, key)
    expected = {"ice-0", "ice-1", "leonardo-0"} | {f"lumi-{i}" for i in range(8)}
    assert set(procs) == expected
    for name, p in procs.items():
        assert p.state == SUCCESSFUL, (name, p.state, p.errors)
        assert p.output == [0], (name, p.output)

    assert graph.rootprocessids == [procs["ice-0"].processid]
    ice0 = procs["ice-0"]
    assert len(ice0.children) == 8
    for i in range(8):
        lumi = procs[f"lumi-{i}"]
        assert lumi.spec.conditions.executortype == "lumi-small-hpcexecutor"
        assert lumi.parents == [ice0.processid]
        assert lumi.input == ice0.output, (f"lumi-{i}", lumi.input, ice0.output)
    assert len(procs["leonardo-0"].parents) == 8
    assert procs["leonardo-0"].input == [0] * 8
    assert procs["ice-1"].parents == [procs["leonardo-0"].processid]
    assert procs["ice-1"].input == [0]
    # each step ran on an executor of the requested type
    assert procs["ice-1"].spec.conditions.executortype == "ice-kubeexecutor"
    assert procs["leonardo-0"].spec.conditions.executortype == "leonardo-booster-hpcexecutor"


def test_sim_executor_fails_process_on_nonzero_exit(petri_server, colonies, colony, executors):
    """The simulated executor reports a failing command as a FAILED process with the exit status."""
    from pycolonies import FuncSpec

    env = colony.example_env(petri_server.env)
    ex = executors("sim_executor.py", "ice-kubeexecutor", env=env)
    spec = FuncSpec(funcname="execute", kwargs={"cmd": "exit 7"}, maxexectime=30, maxretries=0,
                    maxwaittime=-1, conditions={"colonyname": colony.name, "executortype": "ice-kubeexecutor"})
    p = colonies.submit_func_spec(spec, colony.executor_prvkey)
    try:
        done = poll(lambda: (q := colonies.get_process(p.processid, colony.executor_prvkey)).state in (2, 3) and q,
                    timeout=30, what="process to finish")
    except AssertionError as e:
        raise AssertionError(str(e) + "\n" + ex.describe()) from None
    assert done.state == 3
    assert len(done.errors) == 1 and "status 7" in done.errors[0], done.errors
