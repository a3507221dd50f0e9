//! Criterion benchmarks of what every signed request costs: the client's
//! signature and the broker's recovery of the signer's id.
//!
//! `cargo bench -p petri-crypto --bench signatures`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use petri_crypto::{PrivateKey, recover_id};

fn bench(c: &mut Criterion) {
    let key = PrivateKey::generate();
    // About the size of a close request's payload.
    let payload = format!(
        "{{\"processid\":\"{}\",\"out\":[1],\"msgtype\":\"closesuccessfulmsg\"}}",
        "a".repeat(64)
    );
    let signature = key.sign(&payload);
    let mut group = c.benchmark_group("signatures");
    group.bench_function("sign", |b| b.iter(|| key.sign(black_box(&payload))));
    group.bench_function("recover_id", |b| {
        b.iter(|| recover_id(black_box(&payload), black_box(&signature)).expect("valid signature"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
