# Seed 001 "Implementing an Executor in Python" (echo_executor.py); pycolonies 1.0.25: approve_executor/add_function take (colonyname, executorname, ...), Process is a pydantic model.
import time
import uuid

from pycolonies import colonies_client
from crypto import Crypto

colonies, colonyname, colony_prvkey, _, _ = colonies_client()
crypto = Crypto()
executor_prvkey = crypto.prvkey()
executorid = crypto.id(executor_prvkey)
executorname = "echo_executor-" + uuid.uuid4().hex[:8]  # unique, so the example can be started more than once

executor = {
    "executorname": executorname,
    "executorid": executorid,
    "colonyname": colonyname,
    "executortype": "echo_executor"
}

colonies.add_executor(executor, colony_prvkey)
colonies.approve_executor(colonyname, executorname, colony_prvkey)

colonies.add_function(colonyname,
                      executorname,
                      "echo",
                      executor_prvkey)

print("Executor", executorid, "registered", flush=True)

while True:
    try:
        process = colonies.assign(colonyname, 10, executor_prvkey)
    except Exception as err:  # "No process available for assignment" after 10 s
        print(err, flush=True)
        if "No process available" not in str(err):
            time.sleep(1)
        continue
    print("Process", process.processid, "is assigned to Executor", flush=True)
    if process.spec.funcname == "echo":
        assigned_args = process.spec.args
        colonies.close(process.processid, assigned_args, executor_prvkey)
    else:
        colonies.fail(process.processid, ["unknown function " + process.spec.funcname], executor_prvkey)
