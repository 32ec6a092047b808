//! scratch
use sotay_sync_core::schema::*;
use sotay_sync_core::*;
use uuid::Uuid;
fn ed(n: u128) -> Editor { Editor { device: DeviceId(Uuid::from_u128(n)), user: UserId(Uuid::from_u128(0xa0 + n)) } }
fn mk(id: u128, e: Editor) -> (Record, Vec<u8>) {
    Record::create(RecordKind::Activity, RecordId(Uuid::from_u128(id)), CommuneId(Uuid::from_u128(3)), VillageId(Uuid::from_u128(4)), e, &[Edit::Unit("a".into())], 1_795_000_000_000).unwrap()
}
#[test]
fn foreign_change() {
    for (da, db) in [(1u128, 2u128), (2, 1)] {
        let (mut a, _) = mk(10, ed(da));
        let (_b, bc) = mk(20, ed(db));
        let r = a.apply_changes(&[bc]);
        eprintln!("actors a={da} b={db}: apply -> {r:?}");
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| a.view()));
        match res { Ok(v) => eprintln!("  view ok id={} unit={:?} conflicts={:?}", v.id, v.unit, v.conflicts.iter().map(|c| c.field).collect::<Vec<_>>()), Err(_) => eprintln!("  view PANICKED") }
    }
}
#[test]
fn resolve_on_deleted() {
    let (mut a, _) = mk(10, ed(1));
    let (mut b, _) = (Record::from_changes(&a.changes(), Some(ed(2))).unwrap(), ());
    a.edit(&[Edit::Location("x".into())], 1_795_000_001_000).unwrap();
    b.edit(&[Edit::Location("y".into())], 1_795_000_002_000).unwrap();
    let ca = a.changes(); let cb = b.changes();
    a.apply_changes(&cb).unwrap(); b.apply_changes(&ca).unwrap();
    a.delete(1_795_000_003_000).unwrap();
    let v = a.view(); eprintln!("after delete: deleted={} delete_conflict={}", v.deleted, v.delete_conflict);
    let r = a.resolve(Field::Location, 0, 1_795_000_004_000);
    let v = a.view(); eprintln!("resolve on deleted -> {:?}; deleted={} delete_conflict={}", r.is_ok(), v.deleted, v.delete_conflict);
}
#[test]
fn gps_nan() {
    let (mut a, _) = mk(10, ed(1));
    let r = a.edit(&[Edit::Gps(Some(GeoPoint { lat: f64::NAN, lon: 1.0 }))], 1_795_000_001_000);
    eprintln!("nan gps edit -> {:?}, view gps {:?}", r.map(|c| c.is_some()), a.view().gps);
    let v = a.view(); eprintln!("errors {:?}", validate(&v, Date::from_unix_ms(1_795_000_000_000)).iter().filter(|e| e.field==Field::Gps).collect::<Vec<_>>());
}
#[test]
fn minimal_doc() {
    use automerge::{AutoCommit, ROOT, ScalarValue, transaction::Transactable};
    let mut d = AutoCommit::new();
    d.put(ROOT, "schema_version", ScalarValue::Uint(1)).unwrap();
    d.put(ROOT, "id", ScalarValue::Bytes(vec![1; 16])).unwrap();
    d.put(ROOT, "kind", "activity").unwrap();
    d.put(ROOT, "commune", ScalarValue::Bytes(vec![2; 16])).unwrap();
    d.put(ROOT, "village", ScalarValue::Bytes(vec![3; 16])).unwrap();
    let bytes = d.save();
    let mut r = Record::load(&bytes, Some(ed(1))).unwrap();
    eprintln!("{:?}", r.view().edit_count);
    let e = r.edit(&[Edit::AttendanceFemale(3)], 5);
    eprintln!("edit -> {e:?}");
    let s0 = r.save();
    eprintln!("after failed edit, saved doc female = {:?}", Record::load(&s0, None).unwrap().view().attendance_female);
    let e = r.edit(&[Edit::AddTopic(Topic::Other)], 6);
    eprintln!("edit topic -> {e:?}");
    let v = r.view();
    eprintln!("view female {:?} heads {:?}", v.attendance_female, v.heads.len());
    let s = r.save();
    let mut r2 = Record::load(&s, None).unwrap();
    eprintln!("reloaded female {:?}", r2.view().attendance_female);
    // mutated fixture
    let fx = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/activity_v1.automerge")).unwrap();
    let mut ok = 0; let mut panics = 0;
    for i in 0..fx.len() { for x in [1u8, 0x80, 0xff] {
        let mut m = fx.clone(); m[i] ^= x;
        let res = std::panic::catch_unwind(|| { match Record::load(&m, None) { Ok(mut r) => { let _ = r.view(); true } Err(_) => false } });
        match res { Ok(true) => ok += 1, Ok(false) => {}, Err(_) => { panics += 1; eprintln!("panic at {i} ^{x:#x}"); } }
    }}
    eprintln!("mutations loaded ok: {ok}, panics: {panics}, len {}", fx.len());
}
