//! Three parties on threads of one process, channels between them: the engine's speed without a
//! network. `cargo run --release -p petri-mpc --example local_bench -- [n] [op,op,...]`

use std::time::{Duration, Instant};

use petri_mpc::transport::local;
use petri_mpc::{Party, split};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    // Which operations to time (default: all).
    let only: Vec<String> = std::env::args()
        .nth(2)
        .map(|a| a.split(',').map(String::from).collect())
        .unwrap_or_default();
    let values: Vec<u64> = (0..n as u64)
        .map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32)
        .collect();
    let xs = split(&values);
    let ys = split(&values);
    let transports = local(Duration::from_secs(120));
    std::thread::scope(|s| {
        for (id, t) in transports.into_iter().enumerate() {
            let (xs, ys, only) = (&xs, &ys, &only);
            s.spawn(move || -> petri_mpc::Result<()> {
                let mut p = Party::new(id, t)?;
                let (x, y) = (&xs[id], &ys[id]);
                let time = |name: &str,
                            count: usize,
                            p: &mut Party<_>,
                            f: &mut dyn FnMut(&mut Party<_>) -> petri_mpc::Result<()>|
                 -> petri_mpc::Result<()> {
                    if !only.is_empty() && !only.iter().any(|o| name.starts_with(o.as_str())) {
                        return Ok(());
                    }
                    let before = p.stats();
                    let t0 = Instant::now();
                    f(p)?;
                    let dt = t0.elapsed().as_secs_f64();
                    let after = p.stats();
                    if id == 0 {
                        println!(
                            "{name:<12} n={count:<9} {dt:>8.3} s {:>14.0}/s rounds {:>5} sent {:>10} B",
                            count as f64 / dt,
                            after.rounds - before.rounds,
                            after.bytes_sent - before.bytes_sent
                        );
                    }
                    Ok(())
                };
                time("mul", n, &mut p, &mut |p| p.mul(x, y).map(|_| ()))?;
                time("lt", n, &mut p, &mut |p| p.lt(x, y).map(|_| ()))?;
                time("lt again", n, &mut p, &mut |p| p.lt(x, y).map(|_| ()))?;
                time("ltz", n, &mut p, &mut |p| p.ltz(x).map(|_| ()))?;
                time("eq", n, &mut p, &mut |p| p.eq(x, y).map(|_| ()))?;
                time("trunc", n, &mut p, &mut |p| p.trunc(x, 16).map(|_| ()))?;
                time("shuffle", n, &mut p, &mut |p| p.shuffle(&[x]).map(|_| ()))?;
                time("median", n, &mut p, &mut |p| p.median(x, 32).map(|_| ()))?;
                time("sort", n, &mut p, &mut |p| p.sort(x, 32).map(|_| ()))?;
                Ok(())
            });
        }
    });
}
