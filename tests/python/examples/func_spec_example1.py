# Seed 001 "Code-injection" (func_spec_example1.py); pycolonies 1.0.25: create_func_spec -> func_spec, colonies.submit -> submit_func_spec.
from pycolonies import colonies_client
from pycolonies import func_spec

colonies, colonyname, colony_prvkey, executorname, executor_prvkey = colonies_client()


def sum_nums(n1, n2, ctx={}):
    return n1 + n2


spec = func_spec(func=sum_nums,
                 args=[1, 2],
                 colonyname=colonyname,
                 executortype="python_executor",
                 priority=200,
                 maxexectime=100,
                 maxretries=3,
                 maxwaittime=100)

submitted_process = colonies.submit_func_spec(spec, executor_prvkey)
print("Process", submitted_process.processid, "submitted", flush=True)
completed_process = colonies.wait(submitted_process, 100, executor_prvkey)
print(completed_process.output[0])
