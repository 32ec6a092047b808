//! The four fuzz targets' bodies, apart from libFuzzer, so the committed corpus and every
//! finding replay through the same code in the main workspace's tests
//! (`server/tests/fuzz_corpus.rs`); `fuzz_targets/*.rs` only hand libFuzzer's input to them.

use crate::harness::{Caller, check_answer, harness, sync_request};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ScalarValue};
use sotay_sync_core::device::{Device, DeviceIdentity, MemoryStore};
use sotay_sync_core::schema::{RecordKind, Topic};
use sotay_sync_core::wire::{self, ChangeBytes, SyncRequest, SyncResponse};
use sotay_sync_core::{Coded, CommuneId, Date, DeviceId, Edit, RecordId, UserId, VillageId, sample};

// ---- wire_decode ----

/// The server's and the phone's bound on an inflated payload in this target (small, so a
/// decompression bomb is refused quickly).
const LIMIT: usize = 1 << 20;

/// Fuzz target: the sync wire decoder on both sides. Any bytes as a sync request (what the server
/// decodes from a phone) and as a sync answer (what a phone decodes from a server, then applies to
/// a store holding a record and its unsent change): errors are fine, panics are findings, and
/// whatever decodes encodes back to the same message.
pub fn wire_decode(data: &[u8]) {
    let _ = wire::payload_len(data, LIMIT);
    if let Ok(request) = wire::decode::<SyncRequest>(data, LIMIT) {
        for changes in &request.push {
            let _ = changes.record_id();
        }
        let again: SyncRequest = wire::decode(&wire::encode(&request), usize::MAX).unwrap();
        assert_eq!(again, request, "a request decodes to what it encodes");
    }
    if let Ok(response) = wire::decode::<SyncResponse>(data, LIMIT) {
        let again: SyncResponse = wire::decode(&wire::encode(&response), usize::MAX).unwrap();
        assert_eq!(again, response, "an answer decodes to what it encodes");
        let id = |n: u128| uuid::Uuid::from_u128(n);
        let identity = DeviceIdentity {
            device: DeviceId(id(1)),
            user: UserId(id(2)),
            commune: CommuneId(id(3)),
            village: VillageId(id(4)),
        };
        let mut phone = Device::new(identity, MemoryStore::default());
        phone.create(RecordKind::Activity, &sample::activity(1, 2026), 1_795_651_200_000).unwrap();
        let request = phone.prepare_sync(LIMIT).unwrap();
        // A hostile or broken server: the phone may refuse the answer, never panic.
        let _ = phone.apply_sync(&request, response);
        let _ = phone.list();
    }
}

// ---- sync_ingest ----

/// Reads the program's bytes.
struct Program<'a>(&'a [u8]);

impl Program<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([self.byte()?, self.byte()?, self.byte()?, self.byte()?]))
    }
}

/// Keys a crafted change may write at the root of a record's document.
const KEYS: [&str; 10] =
    ["review", "kind", "created", "attendance_female", "location", "held_on", "topics", "edits", "deleted", "x"];

/// A value the library never writes, chosen by the program.
fn craft(doc: &mut AutoCommit, p: &mut Program) -> Option<()> {
    let key = KEYS[p.byte()? as usize % KEYS.len()];
    match p.byte()? % 8 {
        0 => doc.put(ROOT, key, ScalarValue::Int(i64::from(p.u32()? as i32))).ok()?,
        1 => doc.put(ROOT, key, ScalarValue::F64(f64::from(p.u32()?) / 7.0)).ok()?,
        2 => doc.put(ROOT, key, "2026-13-45").ok()?,
        3 => {
            let text = doc.put_object(ROOT, key, ObjType::Text).ok()?;
            doc.splice_text(&text, 0, 0, "Nhà văn hoá").ok()?;
        }
        4 => doc.delete(ROOT, key).ok()?,
        5 => {
            // Deep nesting.
            let mut obj = doc.put_object(ROOT, key, ObjType::Map).ok()?;
            for _ in 0..(1 + p.byte()? as usize * 4) {
                obj = doc.put_object(&obj, "n", ObjType::Map).ok()?;
            }
        }
        6 => doc.put(ROOT, key, "x".repeat(1 + p.byte()? as usize * 4096)).ok()?,
        _ => {
            let map = doc.put_object(ROOT, key, ObjType::Map).ok()?;
            doc.put(&map, "state", "approved").ok()?;
            doc.put(&map, "by", ScalarValue::Bytes(vec![p.byte()?; 16])).ok()?;
        }
    };
    Some(())
}

/// An edit with a boundary value.
fn edit(p: &mut Program) -> Option<Edit> {
    Some(match p.byte()? % 8 {
        0 => Edit::AttendanceFemale(p.u32()?),
        1 => Edit::AttendanceMale(p.u32()?),
        2 => Edit::Location("đ".repeat(p.byte()? as usize * 300)),
        3 => Edit::Notes("ghi chú ".repeat(p.byte()? as usize * 100)),
        4 => Edit::Unit(String::from_utf8_lossy(&[p.byte()?, p.byte()?, p.byte()?]).into_owned()),
        5 => Edit::HeldOn(Date::new(1990 + u16::from(p.byte()?), 1 + p.byte()? % 12, 1 + p.byte()? % 28)?),
        6 => Edit::AddTopic(Topic::ALL[p.byte()? as usize % Topic::ALL.len()]),
        _ => Edit::AttendanceEthnicMinority(Some(p.u32()?)),
    })
}

/// Runs the program on a phone; the request it leads to, if it gets that far.
fn build(mut p: Program) -> Option<SyncRequest> {
    let h = harness();
    let mut phone = Device::new(h.phone_identity(), MemoryStore::default());
    let now = sotay_server::now_ms();
    let mut records: Vec<RecordId> = Vec::new();
    let mut crafted: Vec<(RecordId, Vec<u8>)> = Vec::new();
    // The library's own work first.
    for _ in 0..p.byte()? % 8 {
        let last = records.last().copied();
        match (p.byte()? % 6, last) {
            (0, _) => {
                records.push(phone.create(RecordKind::Activity, &sample::activity(p.u32()? % 500, 2026), now).ok()?)
            }
            (1, _) => records
                .push(phone.create(RecordKind::GbvReferral, &sample::gbv_referral(p.u32()? % 500, 2026), now).ok()?),
            (2, Some(id)) => {
                let _ = phone.edit(id, &[edit(&mut p)?], now);
            }
            (3, Some(id)) => {
                let _ = phone.submit(id, Date::new(2026, 12, 3)?, now);
            }
            (4, Some(id)) => {
                let _ = phone.delete(id, now);
            }
            (5, Some(id)) => {
                // A raw Automerge change under the phone's actor, on top of what the phone holds.
                let mut doc = AutoCommit::load(&phone.load(id).ok()?.save()).ok()?;
                doc.set_actor(ActorId::from(h.phone_identity().device.as_bytes().as_slice()));
                craft(&mut doc, &mut p)?;
                crafted.push((id, doc.get_last_local_change()?.raw_bytes().to_vec()));
            }
            _ => {}
        }
    }
    let mut request = phone.prepare_sync(8 << 20).ok()?;
    for (id, change) in crafted {
        if let Some(group) = request.push.iter_mut().find(|g| g.record == id.as_bytes()) {
            group.changes.push(ChangeBytes(change));
        }
    }
    // Then the corruption.
    while let Some(op) = p.byte() {
        let groups = request.push.len();
        if groups == 0 {
            break;
        }
        let g = p.byte()? as usize % groups;
        let changes = request.push[g].changes.len().max(1);
        let c = p.byte()? as usize % changes;
        let Some(change) = request.push[g].changes.get(c).cloned() else { continue };
        match op % 8 {
            0 => {
                let mut bytes = change.0;
                let at = p.u32()? as usize % bytes.len().max(1);
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= p.byte()?;
                }
                request.push[g].changes[c] = ChangeBytes(bytes);
            }
            1 => request.push[g].changes[c].0.truncate(p.u32()? as usize % (change.0.len() + 1)),
            2 => request.push[g].changes.push(change),
            3 => {
                request.push[g].changes.remove(c);
            }
            4 => request.push[g].record = vec![p.byte()?; 16],
            5 => {
                let to = p.byte()? as usize % groups;
                request.push[g].changes.remove(c);
                request.push[to].changes.push(change);
            }
            6 => request.cursor = u64::from(p.u32()?),
            _ => request.outbox_through = u64::from(p.u32()?),
        }
    }
    Some(request)
}

/// Fuzz target: a sync from a collaborator's phone through the real router into the server's
/// ingest. Two kinds of input, by the first byte:
///
/// - even: the rest is the request body as it is (any bytes: bad frames, bad CBOR, bad changes);
/// - odd: the rest is a small program run on a real phone library holding the harness phone's
///   identity: create activities and GBV referrals, edit them with boundary values, submit,
///   delete, write raw Automerge values the library would never write (the review map, `kind`,
///   `created`, text where a number belongs, deep nesting, huge strings), then corrupt the push
///   (flip or cut a change's bytes, send a change twice, drop one so its dependants wait for a
///   dependency that never arrives, move changes between records, wrong cursors). This reaches
///   the write rules and the pending-change store, which random bytes rarely do.
///
/// A 200 must be an answer the phone can decode and apply; anything else a clear error.
pub fn sync_ingest(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let h = harness();
    let body = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        match build(Program(rest)) {
            Some(request) => wire::encode(&request),
            None => return,
        }
    };
    let (status, answer) = h.send(sync_request(&h.bearer(Caller::Phone).unwrap(), body));
    check_answer("sync", status, &answer);
    if status.is_success() {
        wire::decode::<SyncResponse>(&answer, usize::MAX).expect("a 200 sync answer decodes");
    }
}

// ---- json_bodies ----

/// (path, caller); `{id}` is the activity record.
const BODY_ENDPOINTS: [(&str, Caller); 9] = [
    ("/api/v1/enrol", Caller::Anonymous),
    ("/api/v1/token", Caller::Anonymous),
    ("/api/v1/login", Caller::Anonymous),
    ("/api/v1/records/{id}/return", Caller::Reviewer),
    ("/api/v1/records/{id}/case-status", Caller::FocalPoint),
    ("/api/v1/records/{id}/resolve", Caller::Reviewer),
    ("/api/v1/duplicates/merge", Caller::Reviewer),
    ("/api/v1/duplicates/dismiss", Caller::Reviewer),
    ("/api/v1/records/{id}/approve", Caller::Reviewer),
];

/// Fuzz target: the JSON bodies of enrolment, tokens and login, and of the record actions a
/// reviewer or focal point posts (return, case status, resolve, merge, dismiss). The first byte
/// picks the endpoint (and who calls it), the rest is the body; `@A` and `@G` in a body stand for
/// the ids of the server's activity record and GBV referral, so seeds can name real records.
pub fn json_bodies(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else { return };
    let h = harness();
    let (path, caller) = BODY_ENDPOINTS[pick as usize % BODY_ENDPOINTS.len()];
    let path = path.replace("{id}", &h.activity().to_string());
    let body = match std::str::from_utf8(body) {
        Ok(text) => h.with_record_ids(text).into_bytes(),
        Err(_) => body.to_vec(),
    };
    let mut request = axum::http::Request::post(path.as_str()).header("content-type", "application/json");
    if let Some(bearer) = h.bearer(caller) {
        request = request.header("authorization", bearer);
    }
    let (status, answer) = h.send(request.body(axum::body::Body::from(body)).unwrap());
    check_answer(&path, status, &answer);
}

// ---- query_params ----

const QUERY_ENDPOINTS: [&str; 8] = [
    "/api/v1/records",
    "/api/v1/reports",
    "/api/v1/reports/completeness",
    "/api/v1/reports/export",
    "/api/v1/reports/gbv",
    "/api/v1/duplicates",
    "/api/v1/admin/audit",
    "/api/v1/records/{id}/history",
];

/// Bytes a query string may carry as they are.
fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}

/// Fuzz target: the query parameters of the record list, the reports, the exports, the
/// duplicates queue and the audit log. The first byte picks the endpoint, the second who asks;
/// the rest is the query string (bytes a URI cannot hold are percent-encoded, so `&`, `=` and
/// `%` stay the fuzzer's to play with).
pub fn query_params(data: &[u8]) {
    let [pick, who, query @ ..] = data else { return };
    let h = harness();
    let path = QUERY_ENDPOINTS[*pick as usize % QUERY_ENDPOINTS.len()].replace("{id}", &h.activity().to_string());
    let mut uri = format!("{path}?");
    for &b in query {
        if allowed(b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    let mut request = axum::http::Request::get(uri.as_str());
    if let Some(bearer) = h.bearer(Caller::from_byte(*who)) {
        request = request.header("authorization", bearer);
    }
    let Ok(request) = request.body(axum::body::Body::empty()) else { return };
    let (status, answer) = h.send(request);
    check_answer(&uri, status, &answer);
}
