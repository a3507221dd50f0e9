# Seed 001 "Dynamic processgraphs" (map/reduce with add_child); pycolonies 1.0.25: create_func_spec -> func_spec, colonies.submit -> submit_workflow, get_processgraph/find_process return models (.processids/.processid), Workflow has no add().
from pycolonies import colonies_client
from pycolonies import func_spec
from pycolonies import Workflow

colonies, colonyname, colony_prvkey, executorname, executor_prvkey = colonies_client()


def map(ctx={}):
    code = """def gen_nums(ctx={}):
                return 1, 2"""

    processgraphid = ctx["process"]["processgraphid"]
    map_processid = ctx["process"]["processid"]
    executor_prvkey = ctx["executor_prvkey"]

    processgraph = colonies.get_processgraph(processgraphid, executor_prvkey)
    print(processgraph)
    reduce_process = colonies.find_process("reduce", processgraph.processids, executor_prvkey)
    reduce_processid = reduce_process.processid

    insert = True
    for i in range(5):
        spec = func_spec(func="gen_nums",
                         args=[],
                         colonyname=ctx["colonyname"],
                         executortype="python_executor",
                         priority=200,
                         maxexectime=100,
                         maxretries=3,
                         maxwaittime=100,
                         code=code)

        colonies.add_child(processgraphid, map_processid, reduce_processid, spec, "gen_nums_" + str(i), insert, executor_prvkey)
        insert = False


def reduce(*nums, ctx={}):
    total = 0
    for n in nums:
        total += n
    return total


def add(wf, spec, nodename, dependencies):
    spec.nodename = nodename
    spec.conditions.dependencies = dependencies
    wf.functionspecs.append(spec)


wf = Workflow(colonyname=colonyname)
spec = func_spec(func=map,
                 args=[],
                 colonyname=colonyname,
                 executortype="python_executor")
add(wf, spec, nodename="map", dependencies=[])

spec = func_spec(func=reduce,
                 args=[],
                 colonyname=colonyname,
                 executortype="python_executor")
add(wf, spec, nodename="reduce", dependencies=["map"])

processgraph = colonies.submit_workflow(wf, executor_prvkey)
print("Workflow", processgraph.processgraphid, "submitted", flush=True)

# Wait for reduce and print the result: (1+2)*5 = 15
reduce_process = colonies.find_process("reduce", processgraph.processids, executor_prvkey)
reduce_process = colonies.wait(reduce_process, 60, executor_prvkey)
print(reduce_process.output[0])
