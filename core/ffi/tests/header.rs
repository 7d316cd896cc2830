//! armlet.h is generated from the Rust code: this test regenerates it with the cbindgen
//! that scripts/setup pins and fails when the committed copy is stale (or cbindgen is
//! missing: a skipped check would let a stale header through).
use std::process::Command;

/// Keep in step with scripts/setup.
const CBINDGEN_VERSION: &str = "0.29.4";

#[test]
fn committed_header_is_what_cbindgen_generates() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let version = match Command::new("cbindgen").arg("--version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => panic!("cbindgen is not installed: run scripts/setup (it installs cbindgen {CBINDGEN_VERSION})"),
    };
    assert!(
        version.ends_with(CBINDGEN_VERSION),
        "found {version}, armlet.h is generated with cbindgen {CBINDGEN_VERSION}: run scripts/setup"
    );
    let fresh = std::env::temp_dir().join(format!("armlet-{}.h", std::process::id()));
    let status = Command::new("cbindgen")
        .current_dir(dir)
        .args(["--quiet", "--config", "cbindgen.toml", "--output"])
        .arg(&fresh)
        .status()
        .expect("running cbindgen");
    assert!(status.success(), "cbindgen failed");
    let fresh_text = std::fs::read_to_string(&fresh).expect("reading the generated header");
    let _ = std::fs::remove_file(&fresh);
    let committed = std::fs::read_to_string(format!("{dir}/armlet.h")).expect("reading core/ffi/armlet.h");
    assert!(
        fresh_text == committed,
        "core/ffi/armlet.h is stale: regenerate it with `cd core/ffi && cbindgen --config cbindgen.toml --output armlet.h`"
    );
}
