//! Sorting, median and top-k: shuffle, then quicksort with opened comparisons (Hamada, Kikuchi,
//! Ikarashi, Chida and Takahashi, "Practically efficient multi-party sorting protocols from
//! comparison sort algorithms", ICISC 2012).
//!
//! After a secure shuffle the order of the elements is uniformly random and unknown to every
//! party. Opening the outcome of a comparison between two shuffled elements then reveals nothing
//! but what a random permutation of distinct values would show, provided the values are distinct.
//! Distinctness is forced by sorting on key·2^b + i, where i is the element's original index and
//! b = ⌈log2 n⌉, which keeps equal values in input order. Quicksort runs all partitions of a level in
//! parallel, one batch of comparisons (8 rounds plus one to open) per level, so the number of rounds
//! grows with the recursion depth (about 2–4·ln n levels), and about 2n·ln n comparisons in all.
//! Median and top-k use quickselect on the same footing: about 3.4n comparisons.
//!
//! Only comparison outcomes between shuffled elements are opened; the values, and which input
//! element ends up where, stay secret-shared.
//!
//! Range: the inputs must lie within a span of 2^value_bits (for example all u32 or all i32 values
//! with value_bits = 32) and value_bits + ⌈log2 n⌉ ≤ 62, so that every key difference is below
//! 2^63 and the comparison is exact.

use crate::share::AShare;
use crate::transport::Transport;
use crate::{MpcError, Party, Result};

impl<T: Transport> Party<T> {
    /// Sorts ascending (values within a span of 2^value_bits).
    pub fn sort(&mut self, x: &AShare, value_bits: u32) -> Result<AShare> {
        if x.len() < 2 {
            return Ok(x.clone());
        }
        let (keys, vals) = self.prepare(x, value_bits)?;
        let n = x.len();
        let order = self.quick(&keys, (0..n).collect(), vec![(0, n)], None)?;
        vals.gather(&order)
    }

    /// The lower median, sorted[(n − 1) / 2], as a one-element vector.
    pub fn median(&mut self, x: &AShare, value_bits: u32) -> Result<AShare> {
        if x.is_empty() {
            return Err(MpcError::Invalid("the median of an empty vector is undefined".into()));
        }
        self.select(x, (x.len() - 1) / 2, value_bits)
    }

    /// The element of rank `rank` (0 = smallest), as a one-element vector.
    pub fn select(&mut self, x: &AShare, rank: usize, value_bits: u32) -> Result<AShare> {
        let n = x.len();
        if rank >= n {
            return Err(MpcError::Invalid(format!("rank {rank} out of range for {n} elements")));
        }
        if n == 1 {
            return Ok(x.clone());
        }
        let (keys, vals) = self.prepare(x, value_bits)?;
        let order = self.quick(&keys, (0..n).collect(), vec![(0, n)], Some(rank..rank + 1))?;
        vals.gather(&[order[rank]])
    }

    /// The `k` largest elements, largest first.
    pub fn top_k(&mut self, x: &AShare, k: usize, value_bits: u32) -> Result<AShare> {
        let n = x.len();
        if k == 0 || k > n {
            return Err(MpcError::Invalid(format!("top-k needs 1 ≤ k ≤ {n}, got {k}")));
        }
        if n == 1 {
            return Ok(x.clone());
        }
        let (keys, vals) = self.prepare(x, value_bits)?;
        // Quickselect until every element of rank ≥ n−k sits in its final block, then sort that block.
        let order = self.quick(&keys, (0..n).collect(), vec![(0, n)], Some(n - k..n))?;
        let mut top: Vec<usize> = order[n - k..].to_vec();
        top.reverse();
        vals.gather(&top)
    }

    /// Unique keys key·2^b + index and the values, shuffled together.
    fn prepare(&mut self, x: &AShare, value_bits: u32) -> Result<(AShare, AShare)> {
        let n = x.len();
        let idx_bits = usize::BITS - (n - 1).leading_zeros();
        if value_bits == 0 || value_bits + idx_bits > 62 {
            return Err(MpcError::Invalid(format!(
                "cannot order {n} values of {value_bits} bits: value bits + {idx_bits} index bits must be 1..=62"
            )));
        }
        let index: Vec<u64> = (0..n as u64).collect();
        let keys = x.mul_public(1u64 << idx_bits).add_public(self.id, &index)?;
        let mut shuffled = self.shuffle(&[&keys, x])?;
        let vals = shuffled.pop().unwrap_or_else(|| AShare::zeros(n));
        let keys = shuffled.pop().unwrap_or_else(|| AShare::zeros(n));
        Ok((keys, vals))
    }

    /// Quicksort (or quickselect when `wanted` is given: only segments overlapping those ranks are
    /// refined) over positions `order`, comparing against each segment's first element.
    fn quick(
        &mut self,
        keys: &AShare,
        mut order: Vec<usize>,
        mut segments: Vec<(usize, usize)>,
        wanted: Option<std::ops::Range<usize>>,
    ) -> Result<Vec<usize>> {
        loop {
            segments.retain(|(s, e)| e - s >= 2 && wanted.as_ref().is_none_or(|w| *s < w.end && w.start < *e));
            if segments.is_empty() {
                return Ok(order);
            }
            let mut items = Vec::new();
            let mut pivots = Vec::new();
            for (s, e) in &segments {
                for i in s + 1..*e {
                    items.push(order[i]);
                    pivots.push(order[*s]);
                }
            }
            let diff = keys.gather(&items)?.sub(&keys.gather(&pivots)?)?;
            let bits = self.ltz(&diff)?;
            let less = self.reveal_bits(&bits, items.len())?;
            let mut at = 0usize;
            let mut next_segments = Vec::with_capacity(segments.len() * 2);
            for (s, e) in &segments {
                let pivot = order[*s];
                let mut lo = Vec::new();
                let mut hi = Vec::new();
                for item in &order[s + 1..*e] {
                    if less[at] {
                        lo.push(*item);
                    } else {
                        hi.push(*item);
                    }
                    at += 1;
                }
                let split = s + lo.len();
                order[*s..split].copy_from_slice(&lo);
                order[split] = pivot;
                order[split + 1..*e].copy_from_slice(&hi);
                next_segments.push((*s, split));
                next_segments.push((split + 1, *e));
            }
            segments = next_segments;
        }
    }
}
