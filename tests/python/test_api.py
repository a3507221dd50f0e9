"""A sweep of the core Colonies calls, made through the unmodified pycolonies 1.0.25 client.

Every test works in its own colony (created with the server key), so tests do not interfere.
"""

from __future__ import annotations

import threading
import time

import pytest

from crypto import Crypto
from pycolonies import ColoniesConnectionError, FuncSpec, Workflow, func_spec

from petri_testlib import (
    DEV_SERVER_PRVKEY,
    FAILED,
    RUNNING,
    SUCCESSFUL,
    WAITING,
    create_colony,
    delete_colony,
    rand_suffix,
)


def submit(colonies, colony, funcname="f", args=None, executortype=None, **kw):
    spec = func_spec(func=funcname, args=args if args is not None else [], colonyname=colony.name,
                     executortype=executortype or colony.executortype, **kw)
    return colonies.submit_func_spec(spec, colony.executor_prvkey)


def assign(colonies, colony, timeout=5, prvkey=None):
    return colonies.assign(colony.name, timeout, prvkey or colony.executor_prvkey)


def ids(items):
    return {p["processid"] for p in (items or [])}


# --------------------------------------------------------------------------------------------- colonies


def test_colony_add_list_delete(colonies):
    crypto = Crypto()
    prvkey = crypto.prvkey()
    colonyid = crypto.id(prvkey)
    name = "api-colony-" + rand_suffix()

    added = colonies.add_colony({"colonyid": colonyid, "name": name}, DEV_SERVER_PRVKEY)
    assert added["colonyid"] == colonyid
    assert added["name"] == name
    try:
        listed = {c["name"]: c["colonyid"] for c in colonies.list_colonies(DEV_SERVER_PRVKEY) or []}
        assert listed.get(name) == colonyid

        # names are unique
        other = crypto.prvkey()
        with pytest.raises(ColoniesConnectionError):
            colonies.add_colony({"colonyid": crypto.id(other), "name": name}, DEV_SERVER_PRVKEY)
    finally:
        colonies.del_colony(name, DEV_SERVER_PRVKEY)

    listed = {c["name"] for c in colonies.list_colonies(DEV_SERVER_PRVKEY) or []}
    assert name not in listed


def test_colony_calls_need_server_key(colonies, colony):
    crypto = Crypto()
    prvkey = crypto.prvkey()
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.add_colony({"colonyid": crypto.id(prvkey), "name": "api-x-" + rand_suffix()}, prvkey)
    assert "Access denied" in str(e.value)
    # even the colony owner may not list or delete colonies
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.list_colonies(colony.prvkey)
    assert "Access denied" in str(e.value)
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.del_colony(colony.name, colony.prvkey)
    assert "Access denied" in str(e.value)


def test_colony_owner_is_not_member(colonies, colony):
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.get_colony(colony.name, colony.prvkey)
    assert "Access denied" in str(e.value)
    got = colonies.get_colony(colony.name, colony.executor_prvkey)
    assert got["colonyid"] == colony.colonyid and got["name"] == colony.name


def test_delete_colony_removes_its_processes(colonies):
    c = create_colony(colonies, prefix="api-del")
    p = submit(colonies, c)
    assert colonies.get_process(p.processid, c.executor_prvkey).processid == p.processid
    colonies.del_colony(c.name, DEV_SERVER_PRVKEY)
    # a new colony with the same name (new owner, new member) must start empty
    c2 = create_colony(colonies, name=c.name)
    try:
        with pytest.raises(ColoniesConnectionError):
            colonies.get_process(p.processid, c2.executor_prvkey)
        assert not colonies.list_processes(c2.name, 10, WAITING, c2.executor_prvkey)
        execs = {e["executorname"] for e in colonies.list_executors(c2.name, c2.executor_prvkey) or []}
        assert execs == {c2.executorname}
    finally:
        delete_colony(colonies, c2)


# --------------------------------------------------------------------------------------------- executors


def test_executor_lifecycle(colonies, colony):
    crypto = Crypto()
    prvkey = crypto.prvkey()
    executorid = crypto.id(prvkey)
    name = "api-exec-" + rand_suffix()
    added = colonies.add_executor({"executorname": name, "executorid": executorid, "colonyname": colony.name,
                                   "executortype": "cli", "state": 1}, colony.prvkey)
    assert added["executorid"] == executorid
    assert added["executorname"] == name
    assert added["state"] == 0  # pending, whatever the client sent

    def listed():
        return {e["executorname"]: e for e in colonies.list_executors(colony.name, colony.executor_prvkey) or []}

    assert listed()[name]["state"] == 0
    assert listed()[colony.executorname]["state"] == 1

    # a pending executor is not a member: it cannot submit or be assigned work
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.assign(colony.name, -1, prvkey)
    assert "Access denied" in str(e.value)

    colonies.approve_executor(colony.name, name, colony.prvkey)
    got = colonies.get_executor(colony.name, name, colony.executor_prvkey)
    assert got["state"] == 1
    assert got["executorid"] == executorid
    assert got["executortype"] == "cli"
    assert got["colonyname"] == colony.name

    # approved: now it may call member APIs
    assert colonies.get_colony(colony.name, prvkey)["name"] == colony.name

    colonies.reject_executor(colony.name, name, colony.prvkey)
    assert colonies.get_executor(colony.name, name, colony.executor_prvkey)["state"] == 2
    with pytest.raises(ColoniesConnectionError):
        colonies.get_colony(colony.name, prvkey)

    colonies.approve_executor(colony.name, name, colony.prvkey)
    colonies.remove_executor(colony.name, name, colony.prvkey)
    # the row stays, marked UNREGISTERED (3)
    assert listed()[name]["state"] == 3
    with pytest.raises(ColoniesConnectionError):
        colonies.get_colony(colony.name, prvkey)


def test_executor_management_needs_colony_owner(colonies, colony):
    crypto = Crypto()
    prvkey = crypto.prvkey()
    name = "api-exec-" + rand_suffix()
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.add_executor({"executorname": name, "executorid": crypto.id(prvkey), "colonyname": colony.name,
                               "executortype": "cli"}, colony.executor_prvkey)
    assert "Access denied" in str(e.value)
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.approve_executor(colony.name, colony.executorname, colony.executor_prvkey)
    assert "Access denied" in str(e.value)


def test_get_unknown_executor_fails(colonies, colony):
    with pytest.raises(ColoniesConnectionError):
        colonies.get_executor(colony.name, "no-such-executor", colony.executor_prvkey)


# --------------------------------------------------------------------------------------------- functions


def test_functions_and_call_counts(colonies, colony):
    f = colonies.add_function(colony.name, colony.executorname, "sumit", colony.executor_prvkey)
    assert f["funcname"] == "sumit"
    assert f["executorname"] == colony.executorname
    assert f["colonyname"] == colony.name
    assert f["counter"] == 0
    colonies.add_function(colony.name, colony.executorname, "other", colony.executor_prvkey)

    funcs = colonies.get_functions_by_colony(colony.name, colony.executor_prvkey) or []
    assert sorted(x["funcname"] for x in funcs) == ["other", "sumit"]
    assert all(x["counter"] == 0 for x in funcs)
    by_exec = colonies.get_functions_by_executor(colony.name, colony.executorname, colony.executor_prvkey) or []
    assert sorted(x["funcname"] for x in by_exec) == ["other", "sumit"]

    for i in range(2):
        submit(colonies, colony, "sumit", [i])
        p = assign(colonies, colony)
        colonies.close(p.processid, [i], colony.executor_prvkey)
    # a failed call is not counted
    submit(colonies, colony, "sumit", [9])
    p = assign(colonies, colony)
    colonies.fail(p.processid, ["no"], colony.executor_prvkey)

    funcs = {x["funcname"]: x for x in colonies.get_functions_by_colony(colony.name, colony.executor_prvkey) or []}
    assert funcs["sumit"]["counter"] == 2, funcs
    assert funcs["other"]["counter"] == 0, funcs
    for k in ("minwaittime", "maxwaittime", "avgwaittime", "minexectime", "maxexectime", "avgexectime"):
        assert isinstance(funcs["sumit"][k], (int, float)) and funcs["sumit"][k] >= 0, (k, funcs["sumit"])


def test_add_function_for_another_executor_is_refused(colonies, colony):
    other = create_colony(colonies, prefix="api-fn")
    try:
        # an executor of this colony may not register functions for itself under another executor's name
        crypto = Crypto()
        prvkey = crypto.prvkey()
        name = "api-exec-" + rand_suffix()
        colonies.add_executor({"executorname": name, "executorid": crypto.id(prvkey), "colonyname": colony.name,
                               "executortype": "cli"}, colony.prvkey)
        colonies.approve_executor(colony.name, name, colony.prvkey)
        with pytest.raises(ColoniesConnectionError):
            colonies.add_function(colony.name, colony.executorname, "stolen", prvkey)
        # a non-member cannot register functions at all
        with pytest.raises(ColoniesConnectionError):
            colonies.add_function(colony.name, colony.executorname, "x", other.executor_prvkey)
    finally:
        delete_colony(colonies, other)


# --------------------------------------------------------------------------------------------- processes


def test_submit_assign_close(colonies, colony):
    p = submit(colonies, colony, "job", ["a", 1], maxexectime=60, maxretries=2, priority=5)
    assert p.state == WAITING
    assert p.isassigned is False
    assert p.spec.funcname == "job"
    assert p.spec.args == ["a", 1]
    assert p.spec.priority == 5
    assert p.spec.maxexectime == 60
    assert p.spec.conditions.colonyname == colony.name
    assert p.spec.conditions.executortype == colony.executortype
    assert p.initiatorid == colony.executorid
    assert p.initiatorname == colony.executorname
    assert p.parents == [] and p.children == [] and p.errors == []
    assert p.processgraphid == ""

    a = assign(colonies, colony)
    assert a.processid == p.processid
    assert a.state == RUNNING
    assert a.isassigned is True
    assert a.assignedexecutorid == colony.executorid

    got = colonies.get_process(p.processid, colony.executor_prvkey)
    assert got.state == RUNNING
    running = colonies.list_processes(colony.name, 10, RUNNING, colony.executor_prvkey)
    assert p.processid in ids(running)

    colonies.close(p.processid, ["done", 42], colony.executor_prvkey)
    got = colonies.get_process(p.processid, colony.executor_prvkey)
    assert got.state == SUCCESSFUL
    assert got.output == ["done", 42]
    assert got.assignedexecutorid == colony.executorid
    assert got.endtime >= got.starttime >= got.submissiontime

    assert p.processid in ids(colonies.list_processes(colony.name, 10, SUCCESSFUL, colony.executor_prvkey))
    assert p.processid not in ids(colonies.list_processes(colony.name, 10, WAITING, colony.executor_prvkey))


def test_assign_priority_then_fifo(colonies, colony):
    low1 = submit(colonies, colony, "low1", priority=0)
    low2 = submit(colonies, colony, "low2", priority=0)
    high = submit(colonies, colony, "high", priority=10)
    order = []
    for _ in range(3):
        a = assign(colonies, colony)
        order.append(a.processid)
        colonies.close(a.processid, [], colony.executor_prvkey)
    assert order == [high.processid, low1.processid, low2.processid]


def test_assign_respects_executortype(colonies, colony):
    submit(colonies, colony, "elsewhere", executortype="some-other-type")
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.assign(colony.name, 1, colony.executor_prvkey)
    assert "No process available" in str(e.value)


def test_close_by_other_executor_is_refused(colonies, colony):
    crypto = Crypto()
    prvkey = crypto.prvkey()
    name = "api-exec-" + rand_suffix()
    colonies.add_executor({"executorname": name, "executorid": crypto.id(prvkey), "colonyname": colony.name,
                           "executortype": "cli"}, colony.prvkey)
    colonies.approve_executor(colony.name, name, colony.prvkey)
    p = submit(colonies, colony)
    # nobody assigned yet: nobody may close it
    with pytest.raises(ColoniesConnectionError):
        colonies.close(p.processid, ["x"], prvkey)
    assign(colonies, colony)
    with pytest.raises(ColoniesConnectionError):
        colonies.close(p.processid, ["x"], prvkey)
    with pytest.raises(ColoniesConnectionError):
        colonies.fail(p.processid, ["x"], prvkey)
    assert colonies.get_process(p.processid, prvkey).state == RUNNING


def test_fail(colonies, colony):
    p = submit(colonies, colony)
    assign(colonies, colony)
    colonies.fail(p.processid, ["boom", "bang"], colony.executor_prvkey)
    got = colonies.get_process(p.processid, colony.executor_prvkey)
    assert got.state == FAILED
    assert got.errors == ["boom", "bang"]
    assert p.processid in ids(colonies.list_processes(colony.name, 10, FAILED, colony.executor_prvkey))
    # a failed process cannot be closed as successful afterwards
    with pytest.raises(ColoniesConnectionError):
        colonies.close(p.processid, ["late"], colony.executor_prvkey)
    assert colonies.get_process(p.processid, colony.executor_prvkey).state == FAILED


def test_set_output(colonies, colony):
    p = submit(colonies, colony)
    # not running yet
    with pytest.raises(ColoniesConnectionError):
        colonies.set_output(p.processid, ["early"], colony.executor_prvkey)
    assign(colonies, colony)
    colonies.set_output(p.processid, ["a", "b"], colony.executor_prvkey)
    got = colonies.get_process(p.processid, colony.executor_prvkey)
    assert got.state == RUNNING
    assert got.output == ["a", "b"]
    # closing with an empty output keeps what set_output stored
    colonies.close(p.processid, [], colony.executor_prvkey)
    got = colonies.get_process(p.processid, colony.executor_prvkey)
    assert got.state == SUCCESSFUL
    assert got.output == ["a", "b"]


def test_get_process_unknown(colonies, colony):
    with pytest.raises(ColoniesConnectionError):
        colonies.get_process("0" * 64, colony.executor_prvkey)


def test_get_process_of_other_colony_is_refused(colonies, colony):
    other = create_colony(colonies, prefix="api-other")
    try:
        p = submit(colonies, other)
        with pytest.raises(ColoniesConnectionError) as e:
            colonies.get_process(p.processid, colony.executor_prvkey)
        assert "Access denied" in str(e.value)
    finally:
        delete_colony(colonies, other)


def test_list_processes(colonies, colony):
    assert not colonies.list_processes(colony.name, 10, WAITING, colony.executor_prvkey)
    submitted = [submit(colonies, colony, f"p{i}", priority=0).processid for i in range(3)]
    waiting = colonies.list_processes(colony.name, 10, WAITING, colony.executor_prvkey)
    assert [p["processid"] for p in waiting] == submitted  # waiting: queue order
    assert len(colonies.list_processes(colony.name, 2, WAITING, colony.executor_prvkey)) == 2
    for p in waiting:
        assert p["state"] == WAITING
        assert p["spec"]["conditions"]["colonyname"] == colony.name


def test_remove_process(colonies, colony):
    p = submit(colonies, colony)
    colonies.remove_process(p.processid, colony.executor_prvkey)
    with pytest.raises(ColoniesConnectionError):
        colonies.get_process(p.processid, colony.executor_prvkey)
    assert p.processid not in ids(colonies.list_processes(colony.name, 10, WAITING, colony.executor_prvkey))


def test_remove_running_process_is_refused(colonies, colony):
    p = submit(colonies, colony)
    assign(colonies, colony)
    with pytest.raises(ColoniesConnectionError):
        colonies.remove_process(p.processid, colony.executor_prvkey)
    assert colonies.get_process(p.processid, colony.executor_prvkey).state == RUNNING


def test_remove_all_processes(colonies, colony):
    waiting = [submit(colonies, colony).processid for _ in range(3)]
    # higher priority than the three queued ones, so it is the one assigned
    done = submit(colonies, colony, priority=100).processid
    a = assign(colonies, colony)
    assert a.processid == done
    colonies.close(done, ["x"], colony.executor_prvkey)

    # colony owner only
    with pytest.raises(ColoniesConnectionError):
        colonies.remove_all_processes(colony.name, colony.executor_prvkey)

    colonies.remove_all_processes(colony.name, colony.prvkey, state=WAITING)
    assert not colonies.list_processes(colony.name, 10, WAITING, colony.executor_prvkey)
    assert done in ids(colonies.list_processes(colony.name, 10, SUCCESSFUL, colony.executor_prvkey))

    colonies.remove_all_processes(colony.name, colony.prvkey)  # state -1: all
    assert not colonies.list_processes(colony.name, 10, SUCCESSFUL, colony.executor_prvkey)
    for pid in waiting + [done]:
        with pytest.raises(ColoniesConnectionError):
            colonies.get_process(pid, colony.executor_prvkey)


def test_stats(colonies, colony):
    def stats():
        return colonies.stats(colony.name, colony.executor_prvkey)

    s = stats()
    assert s["executors"] == 1 and s["activeexecutors"] == 1
    assert s["waitingprocesses"] == 0 and s["runningprocesses"] == 0

    for _ in range(3):
        submit(colonies, colony)
    a = assign(colonies, colony)
    b = assign(colonies, colony)
    colonies.close(a.processid, [], colony.executor_prvkey)
    colonies.fail(b.processid, ["x"], colony.executor_prvkey)
    assign(colonies, colony)
    submit(colonies, colony)
    s = stats()
    assert s["waitingprocesses"] == 1, s
    assert s["runningprocesses"] == 1, s
    assert s["successfulprocesses"] == 1, s
    assert s["failedprocesses"] == 1, s
    for k in ("colonies", "unregisteredexecutors", "waitingworkflows", "runningworkflows",
              "successfulworkflows", "failedworkflows"):
        assert isinstance(s[k], int), (k, s)


# --------------------------------------------------------------------------------------------- attributes, logs


def test_attributes(colonies, colony):
    p = submit(colonies, colony)
    with pytest.raises(ColoniesConnectionError):  # not running yet
        colonies.add_attribute(p.processid, "k", "v", colony.executor_prvkey)
    assign(colonies, colony)
    attr = colonies.add_attribute(p.processid, "result", "42", colony.executor_prvkey)
    assert attr["key"] == "result" and attr["value"] == "42"
    assert attr["targetid"] == p.processid
    assert attr["attributetype"] == 1
    assert len(attr["attributeid"]) == 64

    got = colonies.get_attribute(attr["attributeid"], colony.executor_prvkey)
    assert got["attributeid"] == attr["attributeid"]
    assert (got["key"], got["value"], got["targetid"]) == ("result", "42", p.processid)

    proc = colonies.get_process(p.processid, colony.executor_prvkey)
    assert [(a.key, a.value, a.attributetype) for a in proc.attributes or []] == [("result", "42", 1)]

    with pytest.raises(ColoniesConnectionError):
        colonies.get_attribute("0" * 64, colony.executor_prvkey)


def test_env_becomes_attributes(colonies, colony):
    spec = func_spec(func="f", args=[], colonyname=colony.name, executortype=colony.executortype)
    spec.env["greeting"] = "hej"
    p = colonies.submit_func_spec(spec, colony.executor_prvkey)
    assert p.spec.env == {"greeting": "hej"}
    got = colonies.get_process(p.processid, colony.executor_prvkey)
    assert got.spec.env == {"greeting": "hej"}
    assert [(a.key, a.value, a.attributetype) for a in got.attributes or []] == [("greeting", "hej", 3)]


def test_logs(colonies, colony):
    p = submit(colonies, colony)
    with pytest.raises(ColoniesConnectionError):  # not running yet
        colonies.add_log(p.processid, "too early", colony.executor_prvkey)
    assign(colonies, colony)
    colonies.add_log(p.processid, "first line\n", colony.executor_prvkey)
    time.sleep(0.01)
    colonies.add_log(p.processid, "second line\n", colony.executor_prvkey)
    logs = colonies.get_process_log(colony.name, p.processid, 100, 0, colony.executor_prvkey) or []
    assert [entry["message"] for entry in logs] == ["first line\n", "second line\n"]
    for entry in logs:
        assert entry["processid"] == p.processid
        assert entry["colonyname"] == colony.name
        assert entry["executorname"] == colony.executorname
        assert isinstance(entry["timestamp"], int) and entry["timestamp"] > 10**18  # unix ns
    assert logs[0]["timestamp"] <= logs[1]["timestamp"]

    # since: only newer entries
    newer = colonies.get_process_log(colony.name, p.processid, 100, logs[0]["timestamp"], colony.executor_prvkey)
    assert [entry["message"] for entry in newer or []] == ["second line\n"]
    # count limits the result
    assert len(colonies.get_process_log(colony.name, p.processid, 1, 0, colony.executor_prvkey)) == 1

    by_exec = colonies.get_executor_log(colony.name, colony.executorname, 100, 0, colony.executor_prvkey) or []
    assert [entry["message"] for entry in by_exec] == ["first line\n", "second line\n"]


# --------------------------------------------------------------------------------------------- workflows


def two_step_workflow(colony, executortype):
    wf = Workflow(colonyname=colony.name)
    a = FuncSpec(nodename="a", funcname="a", maxexectime=-1, maxretries=-1, maxwaittime=-1,
                 conditions={"colonyname": colony.name, "executortype": executortype})
    b = FuncSpec(nodename="b", funcname="b", maxexectime=-1, maxretries=-1, maxwaittime=-1,
                 conditions={"colonyname": colony.name, "executortype": executortype, "dependencies": ["a"]})
    wf.functionspecs = [a, b]
    return wf


def test_processgraphs_list_and_remove(colonies, colony):
    key = colony.executor_prvkey
    g = colonies.submit_workflow(two_step_workflow(colony, "nobody-runs-this"), key)
    assert g.state == WAITING
    assert g.colonyname == colony.name
    assert len(g.processids) == 2
    assert len(g.rootprocessids) == 1

    listed = colonies.get_processgraphs(colony.name, 10, key) or []  # no state given: waiting
    assert [x["processgraphid"] for x in listed] == [g.processgraphid]
    assert [x["processgraphid"] for x in colonies.get_processgraphs(colony.name, 10, key, state=WAITING) or []] \
        == [g.processgraphid]
    assert not colonies.get_processgraphs(colony.name, 10, key, state=SUCCESSFUL)

    got = colonies.get_processgraph(g.processgraphid, key)
    assert got.processgraphid == g.processgraphid
    assert sorted(got.processids) == sorted(g.processids)

    # a process that is part of a workflow cannot be removed on its own
    with pytest.raises(ColoniesConnectionError):
        colonies.remove_process(g.processids[0], key)

    colonies.remove_processgraph(g.processgraphid, key)
    with pytest.raises(ColoniesConnectionError):
        colonies.get_processgraph(g.processgraphid, key)
    for pid in g.processids:
        with pytest.raises(ColoniesConnectionError):
            colonies.get_process(pid, key)
    assert not colonies.get_processgraphs(colony.name, 10, key)


def test_workflow_runs_and_passes_outputs(colonies, colony):
    key = colony.executor_prvkey
    g = colonies.submit_workflow(two_step_workflow(colony, colony.executortype), key)
    procs = {colonies.get_process(pid, key).spec.nodename: pid for pid in g.processids}

    a = assign(colonies, colony)
    assert a.processid == procs["a"]
    # b waits for its parent
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.assign(colony.name, 1, key)
    assert "No process available" in str(e.value)
    assert colonies.get_processgraph(g.processgraphid, key).state == RUNNING
    colonies.close(a.processid, ["from-a", 7], key)

    b = assign(colonies, colony)
    assert b.processid == procs["b"]
    assert b.input == ["from-a", 7]
    assert b.parents == [procs["a"]]
    colonies.close(b.processid, ["from-b"], key)

    g2 = colonies.get_processgraph(g.processgraphid, key)
    assert g2.state == SUCCESSFUL
    assert [x["processgraphid"] for x in colonies.get_processgraphs(colony.name, 10, key, state=SUCCESSFUL) or []] \
        == [g.processgraphid]
    s = colonies.stats(colony.name, key)
    assert s["successfulworkflows"] == 1, s


def test_workflow_failure_fails_graph(colonies, colony):
    key = colony.executor_prvkey
    g = colonies.submit_workflow(two_step_workflow(colony, colony.executortype), key)
    a = assign(colonies, colony)
    colonies.fail(a.processid, ["broken"], key)
    g2 = colonies.get_processgraph(g.processgraphid, key)
    assert g2.state == FAILED
    for pid in g.processids:
        assert colonies.get_process(pid, key).state == FAILED
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.assign(colony.name, 1, key)
    assert "No process available" in str(e.value)


# --------------------------------------------------------------------------------------------- assign / wait timing


def test_assign_timeout_when_empty(colonies, colony):
    t0 = time.monotonic()
    with pytest.raises(ColoniesConnectionError) as e:
        colonies.assign(colony.name, 2, colony.executor_prvkey)
    elapsed = time.monotonic() - t0
    assert "No process available" in str(e.value)
    assert 1.5 <= elapsed <= 5.0, f"assign(timeout=2) on an empty queue returned after {elapsed:.2f}s"


def test_assign_long_poll_wakes_on_submit(colonies, colony):
    result = {}

    def worker():
        t0 = time.monotonic()
        try:
            result["process"] = colonies.assign(colony.name, 10, colony.executor_prvkey)
        except Exception as err:  # noqa: BLE001
            result["error"] = err
        result["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    time.sleep(0.5)
    p = submit(colonies, colony)
    t.join(timeout=15)
    assert not t.is_alive(), "assign(timeout=10) did not return"
    assert "error" not in result, result
    assert result["process"].processid == p.processid
    assert result["elapsed"] < 5.0, result


def test_assign_zero_timeout_is_rejected(colonies, colony):
    with pytest.raises(ColoniesConnectionError):
        colonies.assign(colony.name, 0, colony.executor_prvkey)


def _wait_in_thread(colonies, process, timeout, prvkey):
    result = {}

    def worker():
        t0 = time.monotonic()
        try:
            result["process"] = colonies.wait(process, timeout, prvkey)
        except Exception as err:  # noqa: BLE001
            result["error"] = err
        result["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    return t, result


def test_wait_returns_when_process_succeeds(colonies, colony):
    p = submit(colonies, colony)
    t, result = _wait_in_thread(colonies, p, 20, colony.executor_prvkey)
    time.sleep(0.5)
    a = assign(colonies, colony)
    colonies.close(a.processid, ["ok"], colony.executor_prvkey)
    t.join(timeout=25)
    assert not t.is_alive(), "wait() did not return"
    assert "error" not in result, result
    assert result["process"].state == SUCCESSFUL
    assert result["process"].output == ["ok"]
    assert result["elapsed"] < 5.0, result


def test_wait_on_already_successful_process(colonies, colony):
    p = submit(colonies, colony)
    assign(colonies, colony)
    colonies.close(p.processid, ["ok"], colony.executor_prvkey)
    t, result = _wait_in_thread(colonies, p, 20, colony.executor_prvkey)
    t.join(timeout=25)
    assert not t.is_alive(), "wait() did not return"
    assert "error" not in result, result
    assert result["process"].state == SUCCESSFUL
    assert result["elapsed"] < 3.0, result


def test_wait_returns_promptly_when_process_fails(colonies, colony):
    p = submit(colonies, colony)
    t, result = _wait_in_thread(colonies, p, 20, colony.executor_prvkey)
    time.sleep(0.5)
    a = assign(colonies, colony)
    colonies.fail(a.processid, ["it broke"], colony.executor_prvkey)
    t.join(timeout=25)
    assert not t.is_alive(), "wait() did not return"
    assert "error" not in result, result
    assert result["elapsed"] < 5.0, f"wait() on a failing process took {result['elapsed']:.1f}s (timeout was 20s)"
    assert result["process"].state == FAILED
    assert result["process"].errors == ["it broke"]


def test_wait_on_already_failed_process(colonies, colony):
    p = submit(colonies, colony)
    assign(colonies, colony)
    colonies.fail(p.processid, ["it broke"], colony.executor_prvkey)
    t, result = _wait_in_thread(colonies, p, 20, colony.executor_prvkey)
    t.join(timeout=25)
    assert not t.is_alive(), "wait() did not return"
    assert "error" not in result, result
    assert result["elapsed"] < 3.0, f"wait() on a failed process took {result['elapsed']:.1f}s (timeout was 20s)"
    assert result["process"].state == FAILED
