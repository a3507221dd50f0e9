# Seed 001 "Workflows" (sum_nums(gen_nums())); pycolonies 1.0.25: create_func_spec -> func_spec, colonies.submit -> submit_workflow, Workflow(colonyname=...) has no add() (local add() sets nodename/dependencies).
from pycolonies import colonies_client
from pycolonies import func_spec
from pycolonies import Workflow

colonies, colonyname, colony_prvkey, executorname, executor_prvkey = colonies_client()


def gen_nums(ctx={}):
    return 1, 2


def sum_nums(n1, n2, ctx={}):
    return n1 + n2


def add(wf, spec, nodename, dependencies):
    spec.nodename = nodename
    spec.conditions.dependencies = dependencies
    wf.functionspecs.append(spec)


wf = Workflow(colonyname=colonyname)
spec = func_spec(func=gen_nums,
                 args=[],
                 colonyname=colonyname,
                 executortype="python_executor")
add(wf, spec, nodename="gen_nums", dependencies=[])

spec = func_spec(func=sum_nums,
                 args=[],
                 colonyname=colonyname,
                 executortype="python_executor")
add(wf, spec, nodename="sum_nums", dependencies=["gen_nums"])

processgraph = colonies.submit_workflow(wf, executor_prvkey)
print("Workflow", processgraph.processgraphid, "submitted", flush=True)

# Wait for the last step and print its result
processgraph = colonies.get_processgraph(processgraph.processgraphid, executor_prvkey)
sum_process = colonies.find_process("sum_nums", processgraph.processids, executor_prvkey)
sum_process = colonies.wait(sum_process, 60, executor_prvkey)
print(sum_process.output[0])
