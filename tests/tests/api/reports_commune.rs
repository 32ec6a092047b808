//! The report cross-check's random commune: [`generate`] builds a commune from a seed (villages,
//! units, phones; activities and GBV referrals with random fields, some deleted, conflicted,
//! duplicated, submitted, approved, returned, edited after approval, merged, restored) through the
//! phones' sync and the web app's API, next to a neighbouring commune whose records must never
//! count. `reports_model` counts its report independently.

use sotay_server::admin::{self, NewUser};
use sotay_server::auth::Role;
use sotay_sync_core::schema::*;
use sotay_sync_core::{CommuneId, Date, Edit, RecordId, ReviewState, VillageId, validate};
use sotay_tests::*;
use std::collections::BTreeSet;

/// SplitMix64: a seed names the same commune forever, whatever version of `rand` is in the tree.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True `p` times in a hundred.
    pub fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// Up to `max` distinct members, in no particular order.
    fn some<T: Copy + PartialEq>(&mut self, all: &[T], max: u64) -> Vec<T> {
        let mut out = Vec::new();
        for _ in 0..self.below(max + 1) {
            let t = self.pick(all);
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }
}

pub fn day(y: u16, m: u8, d: u8) -> Date {
    Date::new(y, m, d).unwrap()
}

pub fn add_days(d: Date, n: i64) -> Date {
    Date::from_unix_ms((d.days_since_epoch() + n) * 86_400_000)
}

fn last_day(y: u16, m: u8) -> Date {
    (28..=31).rev().find_map(|d| Date::new(y, m, d)).unwrap()
}

/// A period of the report: its query and its first and last day, worked out here.
#[derive(Debug, Clone)]
pub struct Period {
    pub query: String,
    pub from: Date,
    pub to: Date,
}

/// The year, a month, a quarter, the Action Month and a range of 2026, the month, quarter and
/// range drawn from the seed.
fn periods(rng: &mut Rng) -> Vec<Period> {
    let m = 1 + rng.below(12) as u8;
    let q = 1 + rng.below(4) as u8;
    let start = add_days(day(2026, 1, 1), rng.below(330) as i64);
    let end = add_days(start, 5 + rng.below(200) as i64);
    vec![
        Period { query: "year=2026".into(), from: day(2026, 1, 1), to: day(2026, 12, 31) },
        Period { query: format!("month=2026-{m:02}"), from: day(2026, m, 1), to: last_day(2026, m) },
        Period { query: format!("quarter=2026-Q{q}"), from: day(2026, 3 * q - 2, 1), to: last_day(2026, 3 * q) },
        Period { query: "action_month=2026".into(), from: day(2026, 11, 15), to: day(2026, 12, 15) },
        Period { query: format!("from={start}&to={end}"), from: start, to: end },
    ]
}

/// A day: a period's first or last day or the day either side a fifth of the time, the Action
/// Month a sixth of the time (as in a real commune's year), any day of 2026 otherwise.
fn random_date(rng: &mut Rng, edges: &[Date]) -> Date {
    match rng.below(100) {
        0..20 => rng.pick(edges),
        20..36 => add_days(day(2026, 11, 15), rng.below(31) as i64),
        _ => add_days(day(2026, 1, 1), rng.below(365) as i64),
    }
}

/// Unit codes records carry: four of the commune's units and one it never registered.
const UNIT_CODES: [&str; 5] = ["vhxh", "hlhpn", "mttq", "doan", "thon"];

/// A random activity; a few lack a field, as drafts may.
fn random_activity(rng: &mut Rng, edges: &[Date], n: usize) -> Vec<Edit> {
    let mut edits = vec![Edit::Location(format!("Nhà văn hóa {}", 1 + n % 7)), Edit::Notes(format!("Buổi {n}"))];
    if !rng.percent(4) {
        edits.push(Edit::Unit(rng.pick(&UNIT_CODES).into()));
    }
    if !rng.percent(5) {
        edits.push(Edit::PlanItem(rng.pick(PlanItem::ALL)));
    }
    let kind = (!rng.percent(3)).then(|| rng.pick(ActivityType::ALL));
    if let Some(kind) = kind {
        edits.push(Edit::ActivityType(kind));
    }
    // Communication sessions have a format, but a draft may not yet; another type may keep one
    // from before its type changed (never counted).
    if (kind == Some(ActivityType::Communication) && !rng.percent(12)) || rng.percent(5) {
        edits.push(Edit::Format(Some(rng.pick(Format::ALL))));
    }
    if !rng.percent(3) {
        edits.push(Edit::HeldOn(random_date(rng, edges)));
    }
    let few = rng.percent(10);
    let female = rng.below(if few { 3 } else { 90 }) as u32;
    let male = rng.below(60) as u32;
    if !rng.percent(3) {
        edits.push(Edit::AttendanceFemale(female));
    }
    if !rng.percent(3) {
        edits.push(Edit::AttendanceMale(male));
    }
    if rng.percent(50) {
        edits.push(Edit::AttendanceEthnicMinority(Some(rng.below(u64::from(female + male) + 1) as u32)));
    }
    edits.extend(rng.some(Topic::ALL, 3).into_iter().map(Edit::AddTopic));
    edits
}

/// A random GBV referral; a few lack a field.
fn random_referral(rng: &mut Rng, edges: &[Date], seed: u64, n: usize) -> Vec<Edit> {
    let mut edits = vec![
        Edit::Unit(rng.pick(&["hlhpn", "vhxh", "thon"]).into()),
        Edit::PlanItem(PlanItem::GbvProgramme),
        Edit::CaseCode(format!("TY-{seed}-{n:04}")),
        Edit::ReportedOn(random_date(rng, edges)),
        Edit::ConsentToShare(rng.percent(50)),
    ];
    if !rng.percent(6) {
        edits.push(Edit::SurvivorSex(if rng.percent(75) { Sex::Female } else { rng.pick(Sex::ALL) }));
    }
    if !rng.percent(6) {
        edits.push(Edit::SurvivorAgeGroup(rng.pick(AgeGroup::ALL)));
    }
    if !rng.percent(6) {
        edits.push(Edit::Setting(rng.pick(Setting::ALL)));
    }
    if !rng.percent(4) {
        edits.push(Edit::CaseStatus(rng.pick(CaseStatus::ALL)));
    }
    edits.extend(rng.some(ViolenceType::ALL, 3).into_iter().map(Edit::AddViolenceType));
    edits.extend(rng.some(Service::ALL, 3).into_iter().map(Edit::AddReferredTo));
    edits
}

/// A value of the field `edit` writes, drawn afresh: what a second phone writes concurrently.
fn other_value(rng: &mut Rng, edit: &Edit, edges: &[Date]) -> Edit {
    match edit {
        Edit::AttendanceFemale(n) => Edit::AttendanceFemale(n + 1 + rng.below(40) as u32),
        Edit::AttendanceMale(n) => Edit::AttendanceMale(n + 1 + rng.below(40) as u32),
        Edit::ActivityType(_) => Edit::ActivityType(rng.pick(ActivityType::ALL)),
        Edit::PlanItem(_) => Edit::PlanItem(rng.pick(PlanItem::ALL)),
        Edit::Unit(_) => Edit::Unit(rng.pick(&UNIT_CODES).into()),
        Edit::Format(_) => Edit::Format(Some(rng.pick(Format::ALL))),
        Edit::HeldOn(_) => Edit::HeldOn(random_date(rng, edges)),
        Edit::AddTopic(_) => Edit::AddTopic(rng.pick(Topic::ALL)),
        Edit::RemoveTopic(_) => Edit::RemoveTopic(rng.pick(Topic::ALL)),
        other => other.clone(),
    }
}

/// What [`generate`] made, beyond the records on the server.
pub struct Commune {
    pub commune: CommuneId,
    /// The commune's villages (one reports nothing), with their names.
    pub villages: Vec<(VillageId, String)>,
    /// The commune's units (code, name); one is never used, and records also carry a code that is
    /// not registered.
    pub units: Vec<(String, String)>,
    pub reviewer: String,
    pub focal: String,
    pub periods: Vec<Period>,
    /// Same village, day and type, attendance one apart: each must be in the duplicates queue.
    pub duplicates: Vec<(RecordId, RecordId)>,
    /// Pairs the reviewer dismissed: never in the queue again.
    pub dismissed: Vec<(RecordId, RecordId)>,
    /// Same village, day and type, one with far more people: never in the queue.
    pub near_miss: (RecordId, RecordId),
    /// The server's clock before the first record was stored and after the last.
    pub stored_between: (i64, i64),
}

/// Builds a commune from `seed` on `app` (and a neighbouring one): six phones in four villages
/// create 300 records, two pairs of phones of one village edit the same activities concurrently,
/// the reviewer and the focal point approve and return some through the API, phones edit or delete
/// some approved activities afterwards, and the web app's other writes (merge, dismiss, resolve,
/// restore, case status) change a few more. Every change is accepted.
pub async fn generate(app: &TestApp, seed: u64) -> Commune {
    let mut rng = Rng::new(seed);
    let periods = periods(&mut rng);
    let mut edges: Vec<Date> =
        periods.iter().flat_map(|p| [p.from, p.to, add_days(p.from, -1), add_days(p.to, 1)]).collect();
    edges.sort();
    edges.dedup();

    let c = app.commune().await;
    let db = &app.state.db;
    let mut villages = vec![(c.village_a, "Thôn Đông".to_string()), (c.village_b, "Thôn Tây".to_string())];
    for name in ["Thôn Trung", "Thôn \"Bắc\", xóm 2", "Thôn Nam"] {
        villages.push((admin::create_village(db, c.commune, name).await.unwrap(), name.to_string()));
    }
    for (username, village) in [("tu", villages[2].0), ("nga", villages[2].0), ("binh", villages[3].0)] {
        let user = NewUser {
            username,
            display_name: username,
            role: Role::Collaborator,
            commune: c.commune,
            village: Some(village),
        };
        admin::create_user(db, user).await.unwrap();
    }
    let units: Vec<(String, String)> = [
        ("vhxh", "Phòng Văn hóa-xã hội"),
        ("hlhpn", "Hội Liên hiệp phụ nữ"),
        ("mttq", "Mặt trận Tổ quốc"),
        ("doan", "Đoàn Thanh niên"),
        ("ccb", "Hội Cựu chiến binh"),
    ]
    .into_iter()
    .map(|(code, name)| (code.to_string(), name.to_string()))
    .collect();
    for (code, name) in &units {
        admin::create_unit(db, c.commune, code, name).await.unwrap();
    }
    // A neighbouring commune, with a unit of the same code and a village of the same name: none
    // of its records is in this commune's report.
    let neighbour = admin::create_commune(db, "Xã Bên").await.unwrap();
    let their_village = admin::create_village(db, neighbour, "Thôn Đông").await.unwrap();
    admin::create_unit(db, neighbour, "vhxh", "Ban Văn hóa xã bên").await.unwrap();
    let user = NewUser {
        username: "khac",
        display_name: "khac",
        role: Role::Collaborator,
        commune: neighbour,
        village: Some(their_village),
    };
    admin::create_user(db, user).await.unwrap();
    let mut khac = app.device("khac").await;
    for n in 0..12 {
        let kind = if n % 4 == 3 { RecordKind::GbvReferral } else { RecordKind::Activity };
        let edits = if kind == RecordKind::Activity {
            random_activity(&mut rng, &edges, n)
        } else {
            random_referral(&mut rng, &edges, seed + 1000, n)
        };
        khac.device.create(kind, &edits, NOW_MS + n as i64).unwrap();
    }
    khac.sync().await;

    // lan and hoa share Thôn Đông, tu and nga Thôn Trung; minh and binh are alone in theirs.
    let mut phones = Vec::new();
    for name in ["lan", "hoa", "minh", "tu", "nga", "binh"] {
        phones.push(app.device(name).await);
    }
    let partner = |p: usize| match p {
        0 => 1,
        1 => 0,
        3 => 4,
        4 => 3,
        p => p,
    };
    // Submitting and approving need a valid record, held no later than the server's today: the
    // tests' day, which the suite takes to be past, so that a seed makes the same commune on any
    // later day.
    let today = Date::from_unix_ms(NOW_MS);
    let mut clock = NOW_MS;
    let mut tick = || {
        clock += 1;
        clock
    };

    // Records, some deleted before they are ever synced, some submitted.
    struct Made {
        phone: usize,
        id: RecordId,
        kind: RecordKind,
        edits: Vec<Edit>,
        deleted: bool,
    }
    let mut made: Vec<Made> = Vec::new();
    for n in 0..300 {
        let phone = rng.below(6) as usize;
        let (kind, edits) = if n % 3 == 2 {
            (RecordKind::GbvReferral, random_referral(&mut rng, &edges, seed, n))
        } else {
            (RecordKind::Activity, random_activity(&mut rng, &edges, n))
        };
        let device = &mut phones[phone].device;
        let id = device.create(kind, &edits, tick()).unwrap();
        if validate(&device.view(id).unwrap(), today).is_empty() && rng.percent(55) {
            device.submit(id, today, tick()).unwrap();
        }
        let deleted = rng.percent(5);
        if deleted {
            device.delete(id, tick()).unwrap();
        }
        made.push(Made { phone, id, kind, edits, deleted });
    }
    // Suspected duplicates: a session logged again on the other phone of the village (or the same
    // phone), attendance one apart; and a near miss, the same session with twice the people.
    let mut duplicates = Vec::new();
    let mut near_miss = None;
    let originals: Vec<usize> = (0..made.len())
        .filter(|&i| {
            let m = &made[i];
            m.kind == RecordKind::Activity
                && !m.deleted
                && m.edits.iter().any(|e| matches!(e, Edit::HeldOn(_)))
                && m.edits.iter().any(|e| matches!(e, Edit::ActivityType(_)))
        })
        .collect();
    for k in 0..8 {
        let i = originals[(k * 7 + rng.below(7) as usize) % originals.len()];
        let miss = k == 7;
        let mut edits = made[i].edits.clone();
        let (f, m) = edits.iter().fold((0, 0), |(f, m), e| match e {
            Edit::AttendanceFemale(n) => (*n, m),
            Edit::AttendanceMale(n) => (f, *n),
            _ => (f, m),
        });
        edits.retain(|e| !matches!(e, Edit::AttendanceFemale(_) | Edit::AttendanceMale(_)));
        edits.push(Edit::AttendanceFemale(if miss { 2 * f + 20 } else { f + 1 }));
        edits.push(Edit::AttendanceMale(m));
        let phone = partner(made[i].phone);
        let copy = phones[phone].device.create(RecordKind::Activity, &edits, tick()).unwrap();
        if miss {
            near_miss = Some((made[i].id, copy));
        } else {
            duplicates.push((made[i].id, copy));
        }
        made.push(Made { phone, id: copy, kind: RecordKind::Activity, edits, deleted: false });
    }
    let first_stored = sotay_server::now_ms();
    // Twice: each phone sends its records, then receives those of the other phone of its village.
    for phone in &mut phones {
        phone.sync().await;
    }
    for phone in &mut phones {
        phone.sync().await;
    }

    // Concurrent edits by the two phones of Thôn Đông and of Thôn Trung: conflicts on scalar
    // fields (attendance, type, plan section, unit, format, day held: a record may move between
    // periods), sets merged, and a delete concurrent with an edit. Plus deletes after sync.
    let duplicated: BTreeSet<RecordId> = duplicates.iter().chain(&near_miss).flat_map(|&(a, b)| [a, b]).collect();
    for m in &mut made {
        let (phone, id, kind) = (m.phone, m.id, m.kind);
        if m.deleted || duplicated.contains(&id) {
            continue;
        }
        if rng.percent(4) {
            phones[phone].device.delete(id, tick()).unwrap();
            m.deleted = true;
            continue;
        }
        let other = partner(phone);
        if kind != RecordKind::Activity || other == phone || !rng.percent(30) {
            continue;
        }
        let mine: Vec<Edit> = match rng.below(10) {
            0 => vec![Edit::AttendanceFemale(rng.below(90) as u32)],
            1 => vec![Edit::AttendanceMale(rng.below(60) as u32)],
            2 => vec![Edit::ActivityType(rng.pick(ActivityType::ALL))],
            3 => vec![Edit::PlanItem(rng.pick(PlanItem::ALL))],
            4 => vec![Edit::Unit(rng.pick(&UNIT_CODES).into())],
            5 => vec![Edit::Format(Some(rng.pick(Format::ALL)))],
            6 | 7 => vec![Edit::HeldOn(random_date(&mut rng, &edges))],
            8 => vec![Edit::AddTopic(rng.pick(Topic::ALL)), Edit::RemoveTopic(rng.pick(Topic::ALL))],
            _ => {
                phones[phone].device.delete(id, tick()).unwrap();
                m.deleted = true;
                let theirs = vec![Edit::AttendanceMale(1 + rng.below(60) as u32)];
                phones[other].device.edit(id, &theirs, tick()).unwrap();
                continue;
            }
        };
        let theirs: Vec<Edit> = mine.iter().map(|e| other_value(&mut rng, e, &edges)).collect();
        phones[phone].device.edit(id, &mine, tick()).unwrap();
        phones[other].device.edit(id, &theirs, tick()).unwrap();
    }
    for p in [0, 1, 0, 3, 4, 3, 2, 5] {
        phones[p].sync().await;
    }

    // Review through the API: the reviewer approves or returns submitted activities, the focal
    // point approves submitted referrals; then phones edit or delete some approved activities.
    let reviewer = app.web_login("reviewer").await;
    let focal = app.web_login("focal").await;
    let mut approved = Vec::new();
    for m in made.iter().filter(|m| !m.deleted) {
        let view = app.server_record(m.id).await.unwrap().view();
        if view.review_state != ReviewState::Submitted || !validate(&view, today).is_empty() {
            continue;
        }
        let (token, path) = match (m.kind, rng.below(10)) {
            (RecordKind::Activity, 0) => (&reviewer, "return"),
            (RecordKind::Activity, 1..7) => (&reviewer, "approve"),
            (RecordKind::GbvReferral, 0..6) => (&focal, "approve"),
            _ => continue,
        };
        let body = (path == "return")
            .then(|| serde_json::json!({ "comment": "Ghi lại số người tham dự" }).to_string().into_bytes());
        let (status, text) = app.call("POST", &format!("/api/v1/records/{}/{path}", m.id), Some(token), body).await;
        assert_eq!(status, 200, "{path} {}: {text}", m.id);
        if path == "approve" && m.kind == RecordKind::Activity && !duplicated.contains(&m.id) {
            approved.push((m.phone, m.id));
        }
    }
    for (k, &(phone, id)) in approved.iter().enumerate().filter(|(k, _)| k % 6 == 0) {
        phones[phone].sync().await;
        if k % 12 == 0 {
            phones[phone].device.edit(id, &[Edit::AttendanceMale(1 + rng.below(60) as u32)], tick()).unwrap();
        } else {
            phones[phone].device.delete(id, tick()).unwrap();
        }
        phones[phone].sync().await;
    }

    // The other write paths of the web app: a pair of duplicates merged (the dropped record
    // deleted) and one dismissed, conflicts resolved, deleted records restored by the admin, and
    // case statuses updated by the focal point.
    let post = |path: String, token: &str, body: serde_json::Value| {
        let token = token.to_string();
        async move {
            let (status, text) = app.call("POST", &path, Some(&token), Some(body.to_string().into_bytes())).await;
            assert_eq!(status, 200, "{path} {body}: {text}");
        }
    };
    let (keep, drop) = duplicates.remove(0);
    let take = serde_json::json!({ "keep": keep, "drop": drop, "take": ["attendance_female"] });
    post("/api/v1/duplicates/merge".into(), &reviewer, take).await;
    let dismissed = vec![duplicates.remove(0)];
    let (first, second) = dismissed[0];
    post("/api/v1/duplicates/dismiss".into(), &reviewer, serde_json::json!({ "first": first, "second": second })).await;
    let admin = app.web_login("admin").await;
    let mut resolved = 0;
    let mut restored = 0;
    let mut updated = 0;
    for m in &made {
        let view = app.server_record(m.id).await.unwrap().view();
        if let Some(conflict) = view.conflicts.first().filter(|_| !view.deleted && resolved < 3) {
            let body = serde_json::json!({ "field": conflict.field.code(), "choice": resolved % 2 });
            post(format!("/api/v1/records/{}/resolve", m.id), &reviewer, body).await;
            resolved += 1;
        } else if view.deleted && m.id != drop && restored < 3 {
            post(format!("/api/v1/records/{}/restore", m.id), &admin, serde_json::json!({})).await;
            restored += 1;
        } else if m.kind == RecordKind::GbvReferral && !view.deleted && updated < 4 && rng.percent(30) {
            let others: Vec<CaseStatus> =
                CaseStatus::ALL.iter().copied().filter(|s| view.case_status != Some(*s)).collect();
            let status = rng.pick(&others).code();
            post(format!("/api/v1/records/{}/case-status", m.id), &focal, serde_json::json!({ "case_status": status }))
                .await;
            updated += 1;
        }
    }
    assert!(resolved > 0 && restored > 0 && updated > 0);
    let last_stored = sotay_server::now_ms();
    for phone in &phones {
        assert!(phone.device.rejected().unwrap().is_empty(), "every change of the generated commune is accepted");
    }
    Commune {
        commune: c.commune,
        villages,
        units,
        reviewer,
        focal,
        periods,
        duplicates,
        dismissed,
        near_miss: near_miss.unwrap(),
        stored_between: (first_stored, last_stored),
    }
}
