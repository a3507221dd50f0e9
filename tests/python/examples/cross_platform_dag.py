# Seed 000 "Example - Cross-platform workflows" (11-node DAG); pycolonies 1.0.25: colonies.submit -> submit_workflow, Workflow(colonyname=...) has no add() (local add() builds a FuncSpec and sets nodename/dependencies).
from pycolonies import colonies_client
from pycolonies import FuncSpec
from pycolonies import Workflow

colonies, colonyname, colony_prvkey, executorid, executor_prvkey = colonies_client()


def gen_sleep(executortype):
    return {
    "conditions": {
        "executortype": executortype,
        "nodes": 1,
        "processespernode": 1,
        "mem": "500Mi",
        "cpu": "1000m",
        "gpu": {
            "count": 0
        },
        "walltime": 60
    },
    "funcname": "execute",
    "kwargs": {
        "cmd": "sleep 8",
        "docker-image": "ubuntu:20.04"
    },
    "maxexectime": 55,
    "maxretries": 3
}


def add(wf, spec, nodename, dependencies):
    spec = FuncSpec(**spec)
    spec.nodename = nodename
    spec.conditions.dependencies = dependencies
    wf.functionspecs.append(spec)


wf = Workflow(colonyname=colonyname)
add(wf, gen_sleep("ice-kubeexecutor"), nodename="ice-0", dependencies=[])
add(wf, gen_sleep("lumi-small-hpcexecutor"), nodename="lumi-0", dependencies=["ice-0"])
add(wf, gen_sleep("lumi-small-hpcexecutor"), nodename="lumi-1", dependencies=["ice-0"])
add(wf, gen_sleep("lumi-small-hpcexecutor"), nodename="lumi-2", dependencies=["ice-0"])
add(wf, gen_sleep("lumi-small-hpcexecutor"), nodename="lumi-3", dependencies=["ice-0"])
add(wf, gen_sleep("lumi-small-hpcexecutor"), nodename="lumi-4", dependencies=["ice-0"])
add(wf, gen_sleep("lumi-small-hpcexecutor"), nodename="lumi-5", dependencies=["ice-0"])
add(wf, gen_sleep("lumi-small-hpcexecutor"), nodename="lumi-6", dependencies=["ice-0"])
add(wf, gen_sleep("lumi-small-hpcexecutor"), nodename="lumi-7", dependencies=["ice-0"])
add(wf, gen_sleep("leonardo-booster-hpcexecutor"), nodename="leonardo-0", dependencies=["lumi-0", "lumi-1", "lumi-2", "lumi-3", "lumi-4", "lumi-5", "lumi-6", "lumi-7"])
# print(wf)
add(wf, gen_sleep("ice-kubeexecutor"), nodename="ice-1", dependencies=["leonardo-0"])
processgraph = colonies.submit_workflow(wf, executor_prvkey)
print(processgraph.processgraphid)
