//! Single-threaded cost of each ECDH-PSI step on this machine:
//! `cargo run --release -p petri-psi --example ecdh_ops`.

use std::time::Instant;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use petri_psi::ecdh::hash_to_group;

fn main() {
    let n = 4096;
    let keys: Vec<String> = (0..n).map(|i| format!("id-{i:013}")).collect();
    let per = |t: Instant| t.elapsed().as_secs_f64() / n as f64 * 1e6;

    let t = Instant::now();
    let points: Vec<RistrettoPoint> = keys.iter().map(|k| hash_to_group(b"s", k.as_bytes())).collect();
    println!("hash to group        {:6.1} µs", per(t));

    let a = Scalar::from_bytes_mod_order_wide(&[7u8; 64]);
    let t = Instant::now();
    let masked: Vec<RistrettoPoint> = points.iter().map(|p| a * p).collect();
    println!("scalar multiplication {:6.1} µs", per(t));

    let t = Instant::now();
    let compressed: Vec<CompressedRistretto> = masked.iter().map(|p| p.compress()).collect();
    println!("compress             {:6.1} µs", per(t));

    let t = Instant::now();
    let batch = RistrettoPoint::double_and_compress_batch(&masked);
    println!("double+compress batch {:6.1} µs", per(t));
    assert_eq!(batch.len(), n);

    let t = Instant::now();
    let back: Vec<RistrettoPoint> = compressed.iter().filter_map(|c| c.decompress()).collect();
    println!("decompress           {:6.1} µs", per(t));
    assert_eq!(back.len(), n);
}
