//! Project chores. `cargo xtask test` runs every check CI runs, setting up
//! what the checks need (a Python venv with the pinned pycolonies).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .current_dir(root())
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn cargo(args: &[&str]) -> anyhow::Result<()> {
    run(Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args(args))
}

/// Every crate root starts with a `//!` overview.
fn tidy() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root().join("crates"))? {
        let dir = entry?.path();
        for file in ["src/lib.rs", "src/main.rs"] {
            let path = dir.join(file);
            if let Ok(text) = std::fs::read_to_string(&path)
                && !text.trim_start().starts_with("//!")
            {
                missing.push(path.display().to_string());
            }
        }
    }
    if !missing.is_empty() {
        bail!("crate roots without a //! overview: {}", missing.join(", "));
    }
    eprintln!("xtask: tidy ok");
    Ok(())
}

/// The venv for the Python compatibility suite, created on first use.
fn python_venv() -> anyhow::Result<PathBuf> {
    let venv = root().join(".venv-test");
    let python = venv.join("bin/python");
    let requirements = root().join("tests/python/requirements.txt");
    let stamp = venv.join(".requirements");
    let wanted = std::fs::read_to_string(&requirements).context("cannot read tests/python/requirements.txt")?;
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(&requirements))?;
        std::fs::write(&stamp, wanted)?;
    }
    Ok(python)
}

/// `npm` with `args` in `dashboard/`.
fn npm(args: &[&str]) -> anyhow::Result<()> {
    let dir = root().join("dashboard");
    eprintln!("xtask: running npm {} in {}", args.join(" "), dir.display());
    let status = Command::new("npm")
        .args(args)
        .current_dir(&dir)
        .status()
        .context("cannot start npm (the dashboard needs Node.js 20 or later)")?;
    if !status.success() {
        bail!("npm {} failed with {status}", args.join(" "));
    }
    Ok(())
}

/// Builds the web dashboard into `dashboard/dist`, which the petri binary
/// embeds; so it runs before any Rust build.
fn dashboard() -> anyhow::Result<()> {
    npm(&["ci", "--no-audit", "--no-fund"])?;
    npm(&["run", "build"])
}

fn test() -> anyhow::Result<()> {
    tidy()?;
    dashboard()?;
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    cargo(&["build", "--workspace", "--bins", "--examples"])?;
    cargo(&["test", "--workspace"])?;
    let python = python_venv()?;
    let petri = root().join("target/debug/petri");
    run(Command::new(&python)
        .args(["-m", "pytest", "tests/python", "-q"])
        .env("PETRI_BIN", &petri))?;
    // The dashboard's end-to-end test in headless Chromium (Debian's `chromium`).
    run(Command::new("node")
        .args(["--test", "dashboard/e2e/"])
        .env("PETRI_BIN", &petri)
        .env("PETRI_PYTHON", &python))?;
    eprintln!("xtask: all checks passed");
    Ok(())
}

/// petri-paillier's criterion benches, then phe 1.5.0 with gmpy2 on the same machine, in one run.
fn bench_paillier() -> anyhow::Result<()> {
    let python = python_venv()?;
    cargo(&["bench", "-p", "petri-paillier", "--bench", "paillier"])?;
    run(Command::new(python).arg("tests/python/bench_phe.py"))?;
    eprintln!("xtask: bench-paillier done; record the figures in BENCHMARKS.md with the machine");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1);
    match task.as_deref() {
        Some("test") => test(),
        Some("tidy") => tidy(),
        Some("bench-paillier") => bench_paillier(),
        Some("dashboard") => dashboard(),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|tidy|dashboard|bench-paillier>\n  test  run every check CI runs\n  tidy  check crate-root docs\n  \
                 dashboard  build the web dashboard that petri embeds\n  \
                 bench-paillier  Paillier benches beside phe 1.5.0 on this machine"
            );
            std::process::exit(2);
        }
    }
}
