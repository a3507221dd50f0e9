"""phe 1.5.0 (with gmpy2) timings on one core, for `cargo xtask bench-paillier`.

Prints one line per (key size, operation) with the mean time per operation, measured the way the
Rust criterion benches measure petri-paillier: the same operations on the same kinds of values.
"""

from __future__ import annotations

import json
import sys
import time

import gmpy2  # noqa: F401  (phe uses it when present; fail loudly if it is missing)
import phe
from phe import paillier


def timed(fn, min_seconds: float = 2.0, min_runs: int = 3) -> float:
    runs, start = 0, time.perf_counter()
    while True:
        fn()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and runs >= min_runs:
            return elapsed / runs


def main() -> None:
    results = []
    for bits in (2048, 3072):
        keygen = timed(lambda: paillier.generate_paillier_keypair(n_length=bits), min_seconds=5.0)
        pk, sk = paillier.generate_paillier_keypair(n_length=bits)
        c1 = pk.encrypt(123456789)
        c2 = pk.encrypt(42)
        f1, f2 = pk.encrypt(3.5), pk.encrypt(0.1)
        ops = {
            "keygen": keygen,
            "encrypt": timed(lambda: pk.encrypt(123456789)),
            "decrypt": timed(lambda: sk.decrypt(c1)),
            "add": timed(lambda: c1 + c2),
            "add-float-align": timed(lambda: f1 + f2),
            "scalar-mul": timed(lambda: c1 * 1000003),
            "rerandomize": timed(lambda: c1.obfuscate()),
        }
        for op, secs in ops.items():
            results.append({"bits": bits, "op": op, "seconds": secs})
            print(f"phe-{bits}/{op:<16} {secs * 1e3:12.4f} ms   {1 / secs:12.1f} /s", flush=True)
    print(json.dumps({"phe": phe.__version__, "gmpy2": gmpy2.version(), "python": sys.version.split()[0],
                      "results": results}))


if __name__ == "__main__":
    main()
