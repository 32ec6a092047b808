//! Times the parts of ingesting one new record: parse, apply, project, save (for docs/benchmarks.md).
//! `cargo run --release -p sotay-sync-core --example profile_ingest [-- --no-notes]`: with
//! `--no-notes` the sample records carry no notes, which shows what Automerge's text costs.
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::*;
use std::time::Instant;
use uuid::Uuid;

fn main() {
    let editor = Editor { device: DeviceId(Uuid::from_u128(1)), user: UserId(Uuid::from_u128(2)) };
    let n = 2000u32;
    let no_notes = std::env::args().any(|a| a == "--no-notes");
    let changes: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            Record::create(
                RecordKind::Activity,
                RecordId::new_v7(u64::from(i)),
                CommuneId(Uuid::from_u128(3)),
                VillageId(Uuid::from_u128(4)),
                editor,
                &sample::activity(i, 2026)
                    .into_iter()
                    .filter(|e| !(no_notes && matches!(e, Edit::Notes(_))))
                    .collect::<Vec<_>>(),
                0,
            )
            .unwrap()
            .1
        })
        .collect();
    let t = Instant::now();
    for c in &changes {
        sotay_sync_core::inspect::inspect_change(c).unwrap();
    }
    let per = |t: Instant| t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("inspect (parse + hash):     {:6.1} µs", per(t));
    let t = Instant::now();
    for c in &changes {
        std::hint::black_box(automerge::AutoCommit::load(c).unwrap());
    }
    println!("AutoCommit::load(change):   {:6.1} µs", per(t));
    let t = Instant::now();
    for c in &changes {
        let mut d = automerge::AutoCommit::new();
        d.apply_changes([automerge::Change::from_bytes(c.clone()).unwrap()]).unwrap();
        std::hint::black_box(d);
    }
    println!("apply_changes on new doc:   {:6.1} µs", per(t));
    let t = Instant::now();
    for c in &changes {
        std::hint::black_box(automerge::Change::from_bytes(c.clone()).unwrap().decode());
    }
    println!("Change::decode (ops only):  {:6.1} µs", per(t));
    let t = Instant::now();
    let mut records: Vec<Record> =
        changes.iter().map(|c| Record::from_changes(std::slice::from_ref(c), None).unwrap()).collect();
    println!("from_changes (apply):       {:6.1} µs", per(t));
    let t = Instant::now();
    for r in records.iter_mut() {
        r.heads();
        r.changes_since(&[]);
    }
    println!("heads + changes_since:      {:6.1} µs", per(t));
    let t = Instant::now();
    for r in records.iter_mut() {
        std::hint::black_box(r.view());
    }
    println!("view (projection):          {:6.1} µs", per(t));
    let t = Instant::now();
    for r in records.iter_mut() {
        std::hint::black_box(r.conflicts());
    }
    println!("  of which conflicts():     {:6.1} µs", per(t));
    let t = Instant::now();
    for r in records.iter_mut() {
        std::hint::black_box(r.save());
    }
    println!("save (compact document):    {:6.1} µs", per(t));
    let views: Vec<RecordView> = records.iter_mut().map(|r| r.view()).collect();
    let t = Instant::now();
    for v in &views {
        std::hint::black_box(serde_json::to_string(v).unwrap());
    }
    println!("view to JSON:               {:6.1} µs", per(t));
}
