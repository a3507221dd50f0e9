# Executor for seed 000's cross-platform DAG (types ice-kubeexecutor, lumi-small-hpcexecutor, leonardo-booster-hpcexecutor); runs kwargs["cmd"] locally with `sleep N` scaled by SIM_SLEEP_SCALE.
import os
import re
import subprocess
import sys
import time
import uuid

from pycolonies import colonies_client
from crypto import Crypto

EXECUTOR_TYPES = ["ice-kubeexecutor", "lumi-small-hpcexecutor", "leonardo-booster-hpcexecutor"]

if len(sys.argv) != 2 or sys.argv[1] not in EXECUTOR_TYPES:
    print("usage: sim_executor.py <" + "|".join(EXECUTOR_TYPES) + ">", file=sys.stderr)
    sys.exit(2)

executortype = sys.argv[1]
scale = float(os.getenv("SIM_SLEEP_SCALE", "1.0"))

colonies, colonyname, colony_prvkey, _, _ = colonies_client()
crypto = Crypto()
executor_prvkey = crypto.prvkey()
executorid = crypto.id(executor_prvkey)
executorname = executortype + "-" + uuid.uuid4().hex[:8]

colonies.add_executor({
    "executorname": executorname,
    "executorid": executorid,
    "colonyname": colonyname,
    "executortype": executortype
}, colony_prvkey)
colonies.approve_executor(colonyname, executorname, colony_prvkey)
colonies.add_function(colonyname, executorname, "execute", executor_prvkey)
print("Executor", executorname, executorid, "registered", flush=True)

SLEEP_RE = re.compile(r"\bsleep\s+(\d+(?:\.\d+)?)")


def scale_sleeps(cmd):
    return SLEEP_RE.sub(lambda m: "sleep %g" % (float(m.group(1)) * scale), cmd)


while True:
    try:
        process = colonies.assign(colonyname, 10, executor_prvkey)
    except Exception as err:  # "No process available for assignment" after 10 s
        print(err, flush=True)
        if "No process available" not in str(err):
            time.sleep(1)
        continue

    nodename = process.spec.nodename
    print("Process", process.processid, nodename, "assigned, input", process.input, flush=True)
    try:
        if process.spec.funcname != "execute":
            raise Exception("unsupported function " + process.spec.funcname)
        cmd = scale_sleeps((process.spec.kwargs or {})["cmd"])
        res = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=process.spec.maxexectime if process.spec.maxexectime > 0 else None)
        print(nodename, "ran", repr(cmd), "exit status", res.returncode, flush=True)
        if res.returncode != 0:
            colonies.fail(process.processid, ["%s exited with status %d: %s" % (cmd, res.returncode, res.stderr.strip())], executor_prvkey)
        else:
            colonies.close(process.processid, [res.returncode], executor_prvkey)
    except Exception as e:
        print("Error:", e, flush=True)
        try:
            colonies.fail(process.processid, [str(e)], executor_prvkey)
        except Exception as err:
            print("Failed to fail process:", err, flush=True)
