//! The PRF: AES-128 in counter mode (RustCrypto `aes`).
//!
//! F(k, nonce) is the keystream of AES-128-CTR under key k with the 128-bit counter starting at
//! nonce·2^64, so each nonce owns 2^64 blocks and streams for different nonces never overlap.
//! Every party advances the nonce identically (one step per protocol invocation), so two parties
//! holding the same key draw the same values without talking.

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use zeroize::Zeroize;

/// A PRF key. The key bytes are wiped on drop and never printed.
#[derive(Clone)]
pub(crate) struct Prf {
    key: [u8; 16],
}

impl std::fmt::Debug for Prf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prf(..)")
    }
}

impl Drop for Prf {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl Prf {
    pub(crate) fn new(key: [u8; 16]) -> Prf {
        Prf { key }
    }

    /// The stream F(k, nonce), to be drawn in pieces of any size: drawing n words and then m
    /// words gives the same words as drawing n + m at once.
    pub(crate) fn stream(&self, nonce: u64) -> PrfStream {
        PrfStream {
            cipher: Aes128::new(&self.key.into()),
            nonce,
            block: 0,
            pending: None,
            buf: Vec::new(),
        }
    }

    /// Fills `out` with F(k, nonce) as little-endian 64-bit words.
    pub(crate) fn fill(&self, nonce: u64, out: &mut [u64]) {
        self.stream(nonce).fill(out);
    }

    pub(crate) fn words(&self, nonce: u64, n: usize) -> Vec<u64> {
        let mut out = vec![0u64; n];
        self.fill(nonce, &mut out);
        out
    }
}

/// A position in F(k, nonce); see [`Prf::stream`].
///
/// This is AES-128-CTR with the 128-bit little-endian counter nonce·2^64 + j for block j, written
/// out directly: the counter blocks are encrypted in batches (so the cipher's parallel backend
/// sees many blocks at once) and read as words, without XOR-ing a keystream onto zeros.
pub(crate) struct PrfStream {
    cipher: Aes128,
    nonce: u64,
    /// Index of the next block to encrypt.
    block: u64,
    /// The second word of the last block, when a draw ended in the middle of it.
    pending: Option<u64>,
    /// Blocks being encrypted; kept between draws so that drawing in pieces allocates once.
    buf: Vec<aes::Block>,
}

impl PrfStream {
    /// Overwrites `out` with the next `out.len()` words of the stream.
    pub(crate) fn fill(&mut self, out: &mut [u64]) {
        // 32 KiB of blocks at a time, so the buffer stays in the L1/L2 cache.
        const BLOCKS: usize = 2048;
        let mut out = out;
        if let Some(w) = self.pending.take() {
            match out.split_first_mut() {
                Some((first, rest)) => {
                    *first = w;
                    out = rest;
                }
                None => {
                    self.pending = Some(w);
                    return;
                }
            }
        }
        if out.is_empty() {
            return;
        }
        let need = out.len().div_ceil(2).min(BLOCKS);
        if self.buf.len() < need {
            self.buf.resize(need, aes::Block::default());
        }
        let nonce = self.nonce.to_le_bytes();
        for words in out.chunks_mut(2 * BLOCKS) {
            let blocks = &mut self.buf[..words.len().div_ceil(2)];
            for b in blocks.iter_mut() {
                b[..8].copy_from_slice(&self.block.to_le_bytes());
                b[8..].copy_from_slice(&nonce);
                self.block += 1;
            }
            self.cipher.encrypt_blocks(blocks);
            for (pair, b) in words.chunks_mut(2).zip(blocks.iter()) {
                // A block is 16 bytes: two words.
                let lo = u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
                let hi = u64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
                pair[0] = lo;
                match pair.get_mut(1) {
                    Some(w) => *w = hi,
                    None => self.pending = Some(hi),
                }
            }
        }
    }
}

/// A fresh key from the operating system's randomness (through `rand`'s thread RNG, a CSPRNG
/// seeded from the OS).
pub(crate) fn random_key() -> [u8; 16] {
    rand::random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_aes128_ctr() {
        // FIPS-197 appendix C.1: AES-128(key 000102..0f, block 00112233..ff) = 69c4e0d8..5a.
        // With counter mode the block is the counter; check the first block of nonce 7 against
        // an independent single-block encryption instead, and the stream against the `ctr`
        // crate's AES-128-CTR (128-bit little-endian counter starting at nonce·2^64).
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let prf = Prf::new(key);
        let words = prf.words(7, 4);
        let cipher = Aes128::new(&key.into());
        let mut block = [0u8; 16];
        block[8..].copy_from_slice(&7u64.to_le_bytes());
        let mut b = block.into();
        cipher.encrypt_block(&mut b);
        let expect: [u8; 16] = b.into();
        assert_eq!(words[0], u64::from_le_bytes(expect[..8].try_into().unwrap()));
        assert_eq!(words[1], u64::from_le_bytes(expect[8..].try_into().unwrap()));
        {
            use ctr::cipher::{KeyIvInit, StreamCipher};
            let mut iv = [0u8; 16];
            iv[8..].copy_from_slice(&7u64.to_le_bytes());
            let mut bytes = vec![0u8; 8 * 10001];
            ctr::Ctr128LE::<Aes128>::new(&key.into(), &iv.into()).apply_keystream(&mut bytes);
            let expect: Vec<u64> = bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            assert_eq!(prf.words(7, 10001), expect);
        }
        // FIPS-197 C.1 itself, through the same cipher.
        let mut b = [
            0x00u8, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
        ]
        .into();
        cipher.encrypt_block(&mut b);
        let got: [u8; 16] = b.into();
        assert_eq!(
            got,
            [
                0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a
            ]
        );
    }

    #[test]
    fn streams_depend_on_key_and_nonce() {
        let a = Prf::new([1; 16]);
        let b = Prf::new([2; 16]);
        assert_eq!(a.words(1, 100), a.words(1, 100));
        assert_ne!(a.words(1, 100), a.words(2, 100));
        assert_ne!(a.words(1, 100), b.words(1, 100));
        // A longer draw extends a shorter one.
        assert_eq!(a.words(3, 10000)[..5000], a.words(3, 5000)[..]);
        // Drawing in pieces of any size gives the same words as one draw.
        let whole = a.words(4, 20000);
        let mut stream = a.stream(4);
        let mut got = Vec::new();
        for len in [1, 7, 4096, 5000, 3, 10893] {
            let mut piece = vec![0u64; len];
            stream.fill(&mut piece);
            got.extend(piece);
        }
        assert_eq!(got, whole);
    }
}
