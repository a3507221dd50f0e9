//! Bit-matrix transposition for the OT extension.
//!
//! The extension builds its matrices column by column (one PRG stream per base OT) and reads
//! them row by row (one row per cuckoo bin), so every block of rows is transposed once or twice.
//! No crate transposes bit matrices without `unsafe` SIMD, so this is Eklundh's recursive
//! swap on 64×64 blocks of `u64` words: six rounds of masked shifts, which the compiler
//! vectorises well enough that the transposes are a few percent of a session.
//!
//! Conventions: bit `t` of a word is `(word >> t) & 1`. A matrix of `width` columns and `rows`
//! rows (both multiples of 64) is stored either column-major (`cols[j * rows/64 + w]` holds rows
//! `64w..64w+64` of column `j`) or row-major (`rows[i * width/64 + g]` holds columns
//! `64g..64g+64` of row `i`).

use rayon::prelude::*;

/// Transposes a 64×64 bit matrix in place: afterwards bit `t` of word `i` is what bit `i` of
/// word `t` was.
pub(crate) fn transpose64(a: &mut [u64; 64]) {
    const MASKS: [(usize, u64); 6] = [
        (32, 0x0000_0000_FFFF_FFFF),
        (16, 0x0000_FFFF_0000_FFFF),
        (8, 0x00FF_00FF_00FF_00FF),
        (4, 0x0F0F_0F0F_0F0F_0F0F),
        (2, 0x3333_3333_3333_3333),
        (1, 0x5555_5555_5555_5555),
    ];
    for (j, m) in MASKS {
        // Swap bit t + j of word k with bit t of word k + j, for every k and t with bit j clear.
        let mut k = 0;
        while k < 64 {
            for k in k..k + j {
                let t = ((a[k] >> j) ^ a[k + j]) & m;
                a[k + j] ^= t;
                a[k] ^= t << j;
            }
            k += 2 * j;
        }
    }
}

/// Column-major `cols` (`width` columns of `rows` bits) to row-major `out`.
pub(crate) fn cols_to_rows(cols: &[u64], width: usize, rows: usize, out: &mut [u64]) {
    let (rw, ww) = (rows / 64, width / 64);
    debug_assert!(cols.len() == width * rw && out.len() == rows * ww);
    out.par_chunks_mut(64 * ww).enumerate().for_each(|(w, out)| {
        let mut block = [0u64; 64];
        for g in 0..ww {
            for (t, b) in block.iter_mut().enumerate() {
                *b = cols[(64 * g + t) * rw + w];
            }
            transpose64(&mut block);
            for (i, b) in block.iter().enumerate() {
                out[i * ww + g] = *b;
            }
        }
    });
}

/// Row-major `rows_m` (`rows` rows of `width` bits) to column-major `out`.
pub(crate) fn rows_to_cols(rows_m: &[u64], width: usize, rows: usize, out: &mut [u64]) {
    let (rw, ww) = (rows / 64, width / 64);
    debug_assert!(rows_m.len() == rows * ww && out.len() == width * rw);
    out.par_chunks_mut(64 * rw).enumerate().for_each(|(g, out)| {
        let mut block = [0u64; 64];
        for w in 0..rw {
            for (i, b) in block.iter_mut().enumerate() {
                *b = rows_m[(64 * w + i) * ww + g];
            }
            transpose64(&mut block);
            for (t, b) in block.iter().enumerate() {
                out[t * rw + w] = *b;
            }
        }
    });
}
