//! `server.properties` text: the Java properties parser, then the whole configuration build
//! (merging the layers, typed keys, cross-key validation) from that text.
//!
//! Input: the file's text (UTF-8; other inputs are skipped, as the server refuses them when
//! reading the file).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: kraftd_fuzz::write_seeds_if_asked(kraftd_fuzz::seeds::server_properties),
    |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("server.properties");
    let _ = kraftd::config::properties::parse(text, path);
    let _ = kraftd::config::from_text(text, path, &[]);
});
