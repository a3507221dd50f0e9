#!/usr/bin/env python3
"""SecretFlow SPU 0.9.5 PSI on this machine, for the side-by-side figures in BENCHMARKS.md.

Both parties run as separate processes on loopback (brpc, no TLS), with the same inputs as
`petri psi bench`: n 16-character ids per side, half of them shared. Each party reports its own
CPU seconds (getrusage); the driver reports wall time. Bytes are counted by a relay the driver
puts between the parties (each party dials its peer through it).

    python3.11 -m venv /work/venv-spu && /work/venv-spu/bin/pip install spu==0.9.5 'numpy<2'
    /work/venv-spu/bin/python tests/bench/spu_psi.py --sizes 65536,262144 --protocols ECDH,KKRT,RR22
"""

import argparse
import json
import multiprocessing as mp
import os
import resource
import socket
import tempfile
import threading
import time


def write_set(path, n, offset):
    with open(path, "w") as f:
        f.write("id\n")
        for i in range(offset, offset + n):
            f.write(f"id-{i:013}\n")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Relay:
    """Forwards 127.0.0.1:listen to 127.0.0.1:target and counts the bytes both ways."""

    def __init__(self, target):
        self.target = target
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.bytes = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def pump(self, a, b):
        try:
            while True:
                data = a.recv(1 << 16)
                if not data:
                    break
                b.sendall(data)
                with self.lock:
                    self.bytes += len(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            for _ in range(200):
                try:
                    t = socket.create_connection(("127.0.0.1", self.target))
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                c.close()
                continue
            for s in (c, t):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self.pump, args=(c, t), daemon=True).start()
            threading.Thread(target=self.pump, args=(t, c), daemon=True).start()


def party(rank, hosts, protocol, inp, out, q):
    import spu.libspu.link as link
    import spu.psi as psi

    desc = link.Desc()
    desc.id = "bench"
    desc.recv_timeout_ms = 3600 * 1000
    for i, h in enumerate(hosts):
        desc.add_party(f"p{i}", h)
    lctx = link.create_brpc(desc, rank)
    proto = psi.PsiProtocolConfig(
        protocol=getattr(psi.PsiProtocol, f"PROTOCOL_{protocol}"),
        receiver_rank=0,
        broadcast_result=False,
        ecdh_params=psi.EcdhParams(curve=psi.EllipticCurveType.CURVE_25519),
    )
    config = psi.PsiExecuteConfig(
        protocol_conf=proto,
        input_params=psi.InputParams(type=psi.SourceType.SOURCE_TYPE_FILE_CSV, path=inp, selected_keys=["id"], keys_unique=True),
        output_params=psi.OutputParams(type=psi.SourceType.SOURCE_TYPE_FILE_CSV, path=out, disable_alignment=True),
    )
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.time()
    report = psi.psi_execute(config, lctx)
    seconds = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    lctx.stop_link()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    q.put((rank, {"seconds": seconds, "cpu": cpu, "intersection": report.intersection_count}))


def run(n, protocol, workdir):
    a, b = os.path.join(workdir, f"a-{n}.csv"), os.path.join(workdir, f"b-{n}.csv")
    write_set(a, n, 0)
    write_set(b, n, n // 2)
    ports = [free_port(), free_port()]
    relays = [Relay(ports[0]), Relay(ports[1])]
    q = mp.Queue()
    procs = []
    t0 = time.time()
    for rank in (0, 1):
        # A party listens on its own port and reaches its peer through the relay.
        hosts = [None, None]
        hosts[rank] = f"127.0.0.1:{ports[rank]}"
        hosts[1 - rank] = f"127.0.0.1:{relays[1 - rank].port}"
        out = os.path.join(workdir, f"out-{protocol}-{n}-{rank}.csv")
        p = mp.Process(target=party, args=(rank, hosts, protocol, [a, b][rank], out, q))
        p.start()
        procs.append(p)
    results = dict(q.get(timeout=3600) for _ in procs)
    for p in procs:
        p.join()
    wall = time.time() - t0
    total = relays[0].bytes + relays[1].bytes
    return {
        "system": "spu 0.9.5",
        "protocol": protocol,
        "n": n,
        "wall_seconds": round(wall, 3),
        "cpu_receiver": round(results[0]["cpu"], 3),
        "cpu_sender": round(results[1]["cpu"], 3),
        "us_per_element_per_party": round((results[0]["cpu"] + results[1]["cpu"]) / 2 / n * 1e6, 2),
        "bytes_per_element": round(total / n, 1),
        "intersection": results[0]["intersection"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="65536,262144,1048576")
    ap.add_argument("--protocols", default="ECDH,KKRT,RR22")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        for protocol in args.protocols.split(","):
            for n in map(int, args.sizes.split(",")):
                try:
                    print(json.dumps(run(n, protocol, d)), flush=True)
                except Exception as e:  # one protocol failing should not hide the others
                    print(json.dumps({"protocol": protocol, "n": n, "error": str(e)}), flush=True)


if __name__ == "__main__":
    main()
