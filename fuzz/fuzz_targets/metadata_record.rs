//! Metadata record values (`MetadataRecordSerde` framing, every record type and version).
//!
//! Input: one record value as stored in the metadata log. A value that decodes is rendered
//! (as `kraftd metadata dump` shows it), re-encoded, and replayed onto an empty image as the
//! metadata loader would. A re-encoded value must decode again and encode to the same bytes.
#![no_main]

use kraftd::metadata::delta::MetadataDelta;
use kraftd::metadata::image::{MetadataImage, Provenance};
use kraftd::metadata::records;
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: kraftd_fuzz::write_seeds_if_asked(kraftd_fuzz::seeds::metadata_records),
    |data: &[u8]| {
    let Ok(record) = records::decode(data) else {
        return;
    };
    let _ = record.to_string();
    if let Ok(encoded) = records::encode(&record) {
        let again = records::decode(&encoded).expect("a re-encoded record decodes");
        assert_eq!(
            records::encode(&again).expect("a decoded record re-encodes"),
            encoded,
            "{record}"
        );
    }
    let image = MetadataImage::empty();
    let mut delta = MetadataDelta::new(&image);
    if delta.replay(&record).is_ok() {
        let (image, _) = delta.apply(Provenance::default());
        let _ = image.records();
    }
});
