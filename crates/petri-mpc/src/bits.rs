//! Bit-matrix helpers: moving between one 64-bit word per element and bit planes (bit k of every
//! element packed 64 per word), which lets circuits work on one bit position of many elements with
//! each word operation. Transposition is linear over XOR, so each party applies it to its shares.

use crate::share::BShare;

/// Transposes a 64×64 bit matrix in place: bit c of word r moves to bit r of word c.
pub(crate) fn transpose64(a: &mut [u64; 64]) {
    let mut j = 32usize;
    let mut m: u64 = 0x0000_0000_FFFF_FFFF;
    while j != 0 {
        let mut k = 0usize;
        while k < 64 {
            let t = ((a[k] >> j) ^ a[k + j]) & m;
            a[k + j] ^= t;
            a[k] ^= t << j;
            k = (k + j + 1) & !j;
        }
        j >>= 1;
        m ^= m << j;
    }
}

/// Words per plane for `n` elements.
pub(crate) fn plane_words(n: usize) -> usize {
    n.div_ceil(64)
}

/// One word per element → 64 planes of `plane_words(n)` words each, plane k first at k·m.
pub(crate) fn to_planes(words: &[u64]) -> Vec<u64> {
    let m = plane_words(words.len());
    let mut out = vec![0u64; 64 * m];
    let mut blk = [0u64; 64];
    for j in 0..m {
        let start = j * 64;
        let end = (start + 64).min(words.len());
        blk.fill(0);
        blk[..end - start].copy_from_slice(&words[start..end]);
        transpose64(&mut blk);
        for (c, w) in blk.iter().enumerate() {
            out[c * m + j] = *w;
        }
    }
    out
}

/// The inverse of [`to_planes`] for `n` elements.
#[cfg(test)]
pub(crate) fn from_planes(planes: &[u64], n: usize) -> Vec<u64> {
    let m = plane_words(n);
    let mut out = vec![0u64; n];
    let mut blk = [0u64; 64];
    for j in 0..m {
        for (c, w) in blk.iter_mut().enumerate() {
            *w = planes[c * m + j];
        }
        transpose64(&mut blk);
        let start = j * 64;
        let end = (start + 64).min(n);
        out[start..end].copy_from_slice(&blk[..end - start]);
    }
    out
}

/// Bit planes of a boolean-shared vector of 64-bit values (each party transposes its components).
pub(crate) fn share_to_planes(x: &BShare) -> BShare {
    BShare {
        a: to_planes(&x.a),
        b: to_planes(&x.b),
    }
}

/// Packed bits (bit r of word j is element 64j + r) → one 0/1 word per element.
pub(crate) fn unpack_bits(packed: &[u64], n: usize) -> Vec<u64> {
    (0..n).map(|k| (packed[k / 64] >> (k % 64)) & 1).collect()
}

/// One 0/1 (low bit used) word per element → packed bits.
pub(crate) fn pack_bits(bits: &[u64]) -> Vec<u64> {
    let mut out = vec![0u64; plane_words(bits.len())];
    for (k, b) in bits.iter().enumerate() {
        out[k / 64] |= (b & 1) << (k % 64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_moves_each_bit_and_is_an_involution() {
        let mut a = [0u64; 64];
        for (r, w) in a.iter_mut().enumerate() {
            *w = (r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (1 << r);
        }
        let orig = a;
        transpose64(&mut a);
        for (r, row) in orig.iter().enumerate() {
            for (c, col) in a.iter().enumerate() {
                assert_eq!((row >> c) & 1, (col >> r) & 1, "r={r} c={c}");
            }
        }
        transpose64(&mut a);
        assert_eq!(a, orig);
    }

    #[test]
    fn planes_round_trip_for_ragged_lengths() {
        for n in [0usize, 1, 63, 64, 65, 200] {
            let words: Vec<u64> = (0..n as u64).map(|k| k.wrapping_mul(0xDEAD_BEEF_1234_5677)).collect();
            let planes = to_planes(&words);
            assert_eq!(from_planes(&planes, n), words);
            let m = plane_words(n);
            for (k, w) in words.iter().enumerate() {
                assert_eq!((planes[5 * m + k / 64] >> (k % 64)) & 1, (w >> 5) & 1);
            }
            let bits: Vec<u64> = words.iter().map(|w| w & 1).collect();
            assert_eq!(unpack_bits(&pack_bits(&bits), n), bits);
        }
    }
}
