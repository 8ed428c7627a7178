//! Mistakes in an `#[rpc_interface]` trait are compile errors that say
//! what to write instead. Each `tests/ui/*.rs` must fail to compile with
//! the error in its `.stderr` file (`TRYBUILD=overwrite` rewrites them).

#[test]
fn mistakes_in_an_interface_are_readable_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
