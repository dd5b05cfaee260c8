//! Build script: forwards NGINX feature/OS cfgs from `nginx-sys` (as ngx-rust's examples do)
//! and records where the NGINX tree used for this build lives, so that scripts and tests find
//! the matching `nginx` binary at a stable path instead of a hashed `target/` directory.
use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=DEP_NGINX_FEATURES_CHECK");
    println!(
        "cargo::rustc-check-cfg=cfg(ngx_feature, values({}))",
        env::var("DEP_NGINX_FEATURES_CHECK").unwrap_or_else(|_| "any()".to_string())
    );
    println!("cargo::rerun-if-env-changed=DEP_NGINX_FEATURES");
    if let Ok(features) = env::var("DEP_NGINX_FEATURES") {
        for feature in features.split(',').map(str::trim) {
            println!("cargo::rustc-cfg=ngx_feature=\"{feature}\"");
        }
    }
    println!("cargo::rerun-if-env-changed=DEP_NGINX_OS_CHECK");
    println!(
        "cargo::rustc-check-cfg=cfg(ngx_os, values({}))",
        env::var("DEP_NGINX_OS_CHECK").unwrap_or_else(|_| "any()".to_string())
    );
    println!("cargo::rerun-if-env-changed=DEP_NGINX_OS");
    if let Ok(os) = env::var("DEP_NGINX_OS") {
        println!("cargo::rustc-cfg=ngx_os=\"{os}\"");
    }

    // NGINX 1.23.0 linked header elements with `next`; older trees (Debian bookworm's 1.22)
    // do not have the field.
    println!("cargo::rustc-check-cfg=cfg(ngx_table_elt_next)");
    println!("cargo::rerun-if-env-changed=DEP_NGINX_VERSION_NUMBER");
    let version: u64 = env::var("DEP_NGINX_VERSION_NUMBER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if version >= 1_023_000 {
        println!("cargo::rustc-cfg=ngx_table_elt_next");
    }

    // Record the NGINX build directory next to the artifacts of this profile
    // (target/<profile>/nginx-build-dir), read by scripts/build.sh.
    println!("cargo::rerun-if-env-changed=DEP_NGINX_BUILD_DIR");
    if let (Ok(build_dir), Ok(out_dir)) = (env::var("DEP_NGINX_BUILD_DIR"), env::var("OUT_DIR")) {
        // OUT_DIR is target/<profile>/build/<pkg>-<hash>/out
        let profile_dir = PathBuf::from(out_dir).ancestors().nth(3).map(PathBuf::from);
        if let Some(dir) = profile_dir {
            let _ = fs::write(dir.join("nginx-build-dir"), format!("{build_dir}\n"));
        }
    }
}
