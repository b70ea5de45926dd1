//! Build script: tells the tests whether a data directory is there (issue 17).
//!
//! Tests that read the shared datasets carry
//! `#[cfg_attr(not(archconv_data), ignore = "...")]`. The `archconv_data` cfg is set when
//! `ARCHCONV_DATA` names a directory, or (unset) when the project's shared
//! `../shared/datasets` exists. Without data those tests are then reported as ignored,
//! with the reason, instead of passing without checking anything; with data they run,
//! and a missing file fails them. The library's code does not depend on the cfg.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ARCHCONV_DATA");
    println!("cargo:rustc-check-cfg=cfg(archconv_data)");
    let default = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("../shared/datasets");
    let dir = match std::env::var_os("ARCHCONV_DATA").filter(|v| !v.is_empty()) {
        Some(v) => PathBuf::from(v),
        None => {
            println!("cargo:rerun-if-changed={}", default.display());
            default
        }
    };
    if dir.is_dir() {
        println!("cargo:rustc-cfg=archconv_data");
    }
}
