//! scratch
use sotay_sync_core::*;
#[test]
fn exhaustive_flips() {
    for n in ["activity_v1", "gbv_referral_v1"] {
        let fx = std::fs::read(format!("{}/tests/fixtures/{n}.automerge", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let mut ok = 0;
        for i in 0..fx.len() {
            for x in 1..=255u8 {
                let mut m = fx.clone();
                m[i] ^= x;
                if Record::load(&m, None).is_ok() {
                    ok += 1;
                    eprintln!("{n} ok at {i} ^{x}");
                }
            }
        }
        eprintln!("{n}: accepted {ok}");
    }
}
