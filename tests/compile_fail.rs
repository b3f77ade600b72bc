//! The lifetime guarantees, proven by the compiler: each file under
//! `tests/compile_fail/` must be rejected with the recorded error, and each
//! under `tests/compile_pass/` must build and run.
//!
//! Refresh the recorded errors after a toolchain change with
//! `TRYBUILD=overwrite cargo test --test compile_fail`.

#[test]
#[cfg_attr(miri, ignore = "trybuild runs the compiler")]
fn lifetime_guarantees() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
    t.pass("tests/compile_pass/*.rs");
}
