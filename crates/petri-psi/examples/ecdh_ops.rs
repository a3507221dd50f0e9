//! Single-threaded cost of each ECDH-PSI step on this machine, on both backends:
//! `cargo run --release -p petri-psi --example ecdh_ops`.
//!
//! The first part times curve25519-dalek step by step; the second times the two calls a party
//! makes per element, `mask_keys` (hash, multiply, encode) and `remask` (decode, multiply,
//! encode), on each backend this CPU can run, in a one-thread pool, as wall time and as the
//! process's CPU time (from `/proc/self/stat` on Linux; less sensitive to other load on the
//! machine).

use std::time::Instant;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use petri_psi::ecdh::{Backend, POINT_BYTES, Secret, TAG_BYTES, hash_to_group, mask_keys_on, remask_on};

fn main() {
    let n = 16384;
    let keys: Vec<String> = (0..n).map(|i| format!("id-{i:013}")).collect();
    let per = |t: Instant| t.elapsed().as_secs_f64() / n as f64 * 1e6;

    println!("curve25519-dalek, step by step (µs per element)");
    let t = Instant::now();
    let points: Vec<RistrettoPoint> = keys.iter().map(|k| hash_to_group(b"s", k.as_bytes())).collect();
    println!("  hash to group         {:6.2}", per(t));

    let a = Scalar::from_bytes_mod_order_wide(&[7u8; 64]);
    let t = Instant::now();
    let masked: Vec<RistrettoPoint> = points.iter().map(|p| a * p).collect();
    println!("  scalar multiplication {:6.2}", per(t));

    let t = Instant::now();
    let compressed: Vec<CompressedRistretto> = masked.iter().map(|p| p.compress()).collect();
    println!("  compress              {:6.2}", per(t));

    let t = Instant::now();
    let batch = RistrettoPoint::double_and_compress_batch(&masked);
    println!("  double+compress batch {:6.2}", per(t));
    assert_eq!(batch.len(), n);

    let t = Instant::now();
    let back: Vec<RistrettoPoint> = compressed.iter().filter_map(|c| c.decompress()).collect();
    println!("  decompress            {:6.2}", per(t));
    assert_eq!(back.len(), n);

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let secret = Secret::from_scalar(a);
    let peer: Vec<u8> = compressed.iter().flat_map(|c| c.to_bytes()).collect();
    println!("per party and element, one thread (µs per element, wall / CPU)");
    let mut outputs = Vec::new();
    for backend in [Backend::Dalek, Backend::Ifma] {
        if !backend.is_available() {
            println!("  {backend:?}: not available on this CPU");
            continue;
        }
        pool.install(|| {
            let (t, c) = (Instant::now(), cpu_seconds());
            let mine = mask_keys_on(backend, &secret, b"s", &keys);
            let mask = (per(t), cpu_per(c, n));
            let (t, c) = (Instant::now(), cpu_seconds());
            let theirs = remask_on(backend, &secret, &peer, TAG_BYTES).expect("valid points");
            let remask = (per(t), cpu_per(c, n));
            println!(
                "  {:5} mask_keys {:6.2} / {:6.2}  remask {:6.2} / {:6.2}  total {:6.2} / {:6.2}",
                format!("{backend:?}"),
                mask.0,
                mask.1,
                remask.0,
                remask.1,
                mask.0 + remask.0,
                mask.1 + remask.1
            );
            outputs.push((mine, theirs));
        });
    }
    // Both backends give the same bytes.
    assert!(outputs.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(outputs[0].0.len() * POINT_BYTES, n * POINT_BYTES);
}

/// User and system CPU seconds of this process so far (0 where `/proc` is missing).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields 14 and 15 (utime, stime) in clock ticks, counted after the command name's ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    ticks.iter().sum::<f64>() / 100.0
}

/// CPU µs per element since `start`.
fn cpu_per(start: f64, n: usize) -> f64 {
    (cpu_seconds() - start) / n as f64 * 1e6
}
