#!/usr/bin/env python3
"""SecretFlow SPU 0.9.5 `spu.ops.groupby` under ABY3, for the side-by-side figure in BENCHMARKS.md.

GROUP BY SUM of n rows: one key column with `--groups` distinct values and one value column, as
`petri sql bench --no-join --rows n --groups g` computes. SPU's simulator runs the three ABY3
parties as threads of this process (no network, no TLS). The sort-based `groupby` (segmentation)
and `groupby_sum_via_shuffle` are timed together, as the wall time of the two `sim_jax` calls, and
the process's CPU seconds over them are reported.

    python3.11 -m venv /work/venv-spu && /work/venv-spu/bin/pip install spu==0.9.5 'numpy<2'
    /work/venv-spu/bin/python tests/bench/spu_groupby.py --rows 65536 --groups 10
"""

import argparse
import json
import resource
import time

import numpy as np

import spu.libspu as libspu
import spu.utils.simulation as spsim
from spu.ops.groupby.groupby_via_shuffle import groupby_sum_via_shuffle
from spu.ops.groupby.postprocess import groupby_agg_postprocess
from spu.ops.groupby.segmentation import groupby


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1 << 16)
    ap.add_argument("--groups", type=int, default=10)
    args = ap.parse_args()
    n, g = args.rows, args.groups
    sim = spsim.Simulator.simple(3, libspu.ProtocolKind.ABY3, libspu.FieldType.FM64)
    # The same data as petri sql bench --no-join: key (i * 7919) % g, value (i * 104729) % 1000.
    i = np.arange(n, dtype=np.int64)
    key = ((i * 7919) % g).astype(np.int64)
    val = ((i * 104729) % 1000).astype(np.int64)
    want = np.bincount(key, weights=val, minlength=g)

    def proc(k, v):
        return groupby([k], [v])

    c0, t0 = cpu(), time.perf_counter()
    keys, target_cols, segment_ids, segment_end_marks = spsim.sim_jax(sim, proc)(key, val)
    t1 = time.perf_counter()
    order = np.random.random((n,)) + np.random.random((n,))
    res = spsim.sim_jax(sim, groupby_sum_via_shuffle)(target_cols, segment_end_marks, segment_ids, order)
    t2 = time.perf_counter()
    c1 = cpu()
    sums = groupby_agg_postprocess(res[0], res[1], res[2], g)
    ok = bool(np.allclose(np.sort(sums.reshape(-1)), np.sort(want), atol=1e-3))
    print(json.dumps({
        "rows": n, "groups": g, "protocol": "ABY3 (simulator, 3 threads)",
        "groupby_seconds": t1 - t0, "sum_seconds": t2 - t1, "wall_seconds": t2 - t0,
        "cpu_seconds": c1 - c0, "correct": ok,
    }))


if __name__ == "__main__":
    main()
