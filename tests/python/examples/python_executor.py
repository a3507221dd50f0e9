# Seed 001 "Code-injection" (python_executor.py); pycolonies 1.0.25: Process is a pydantic model (process.spec.env["code"], process.input), add_function/approve_executor take names.
import base64
import time
import traceback
import uuid

from pycolonies import colonies_client
from pycolonies import func_spec  # used by injected code (e.g. map() in the map-reduce example)
from pycolonies import Workflow  # noqa: F401  (available to injected code)
from crypto import Crypto

colonies, colonyname, colony_prvkey, _, _ = colonies_client()
crypto = Crypto()
executor_prvkey = crypto.prvkey()
executorid = crypto.id(executor_prvkey)
executortype = "python_executor"
executorname = "python_executor-" + uuid.uuid4().hex[:8]

executor = {
    "executorname": executorname,
    "executorid": executorid,
    "colonyname": colonyname,
    "executortype": executortype
}

colonies.add_executor(executor, colony_prvkey)
colonies.approve_executor(colonyname, executorname, colony_prvkey)
for fn in ["sum_nums", "gen_nums", "map", "reduce"]:
    colonies.add_function(colonyname, executorname, fn, executor_prvkey)

print("Executor", executorid, "registered", flush=True)


def as_output(res):
    # close() takes a list: a tuple (or list) becomes a list, None becomes no output
    if res is None:
        return []
    if isinstance(res, (tuple, list)):
        return list(res)
    return [res]


def execute(process):
    funcname = process.spec.funcname
    code_base64 = process.spec.env["code"]
    code_bytes = base64.b64decode(code_base64)
    code = code_bytes.decode("ascii")

    # Inject the code into a copy of this module's namespace, so that it can use
    # `colonies`, `func_spec`, ... without overwriting anything here.
    namespace = dict(globals())
    exec(code, namespace)

    ctx = {"process": process.model_dump(by_alias=True),
           "colonyname": colonyname,
           "executor_prvkey": executor_prvkey}

    if len(process.spec.args) > 0:
        args = process.spec.args
    else:
        args = process.input or []  # the outputs of the parent processes
    print("Executing:", funcname, args, flush=True)
    return namespace[funcname](*tuple(args), ctx=ctx)


while True:
    try:
        process = colonies.assign(colonyname, 10, executor_prvkey)
    except Exception as err:  # "No process available for assignment" after 10 s
        print(err, flush=True)
        if "No process available" not in str(err):
            time.sleep(1)
        continue

    print("Process", process.processid, "is assigned to Executor", flush=True)
    try:
        res = execute(process)
        colonies.close(process.processid, as_output(res), executor_prvkey)
    except Exception as e:
        traceback.print_exc()
        try:
            colonies.fail(process.processid, [str(e)], executor_prvkey)
        except Exception as err:
            print("Failed to fail process:", err, flush=True)
