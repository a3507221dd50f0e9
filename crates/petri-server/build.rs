//! Points the dashboard embed at `dashboard/dist` when the dashboard has been
//! built (`npm run build` in `dashboard/`), and at an empty folder otherwise, so
//! a build without Node still works and serves a "dashboard not built" page.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dashboard = manifest.join("../../dashboard");
    let dist = dashboard.join("dist");
    let folder = if dist.join("index.html").is_file() {
        println!("cargo:rerun-if-changed={}", dist.display());
        dist
    } else {
        // Watching the dashboard folder notices when `dist` appears.
        if dashboard.is_dir() {
            println!("cargo:rerun-if-changed={}", dashboard.display());
        }
        let empty = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("dashboard-empty");
        std::fs::create_dir_all(&empty).expect("cannot create an empty dashboard folder in OUT_DIR");
        empty
    };
    let folder = folder.canonicalize().unwrap_or(folder);
    println!("cargo:rustc-env=PETRI_DASHBOARD_DIST={}", folder.display());
    println!("cargo:rerun-if-changed=build.rs");
}
