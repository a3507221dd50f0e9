//! A party's shares and the local (communication-free) operations on them.

use crate::{MpcError, PARTIES, Result};

/// One party's view of a vector of arithmetic shares over Z_2^64: party i holds `a` = x_i and
/// `b` = x_{i+1} for every element.
#[derive(Clone, PartialEq, Eq)]
pub struct AShare {
    pub(crate) a: Vec<u64>,
    pub(crate) b: Vec<u64>,
}

/// One party's view of a vector of boolean (XOR) shares, 64 bits per word: party i holds `a` = x_i
/// and `b` = x_{i+1}. Depending on the operation a word is one 64-bit value or 64 packed bits (bit
/// r of word j is element 64j + r).
#[derive(Clone, PartialEq, Eq)]
pub struct BShare {
    pub(crate) a: Vec<u64>,
    pub(crate) b: Vec<u64>,
}

// Shares are not secret on their own, but printing them helps nobody: show the length.
impl std::fmt::Debug for AShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AShare(len {})", self.len())
    }
}

impl std::fmt::Debug for BShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BShare(words {})", self.words())
    }
}

impl AShare {
    /// Builds a share from the two components a party holds (x_i, x_{i+1}).
    pub fn from_parts(a: Vec<u64>, b: Vec<u64>) -> Result<AShare> {
        if a.len() != b.len() {
            return Err(MpcError::Invalid(format!(
                "share components differ in length ({} and {})",
                a.len(),
                b.len()
            )));
        }
        Ok(AShare { a, b })
    }

    /// The two components (x_i, x_{i+1}).
    pub fn into_parts(self) -> (Vec<u64>, Vec<u64>) {
        (self.a, self.b)
    }

    /// The components as slices.
    pub fn parts(&self) -> (&[u64], &[u64]) {
        (&self.a, &self.b)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.a.len()
    }

    /// Whether the vector is empty.
    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }

    /// A sharing of `n` zeros (every component zero; no communication).
    pub fn zeros(n: usize) -> AShare {
        AShare {
            a: vec![0; n],
            b: vec![0; n],
        }
    }

    fn check_len(&self, other: &AShare) -> Result<()> {
        if self.len() != other.len() {
            return Err(MpcError::Invalid(format!(
                "vectors differ in length ({} and {})",
                self.len(),
                other.len()
            )));
        }
        Ok(())
    }

    /// x + y, element-wise (local).
    pub fn add(&self, other: &AShare) -> Result<AShare> {
        self.check_len(other)?;
        Ok(AShare {
            a: self.a.iter().zip(&other.a).map(|(x, y)| x.wrapping_add(*y)).collect(),
            b: self.b.iter().zip(&other.b).map(|(x, y)| x.wrapping_add(*y)).collect(),
        })
    }

    /// x − y, element-wise (local).
    pub fn sub(&self, other: &AShare) -> Result<AShare> {
        self.check_len(other)?;
        Ok(AShare {
            a: self.a.iter().zip(&other.a).map(|(x, y)| x.wrapping_sub(*y)).collect(),
            b: self.b.iter().zip(&other.b).map(|(x, y)| x.wrapping_sub(*y)).collect(),
        })
    }

    /// −x (local).
    pub fn neg(&self) -> AShare {
        AShare {
            a: self.a.iter().map(|x| x.wrapping_neg()).collect(),
            b: self.b.iter().map(|x| x.wrapping_neg()).collect(),
        }
    }

    /// c·x for a public scalar c (local).
    pub fn mul_public(&self, c: u64) -> AShare {
        AShare {
            a: self.a.iter().map(|x| x.wrapping_mul(c)).collect(),
            b: self.b.iter().map(|x| x.wrapping_mul(c)).collect(),
        }
    }

    /// c_k·x_k for a public vector c (local).
    pub fn mul_public_vec(&self, c: &[u64]) -> Result<AShare> {
        if c.len() != self.len() {
            return Err(MpcError::Invalid(format!(
                "public vector has {} elements, shared vector {}",
                c.len(),
                self.len()
            )));
        }
        Ok(AShare {
            a: self.a.iter().zip(c).map(|(x, c)| x.wrapping_mul(*c)).collect(),
            b: self.b.iter().zip(c).map(|(x, c)| x.wrapping_mul(*c)).collect(),
        })
    }

    /// x + c for a public vector c, added into share 0 (held by parties 0 and 2).
    pub fn add_public(&self, party: usize, c: &[u64]) -> Result<AShare> {
        if c.len() != self.len() {
            return Err(MpcError::Invalid(format!(
                "public vector has {} elements, shared vector {}",
                c.len(),
                self.len()
            )));
        }
        let mut out = self.clone();
        match party {
            0 => out.a.iter_mut().zip(c).for_each(|(x, c)| *x = x.wrapping_add(*c)),
            2 => out.b.iter_mut().zip(c).for_each(|(x, c)| *x = x.wrapping_add(*c)),
            _ => {}
        }
        Ok(out)
    }

    /// The sum of all elements, as a one-element vector (local).
    pub fn sum(&self) -> AShare {
        AShare {
            a: vec![self.a.iter().fold(0u64, |s, x| s.wrapping_add(*x))],
            b: vec![self.b.iter().fold(0u64, |s, x| s.wrapping_add(*x))],
        }
    }

    /// Elements at `idx`, in that order (local).
    pub fn gather(&self, idx: &[usize]) -> Result<AShare> {
        let n = self.len();
        if let Some(bad) = idx.iter().find(|i| **i >= n) {
            return Err(MpcError::Invalid(format!("index {bad} out of range for {n} elements")));
        }
        Ok(AShare {
            a: idx.iter().map(|i| self.a[*i]).collect(),
            b: idx.iter().map(|i| self.b[*i]).collect(),
        })
    }

    /// Elements `start..end` (local).
    pub fn slice(&self, start: usize, end: usize) -> Result<AShare> {
        if start > end || end > self.len() {
            return Err(MpcError::Invalid(format!(
                "range {start}..{end} out of bounds for {} elements",
                self.len()
            )));
        }
        Ok(AShare {
            a: self.a[start..end].to_vec(),
            b: self.b[start..end].to_vec(),
        })
    }

    /// The concatenation of several vectors (local).
    pub fn concat(parts: &[&AShare]) -> AShare {
        let mut out = AShare {
            a: Vec::with_capacity(parts.iter().map(|p| p.len()).sum()),
            b: Vec::new(),
        };
        out.b.reserve(out.a.capacity());
        for p in parts {
            out.a.extend_from_slice(&p.a);
            out.b.extend_from_slice(&p.b);
        }
        out
    }
}

impl BShare {
    /// Builds a share from the two components a party holds.
    pub fn from_parts(a: Vec<u64>, b: Vec<u64>) -> Result<BShare> {
        if a.len() != b.len() {
            return Err(MpcError::Invalid(format!(
                "share components differ in length ({} and {})",
                a.len(),
                b.len()
            )));
        }
        Ok(BShare { a, b })
    }

    /// The two components.
    pub fn into_parts(self) -> (Vec<u64>, Vec<u64>) {
        (self.a, self.b)
    }

    /// Number of 64-bit words.
    pub fn words(&self) -> usize {
        self.a.len()
    }

    pub(crate) fn zeros(words: usize) -> BShare {
        BShare {
            a: vec![0; words],
            b: vec![0; words],
        }
    }

    /// x ⊕ y (local).
    pub fn xor(&self, other: &BShare) -> Result<BShare> {
        if self.words() != other.words() {
            return Err(MpcError::Invalid(format!(
                "boolean vectors differ in length ({} and {} words)",
                self.words(),
                other.words()
            )));
        }
        Ok(BShare {
            a: self.a.iter().zip(&other.a).map(|(x, y)| x ^ y).collect(),
            b: self.b.iter().zip(&other.b).map(|(x, y)| x ^ y).collect(),
        })
    }

    /// ¬x: a public all-ones word XORed into share 0 (local).
    pub fn not(&self, party: usize) -> BShare {
        let mut out = self.clone();
        match party {
            0 => out.a.iter_mut().for_each(|x| *x = !*x),
            2 => out.b.iter_mut().for_each(|x| *x = !*x),
            _ => {}
        }
        out
    }

    /// x ⊕ c for public words c, into share 0.
    pub fn xor_public(&self, party: usize, c: &[u64]) -> BShare {
        let mut out = self.clone();
        match party {
            0 => out.a.iter_mut().zip(c).for_each(|(x, c)| *x ^= c),
            2 => out.b.iter_mut().zip(c).for_each(|(x, c)| *x ^= c),
            _ => {}
        }
        out
    }

    pub(crate) fn map(&self, f: impl Fn(u64) -> u64) -> BShare {
        BShare {
            a: self.a.iter().map(|x| f(*x)).collect(),
            b: self.b.iter().map(|x| f(*x)).collect(),
        }
    }

    pub(crate) fn slice(&self, start: usize, end: usize) -> BShare {
        BShare {
            a: self.a[start..end].to_vec(),
            b: self.b[start..end].to_vec(),
        }
    }

    pub(crate) fn concat(parts: &[&BShare]) -> BShare {
        let mut out = BShare {
            a: Vec::with_capacity(parts.iter().map(|p| p.words()).sum()),
            b: Vec::new(),
        };
        out.b.reserve(out.a.capacity());
        for p in parts {
            out.a.extend_from_slice(&p.a);
            out.b.extend_from_slice(&p.b);
        }
        out
    }
}

/// A data owner's sharing of `values`: element k of party i's share is (x_i, x_{i+1}) with x0 and
/// x1 uniformly random and x2 = x − x0 − x1. Each compute party gets only its own element of the
/// result, so no compute party ever sees `values`.
pub fn split(values: &[u64]) -> Vec<AShare> {
    let x0: Vec<u64> = (0..values.len()).map(|_| rand::random()).collect();
    let x1: Vec<u64> = (0..values.len()).map(|_| rand::random()).collect();
    let x2: Vec<u64> = values
        .iter()
        .zip(x0.iter().zip(&x1))
        .map(|(v, (a, b))| v.wrapping_sub(*a).wrapping_sub(*b))
        .collect();
    let comps = [x0, x1, x2];
    (0..PARTIES)
        .map(|i| AShare {
            a: comps[i].clone(),
            b: comps[(i + 1) % PARTIES].clone(),
        })
        .collect()
}

/// Reconstructs values from the shares of at least two consecutive parties (`shares[i]` is party
/// i's share, `None` when missing). Checks that replicated components agree.
pub fn reconstruct(shares: &[Option<&AShare>; 3]) -> Result<Vec<u64>> {
    let comps = components(shares, |s| (&s.a, &s.b))?;
    Ok((0..comps[0].len())
        .map(|k| comps[0][k].wrapping_add(comps[1][k]).wrapping_add(comps[2][k]))
        .collect())
}

/// Reconstructs packed bits from boolean shares, like [`reconstruct`].
pub fn reconstruct_bits(shares: &[Option<&BShare>; 3]) -> Result<Vec<u64>> {
    let comps = components(shares, |s| (&s.a, &s.b))?;
    Ok((0..comps[0].len())
        .map(|k| comps[0][k] ^ comps[1][k] ^ comps[2][k])
        .collect())
}

fn components<'s, S>(
    shares: &[Option<&'s S>; 3],
    parts: impl Fn(&'s S) -> (&'s Vec<u64>, &'s Vec<u64>),
) -> Result<[&'s Vec<u64>; 3]> {
    let mut comps: [Option<&Vec<u64>>; 3] = [None; 3];
    for (i, share) in shares.iter().enumerate() {
        if let Some(s) = share {
            let (a, b) = parts(s);
            for (slot, v) in [(i, a), ((i + 1) % PARTIES, b)] {
                match comps[slot] {
                    Some(existing) if existing != v => {
                        return Err(MpcError::Protocol {
                            peer: i,
                            reason: format!("replicated component {slot} disagrees"),
                        });
                    }
                    _ => comps[slot] = Some(v),
                }
            }
        }
    }
    match comps {
        [Some(a), Some(b), Some(c)] if a.len() == b.len() && b.len() == c.len() => Ok([a, b, c]),
        [Some(_), Some(_), Some(_)] => Err(MpcError::Invalid("shares differ in length".into())),
        _ => Err(MpcError::Invalid(
            "need the shares of two parties to reconstruct".into(),
        )),
    }
}
