//! The fuzz targets' seeds, their committed corpus and every finding, replayed through the same
//! checks the fuzzers run (`fuzz/src/harness.rs` and `fuzz/src/targets.rs`, compiled here as
//! modules), so a finding stays fixed without a nightly toolchain.
//!
//! The seeds are built here from the real phone library and the real server, then replayed;
//! `SOTAY_FUZZ_WRITE_SEEDS=1 cargo test -p sotay-server --test fuzz_corpus` also writes them to
//! `fuzz/corpus/<target>/seed-*`, where `cargo fuzz run` starts from them.

#[path = "../../fuzz/src/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../../fuzz/src/targets.rs"]
mod targets;

use harness::{PHONE_DEVICE, PHONE_SECRET, REVIEWER};
use sotay_sync_core::device::{Device, MemoryStore};
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::wire::{self, SyncRequest, SyncResponse};
use sotay_sync_core::{Edit, sample};
use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("wire_decode", targets::wire_decode),
    ("sync_ingest", targets::sync_ingest),
    ("json_bodies", targets::json_bodies),
    ("query_params", targets::query_params),
];

/// A push from a phone library with the harness phone's identity: two new records, one edited.
fn real_push() -> SyncRequest {
    let mut phone = Device::new(harness::harness().phone_identity(), MemoryStore::default());
    let now = sotay_server::now_ms();
    let a = phone.create(RecordKind::Activity, &sample::activity(7, 2026), now).unwrap();
    phone.edit(a, &[Edit::AttendanceFemale(31), Edit::Location("Nhà văn hoá thôn Đông".into())], now + 1).unwrap();
    phone.create(RecordKind::GbvReferral, &sample::gbv_referral(3, 2026), now + 2).unwrap();
    phone.prepare_sync(1 << 20).unwrap()
}

/// The seeds of each target.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
    let push = real_push();
    let h = harness::harness();
    let bearer = h.bearer(harness::Caller::Phone).unwrap();
    let (_, answer) = h.send(harness::sync_request(&bearer, wire::encode(&push)));
    let response: SyncResponse = wire::decode(&answer, usize::MAX).unwrap();

    // The wire decoder: real messages, plain and deflated, and a few broken frames.
    for body in [
        wire::encode_uncompressed(&push),
        wire::encode(&push),
        wire::encode_uncompressed(&response),
        wire::encode_uncompressed(&SyncRequest {
            cursor: 3,
            snapshot: None,
            fresh: true,
            outbox_through: 0,
            push: vec![],
            epoch: None,
        }),
        b"ST\x01\x00\xa0".to_vec(),
        b"ST\x02\x00".to_vec(),
        b"ST\x01\x01\x03\x00".to_vec(),
    ] {
        seeds.push(("wire_decode", body));
    }

    // Ingest: the real push as bytes, and programs for the phone library (see `targets::build`).
    let mut raw = vec![0];
    raw.extend(wire::encode_uncompressed(&push));
    seeds.push(("sync_ingest", raw));
    for program in [
        // Create an activity, edit it, submit it.
        &[1, 3, 0, 7, 0, 0, 0, 2, 0, 40, 0, 0, 0, 3][..],
        // Create a GBV referral, write the review map raw, send a change twice.
        &[1, 2, 1, 3, 0, 0, 0, 5, 0, 7, 9, 2, 0, 0],
        // Create, edit, delete; drop the first change (its dependants wait for ever).
        &[1, 3, 0, 1, 0, 0, 0, 2, 2, 10, 4, 3, 0, 0],
        // Create; text where a number belongs; flip a byte of a change.
        &[1, 2, 0, 2, 0, 0, 0, 5, 3, 3, 0, 0, 0, 9, 0, 0, 0, 255],
        // Two records; move a change between them; a wrong cursor.
        &[1, 2, 0, 4, 0, 0, 0, 1, 5, 0, 0, 0, 5, 0, 0, 1, 6, 0, 0, 255, 255, 0, 0],
    ] {
        seeds.push(("sync_ingest", program.to_vec()));
    }

    // JSON bodies: one that succeeds or nearly for each endpoint (`@A`, `@G`: the records).
    for (pick, body) in [
        (0, r#"{"code":"F1XH-Q81D-VSYV","device_name":"Điện thoại của Lan"}"#.to_string()),
        (1, format!(r#"{{"device_id":"{PHONE_DEVICE}","device_secret":"{PHONE_SECRET}"}}"#)),
        (2, format!(r#"{{"username":"{}","password":"{}"}}"#, REVIEWER.0, REVIEWER.1)),
        (3, r#"{"comment":"Thiếu số người tham dự"}"#.to_string()),
        (4, r#"{"case_status":"closed"}"#.to_string()),
        (5, r#"{"field":"location","value":"Nhà văn hoá"}"#.to_string()),
        (5, r#"{"field":"attendance_female","choice":1}"#.to_string()),
        (6, r#"{"keep":"@A","drop":"@G","take":["location"]}"#.to_string()),
        (7, r#"{"first":"@A","second":"@G"}"#.to_string()),
        (8, String::new()),
    ] {
        let mut input = vec![pick];
        input.extend(body.into_bytes());
        seeds.push(("json_bodies", input));
    }

    // Query parameters: (endpoint, caller, query).
    for (pick, who, query) in [
        (0, 2, "kind=activity&limit=50"),
        (0, 1, "limit=5000&after=0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
        (1, 2, "month=2026-03&by=village"),
        (1, 4, "action_month=2026&approved_only=true&lang=en"),
        (2, 2, "quarter=2026-Q4"),
        (3, 2, "year=2026&format=csv"),
        (3, 3, "from=2026-01-01&to=2026-06-30&format=xlsx&exact=1"),
        (4, 3, "year=2026"),
        (5, 2, ""),
        (6, 4, "after=0&limit=100"),
        (7, 2, ""),
    ] {
        let mut input = vec![pick, who];
        input.extend(query.as_bytes());
        seeds.push(("query_params", input));
    }
    seeds
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

#[test]
fn seeds_corpus_and_findings_replay_through_the_fuzzers_checks() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let seeds = seeds();
    let write = std::env::var_os("SOTAY_FUZZ_WRITE_SEEDS").is_some();
    let mut replayed = 0;
    for (name, run) in TARGETS {
        let mine: Vec<&Vec<u8>> = seeds.iter().filter(|(t, _)| *t == name).map(|(_, s)| s).collect();
        assert!(!mine.is_empty(), "{name} has seeds");
        for (i, seed) in mine.iter().enumerate() {
            if write {
                let dir = fuzz.join("corpus").join(name);
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
            }
            run(seed);
            replayed += 1;
        }
        for dir in ["corpus", "regressions"] {
            for file in files(&fuzz.join(dir).join(name)) {
                run(&std::fs::read(&file).unwrap());
                replayed += 1;
            }
        }
    }
    println!("replayed {replayed} fuzz inputs");
}
