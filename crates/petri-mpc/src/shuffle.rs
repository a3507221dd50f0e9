//! Secure shuffle of replicated shares (the resharing-based 3-party shuffle used by Araki et al.,
//! "Secure graph analysis at scale", CCS 2021, and by the 3-party sorting of Chida et al., eprint
//! 2019/695, §3).
//!
//! The permutation is π = π_2 ∘ π_1 ∘ π_0, where π_j is drawn from k_j and so is known to exactly
//! two parties, P = j−1 and Q = j; the third party R = j+1 never learns it. Pass j:
//! 1. P and Q view x as a 2-out-of-2 sharing: u_P = x_{j−1} + x_j (P holds both), u_Q = x_{j+1}.
//! 2. Both apply π_j to their vector.
//! 3. From k_j they draw t and m. The new replicated sharing is t_j = t (P and Q),
//!    t_{j−1} = π_j(u_P) − t − m (P sends it to R) and t_{j+1} = π_j(u_Q) + m (Q sends it to R).
//!    R sees two vectors masked by t and m, which it does not know.
//!
//! Three passes, one round each; per element and column, P and Q each send one word per pass.

use crate::share::AShare;
use crate::transport::Transport;
use crate::{MpcError, Party, Result, next, prev};

impl<T: Transport> Party<T> {
    /// Applies one secret random permutation to all `cols` (same length) (3 rounds).
    pub fn shuffle(&mut self, cols: &[&AShare]) -> Result<Vec<AShare>> {
        let n = cols.first().map(|c| c.len()).unwrap_or(0);
        if cols.iter().any(|c| c.len() != n) {
            return Err(MpcError::Invalid("shuffled columns differ in length".into()));
        }
        let k = cols.len();
        let mut cur: Vec<AShare> = cols.iter().map(|c| (*c).clone()).collect();
        for j in 0..3 {
            let (p, q, r) = (prev(j), j, next(j));
            let perm_words = self.pair_random(j, n);
            let masks = self.pair_random(j, 2 * n * k);
            let perm = perm_words.as_deref().map(permutation);
            let mut round = crate::party::Round::new();
            let mut outgoing = Vec::new();
            if let (Some(perm), Some(masks)) = (&perm, &masks) {
                let (t, m) = masks.split_at(n * k);
                for (ci, c) in cur.iter().enumerate() {
                    for (dst, src) in perm.iter().enumerate() {
                        let at = ci * n + dst;
                        let word = if self.id == p {
                            c.a[*src]
                                .wrapping_add(c.b[*src])
                                .wrapping_sub(t[at])
                                .wrapping_sub(m[at])
                        } else {
                            c.b[*src].wrapping_add(m[at])
                        };
                        outgoing.push(word);
                    }
                }
            }
            if self.id == p || self.id == q {
                round = round.send(r, &outgoing);
            } else {
                round = round.recv(p, n * k).recv(q, n * k);
            }
            let got = self.round(round)?;
            let t = masks.as_deref().map(|m| &m[..n * k]);
            cur = (0..k)
                .map(|ci| {
                    let range = ci * n..(ci + 1) * n;
                    match (self.id, t) {
                        (id, Some(t)) if id == p => AShare {
                            a: outgoing[range.clone()].to_vec(),
                            b: t[range].to_vec(),
                        },
                        (id, Some(t)) if id == q => AShare {
                            a: t[range.clone()].to_vec(),
                            b: outgoing[range].to_vec(),
                        },
                        _ => AShare {
                            a: got[q][range.clone()].to_vec(),
                            b: got[p][range].to_vec(),
                        },
                    }
                })
                .collect();
        }
        Ok(cur)
    }
}

/// A permutation of 0..n from n random words (Fisher–Yates; Lemire's multiply-shift reduction, whose
/// bias is below n/2^64). `perm[dst] = src`.
pub(crate) fn permutation(words: &[u64]) -> Vec<usize> {
    let n = words.len();
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = ((u128::from(words[i]) * (i as u128 + 1)) >> 64) as usize;
        perm.swap(i, j);
    }
    perm
}
