#![no_main]
//! See `netlens::fuzzing::detectors` (the engine target's input layout); the replay test runs the
//! same function.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netlens::fuzzing::detectors(data);
});
