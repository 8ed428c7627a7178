//! Transport URLs (`rabbit://user:pass@host:5672,host2/vhost?opt=v`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oslo_messaging_core::fuzzing::transport_url(data);
});
