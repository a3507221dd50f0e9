"""Seed 000's hospital executor in Python (pycolonies 1.0.25 + phe 1.5.0), answering like
`petri executor he-data`: it encrypts its patient data under the analyst's public key (the
process's kwargs["paillier-pubkey"], base64 of {"n": "<decimal>"}) and returns {"v", "e"} as a
JSON string.

    python3 hospital_executor.py r1-hospital_executor 55

petri's Rust aggregator (`petri executor he-aggregate --type cloud-hospital-executor`) sums its
output with those of other hospitals, Python or Rust.
"""

import base64
import json
import sys
import time
import uuid

from crypto import Crypto  # shipped with pycolonies
from phe import paillier
from pycolonies import colonies_client

executortype, secret = sys.argv[1], sys.argv[2]
value = int(secret) if secret.lstrip("-").isdigit() else float(secret)

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
        encrypted = public_key.encrypt(value)
        answer = {"v": str(encrypted.ciphertext()), "e": encrypted.exponent}
        if process.spec.kwargs.get("aggregate") == "mean":
            count = public_key.encrypt(1)
            answer["label"] = "sum"
            out = [answer, {"v": str(count.ciphertext()), "e": count.exponent, "label": "count"}]
        else:
            out = [answer]
        # As JSON strings: pycolonies reads process inputs and outputs as strings and numbers only.
        out = [json.dumps(item) for item in out]
        colonies.close(process.processid, out, prvkey)
    except Exception as err:
        colonies.fail(process.processid, [f"cannot answer: {err}"], prvkey)
