//! The access policy and the SQL agree: on random communes (records of every kind in several
//! villages and two communes, some deleted), every identity's record list, read page by page, is
//! exactly the set of records `sotay_server::policy::read` allows it, and every page but the last
//! is full (the filter is in the query, not applied after `LIMIT`); and what every phone holds
//! after syncing, by the pull of the log and by provisioning a fresh phone, is exactly the set
//! the policy allows through the sync channel.

use proptest::prelude::*;
use sotay_server::admin::{self, NewUser};
use sotay_server::auth::{AuthDevice, Role};
use sotay_server::policy::{self, Read, Relation};
use sotay_sync_core::rules::Channel;
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::{Coded, CommuneId, DeviceId, UserId, VillageId, sample};
use sotay_tests::*;
use sqlx::Row;
use std::collections::BTreeSet;

/// What one identity is, from `GET /api/v1/me`.
async fn who(app: &TestApp, token: &str) -> AuthDevice {
    let (status, body) = app.call("GET", "/api/v1/me", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    let me: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = |k: &str| me[k].as_str().map(|s| uuid::Uuid::parse_str(s).unwrap());
    AuthDevice {
        device: DeviceId(id("device_id").unwrap()),
        user: UserId(id("user_id").unwrap()),
        role: Role::from_code(me["role"].as_str().unwrap()).unwrap(),
        commune: CommuneId(id("commune_id").unwrap()),
        village: id("village_id").map(VillageId),
        scope_changed: false,
        scope_unrecorded: false,
    }
}

/// Every record id the list gives this token, page by page; checks that pages are full.
async fn listed(app: &TestApp, token: &str, page: usize) -> Option<BTreeSet<String>> {
    let mut seen = BTreeSet::new();
    let mut after = String::new();
    loop {
        let q = if after.is_empty() { format!("?limit={page}") } else { format!("?limit={page}&after={after}") };
        let (status, body) = app.call("GET", &format!("/api/v1/records{q}"), Some(token), None).await;
        if status == 403 {
            return None;
        }
        assert_eq!(status, 200, "{body}");
        let rows: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        for r in &rows {
            assert!(seen.insert(r["id"].as_str().unwrap().to_string()), "a record listed twice");
        }
        if rows.len() < page {
            return Some(seen);
        }
        after = rows.last().unwrap()["id"].as_str().unwrap().to_string();
    }
}

async fn check(seed: u64, page: usize) {
    let app = spawn_app().await;
    let c = app.commune().await;
    let other = admin::create_commune(&app.state.db, "Phúc Hòa").await.unwrap();
    let far = admin::create_village(&app.state.db, other, "Thôn Bắc").await.unwrap();
    let role = Role::Collaborator;
    admin::create_user(
        &app.state.db,
        NewUser { username: "mai", display_name: "Mai", role, commune: other, village: Some(far) },
    )
    .await
    .unwrap();
    let _ = c;
    let mut rng = seed;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n.max(1)
    };
    let mut tokens = Vec::new();
    let mut phones = Vec::new();
    let mut i = 0u32;
    for name in ["lan", "hoa", "minh", "mai", "lan"] {
        let mut phone = app.device(name).await;
        for _ in 0..next(6) {
            let id =
                phone.device.create(RecordKind::Activity, &sample::activity(i, 2026), NOW_MS + i64::from(i)).unwrap();
            if next(4) == 0 {
                phone.device.delete(id, NOW_MS + 1).unwrap();
            }
            i += 1;
        }
        for _ in 0..next(3) {
            phone.device.create(RecordKind::GbvReferral, &sample::gbv_referral(i, 2026), NOW_MS).unwrap();
            i += 1;
        }
        phone.sync().await;
        tokens.push(phone.token.clone());
        phones.push(phone);
    }
    for name in ["reviewer", "focal", "admin"] {
        tokens.push(app.web_login(name).await);
    }
    let rows = sqlx::query("SELECT id, commune_id, village_id, kind, owner_device FROM records")
        .fetch_all(&app.state.db.read)
        .await
        .unwrap();
    let allowed = |auth: &AuthDevice, channel: Channel| -> BTreeSet<String> {
        rows.iter()
            .filter(|r| {
                let kind = RecordKind::from_code(&r.get::<String, _>(3)).unwrap();
                let rel = Relation::of(auth, &r.get::<Vec<u8>, _>(1), &r.get::<Vec<u8>, _>(2), &r.get::<Vec<u8>, _>(4));
                policy::read(auth.role, kind, rel, channel) != Read::Hidden
            })
            .map(|r| uuid::Uuid::from_slice(&r.get::<Vec<u8>, _>(0)).unwrap().to_string())
            .collect()
    };
    // Sync: the phones that made records pull the others' from the log; a fresh phone for every
    // person who syncs is provisioned from the records table.
    for name in ["lan", "hoa", "minh", "reviewer", "focal"] {
        phones.push(app.device(name).await);
    }
    for phone in &mut phones {
        phone.sync().await;
        let auth = who(&app, &phone.token).await;
        let held: BTreeSet<String> = phone.device.list().unwrap().iter().map(|v| v.id.to_string()).collect();
        assert_eq!(held, allowed(&auth, Channel::Sync), "{:?} {} by sync (seed {seed})", auth.role, auth.device);
    }
    for token in &tokens {
        let auth = who(&app, token).await;
        let expected = allowed(&auth, Channel::Api);
        match listed(&app, token, page).await {
            Some(got) => assert_eq!(got, expected, "{:?} of {} (seed {seed}, page {page})", auth.role, auth.device),
            None => assert!(expected.is_empty(), "{:?} is refused the list but may read records", auth.role),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn the_record_list_and_sync_are_exactly_what_the_policy_allows(seed in 1u64.., page in 1usize..5) {
        tokio::runtime::Runtime::new().unwrap().block_on(check(seed, page));
    }
}
