//! Criterion benchmarks: key generation, encryption, decryption, homomorphic addition and scalar
//! multiplication at 2048 and 3072 bits, one core; plus the all-core batch modes.
//!
//! `cargo bench -p petri-paillier --bench paillier` (or `cargo xtask bench-paillier`, which also
//! measures phe 1.5.0 on the same machine).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use petri_paillier::{Number, generate_keypair};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const BATCH: usize = 64;

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    for bits in [2048usize, 3072] {
        let mut group = c.benchmark_group(format!("paillier-{bits}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(if bits == 2048 { 10 } else { 20 }));
        group.bench_function("keygen", |b| {
            b.iter(|| generate_keypair(&mut rng, bits).expect("keygen"));
        });
        let keys = generate_keypair(&mut rng, bits).expect("keygen");
        let (pk, sk) = (&keys.public, &keys.private);
        group.measurement_time(Duration::from_secs(5));
        group.sample_size(20);
        let value = Number::from(123_456_789);
        group.bench_function("encrypt", |b| {
            b.iter(|| pk.encrypt(black_box(&value), None, &mut rng).expect("encrypt"));
        });
        let c1 = pk.encrypt(&value, None, &mut rng).expect("encrypt");
        let c2 = pk.encrypt(&Number::from(42), None, &mut rng).expect("encrypt");
        group.bench_function("decrypt", |b| b.iter(|| sk.decrypt(black_box(&c1)).expect("decrypt")));
        group.sample_size(100);
        group.bench_function("add", |b| b.iter(|| black_box(&c1).add(black_box(&c2)).expect("add")));
        let f1 = pk.encrypt(&Number::Float(3.5), None, &mut rng).expect("encrypt");
        let f2 = pk.encrypt(&Number::Float(0.1), None, &mut rng).expect("encrypt");
        group.bench_function("add-float-align", |b| {
            b.iter(|| black_box(&f1).add(black_box(&f2)).expect("add"))
        });
        let scalar = Number::from(1_000_003);
        group.bench_function("scalar-mul", |b| {
            b.iter(|| black_box(&c1).mul_plain(black_box(&scalar)).expect("mul"))
        });
        group.sample_size(20);
        group.bench_function("rerandomize", |b| {
            b.iter(|| {
                let mut c = c1.clone();
                c.rerandomize(&mut rng);
                c
            })
        });
        // All cores: throughput per value.
        let values: Vec<Number> = (0..BATCH as i64).map(Number::from).collect();
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function("encrypt-batch", |b| {
            b.iter(|| pk.encrypt_batch(black_box(&values), None).expect("batch"))
        });
        let cts = pk.encrypt_batch(&values, None).expect("batch");
        group.bench_function("decrypt-batch", |b| b.iter(|| sk.decrypt_batch(black_box(&cts))));
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
