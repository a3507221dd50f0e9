"""Seed 000's hospital executor in Python (pycolonies 1.0.25 + phe 1.5.0), answering like
`petri executor he-data`: it encrypts its patient data under the analyst's public key (the
process's kwargs["paillier-pubkey"], base64 of {"n": "<decimal>"}) and returns {"v", "e"} as a
JSON string.

    python3 hospital_executor.py r1-hospital_executor 55
    python3 hospital_executor.py r1-hospital_executor 55 --name r1-hospital \
        --mask-key r1.mask.key --peer r2-hospital=<r2's mask public key>

petri's Rust aggregator (`petri executor he-aggregate --type cloud-hospital-executor`) sums its
output with those of other hospitals, Python or Rust. With a mask key (`petri he mask-keygen`)
and the other hospitals' mask public keys, it joins masked secure sums (kwargs "contributors")
exactly as petri's data owners do, so the analyst's key decrypts only the total. Unlike
`petri executor he-data`, this example keeps no policy: it answers any request.
"""

import argparse
import base64
import json
import time
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto import Crypto  # shipped with pycolonies
from phe import EncodedNumber, paillier
from pycolonies import colonies_client

parser = argparse.ArgumentParser()
parser.add_argument("executortype")
parser.add_argument("value")
parser.add_argument("--name", help="this hospital's name among the contributors of a secure sum")
parser.add_argument("--mask-key", help="this hospital's mask key file (petri he mask-keygen)")
parser.add_argument("--peer", action="append", default=[], help="NAME=MASK_PUBLIC_KEY of another hospital")
args = parser.parse_args()
executortype, secret = args.executortype, args.value
value = int(secret) if secret.lstrip("-").isdigit() else float(secret)
peers = dict(p.split("=", 1) for p in args.peer)


def mask(n: int, session: str, contributors: list[str], label: str) -> int:
    """This hospital's pairwise mask modulo n, as petri-he-executors' `mask` module derives it:
    X25519 with each other contributor, HKDF-SHA256 over the session, label and sorted list,
    ChaCha20 (zero nonce) for 128 bits more than n, reduced modulo n; added when this name sorts
    first, subtracted otherwise."""
    me = args.name
    key = X25519PrivateKey.from_private_bytes(base64.b64decode(open(args.mask_key).read().strip()))
    info = b""
    for part in [session, label, *contributors]:
        data = part.encode()
        info += len(data).to_bytes(8, "big") + data
    total = 0
    for other in contributors:
        if other == me:
            continue
        shared = key.exchange(X25519PublicKey.from_public_bytes(base64.b64decode(peers[other])))
        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"petri secure-sum mask v1", info=info).derive(shared)
        stream = Cipher(algorithms.ChaCha20(seed, bytes(16)), mode=None).encryptor()
        term = int.from_bytes(stream.update(bytes((n.bit_length() + 7) // 8 + 16)), "big") % n
        total += term if me < other else -term
    return total % n


def encrypt(public_key, number, kwargs, processgraphid: str, label: str):
    """phe's encryption, masked when the process asks for a secure sum."""
    if "contributors" not in kwargs:
        return public_key.encrypt(number)
    contributors = sorted(kwargs["contributors"])
    if args.name not in contributors:
        raise ValueError(f"{args.name} is not among the contributors {contributors}")
    exponent = int(kwargs.get("exponent", 0))
    encoded = EncodedNumber.encode(public_key, number, precision=1.5 * 16.0 ** exponent)
    session = kwargs.get("session") or processgraphid
    masked = (encoded.encoding + mask(public_key.n, session, contributors, label)) % public_key.n
    return public_key.encrypt(EncodedNumber(public_key, masked, exponent))


colonies, colonyname, colony_prvkey, _, _ = colonies_client()
crypto = Crypto()
prvkey = crypto.prvkey()
name = f"{executortype}-{uuid.uuid4().hex[:8]}"
colonies.add_executor({"executorname": name, "executorid": crypto.id(prvkey), "colonyname": colonyname,
                       "executortype": executortype}, colony_prvkey)
colonies.approve_executor(colonyname, name, colony_prvkey)
colonies.add_function(colonyname, name, "get_patient_data", prvkey)
print("Executor", name, "registered", flush=True)

while True:
    try:
        process = colonies.assign(colonyname, 10, prvkey)
    except Exception as err:  # "No process available for assignment" after 10 s
        if "No process available" not in str(err):
            time.sleep(1)
        continue
    try:
        wrapped = process.spec.kwargs["paillier-pubkey"]
        n = int(json.loads(base64.b64decode(wrapped))["n"])
        public_key = paillier.PaillierPublicKey(n)
        kwargs = process.spec.kwargs
        encrypted = encrypt(public_key, value, kwargs, process.processgraphid, "sum")
        answer = {"v": str(encrypted.ciphertext()), "e": encrypted.exponent}
        if kwargs.get("aggregate") == "mean":
            count = encrypt(public_key, 1, kwargs, process.processgraphid, "count")
            answer["label"] = "sum"
            out = [answer, {"v": str(count.ciphertext()), "e": count.exponent, "label": "count"}]
        else:
            out = [answer]
        # As JSON strings: pycolonies reads process inputs and outputs as strings and numbers only.
        out = [json.dumps(item) for item in out]
        colonies.close(process.processid, out, prvkey)
    except Exception as err:
        colonies.fail(process.processid, [f"cannot answer: {err}"], prvkey)
