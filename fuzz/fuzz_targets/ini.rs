//! oslo.config INI files (`nova.conf`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oslo_messaging_core::fuzzing::ini(data);
});
