//! A delivery's body as every receiver decodes it (see
//! `oslo_messaging_driver_rabbit::fuzzing::message_body`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oslo_messaging_driver_rabbit::fuzzing::message_body(data);
});
