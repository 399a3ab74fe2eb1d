//! Build script: only does something for `cargo test`.
//!
//! tests/capi.rs drives the C ABI from C, the way Anjay Lite does; that C code has
//! to be compiled and linked into the test binary, which only a build script can
//! do. It runs when the internal feature `capi-c-test` is on, which the crate's
//! dev-dependency on itself turns on for `cargo test`; every other build (the
//! library, the firmware cross builds, `libcellsock.a`) skips it and needs neither
//! a C compiler nor the `cc` crate.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "capi-c-test")]
    c_test::build();
}

#[cfg(feature = "capi-c-test")]
mod c_test {
    use std::env;

    /// Compile tests/c/anjay_like_client.c into `libcellsock_capi_test.a` in
    /// OUT_DIR; tests/capi.rs links it with `#[link]`.
    pub fn build() {
        println!("cargo:rerun-if-changed=tests/c");
        println!("cargo:rerun-if-changed=include/cellsock.h");
        let target = env::var("TARGET").unwrap_or_default();
        let host = env::var("HOST").unwrap_or_default();
        if target != host {
            // A cross build's tests do not run here; nothing to link.
            return;
        }
        let out = env::var("OUT_DIR").unwrap_or_default();
        let mut build = cc::Build::new();
        build
            .file("tests/c/anjay_like_client.c")
            .include("include")
            .std("c99")
            .warnings(true)
            .extra_warnings(true)
            .warnings_into_errors(true)
            .cargo_metadata(false);
        if env::var_os("CARGO_FEATURE_CAPI_BETA1").is_some() {
            build.define("CELLSOCK_TEST_BETA1", None);
        }
        build.compile("cellsock_capi_test");
        println!("cargo:rustc-link-search=native={out}");
    }
}
