//! Public and private keys, key generation, and the raw encryption and decryption maps.

use std::fmt;
use std::sync::Arc;

use num_bigint::BigUint;
use num_traits::{One, Zero};
use rand::{CryptoRng, RngCore};
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, Zeroizing};

use crate::arith::{self, Modulus, bit_len, from_limbs, mul_low, mul_wide, select_assign, sub_into, to_limbs};
use crate::{Error, Result};

/// The key size phe 1.5.0's `generate_paillier_keypair` uses by default.
pub const DEFAULT_KEY_BITS: usize = 3072;

/// Smallest modulus accepted from outside (parsed keys).
pub(crate) const MIN_PARSED_BITS: usize = 1024;

/// Largest modulus accepted from outside (parsed keys). A key of a million bits would make every
/// encryption a data owner does take hours; 8192 bits is twice the largest key phe generates.
pub const MAX_PARSED_BITS: usize = 8192;

/// A Paillier public key: the modulus n, with g = n + 1 as in phe. Cheap to clone.
#[derive(Clone)]
pub struct PublicKey(Arc<PublicInner>);

pub(crate) struct PublicInner {
    pub(crate) n: BigUint,
    pub(crate) nsquare: BigUint,
    pub(crate) max_int: BigUint,
    /// n as limbs, padded to the length of n².
    pub(crate) n_limbs: Vec<u64>,
    /// Montgomery arithmetic modulo n².
    pub(crate) n2: Modulus,
    pub(crate) bits: usize,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.n == other.0.n
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} bits)", self.0.bits)
    }
}

impl PublicKey {
    /// The public key with modulus `n` (phe's `PaillierPublicKey(n)`). `n` must be odd and have
    /// 1024 to 8192 bits ([`MAX_PARSED_BITS`]).
    pub fn from_n(n: BigUint) -> Result<Self> {
        if bit_len(&n.to_u64_digits()) < MIN_PARSED_BITS {
            return Err(Error::InvalidPublicKey(format!(
                "n has {} bits, fewer than {MIN_PARSED_BITS}",
                n.bits()
            )));
        }
        if n.bits() > MAX_PARSED_BITS as u64 {
            return Err(Error::InvalidPublicKey(format!(
                "n has {} bits, more than {MAX_PARSED_BITS}",
                n.bits()
            )));
        }
        Self::from_n_unchecked_size(n)
    }

    pub(crate) fn from_n_unchecked_size(n: BigUint) -> Result<Self> {
        if n.bits() < 16 || !n.bit(0) {
            return Err(Error::InvalidPublicKey(
                "n must be an odd number of at least 16 bits".into(),
            ));
        }
        let nsquare = &n * &n;
        let max_int = &n / 3u32 - 1u32;
        let n2 = Modulus::new(&to_limbs(&nsquare, 0))
            .ok_or_else(|| Error::InvalidPublicKey("n² is not a valid modulus".into()))?;
        let n_limbs = to_limbs(&n, n2.len());
        let bits = n.bits() as usize;
        Ok(Self(Arc::new(PublicInner {
            n,
            nsquare,
            max_int,
            n_limbs,
            n2,
            bits,
        })))
    }

    /// The modulus n.
    pub fn n(&self) -> &BigUint {
        &self.0.n
    }

    /// g = n + 1.
    pub fn g(&self) -> BigUint {
        &self.0.n + 1u32
    }

    /// n².
    pub fn nsquare(&self) -> &BigUint {
        &self.0.nsquare
    }

    /// The largest encodable mantissa, n/3 − 1 (phe's `max_int`).
    pub fn max_int(&self) -> &BigUint {
        &self.0.max_int
    }

    /// Bit length of n.
    pub fn bits(&self) -> usize {
        self.0.bits
    }

    pub(crate) fn inner(&self) -> &PublicInner {
        &self.0
    }

    /// A uniformly random r in [1, n), as phe's `get_random_lt_n`.
    pub(crate) fn random_lt_n<R: CryptoRng + RngCore + ?Sized>(&self, rng: &mut R) -> Zeroizing<Vec<u64>> {
        let n = to_limbs(&self.0.n, 0);
        let top_bits = self.0.bits % 64;
        let mut r = Zeroizing::new(vec![0u64; n.len()]);
        let mut t = Zeroizing::new(vec![0u64; n.len()]);
        loop {
            for limb in r.iter_mut() {
                *limb = rng.next_u64();
            }
            if top_bits != 0
                && let Some(last) = r.last_mut()
            {
                *last &= (1u64 << top_bits) - 1;
            }
            let below_n = sub_into(&mut t, &r, &n) == 1;
            let zero = r.iter().fold(0u64, |acc, &l| acc | l) == 0;
            if below_n && !zero {
                return r;
            }
        }
    }

    /// r^n mod n² in Montgomery form, for r given as limbs (`r < n`). Constant-time in r.
    pub(crate) fn obfuscator_mont(&self, r: &[u64]) -> Vec<u64> {
        let n2 = &self.0.n2;
        let rm = Zeroizing::new(n2.to_mont(r));
        n2.pow_public(&rm, &self.0.n_limbs)
    }

    /// A fresh random obfuscator r^n mod n² in Montgomery form.
    pub(crate) fn random_obfuscator<R: CryptoRng + RngCore + ?Sized>(&self, rng: &mut R) -> Vec<u64> {
        let r = self.random_lt_n(rng);
        self.obfuscator_mont(&r)
    }

    /// (1 + n·m) mod n² in Montgomery form for an encoding `m < n` (phe's `raw_encrypt` with
    /// r = 1; its separate path for negative values gives the same number).
    pub(crate) fn nude_mont(&self, m: &BigUint) -> Vec<u64> {
        let n2 = &self.0.n2;
        let k_n = self.0.n.to_u64_digits().len();
        let m = Zeroizing::new(to_limbs(m, k_n));
        let n = &self.0.n_limbs[..k_n];
        let mut v = Zeroizing::new(mul_wide(n, &m[..k_n]));
        let len = n2.len().max(v.len());
        v.resize(len, 0);
        arith::add_assign(&mut v, &[1]);
        n2.to_mont_wide(&v)
    }
}

/// A Paillier private key: the primes p < q with the values phe precomputes (hp, hq, p⁻¹ mod q),
/// all kept as limbs that are wiped on drop. Every operation with it is constant-time.
pub struct PrivateKey {
    public: PublicKey,
    p: Prime,
    q: Prime,
    /// p⁻¹ mod q, in Montgomery form modulo q.
    p_inv_q: Vec<u64>,
}

/// One prime factor with everything decryption needs modulo it.
struct Prime {
    value: Vec<u64>,
    bits: usize,
    minus_one: Vec<u64>,
    /// Montgomery arithmetic modulo the prime and its square.
    modp: Modulus,
    modp2: Modulus,
    /// The prime's inverse modulo 2^(64·limbs), for the exact division in L.
    inv_2adic: Vec<u64>,
    /// h = L(g^(p−1) mod p²)⁻¹ mod p, in Montgomery form modulo p.
    h: Vec<u64>,
}

impl Drop for Prime {
    fn drop(&mut self) {
        self.value.zeroize();
        self.minus_one.zeroize();
        self.inv_2adic.zeroize();
        self.h.zeroize();
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        self.p_inv_q.zeroize();
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({} bits, secret)", self.public.bits())
    }
}

impl Prime {
    /// `other` is the other prime; h = L(g^(p−1) mod p²)⁻¹ = (−other)⁻¹ mod p since g = n + 1.
    fn new(value: &[u64], other: &[u64]) -> Result<Self> {
        let bad = || Error::InvalidPrivateKey("p and q must be odd primes".into());
        let len = arith::used_len(value);
        let value = value[..len].to_vec();
        let bits = bit_len(&value);
        let modp = Modulus::new(&value).ok_or_else(bad)?;
        let square = Zeroizing::new(mul_wide(&value, &value));
        let modp2 = Modulus::new(&square).ok_or_else(bad)?;
        // p is odd, so p − 1 only clears the lowest bit.
        let mut minus_one = value.clone();
        minus_one[0] &= !1;
        let inv_2adic = arith::inv_2adic(&value, len);
        // (−other) mod p, then its inverse by Fermat: x^(p−2) mod p.
        let other_mod = Zeroizing::new(modp.reduce_slow(other));
        let mut neg = Zeroizing::new(vec![0u64; len]);
        sub_into(&mut neg, &value, &other_mod);
        let neg_m = Zeroizing::new(modp.to_mont(&neg));
        let mut p_minus_2 = Zeroizing::new(value.clone());
        minus_two(&mut p_minus_2);
        let h = modp.pow_secret(&neg_m, &p_minus_2, bits);
        Ok(Self {
            value,
            bits,
            minus_one,
            modp,
            modp2,
            inv_2adic,
            h,
        })
    }

    /// c mod p² in Montgomery form: the base of [`Prime::finish_decrypt`]'s power.
    fn start_decrypt(&self, c: &[u64]) -> Zeroizing<Vec<u64>> {
        Zeroizing::new(self.modp2.to_mont_wide(c))
    }

    /// m mod p = L(x)·h mod p, canonical, for x = c^(p−1) mod p² in Montgomery form.
    fn finish_decrypt(&self, x: &[u64]) -> Zeroizing<Vec<u64>> {
        let len = self.value.len();
        let mut x = Zeroizing::new(self.modp2.leave_mont(x));
        // L(x) = (x − 1)/p, an exact division: multiply by p⁻¹ modulo 2^(64·len).
        let mut xm1 = Zeroizing::new(vec![0u64; x.len()]);
        let mut borrow = 1u64;
        for (d, &limb) in xm1.iter_mut().zip(x.iter()) {
            let (v, b) = limb.overflowing_sub(borrow);
            *d = v;
            borrow = u64::from(b);
        }
        x.zeroize();
        let l = Zeroizing::new(mul_low(&xm1, &self.inv_2adic, len));
        let mut m = self.modp.mul(&l, &self.h);
        self.modp.reduce_once(&mut m);
        Zeroizing::new(m)
    }
}

/// x −= 2 for an odd x ≥ 3 (constant-time borrow propagation).
fn minus_two(x: &mut [u64]) {
    let mut borrow = 2u64;
    for limb in x.iter_mut() {
        let (d, b) = limb.overflowing_sub(borrow);
        *limb = d;
        borrow = u64::from(b);
    }
}

impl PrivateKey {
    /// The private key for `public` with prime factors `p` and `q` (in either order), as phe's
    /// `PaillierPrivateKey(public_key, p, q)`. The factors are given as big-endian bytes so that
    /// they never pass through a big-integer type that is not wiped.
    pub fn from_primes_be(public: &PublicKey, p: &[u8], q: &[u8]) -> Result<Self> {
        let p = Zeroizing::new(limbs_from_be(p));
        let q = Zeroizing::new(limbs_from_be(q));
        Self::from_prime_limbs(public, &p, &q)
    }

    pub(crate) fn from_prime_limbs(public: &PublicKey, p: &[u64], q: &[u64]) -> Result<Self> {
        let n = to_limbs(public.n(), 0);
        let product = Zeroizing::new(mul_wide(p, q));
        let product_len = arith::used_len(&product);
        if product_len != n.len() || !bool::from(product[..product_len].ct_eq(&n[..])) {
            return Err(Error::InvalidPrivateKey("p·q is not the public key's n".into()));
        }
        // Order the factors p < q like phe (a masked swap; equal factors are refused).
        let len = p.len().max(q.len());
        let mut a = Zeroizing::new(p.to_vec());
        let mut b = Zeroizing::new(q.to_vec());
        a.resize(len, 0);
        b.resize(len, 0);
        let mut diff = Zeroizing::new(vec![0u64; len]);
        let q_less = Choice::from(sub_into(&mut diff, &b, &a) as u8);
        if diff.iter().fold(0u64, |acc, &l| acc | l) == 0 {
            return Err(Error::InvalidPrivateKey("p and q must differ".into()));
        }
        let (mut lo, mut hi) = (Zeroizing::new(a.to_vec()), Zeroizing::new(b.to_vec()));
        select_assign(&mut lo, &b, q_less);
        select_assign(&mut hi, &a, q_less);
        let p = Prime::new(&lo, &hi)?;
        let q = Prime::new(&hi, &lo)?;
        // p⁻¹ mod q by Fermat.
        let p_mod_q = Zeroizing::new(q.modp.reduce_slow(&p.value));
        let pm = Zeroizing::new(q.modp.to_mont(&p_mod_q));
        let mut q_minus_2 = Zeroizing::new(q.value.clone());
        minus_two(&mut q_minus_2);
        let p_inv_q = q.modp.pow_secret(&pm, &q_minus_2, q.bits);
        Ok(Self {
            public: public.clone(),
            p,
            q,
            p_inv_q,
        })
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The smaller prime factor as big-endian bytes (for serialisation; wipe the result).
    pub fn p_be(&self) -> Zeroizing<Vec<u8>> {
        limbs_to_be(&self.p.value)
    }

    /// The larger prime factor as big-endian bytes (for serialisation; wipe the result).
    pub fn q_be(&self) -> Zeroizing<Vec<u8>> {
        limbs_to_be(&self.q.value)
    }

    /// phe's `raw_decrypt`: the plaintext m < n of a ciphertext given as limbs (any length).
    pub(crate) fn raw_decrypt_limbs(&self, c: &[u64]) -> Zeroizing<Vec<u64>> {
        // c^(p−1) mod p² and c^(q−1) mod q², computed together (interleaved where the backend
        // can), then m mod p and m mod q.
        let (cp, cq) = (self.p.start_decrypt(c), self.q.start_decrypt(c));
        let (xp, xq) = self.p.modp2.pow_secret_pair(
            &cp,
            &self.p.minus_one,
            &self.q.modp2,
            &cq,
            &self.q.minus_one,
            self.p.bits.max(self.q.bits),
        );
        let (xp, xq) = (Zeroizing::new(xp), Zeroizing::new(xq));
        let mp = self.p.finish_decrypt(&xp);
        let mq = self.q.finish_decrypt(&xq);
        // u = (mq − mp)·p⁻¹ mod q; m = mp + u·p. mp < p < q, so mq − mp only needs one masked add of q.
        let lq = self.q.value.len();
        let mut mp_q = Zeroizing::new(vec![0u64; lq]);
        mp_q[..mp.len()].copy_from_slice(&mp);
        let mut diff = Zeroizing::new(vec![0u64; lq]);
        let borrow = sub_into(&mut diff, &mq, &mp_q);
        let mut fixed = Zeroizing::new(diff.to_vec());
        arith::add_assign(&mut fixed, &self.q.value);
        select_assign(&mut diff, &fixed, Choice::from(borrow as u8));
        let mut u = Zeroizing::new(self.q.modp.mul(&diff, &self.p_inv_q));
        self.q.modp.reduce_once(&mut u);
        let mut m = Zeroizing::new(mul_wide(&u, &self.p.value));
        arith::add_assign(&mut m, &mp);
        m
    }

    /// phe's `raw_decrypt` on a ciphertext value.
    pub(crate) fn raw_decrypt(&self, c: &BigUint) -> BigUint {
        let m = self.raw_decrypt_limbs(&to_limbs(c, 0));
        from_limbs(&m)
    }
}

/// Little-endian limbs of big-endian bytes.
pub(crate) fn limbs_from_be(bytes: &[u8]) -> Vec<u64> {
    let mut limbs = vec![0u64; bytes.len().div_ceil(8).max(1)];
    for (i, &b) in bytes.iter().rev().enumerate() {
        limbs[i / 8] |= u64::from(b) << (8 * (i % 8));
    }
    let len = arith::used_len(&limbs).max(1);
    limbs.truncate(len);
    limbs
}

/// Big-endian bytes of limbs, without leading zero bytes.
fn limbs_to_be(limbs: &[u64]) -> Zeroizing<Vec<u8>> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(limbs.len() * 8));
    for limb in limbs.iter().rev() {
        bytes.extend_from_slice(&limb.to_be_bytes());
    }
    let skip = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    Zeroizing::new(bytes[skip..].to_vec())
}

/// A key pair.
pub struct Keypair {
    /// The public key.
    pub public: PublicKey,
    /// The private key.
    pub private: PrivateKey,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({:?})", self.public)
    }
}

/// Generates a key pair the way phe does: two random primes of `bits/2` bits (not safe primes),
/// redrawn until n has exactly `bits` bits and p ≠ q. `bits` is 2048, 3072 (phe's default) or 4096.
pub fn generate_keypair<R: CryptoRng + RngCore + ?Sized>(rng: &mut R, bits: usize) -> Result<Keypair> {
    if ![2048, 3072, 4096].contains(&bits) {
        return Err(Error::KeySize(bits));
    }
    generate_any_size(rng, bits)
}

pub(crate) fn generate_any_size<R: CryptoRng + RngCore + ?Sized>(rng: &mut R, bits: usize) -> Result<Keypair> {
    if bits < 32 || !bits.is_multiple_of(2) {
        return Err(Error::KeySize(bits));
    }
    loop {
        let p = Zeroizing::new(random_prime(rng, bits / 2));
        let q = Zeroizing::new(random_prime(rng, bits / 2));
        if bool::from(p.ct_eq(&q)) {
            continue;
        }
        let n = Zeroizing::new(mul_wide(&p, &q));
        if bit_len(&n) != bits {
            continue;
        }
        let public = PublicKey::from_n_unchecked_size(from_limbs(&n))?;
        let private = PrivateKey::from_prime_limbs(&public, &p, &q)?;
        return Ok(Keypair { public, private });
    }
}

/// A small odd prime for trial division, with what makes its residues cheap and constant-time.
struct SmallPrime {
    p: u64,
    /// ⌈2^64/p⌉, the Lemire–Kaser–Kurz constant of [`SmallPrime::rem`].
    magic: u64,
    /// 2^(32·i) mod p for i = 0..32.
    powers: [u32; 32],
    /// 2^1024 mod p.
    block: u64,
}

impl SmallPrime {
    fn new(p: u64) -> Self {
        let mut powers = [0u32; 32];
        let mut x = 1u64;
        for power in powers.iter_mut() {
            *power = x as u32; // x < p < 2^15
            x = (x << 32) % p;
        }
        Self {
            p,
            magic: u64::MAX / p + 1,
            powers,
            block: x,
        }
    }

    /// `x mod p` for `x < 2^32` with two multiplications and no division ("Faster remainder by
    /// direct computation", Lemire, Kaser and Kurz, 2019, theorem 1), so the time does not
    /// depend on x.
    fn rem(&self, x: u64) -> u64 {
        let low = self.magic.wrapping_mul(x);
        ((u128::from(low) * u128::from(self.p)) >> 64) as u64
    }

    /// `x mod p` for `x < 2^53`, 21 then 16 and 16 bits at a time (the running remainder stays
    /// below 2^15, so each step's value fits 32 bits).
    fn rem_wide(&self, x: u64) -> u64 {
        let r = self.rem(x >> 32);
        let r = self.rem((r << 16) | ((x >> 16) & 0xffff));
        self.rem((r << 16) | (x & 0xffff))
    }

    /// The candidate (little-endian limbs) modulo p: each block of 1024 bits is the sum of its
    /// 32-bit chunks times 2^(32·i) mod p (at most 32·2^47 < 2^53, independent products that
    /// the compiler vectorises), and blocks are combined from the top by Horner's rule.
    fn residue(&self, x: &[u64]) -> u64 {
        x.chunks(16).rev().fold(0u64, |r, block| {
            let mut sum = r * self.block;
            for (i, &limb) in block.iter().enumerate() {
                sum += (limb & 0xffff_ffff) * u64::from(self.powers[2 * i])
                    + (limb >> 32) * u64::from(self.powers[2 * i + 1]);
            }
            self.rem_wide(sum)
        })
    }
}

/// Small odd primes (below 2^15) for trial division.
fn small_primes() -> &'static [SmallPrime] {
    static PRIMES: std::sync::OnceLock<Vec<SmallPrime>> = std::sync::OnceLock::new();
    PRIMES.get_or_init(|| {
        let limit = 20_000usize;
        let mut sieve = vec![true; limit];
        let mut out = Vec::new();
        for i in 2..limit {
            if sieve[i] {
                if i > 2 {
                    out.push(SmallPrime::new(i as u64));
                }
                let mut j = i * i;
                while j < limit {
                    sieve[j] = false;
                    j += i;
                }
            }
        }
        out
    })
}

/// A random prime of exactly `bits` bits: random odd candidates with the top bit set, trial
/// division by the odd primes below 20 000 (multiplications only, see [`SmallPrime`]), then
/// Miller–Rabin with random bases using constant-time exponentiation. A candidate is dropped at
/// its first small factor; the one that is kept went through every test.
pub(crate) fn random_prime<R: CryptoRng + RngCore + ?Sized>(rng: &mut R, bits: usize) -> Vec<u64> {
    let len = bits.div_ceil(64);
    let top = (bits - 1) % 64;
    'candidate: loop {
        let mut c = vec![0u64; len];
        for limb in c.iter_mut() {
            *limb = rng.next_u64();
        }
        c[len - 1] &= if top == 63 { u64::MAX } else { (1u64 << (top + 1)) - 1 };
        c[len - 1] |= 1u64 << top;
        c[0] |= 1;
        if bits <= 16 {
            let v = c[0];
            if v < 3 || (2..v).take_while(|d| d * d <= v).any(|d| v.is_multiple_of(d)) {
                c.zeroize();
                continue;
            }
            return c;
        }
        for sp in small_primes() {
            if sp.residue(&c) == 0 {
                c.zeroize();
                continue 'candidate;
            }
        }
        if miller_rabin(rng, &c, bits, 40) {
            return c;
        }
        c.zeroize();
    }
}

/// Miller–Rabin with `rounds` random bases on odd `c > 3`.
fn miller_rabin<R: CryptoRng + RngCore + ?Sized>(rng: &mut R, c: &[u64], bits: usize, rounds: usize) -> bool {
    let Some(modulus) = Modulus::new(c) else {
        return false;
    };
    let mut d = Zeroizing::new(c.to_vec());
    d[0] &= !1; // c − 1 (c is odd)
    let mut s = 0usize;
    while d.iter().all(|&l| l == 0) || d[0] & 1 == 0 {
        if d.iter().all(|&l| l == 0) {
            return false;
        }
        // shift right by one
        let mut carry = 0u64;
        for limb in d.iter_mut().rev() {
            let next = *limb & 1;
            *limb = (*limb >> 1) | (carry << 63);
            carry = next;
        }
        s += 1;
    }
    let one = modulus.one();
    let mut minus_one = Zeroizing::new(vec![0u64; c.len()]);
    let mut c_minus_1 = Zeroizing::new(c.to_vec());
    c_minus_1[0] &= !1;
    minus_one.copy_from_slice(&modulus.to_mont(&c_minus_1));
    let canonical = |x: &[u64]| Zeroizing::new(modulus.leave_mont(x));
    let one_c = canonical(&one);
    let minus_one_c = canonical(&minus_one);
    for _ in 0..rounds {
        // A base in [2, c − 2]: random bits reduced modulo c (the bias is negligible for a test).
        let mut a = Zeroizing::new(vec![0u64; c.len() + 1]);
        for limb in a.iter_mut() {
            *limb = rng.next_u64();
        }
        let am = Zeroizing::new(modulus.to_mont_wide(&a));
        let x = Zeroizing::new(modulus.pow_secret(&am, &d, bits));
        let mut xc = canonical(&x);
        if bool::from(xc.ct_eq(&one_c)) || bool::from(xc.ct_eq(&minus_one_c)) {
            continue;
        }
        let mut witness = true;
        let mut xm = Zeroizing::new(modulus.to_mont(&xc));
        for _ in 1..s {
            xm = Zeroizing::new(modulus.mul(&xm, &xm));
            xc = canonical(&xm);
            if bool::from(xc.ct_eq(&minus_one_c)) {
                witness = false;
                break;
            }
            if bool::from(xc.ct_eq(&one_c)) {
                break;
            }
        }
        if witness {
            return false;
        }
    }
    true
}

/// Checks that `c` is a valid ciphertext for `pk`: 0 < c < n² and gcd(c, n) = 1.
pub(crate) fn check_ciphertext(pk: &PublicKey, c: &BigUint) -> Result<()> {
    if c.is_zero() || c >= pk.nsquare() {
        return Err(Error::InvalidCiphertext("value must be in (0, n²)".into()));
    }
    if !num_integer::Integer::gcd(c, pk.n()).is_one() {
        return Err(Error::InvalidCiphertext("value shares a factor with n".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
