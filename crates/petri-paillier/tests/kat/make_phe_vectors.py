# Known-answer vectors from phe 1.5.0 for a fixed 1024-bit key and fixed nonces.
import json, random
from phe import paillier
from phe.util import getprimeover
random.seed(7)
import gmpy2
def prime(bits, seed):
    rs = gmpy2.random_state(seed)
    while True:
        c = gmpy2.mpz_urandomb(rs, bits) | (1 << (bits-1)) | 1
        c = gmpy2.next_prime(c)
        if c.bit_length() == bits: return int(c)
seed = 1
while True:
    p, q = prime(512, seed), prime(512, seed + 1000)
    if (p*q).bit_length() == 1024: break
    seed += 1
n = p*q
assert n.bit_length() == 1024
pk = paillier.PaillierPublicKey(n)
sk = paillier.PaillierPrivateKey(pk, p, q)
cases = []
for i, v in enumerate([0, 1, 60, -5, 3.5, 0.1, -2.25, 12345678901234567890]):
    r = (i * 7919 + 123456789) % n
    enc = pk.encrypt(v, r_value=r)
    cases.append({"value": repr(v), "r": str(r), "v": str(enc.ciphertext(be_secure=False)), "e": enc.exponent})
a = pk.encrypt(3.5, r_value=11); b = pk.encrypt(60, r_value=13)
s = a + b
m = a * -3
m2 = b * 0.5
out = {"p": hex(p), "q": hex(q), "n": str(n), "encrypt": cases,
 "add": {"a": str(a.ciphertext(False)), "ae": a.exponent, "b": str(b.ciphertext(False)), "be": b.exponent, "v": str(s.ciphertext(False)), "e": s.exponent},
 "mul_neg": {"v": str(m.ciphertext(False)), "e": m.exponent},
 "mul_half": {"v": str(m2.ciphertext(False)), "e": m2.exponent},
 "seed_pubkey": __import__('base64').b64encode(json.dumps({"n": str(n)}).encode()).decode()}
print(json.dumps(out, indent=1))
