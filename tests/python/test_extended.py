"""The rest of the Colonies surface through the unmodified pycolonies 1.0.25 client: users, crons,
generators, channels, blueprints, files and snapshots.

Every test runs against the `petri dev` broker (SQLite) and, when PETRI_TEST_DATABASE_URL is set, against
a `petri server` on PostgreSQL too. File bytes go to a real S3-compatible server (moto) started here.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from crypto import Crypto
from pycolonies import Colonies, ColoniesConnectionError, ColoniesError, Workflow, func_spec

from petri_testlib import (
    DEV_SERVER_PRVKEY,
    REPO,
    create_colony,
    delete_colony,
    poll,
    production_server_key,
    rand_suffix,
    with_server_key,
)

STARTUP_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except (urllib.error.URLError, OSError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{what} did not start\n{log.read_text(errors='replace')}", pytrace=False)
        time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """A moto S3 server on a free port; pycolonies reads the AWS_S3_* variables set here."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = Path(sys.executable).parent / "moto_server"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    _wait_http(f"http://127.0.0.1:{port}/", proc, "moto_server", log)
    env = {
        "AWS_S3_ENDPOINT": f"127.0.0.1:{port}",
        "AWS_S3_ACCESSKEY": "testing",
        "AWS_S3_SECRETKEY": "testing",
        "AWS_S3_REGION": "us-east-1",
        "AWS_S3_TLS": "false",
        "AWS_S3_SKIPVERIFY": "false",
        "AWS_S3_BUCKET": "petri-test",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        _stop(proc)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _psql(url: str, sql: str) -> None:
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="session")
def postgres_broker(tmp_path_factory):
    """`petri server` on PostgreSQL (a fresh schema of PETRI_TEST_DATABASE_URL), or a skip when it is unset."""
    url = os.environ.get("PETRI_TEST_DATABASE_URL")
    if not url:
        pytest.skip("PETRI_TEST_DATABASE_URL is not set")
    schema = "petri_py_" + rand_suffix()
    _psql(url, f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    db_url = f"{url}{sep}options={quote(f'-c search_path={schema}')}"
    petri = Path(os.environ.get("PETRI_BIN", str(REPO / "target" / "debug" / "petri")))
    port = _free_port()
    base = tmp_path_factory.mktemp("petri-pg")
    log = base / "petri.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLONIES_")}
    server_prvkey, env["COLONIES_SERVER_ID"] = production_server_key()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(petri), "server", "start", "--port", str(port), "--bind", "127.0.0.1", "--insecure",
             "--data-dir", str(base / "data"), "--database-url", db_url],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        _wait_http(f"http://127.0.0.1:{port}/health", proc, "petri server on PostgreSQL", log)
        yield with_server_key(Colonies("localhost", port), server_prvkey)
    finally:
        _stop(proc)
        _psql(url, f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def client(request, colonies) -> Colonies:
    if request.param == "sqlite":
        return colonies
    return request.getfixturevalue("postgres_broker")


@pytest.fixture
def col(client):
    c = create_colony(client, prefix="ext")
    yield c
    delete_colony(client, c)


def rpc(client: Colonies, msg: dict, prvkey: str):
    """A message pycolonies has no method for, sent through pycolonies' own signing and transport."""
    return client._Colonies__rpc(msg, prvkey)


def one_node_workflow(col, funcname="cronjob", args=None) -> Workflow:
    spec = func_spec(func=funcname, args=args or [], colonyname=col.name, executortype=col.executortype,
                     maxexectime=30, maxretries=0)
    return Workflow(colonyname=col.name, functionspecs=[spec])


def assign(client, col, timeout=10):
    return client.assign(col.name, timeout, col.executor_prvkey)


# ------------------------------------------------------------------------------------------------ users


def test_users(client, col):
    crypto = Crypto()
    key = crypto.prvkey()
    user = {"colonyname": col.name, "userid": crypto.id(key), "name": "ann-" + rand_suffix(),
            "email": "ann@example.org", "phone": "123"}
    added = client.add_user(user, col.prvkey)
    assert added["name"] == user["name"]
    assert user["name"] in {u["name"] for u in client.get_users(col.name, col.executor_prvkey)}
    # users are members: they submit and read
    spec = func_spec(func="f", args=[], colonyname=col.name, executortype=col.executortype)
    p = client.submit_func_spec(spec, key)
    assert p.initiatorname == user["name"]
    # only the colony owner manages users; the server owner is refused like any non-owner
    with pytest.raises(ColoniesConnectionError, match="Access denied"):
        client.add_user(dict(user, name="x", userid=crypto.id(crypto.prvkey())), DEV_SERVER_PRVKEY)
    with pytest.raises(ColoniesConnectionError, match="Access denied"):
        client.remove_user(col.name, user["name"], key)
    client.remove_user(col.name, user["name"], col.prvkey)
    assert user["name"] not in {u["name"] for u in client.get_users(col.name, col.executor_prvkey) or []}
    with pytest.raises(ColoniesConnectionError, match="Access denied"):
        client.submit_func_spec(spec, key)


# ------------------------------------------------------------------------------------------------ crons


def test_cron_fires_every_second_and_chains_outputs(client, col):
    cron = client.add_cron("tick-" + rand_suffix(), "0/1 * * * * *", False, one_node_workflow(col), col.name,
                           col.executor_prvkey)
    assert cron["cronid"] and cron["interval"] == -1 and cron["cronexpression"] == "0/1 * * * * *"
    assert cron["initiatorname"] == col.executorname
    assert cron["waitforprevprocessgraph"] is False  # pycolonies misspells the flag
    got = client.get_cron(cron["cronid"], col.executor_prvkey)
    assert got["name"] == cron["name"] and got["checkerperiod"] == 1000
    assert [c["cronid"] for c in client.get_crons(col.name, 10, col.executor_prvkey)] == [cron["cronid"]]

    first = assign(client, col)
    assert first.spec.funcname == "cronjob" and first.processgraphid
    client.close(first.processid, ["from-first"], col.executor_prvkey)
    # a later run gets the previous run's leaf outputs as input
    def chained():
        p = client.assign(col.name, 5, col.executor_prvkey)
        client.close(p.processid, ["x"], col.executor_prvkey)
        return p.input == ["from-first"] and p
    poll(chained, 20, what="a run whose input is the previous run's output")
    fired = client.get_cron(cron["cronid"], col.executor_prvkey)
    assert fired["prevprocessgraphid"] and fired["lastrun"] != "0001-01-01T00:00:00Z"

    client.del_cron(cron["cronid"], col.executor_prvkey)
    assert client.get_crons(col.name, 10, col.executor_prvkey) in ([], None)
    with pytest.raises(ColoniesConnectionError):
        client.get_cron(cron["cronid"], col.executor_prvkey)


def test_run_cron_now_and_bad_crons(client, col):
    # an expression that fires once a year: only run_cron starts it
    cron = client.add_cron("yearly-" + rand_suffix(), "0 0 0 1 1 *", False, one_node_workflow(col, args=["a"]),
                           col.name, col.executor_prvkey)
    ran = client.run_cron(cron["cronid"], col.executor_prvkey)
    assert ran["prevprocessgraphid"]
    p = assign(client, col)
    assert p.processgraphid == ran["prevprocessgraphid"] and p.spec.args == ["a"]

    for expr in ["* * * * *", "not a cron", ""]:
        with pytest.raises(ColoniesConnectionError):
            client.add_cron("bad", expr, False, one_node_workflow(col), col.name, col.executor_prvkey)
    bad_workflow = Workflow(colonyname=col.name, functionspecs=[
        func_spec(func="x", args=[], colonyname=col.name, executortype="cli")])
    bad_workflow.functionspecs[0].conditions.dependencies = ["missing"]
    with pytest.raises(ColoniesConnectionError, match="dependencies"):
        client.add_cron("bad", "0/1 * * * * *", False, bad_workflow, col.name, col.executor_prvkey)
    outsider = Crypto().prvkey()
    with pytest.raises(ColoniesConnectionError, match="Access denied"):
        client.run_cron(cron["cronid"], outsider)
    client.del_cron(cron["cronid"], col.executor_prvkey)


# ------------------------------------------------------------------------------------------------ generators


def test_generator_submits_packed_args(client, col):
    wf = one_node_workflow(col, funcname="batch")
    gen = client.add_generator({"colonyname": col.name, "name": "gen-" + rand_suffix(),
                                "workflowspec": json.dumps(wf.model_dump(by_alias=True)),
                                "trigger": 2, "timeout": 1}, col.executor_prvkey)
    gid = gen["generatorid"]
    assert gen["initiatorname"] == col.executorname
    assert [g["generatorid"] for g in client.get_generators(col.name, col.executor_prvkey)] == [gid]
    # pycolonies has no pack call; send the protocol's packgeneratormsg through its transport
    for arg in ["a1", "a2", "a3"]:
        rpc(client, {"msgtype": "packgeneratormsg", "generatorid": gid, "arg": arg}, col.executor_prvkey)
    first = assign(client, col)
    assert first.spec.funcname == "batch" and first.spec.args == ["a1", "a2"]
    # the third waits for the timeout, then goes alone
    second = assign(client, col)
    assert second.spec.args == ["a3"]
    assert client.get_generator(gid, col.executor_prvkey)["queuesize"] == 0
    resolved = rpc(client, {"msgtype": "resolvegeneratormsg", "colonyname": col.name,
                            "generatorname": gen["name"]}, col.executor_prvkey)
    assert resolved["generatorid"] == gid
    client.remove_generator(gid, col.executor_prvkey)
    with pytest.raises(ColoniesConnectionError):
        client.get_generator(gid, col.executor_prvkey)
    with pytest.raises(ColoniesConnectionError, match="trigger"):
        client.add_generator({"colonyname": col.name, "name": "g", "trigger": 0,
                              "workflowspec": json.dumps(wf.model_dump(by_alias=True))}, col.executor_prvkey)


# ------------------------------------------------------------------------------------------------ channels


def channel_process(client, col, name="chat"):
    spec = func_spec(func="chat", args=[], colonyname=col.name, executortype=col.executortype,
                     maxexectime=60, maxretries=0)
    spec.channels = [name]
    p = client.submit_func_spec(spec, col.executor_prvkey)
    assert assign(client, col).processid == p.processid
    return p


def test_channel_append_read_and_types(client, col):
    p = channel_process(client, col)
    key = col.executor_prvkey
    client.channel_append(p.processid, "chat", 1, "Hello from client!", key)
    client.channel_append(p.processid, "chat", 2, "Hello from executor!", key, in_reply_to=1)
    client.channel_append(p.processid, "chat", 3, "", key, payload_type="end")
    entries = client.channel_read(p.processid, "chat", 0, 10, key)
    # pycolonies leaves an empty payload as the empty text it arrived as
    assert [e["payload"] for e in entries] == [b"Hello from client!", b"Hello from executor!", ""]
    assert [e["sequence"] for e in entries] == [1, 2, 3]
    assert entries[1]["inreplyto"] == 1 and entries[0]["type"] == "data" and entries[2]["type"] == "end"
    assert entries[0]["senderid"] == col.executorid
    assert [e["sequence"] for e in client.channel_read(p.processid, "chat", 1, 1, key)] == [2]

    with pytest.raises(ColoniesConnectionError, match="Channel not found"):
        client.channel_read(p.processid, "nochannel", 0, 0, key)
    with pytest.raises(ColoniesConnectionError, match="payload type"):
        client.channel_append(p.processid, "chat", 4, "x", key, payload_type="bogus")
    # another member who neither submitted nor runs the process may not use the channel
    other = Crypto().prvkey()
    client.add_executor({"executorname": "other-" + rand_suffix(), "executorid": Crypto().id(other),
                         "colonyname": col.name, "executortype": "other"}, col.prvkey)
    other_name = [e["executorname"] for e in client.list_executors(col.name, key) if e["executortype"] == "other"][0]
    client.approve_executor(col.name, other_name, col.prvkey)
    with pytest.raises(ColoniesConnectionError, match="Not authorized"):
        client.channel_append(p.processid, "chat", 9, "intruder", other)

    client.close(p.processid, ["done"], key)
    with pytest.raises(ColoniesConnectionError, match="Channel not found"):
        client.channel_read(p.processid, "chat", 0, 0, key)


def test_channel_subscriptions_push_to_several_subscribers(client, col):
    p = channel_process(client, col, "realtime")
    key = col.executor_prvkey
    client.channel_append(p.processid, "realtime", 1, "before", key)
    received: dict[str, list] = {"a": [], "b": []}

    def subscriber(tag):
        def on_message(entries):
            received[tag].extend(entries)
            return len(received[tag]) < 4
        Colonies("localhost", client.port).subscribe_channel(p.processid, "realtime", key, timeout=10,
                                                             callback=on_message)

    threads = [threading.Thread(target=subscriber, args=(t,)) for t in received]
    for t in threads:
        t.start()
    time.sleep(0.5)
    for i in range(2, 5):
        client.channel_append(p.processid, "realtime", i, f"message {i}", key)
        time.sleep(0.05)
    for t in threads:
        t.join(timeout=15)
        assert not t.is_alive()
    for tag in received:
        assert [e["payload"] for e in received[tag]] == [b"before", b"message 2", b"message 3", b"message 4"]

    # without a callback the subscription collects until its timeout
    start = time.monotonic()
    got = client.subscribe_channel(p.processid, "realtime", key, after_seq=3, timeout=1)
    assert [e["sequence"] for e in got] == [4] and time.monotonic() - start >= 0.9
    client.close(p.processid, ["done"], key)


# ------------------------------------------------------------------------------------------------ blueprints


def test_blueprints(client, col):
    kind = "Lamp" + rand_suffix()
    definition = {"kind": kind, "metadata": {"name": "lamps", "colonyname": col.name},
                  "spec": {"names": {"kind": kind},
                           "schema": {"type": "object", "properties": {"power": {"type": "boolean"}},
                                      "required": ["power"]}}}
    key, owner = col.executor_prvkey, col.prvkey
    with pytest.raises(ColoniesConnectionError, match="Access denied"):
        client.add_blueprint_definition(definition, key)  # members may not define kinds
    client.add_blueprint_definition(definition, owner)
    assert client.get_blueprint_definition(col.name, "lamps", owner)["kind"] == kind
    assert [d["metadata"]["name"] for d in client.get_blueprint_definitions(col.name, key)] == ["lamps"]

    bp = {"kind": kind, "metadata": {"name": "kitchen", "colonyname": col.name},
          "handler": {"executortype": "test-reconciler"}, "spec": {"power": False, "brightness": 0}}
    added = client.add_blueprint(bp, key)
    assert added["blueprintid"] and added["metadata"]["generation"] == 1
    with pytest.raises(ColoniesConnectionError, match="already exists"):
        client.add_blueprint(bp, key)
    with pytest.raises(ColoniesConnectionError, match="validation"):
        client.add_blueprint(dict(bp, metadata={"name": "bad", "colonyname": col.name}, spec={"power": 1}), key)
    with pytest.raises(ColoniesConnectionError, match="not found"):
        client.add_blueprint(dict(bp, kind="Unknown"), key)
    got = client.get_blueprint(col.name, "kitchen", key)
    assert got["spec"]["power"] is False and got["handler"] == {"executortype": "test-reconciler"}
    assert [b["metadata"]["name"] for b in client.get_blueprints(col.name, key, kind=kind)] == ["kitchen"]
    assert client.get_blueprints(col.name, key, kind="Other") in ([], None)

    bp["spec"]["power"] = True
    updated = client.update_blueprint(bp, key)
    assert updated["metadata"]["generation"] == 2
    assert client.update_blueprint(bp, key)["metadata"]["generation"] == 2, "same spec, same generation"
    assert client.update_blueprint(bp, key, force_generation=True)["metadata"]["generation"] == 3
    client.update_blueprint_status(col.name, "kitchen", {"power": True, "lastSeen": "now"}, key)
    got = client.get_blueprint(col.name, "kitchen", key)
    assert got["status"]["power"] is True and got["spec"]["power"] is True
    history = client.get_blueprint_history(added["blueprintid"], key)
    assert [h["generation"] for h in history] == [3, 2, 1]
    assert len(client.get_blueprint_history(added["blueprintid"], key, limit=1)) == 1
    with pytest.raises(ColoniesConnectionError, match="handler"):
        client.reconcile_blueprint(col.name, "kitchen", key)

    with pytest.raises(ColoniesConnectionError, match="still exist"):
        client.remove_blueprint_definition(col.name, "lamps", owner)
    client.remove_blueprint(col.name, "kitchen", key)
    with pytest.raises(ColoniesConnectionError, match="Blueprint not found"):
        client.get_blueprint(col.name, "kitchen", key)
    client.remove_blueprint_definition(col.name, "lamps", owner)
    with pytest.raises(ColoniesConnectionError, match="not found"):
        client.get_blueprint_definition(col.name, "lamps", owner)


def test_blueprint_handler_reconciles(client, col):
    kind = "Fan" + rand_suffix()
    client.add_blueprint_definition({"kind": kind, "metadata": {"name": "fans", "colonyname": col.name},
                                     "spec": {"names": {"kind": kind},
                                              "handler": {"executorType": col.executortype,
                                                          "functionName": "reconcile"}}}, col.prvkey)
    key = col.executor_prvkey
    client.add_blueprint({"kind": kind, "metadata": {"name": "f1", "colonyname": col.name},
                          "spec": {"speed": 1}}, key)
    p = assign(client, col)
    assert p.spec.funcname == "reconcile" and p.spec.kwargs == {"kind": kind, "blueprintName": "f1"}
    assert "reconcile-" + kind in {c["name"] for c in client.get_crons(col.name, 10, key)}
    forced = client.reconcile_blueprint(col.name, "f1", key, force=True)
    assert forced["spec"]["funcname"] == "reconcile"
    assert client.get_blueprint(col.name, "f1", key)["metadata"]["generation"] == 2
    client.remove_blueprint(col.name, "f1", key)
    assert client.get_crons(col.name, 10, key) in ([], None), "the reconcile cron goes with the last blueprint"


# ------------------------------------------------------------------------------------------------ files


def test_files_and_snapshots_in_s3(client, col, s3, tmp_path):
    key = col.executor_prvkey
    label = "/data-" + rand_suffix()
    v1 = client.upload_data(col.name, key, filename="hello.txt", data=b"hello v1", label=label)
    assert v1["fileid"] and v1["ref"]["s3object"]["bucket"] == "petri-test" and v1["size"] == 8
    v2 = client.upload_data(col.name, key, filename="hello.txt", data=b"hello v2!", label=label)
    assert v2["sequencenr"] > v1["sequencenr"]
    path = tmp_path / "notes.txt"
    path.write_bytes(b"notes")
    client.upload_file(col.name, key, filepath=str(path), label=label + "/sub")

    assert client.download_data(col.name, key, label=label, filename="hello.txt") == b"hello v2!"
    assert client.download_data(col.name, key, fileid=v1["fileid"]) == b"hello v1"
    versions = client.get_file(col.name, key, label=label, filename="hello.txt", latest=False)
    assert [f["fileid"] for f in versions] == [v2["fileid"], v1["fileid"]]
    dst = client.download_file(col.name, key, dst=str(tmp_path / "out"), label=label + "/sub", filename="notes.txt")
    assert Path(dst).read_bytes() == b"notes"

    labels = {lab["name"]: lab["files"] for lab in client.get_file_labels(col.name, key)}
    assert labels == {label: 2, label + "/sub": 1}
    assert {lab["name"] for lab in client.get_file_labels(col.name, key, name=label, exact=True)} == set(labels)
    files = client.get_files(label, col.name, key)
    assert [(f["name"], f["size"]) for f in files] == [("hello.txt", 9)]

    snap = client.create_snapshot(col.name, label + "/", "snap-1", key)
    assert snap["label"] == label and sorted(snap["fileids"]) == sorted(
        [v2["fileid"], client.get_file(col.name, key, label=label + "/sub", filename="notes.txt")[0]["fileid"]])
    with pytest.raises(ColoniesConnectionError, match="already exists"):
        client.create_snapshot(col.name, label, "snap-1", key)
    empty = client.create_snapshot(col.name, "/nothing-here", "snap-2", key)
    assert empty["fileids"] is None
    assert client.get_snapshot_by_name(col.name, "snap-1", key)["snapshotid"] == snap["snapshotid"]
    assert client.get_snapshot_by_id(col.name, snap["snapshotid"], key)["name"] == "snap-1"
    assert {s["name"] for s in client.get_snapshots(col.name, key)} == {"snap-1", "snap-2"}

    client.delete_file(col.name, key, label=label, fileid=v1["fileid"])
    assert [f["fileid"] for f in client.get_file(col.name, key, label=label, filename="hello.txt",
                                                 latest=False)] == [v2["fileid"]]
    with pytest.raises(ColoniesConnectionError, match="Failed to get file"):
        client.get_file(col.name, key, fileid=v1["fileid"])
    with pytest.raises(ColoniesConnectionError):
        client.get_file(col.name, key)  # neither an id nor a label and name
    outsider = Crypto().prvkey()
    with pytest.raises(ColoniesConnectionError, match="Access denied"):
        client.get_file_labels(col.name, outsider)


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_commands(petri_server, colonies, tmp_path, s3):
    """`petri user|cron|generator|channel|blueprint|snapshot|file` against the dev broker, tables and --json."""
    from test_cli import petri, petri_json, write

    col = create_colony(colonies, prefix="cli-ext")
    env = col.example_env(petri_server.env)
    try:
        users = petri_json(env, "user", "add", "--name", "carol")
        assert users["user"]["name"] == "carol" and len(users["prvkey"]) == 64
        assert "carol" in petri(env, "user", "ls").stdout
        wf = write(tmp_path, "wf.json", [{"nodename": "n", "funcname": "cli-job",
                                          "conditions": {"executortype": col.executortype}}])
        cron = petri_json(env, "cron", "add", "--name", "c1", "--spec", wf, "--interval", "3600")
        assert cron["interval"] == 3600
        assert [c["cronid"] for c in petri_json(env, "cron", "ls")] == [cron["cronid"]]
        assert "every 3600 s" in petri(env, "cron", "get", "-i", cron["cronid"]).stdout
        ran = petri_json(env, "cron", "run", "-i", cron["cronid"])
        assert ran["prevprocessgraphid"]
        petri(env, "cron", "rm", "-i", cron["cronid"])
        bad = petri(env, "cron", "add", "--name", "c2", "--spec", wf, "--cron", "* * * * *", check=False)
        assert bad.returncode != 0 and "seconds" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1

        gen = petri_json(env, "generator", "add", "--name", "g", "--spec", wf, "--trigger", "5")
        petri(env, "generator", "pack", "-i", gen["generatorid"], "--arg", "x")
        assert petri_json(env, "generator", "get", "-i", gen["generatorid"])["queuesize"] == 1
        assert "g" in petri(env, "generator", "ls").stdout

        p = colonies.assign(col.name, 5, col.executor_prvkey)  # the cron's run
        spec = func_spec(func="talk", args=[], colonyname=col.name, executortype=col.executortype)
        spec.channels = ["c"]
        colonies.submit_func_spec(spec, col.executor_prvkey)
        talk = colonies.assign(col.name, 5, col.executor_prvkey)
        petri(env, "channel", "append", "-p", talk.processid, "--name", "c", "--seq", "1", "--text", "hi")
        assert [e["payload"] for e in petri_json(env, "channel", "read", "-p", talk.processid, "--name", "c")] == [
            base64.b64encode(b"hi").decode()]
        assert "hi" in petri(env, "channel", "read", "-p", talk.processid, "--name", "c").stdout
        sub = petri(env, "channel", "subscribe", "-p", talk.processid, "--name", "c", "--timeout", "1")
        assert "hi" in sub.stdout
        colonies.close(p.processid, [], col.executor_prvkey)

        kind = "Pump"
        definition = write(tmp_path, "def.json", {"kind": kind, "metadata": {"name": "pumps"},
                                                  "spec": {"names": {"kind": kind}}})
        petri(env, "blueprint", "def-add", "--spec", definition)
        assert "Pump" in petri(env, "blueprint", "def-ls").stdout
        bp = write(tmp_path, "bp.json", {"kind": kind, "metadata": {"name": "p1"}, "spec": {"rate": 1}})
        petri(env, "blueprint", "add", "--spec", bp)
        assert petri_json(env, "blueprint", "update", "--spec", bp, "--force")["metadata"]["generation"] == 2
        assert [b["metadata"]["name"] for b in petri_json(env, "blueprint", "ls", "--kind", kind)] == ["p1"]
        status = write(tmp_path, "status.json", {"rate": 1})
        petri(env, "blueprint", "status", "--name", "p1", "--spec", status)
        assert petri_json(env, "blueprint", "get", "--name", "p1")["status"] == {"rate": 1}
        petri(env, "blueprint", "rm", "--name", "p1")
        petri(env, "blueprint", "def-rm", "--name", "pumps")

        colonies.upload_data(col.name, col.executor_prvkey, filename="f.txt", data=b"abc", label="/cli")
        assert petri_json(env, "file", "labels") == [{"name": "/cli", "files": 1}]
        assert [f["name"] for f in petri_json(env, "file", "ls", "--label", "/cli")] == ["f.txt"]
        assert "f.txt" in petri(env, "file", "get", "--label", "/cli", "--name", "f.txt").stdout
        snap = petri_json(env, "snapshot", "create", "--label", "/cli", "--name", "s")
        assert len(snap["fileids"]) == 1
        assert "s" in petri(env, "snapshot", "ls").stdout
        petri(env, "snapshot", "rm", "--name", "s")
        petri(env, "file", "rm", "--label", "/cli", "--name", "f.txt")
        assert petri_json(env, "file", "labels") == []
        assert petri(env, "file", "get", "--label", "/cli", check=False).returncode != 0
    finally:
        delete_colony(colonies, col)
