//! `cargo fuzz run reply`: any text as a reply body to trim (see
//! `fuzz/checks.rs`).
#![no_main]

// Each target uses one of the checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::reply(&String::from_utf8_lossy(data)));
