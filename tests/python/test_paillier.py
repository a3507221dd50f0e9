"""petri's Paillier (`petri he ...`) against python-paillier (phe 1.5.0), in both directions, and
the secure-sum demo leaving no plaintext in the broker's database or log."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from phe import EncodedNumber, paillier
from phe.util import base64_to_int

from petri_testlib import REPO, stop_processes

PETRI = Path(os.environ.get("PETRI_BIN", str(REPO / "target" / "debug" / "petri")))
VALUES = ["55", "5", "-3", "0.1", "3.5", "-2.25", "12345678901234567890", "1e-5"]


def petri(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
    res = subprocess.run([str(PETRI), *args], capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"petri {' '.join(args[:3])} exited {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def number(text: str):
    return int(text) if text.lstrip("-").isdigit() else float(text)


def seed_pubkey(pk: paillier.PaillierPublicKey) -> str:
    return base64.b64encode(json.dumps({"n": str(pk.n)}).encode()).decode()


@pytest.fixture(scope="module")
def phe_keys():
    return paillier.generate_paillier_keypair(n_length=2048)


def test_python_encrypts_rust_sums_python_decrypts(phe_keys, tmp_path):
    pk, sk = phe_keys
    cts = [pk.encrypt(number(v)) for v in VALUES]
    py_sum = sum(cts[1:], cts[0])
    shapes = {
        # pheutil's {"v", "e"} with the seed's public key wrapper
        "wire.json": ([{"v": str(c.ciphertext()), "e": c.exponent} for c in cts], seed_pubkey(pk)),
        # phe's documented "basic JSON" with the key as bare JSON numbers
        "docs.json": ({"public_key": {"g": pk.g, "n": pk.n},
                       "values": [[str(c.ciphertext()), c.exponent] for c in cts]},
                      json.dumps({"public_key": {"g": pk.g, "n": pk.n}})),
    }
    for name, (doc, key) in shapes.items():
        path = tmp_path / name
        path.write_text(json.dumps(doc))
        out = json.loads(petri("he", "add", "--public-key", key, str(path)).stdout)
        total = paillier.EncryptedNumber(pk, int(out["v"]), out["e"])
        assert sk.decrypt(total) == sk.decrypt(py_sum), name
        # Re-randomised: not phe's unobfuscated product...
        assert int(out["v"]) != py_sum.ciphertext(be_secure=False)
        # ...which is exactly what petri computes before re-randomising.
        raw = json.loads(petri("he", "add", "--no-rerandomize", "--public-key", key, str(path)).stdout)
        assert int(raw["v"]) == py_sum.ciphertext(be_secure=False) and raw["e"] == py_sum.exponent, name


def test_rust_encrypts_python_sums_rust_decrypts(tmp_path):
    key = tmp_path / "analyst.key.json"
    pub_jwk = tmp_path / "analyst.pub.json"
    seed = petri("he", "keygen", "--bits", "2048", "--private-key", str(key), "--public-key", str(pub_jwk)).stdout.strip()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    n = int(json.loads(base64.b64decode(seed))["n"])
    jwk = json.loads(pub_jwk.read_text())
    assert jwk["kty"] == "DAJ" and jwk["alg"] == "PAI-GN1" and base64_to_int(jwk["n"]) == n
    pk = paillier.PaillierPublicKey(n)
    assert pk.n.bit_length() == 2048

    cts = json.loads(petri("he", "encrypt", "--public-key", str(pub_jwk), *VALUES).stdout)
    for text, c in zip(VALUES, cts):
        assert c["e"] == EncodedNumber.encode(pk, number(text)).exponent, text
    enc = [paillier.EncryptedNumber(pk, int(c["v"]), c["e"]) for c in cts]
    total = sum(enc[1:], enc[0]) * 2 + 1.5
    path = tmp_path / "total.json"
    path.write_text(json.dumps({"v": str(total.ciphertext()), "e": total.exponent}))
    rust = petri("he", "decrypt", "--private-key", str(key), str(path)).stdout.strip()

    # The private key file is pheutil's JWK: phe reads it and agrees with petri.
    priv = json.loads(key.read_text())
    sk = paillier.PaillierPrivateKey(pk, base64_to_int(priv["p"]), base64_to_int(priv["q"]))
    assert float(rust) == sk.decrypt(total)
    for text, c in zip(VALUES, enc):
        assert sk.decrypt(c) == number(text)
    both = petri("he", "decrypt", "--private-key", str(key), json.dumps(cts[:2])).stdout.split()
    assert both == ["55", "5"]


def test_bad_input_gets_a_one_line_error(phe_keys, tmp_path):
    pk, _ = phe_keys
    cases = [
        ("he", "add", "--public-key", "not-a-key", "[]"),
        ("he", "encrypt", "--public-key", seed_pubkey(pk), "nan"),
        ("he", "add", "--public-key", seed_pubkey(pk), json.dumps({"v": "0", "e": 0})),
        ("he", "add", "--public-key", seed_pubkey(pk), json.dumps({"v": str(pk.n), "e": 0})),
        ("he", "decrypt", "--private-key", str(tmp_path / "missing.json"), "[]"),
    ]
    for args in cases:
        res = petri(*args, check=False)
        assert res.returncode != 0, args
        assert res.stderr.startswith("error:") and res.stderr.strip().count("\n") == 0, res.stderr


def test_secure_sum_demo_keeps_plaintext_out_of_the_broker(tmp_path):
    # Distinctive values, so that finding one of them in a file cannot be a coincidence.
    r1 = [4815162342108, 2718281828459]
    r2 = [3141592653589]
    (tmp_path / "r1.csv").write_text("patient,value\n" + "".join(f"p{i},{v}\n" for i, v in enumerate(r1)))
    (tmp_path / "r2.csv").write_text("patient,value\n" + "".join(f"q{i},{v}\n" for i, v in enumerate(r2)))
    demo = tmp_path / "demo"
    out = json.loads(petri("--json", "demo", "secure-sum", "--data-dir", str(demo),
                           "--r1-csv", str(tmp_path / "r1.csv"), "--r2-csv", str(tmp_path / "r2.csv")).stdout)
    total = sum(r1) + sum(r2)
    assert out["sum"] == str(total) and out["count"] == "3"
    assert "The sum of all patient data is" in petri("demo", "secure-sum", "--data-dir", str(tmp_path / "again")).stdout

    db_files = [p for p in (demo / "broker").iterdir() if p.is_file()]
    log = demo / "broker.log"
    stored = b"".join(p.read_bytes() for p in db_files)
    # The broker did hold the workflow: the check below looks at the right files.
    assert b"get_patient_data" in stored and b"sum_patient_data" in stored
    assert log.stat().st_size > 0
    secrets = [str(v) for v in r1 + r2] + [str(sum(r1)), str(sum(r2)), str(total)]
    for path in db_files + [log]:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret} found in {path.name}"


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_python_hospital_and_rust_executors_compute_a_secure_mean(petri_server, colony, tmp_path, masked):
    """The mixed path of examples/secure-sum: the seed's Python hospital executor (pycolonies + phe)
    and petri's Rust data owner answer; petri's Rust aggregator sums both; phe decrypts. Masked,
    both hospitals add pairwise masks (Python with `cryptography`, Rust with x25519-dalek) that
    cancel only in the total, so phe cannot decrypt either hospital's answer alone."""
    from pycolonies import Colonies, func_spec
    from model import Workflow

    public, private = paillier.generate_paillier_keypair(n_length=2048)
    pubkey = seed_pubkey(public)
    env = colony.example_env(petri_server.env)
    env["PYTHONUNBUFFERED"] = "1"
    (tmp_path / "r2.csv").write_text("patient,age\nx,30\ny,20\n")
    # The Rust hospital's policy: only this colony's analyst, only this key (by fingerprint);
    # unmasked, it must allow answers without pairwise masks.
    fingerprint = petri("he", "fingerprint", "--public-key", pubkey).stdout.strip()
    assert fingerprint == hashlib.sha3_256(public.n.to_bytes((public.n.bit_length() + 7) // 8, "big")).hexdigest()
    r1_mask = petri("he", "mask-keygen", "--out", str(tmp_path / "r1.mask.key")).stdout.strip()
    r2_mask = petri("he", "mask-keygen", "--out", str(tmp_path / "r2.mask.key")).stdout.strip()
    (tmp_path / "r2.policy.toml").write_text(
        'owner = "r2-hospital"\naudit_log = "r2.audit.jsonl"\nmask_key = "r2.mask.key"\n'
        f'[peers]\n"r1-hospital" = "{r1_mask}"\n[[dataset]]\nname = "default"\n'
        f'initiators = ["{colony.executorid}"]\nfunctions = ["get_patient_data"]\n'
        f'analyst_keys = ["{fingerprint}"]\nmin_cohort = 2\nmin_contributors = 2\n'
        f'allow_unmasked = {"false" if masked else "true"}\n')
    mask_args = ["--name", "r1-hospital", "--mask-key", str(tmp_path / "r1.mask.key"),
                 "--peer", f"r2-hospital={r2_mask}"]
    kwargs = {"paillier-pubkey": pubkey, "aggregate": "mean"}
    if masked:
        kwargs["contributors"] = ["r1-hospital", "r2-hospital"]
    logs, procs = [], []

    def start(cmd):
        log = open(tmp_path / f"exec-{len(procs)}.log", "wb")
        logs.append(log)
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))

    start([os.sys.executable, str(REPO / "examples" / "secure-sum" / "hospital_executor.py"), "r1-hospital", "55",
           *mask_args])
    start([str(PETRI), "executor", "he-data", "--type", "r2-hospital", "--func", "get_patient_data",
           "--csv", str(tmp_path / "r2.csv"), "--column", "age", "--policy", str(tmp_path / "r2.policy.toml")])
    start([str(PETRI), "executor", "he-aggregate", "--type", "cloud", "--func", "sum_patient_data"])
    try:
        colonies = Colonies("localhost", petri_server.port)
        wf = Workflow(colonyname=colony.name)
        for nodename, kind, func, deps in [("r1", "r1-hospital", "get_patient_data", []),
                                           ("r2", "r2-hospital", "get_patient_data", []),
                                           ("cloud", "cloud", "sum_patient_data", ["r1", "r2"])]:
            spec = func_spec(func=func, args=[], colonyname=colony.name, executortype=kind, maxexectime=60,
                             maxretries=1, kwargs=kwargs)
            spec.nodename = nodename
            spec.conditions.dependencies = deps
            wf.functionspecs.append(spec)
        graph = colonies.submit_workflow(wf, colony.executor_prvkey)
        cloud = colonies.find_process("cloud", graph.processids, colony.executor_prvkey)
        done = colonies.wait(cloud, 90, colony.executor_prvkey)
        assert done.state == 2, (done.errors, [p.read_bytes() for p in tmp_path.glob("exec-*.log")])
        by_label = {}
        for item in done.output:
            assert isinstance(item, str), item  # what pycolonies can read
            value = json.loads(item)
            by_label[value["label"]] = private.decrypt(
                paillier.EncryptedNumber(public, int(value["v"]), int(value["e"])))
        assert by_label == {"sum": 55 + 30 + 20, "count": 3}
        # The aggregator saw only ciphertexts: no input value is in its parents' outputs.
        for nodename in ("r1", "r2"):
            parent = colonies.find_process(nodename, graph.processids, colony.executor_prvkey)
            items = [json.loads(o) for o in colonies.get_process(parent.processid, colony.executor_prvkey).output]
            assert items and all(set(i) == {"v", "e", "label"} for i in items), items
            # Masked, the analyst's key cannot read one hospital's answer: it decodes to a number
            # far from the hospital's data, or overflows.
            own = {55 + 0: "r1", 30 + 20: "r2"}
            for item in items:
                try:
                    plain = private.decrypt(paillier.EncryptedNumber(public, int(item["v"]), int(item["e"])))
                except OverflowError:
                    plain = None
                if masked:
                    assert plain is None or abs(plain) > 2**1000, (nodename, plain)
                else:
                    assert plain is not None and (plain in own or plain in (1, 2)), (nodename, plain)
        audit = json.loads(petri("--json", "policy", "audit", str(tmp_path / "r2.audit.jsonl")).stdout)
        assert [d["decision"] for d in audit["decisions"]] == ["released"]
    finally:
        stop_processes(procs, logs)
