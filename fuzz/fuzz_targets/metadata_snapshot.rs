//! Metadata snapshot files and metadata log batches (RecordBatch v2 with data and control
//! records), through the raft codec and the metadata loader.
//!
//! Input: one flag byte, then the file. With flag bit 0 set, every batch's CRC-32C is
//! recomputed first (so mutations reach what the checksum guards). The bytes are decoded as
//! raft batches and loaded as a snapshot (records decoded and replayed, an image published);
//! a published image is written back as a snapshot, which must load again to the same
//! records.
#![no_main]

use bytes::Bytes;
use kraftd::metadata::loader::MetadataLoader;
use kraftd::metadata::snapshot;
use kraftd::raft::OffsetAndEpoch;
use kraftd::raft::codec;
use kraftd::types::{Epoch, Offset};
use libfuzzer_sys::fuzz_target;

fn load(data: Bytes) -> Option<kraftd::metadata::loader::Update> {
    let mut loader = MetadataLoader::new();
    loader.set_catch_up_target(0);
    let mut errors = Vec::new();
    loader.load_snapshot(
        OffsetAndEpoch::new(Offset(100), Epoch(3)),
        data,
        &mut errors,
    )
}

fuzz_target!(
    init: kraftd_fuzz::write_seeds_if_asked(kraftd_fuzz::seeds::snapshots),
    |data: &[u8]| {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    if flags & 1 != 0 {
        kraftd_fuzz::repair_crcs(&mut file);
    }
    let file = Bytes::from(file);
    let _ = codec::decode_batches(file.clone());
    let Some(update) = load(file) else {
        return;
    };
    let records = update.image.records();
    if let Ok((_, written)) = snapshot::encode(&update.image, 1_700_000_000_000) {
        let reloaded = load(written).expect("a written snapshot loads");
        assert_eq!(reloaded.image.records(), records);
    }
});
