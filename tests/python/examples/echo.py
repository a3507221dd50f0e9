# Seed 001 "Calling a function" (echo.py); pycolonies 1.0.25: create_func_spec -> func_spec, colonies.submit -> submit_func_spec.
from pycolonies import colonies_client
from pycolonies import func_spec

colonies, colonyname, colony_prvkey, executorname, prvkey = colonies_client()

spec = func_spec(func="echo",
                 args=["helloworld"],
                 colonyname=colonyname,
                 executortype="echo_executor",
                 priority=0,
                 maxexectime=10,
                 maxretries=3,
                 maxwaittime=100)

process = colonies.submit_func_spec(spec, prvkey)
print("Process", process.processid, "submitted", flush=True)

process = colonies.wait(process, 60, prvkey)
print(process.output)
