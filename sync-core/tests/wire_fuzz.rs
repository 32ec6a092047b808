//! The sync wire decoder against arbitrary input: random bytes, random bytes behind a valid
//! header, and valid bodies with bytes flipped or cut. It must answer `Ok` or `Err`, never panic,
//! and never inflate past its limit.

use proptest::prelude::*;
use sotay_sync_core::wire::{self, ChangeBytes, RecordChanges, SyncRequest, SyncResponse};

fn valid_request() -> Vec<u8> {
    wire::encode(&SyncRequest {
        epoch: None,
        cursor: 12,
        snapshot: None,
        fresh: false,
        outbox_through: 3,
        push: (0..5u8)
            .map(|i| RecordChanges { record: vec![i; 16], changes: vec![ChangeBytes(vec![i; 200 + usize::from(i)])] })
            .collect(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = wire::decode::<SyncRequest>(&bytes, 1 << 20);
        let _ = wire::decode::<SyncResponse>(&bytes, 1 << 20);
    }

    #[test]
    fn random_payloads_behind_a_valid_header_never_panic(flags in 0u8..2, tail in prop::collection::vec(any::<u8>(), 0..4096)) {
        let mut body = b"ST\x01".to_vec();
        body.push(flags);
        body.extend(tail);
        let _ = wire::decode::<SyncRequest>(&body, 64 * 1024);
    }

    #[test]
    fn damaged_valid_bodies_are_refused_or_read_never_panic(at in any::<prop::sample::Index>(), xor in 1u8.., cut in any::<prop::sample::Index>()) {
        let mut body = valid_request();
        let i = at.index(body.len());
        body[i] ^= xor;
        let _ = wire::decode::<SyncRequest>(&body, 1 << 20);
        let len = cut.index(body.len());
        let _ = wire::decode::<SyncRequest>(&body[..len], 1 << 20);
    }
}
