//! Sync properties of SPEC §4 through the real server: convergence, idempotence, lost
//! responses, restarts, scope, provisioning and paging.

use sotay_server::config::Limits;
use sotay_sync_core::schema::*;
use sotay_sync_core::wire;
use sotay_sync_core::{Edit, Field, RecordId};
use sotay_tests::*;

/// A tiny deterministic generator, so each failing seed can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn random_edit(rng: &mut Rng) -> Vec<Edit> {
    match rng.below(7) {
        0 => vec![Edit::AttendanceFemale(rng.below(60) as u32)],
        1 => vec![Edit::AttendanceMale(rng.below(60) as u32)],
        2 => vec![Edit::AddTopic(Topic::ALL[rng.below(Topic::ALL.len())])],
        3 => vec![Edit::RemoveTopic(Topic::ALL[rng.below(Topic::ALL.len())])],
        4 => vec![Edit::Location(format!("Điểm {}", rng.below(5)))],
        5 => vec![Edit::Notes(format!("ghi chú {} của thôn", rng.below(100)))],
        _ => vec![Edit::Format(Some(Format::ALL[rng.below(Format::ALL.len())]))],
    }
}

async fn assert_converged(app: &TestApp, devices: &[TestDevice], ids: &[RecordId]) {
    let reference = devices[0].views();
    assert_eq!(reference.len(), ids.len());
    for d in &devices[1..] {
        assert_eq!(d.views(), reference, "device views differ");
    }
    for view in &reference {
        let mut server = app.server_record(view.id).await.expect("record on server");
        assert_eq!(server.view(), *view, "server view differs");
    }
}

#[tokio::test]
async fn three_devices_editing_offline_in_random_interleavings_converge() {
    for seed in 1..=6u64 {
        let app = spawn_app().await;
        app.commune().await;
        let mut devices = vec![app.device("lan").await, app.device("lan").await, app.device("hoa").await];
        let ids: Vec<RecordId> =
            devices.iter_mut().zip(10..).map(|(device, female)| device.add_activity(female, 5)).collect();
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for _ in 0..40 {
            let d = rng.below(3);
            if rng.below(4) == 0 {
                devices[d].sync().await;
                continue;
            }
            let known: Vec<RecordId> = devices[d].views().iter().map(|v| v.id).collect();
            let id = known[rng.below(known.len())];
            match rng.below(10) {
                0 if !devices[d].device.view(id).unwrap().conflicts.is_empty() => {
                    let c = devices[d].device.view(id).unwrap().conflicts[0].clone();
                    devices[d].device.resolve(id, c.field, rng.below(c.values.len()), NOW_MS).unwrap();
                }
                _ => {
                    let _ = devices[d].device.edit(id, &random_edit(&mut rng), NOW_MS + rng.below(1000) as i64);
                }
            }
        }
        for _ in 0..2 {
            for d in devices.iter_mut() {
                d.sync().await;
            }
        }
        assert_converged(&app, &devices, &ids).await;
        for d in &devices {
            assert_eq!(d.device.pending().unwrap(), 0, "seed {seed}: outbox not empty");
        }
    }
}

#[tokio::test]
async fn concurrent_scalar_edits_surface_a_conflict_everywhere_and_resolution_clears_it() {
    let app = spawn_app().await;
    app.commune().await;
    let (mut a, mut b) = (app.device("lan").await, app.device("hoa").await);
    let id = a.add_activity(30, 20);
    a.sync().await;
    b.sync().await;
    a.device.edit(id, &[Edit::AttendanceFemale(32), Edit::AddTopic(Topic::GenderEqualityLaw)], NOW_MS + 1).unwrap();
    b.device.edit(id, &[Edit::AttendanceFemale(31), Edit::Location("Hội trường".into())], NOW_MS + 2).unwrap();
    a.sync().await;
    b.sync().await;
    a.sync().await;
    let view = a.device.view(id).unwrap();
    assert_eq!(view.location.as_deref(), Some("Hội trường"), "different fields both kept");
    assert!(view.topics.contains(&Topic::GenderEqualityLaw));
    assert_eq!(view.conflicts.len(), 1);
    let conflict = &view.conflicts[0];
    assert_eq!(conflict.field, Field::AttendanceFemale);
    let mut values: Vec<&str> = conflict.values.iter().map(|v| v.value.as_str()).collect();
    values.sort();
    assert_eq!(values, ["31", "32"], "attendance is never summed");
    let devices: Vec<_> = conflict.values.iter().map(|v| v.by.device.unwrap()).collect();
    assert!(devices.contains(&a.device.identity().device) && devices.contains(&b.device.identity().device));
    assert_eq!(b.device.view(id).unwrap().conflicts, view.conflicts);

    let keep = conflict.values.iter().position(|v| v.value == "32").unwrap();
    b.device.resolve(id, Field::AttendanceFemale, keep, NOW_MS + 3).unwrap();
    b.sync().await;
    a.sync().await;
    for d in [&a, &b] {
        let v = d.device.view(id).unwrap();
        assert!(v.conflicts.is_empty());
        assert_eq!(v.attendance_female, Some(32));
    }
    assert!(app.server_record(id).await.unwrap().view().conflicts.is_empty());
}

#[tokio::test]
async fn resending_a_batch_any_number_of_times_changes_nothing() {
    let app = spawn_app().await;
    app.commune().await;
    let mut a = app.device("lan").await;
    let id = a.add_activity(12, 8);
    a.device.edit(id, &[Edit::AttendanceMale(9)], NOW_MS + 1).unwrap();
    let req = a.device.prepare_sync(1 << 20).unwrap();
    let body = wire::encode(&req);
    let (first, _) = a.client.sync_raw(&a.token, body.clone()).await.unwrap();
    let log = app.log_len().await;
    let mut doc = app.server_record(id).await.unwrap();
    let heads = doc.heads();
    for _ in 0..3 {
        let (again, _) = a.client.sync_raw(&a.token, body.clone()).await.unwrap();
        assert_eq!(again.acked_through, first.acked_through);
        assert_eq!(app.log_len().await, log);
        assert_eq!(app.server_record(id).await.unwrap().heads(), heads);
    }
    assert_eq!(log, 2);
    assert_eq!(app.record_count().await, 1);
}

#[tokio::test]
async fn a_lost_response_and_a_retry_create_no_duplicate_and_lose_nothing() {
    let app = spawn_app().await;
    app.commune().await;
    let (mut a, mut b) = (app.device("lan").await, app.device("hoa").await);
    let id = a.add_activity(12, 8);
    // The server stores the push, but the answer never reaches the phone.
    let req = a.device.prepare_sync(1 << 20).unwrap();
    a.client.sync_once(&a.token, &req).await.unwrap();
    assert_eq!(a.device.pending().unwrap(), 1, "not acknowledged locally, so still pending");
    // Edit more while offline, then the retry resends everything unacknowledged.
    a.device.edit(id, &[Edit::AttendanceFemale(13)], NOW_MS + 1).unwrap();
    let report = a.sync().await;
    assert_eq!(report.acked, 2);
    assert_eq!(a.device.pending().unwrap(), 0);
    assert_eq!(app.log_len().await, 2);
    assert_eq!(app.record_count().await, 1);
    b.sync().await;
    assert_eq!(b.views(), a.views());
    assert_eq!(b.device.view(id).unwrap().attendance_female, Some(13));
}

#[tokio::test]
async fn a_server_restarted_between_syncs_loses_nothing_acknowledged() {
    let app = spawn_app().await;
    app.commune().await;
    let mut a = app.device("lan").await;
    let ids: Vec<RecordId> = (0..20).map(|i| a.add_activity(i, i)).collect();
    assert_eq!(a.sync().await.acked, 20);
    let app = app.restart().await;
    a.reconnect(&app.base);
    a.device.edit(ids[3], &[Edit::AttendanceMale(99)], NOW_MS + 5).unwrap();
    a.sync().await;
    let mut fresh = app.device("hoa").await;
    fresh.sync().await;
    assert_eq!(fresh.views(), a.views());
    assert_eq!(fresh.device.view(ids[3]).unwrap().attendance_male, Some(99));
    assert_eq!(app.record_count().await, 20);
}

#[tokio::test]
async fn a_device_of_village_a_never_receives_a_record_of_village_b() {
    let app = spawn_app().await;
    app.commune().await;
    let (mut a, mut b) = (app.device("lan").await, app.device("minh").await);
    a.add_activity(1, 1);
    let in_b = b.add_activity(2, 2);
    a.sync().await;
    b.sync().await;
    a.sync().await;
    assert!(a.views().iter().all(|v| v.village == a.device.identity().village));
    assert_eq!(a.views().len(), 1);
    assert_eq!(b.views().len(), 1);
    assert_eq!(b.views()[0].id, in_b);
    // A reviewer of the commune sees both villages' activities.
    let mut reviewer = app.device("reviewer").await;
    reviewer.sync().await;
    assert_eq!(reviewer.views().len(), 2);
}

#[tokio::test]
async fn a_gbv_referral_syncs_only_to_the_device_that_created_it() {
    let app = spawn_app().await;
    app.commune().await;
    let mut phone = app.device("lan").await;
    let mut second_phone = app.device("lan").await;
    let mut neighbour = app.device("hoa").await;
    let mut reviewer = app.device("reviewer").await;
    let mut focal = app.device("focal").await;
    let case = phone.device.create(RecordKind::GbvReferral, &gbv_edits("TY-0001"), NOW_MS).unwrap();
    phone.add_activity(3, 4);
    phone.sync().await;
    for d in [&mut second_phone, &mut neighbour, &mut reviewer, &mut focal] {
        d.sync().await;
    }
    // Not even the same user's second phone, nor the GBV focal point's phone (they work on cases
    // in the web app, where every view is audited): SPEC §9.
    for d in [&second_phone, &neighbour, &reviewer, &focal] {
        assert_eq!(d.views().len(), 1, "only the activity");
        assert!(d.views().iter().all(|v| v.kind == RecordKind::Activity));
    }
    // Edits by the owner stay on the owner's phone and the server, incrementally too.
    phone.device.edit(case, &[Edit::AddReferredTo(Service::Police)], NOW_MS + 1).unwrap();
    phone.sync().await;
    for d in [&mut second_phone, &mut neighbour, &mut reviewer, &mut focal] {
        d.sync().await;
        assert_eq!(d.views().len(), 1);
    }
    assert!(app.server_record(case).await.unwrap().view().referred_to.contains(&Service::Police));
}

#[tokio::test]
async fn a_device_cannot_push_into_another_village_and_nothing_is_stored() {
    let app = spawn_app().await;
    let c = app.commune().await;
    let mut b = app.device("minh").await;
    let mut a = app.device("lan").await;
    let id = a.add_activity(5, 5);
    a.sync().await;
    // Minh's phone forges a change to a record of village A, under its own actor.
    let mut record = sotay_sync_core::Record::from_changes(
        &app.server_record(id).await.unwrap().changes(),
        Some(sotay_sync_core::Editor { device: b.device.identity().device, user: b.device.identity().user }),
    )
    .unwrap();
    let change = record.edit(&[Edit::AttendanceFemale(0)], NOW_MS).unwrap().unwrap();
    let req = wire::SyncRequest {
        epoch: None,
        cursor: 0,
        snapshot: None,
        fresh: false,
        outbox_through: 1,
        push: vec![wire::RecordChanges { record: id.as_bytes().to_vec(), changes: vec![wire::ChangeBytes(change)] }],
    };
    let log = app.log_len().await;
    // Refused on its own (the rest of a push would go ahead), listed with the reason.
    let (answer, _) = b.client.sync_once(&b.token, &req).await.unwrap();
    assert_eq!(answer.acked_through, 1);
    assert_eq!(answer.rejected.len(), 1);
    assert_eq!(answer.rejected[0].code, "forbidden");
    assert_eq!(answer.rejected[0].record, id.as_bytes().to_vec());
    assert_eq!(app.log_len().await, log);
    // And a record created in village A by a village-B phone is refused too.
    let (_, change) = sotay_sync_core::Record::create(
        RecordKind::Activity,
        RecordId::new_v7(NOW_MS as u64),
        c.commune,
        c.village_a,
        sotay_sync_core::Editor { device: b.device.identity().device, user: b.device.identity().user },
        &activity_edits(1, 1),
        NOW_MS,
    )
    .unwrap();
    let req = wire::SyncRequest {
        epoch: None,
        cursor: 0,
        snapshot: None,
        fresh: false,
        outbox_through: 1,
        push: vec![wire::RecordChanges {
            record: sotay_sync_core::Record::load(&change, None).map(|r| r.id()).unwrap().as_bytes().to_vec(),
            changes: vec![wire::ChangeBytes(change)],
        }],
    };
    let (answer, _) = b.client.sync_once(&b.token, &req).await.unwrap();
    assert_eq!(answer.rejected.len(), 1);
    assert_eq!(answer.rejected[0].code, "forbidden");
    assert_eq!(app.record_count().await, 1);
    b.sync().await;
    assert!(b.views().is_empty());
}

#[tokio::test]
async fn a_new_device_is_provisioned_from_snapshots_in_pages_and_a_backlog_is_paged() {
    let limits = Limits { page_changes: 7, page_snapshot_bytes: 4_000, ..Limits::default() };
    let app = spawn_app_with(limits).await;
    app.commune().await;
    let mut a = app.device("lan").await;
    let ids: Vec<RecordId> = (0..30).map(|i| a.add_activity(i, 1)).collect();
    a.sync().await;
    let mut fresh = app.device("hoa").await;
    let report = fresh.sync().await;
    assert!(report.round_trips > 2, "snapshots came in pages: {report:?}");
    assert_eq!(fresh.views(), a.views());
    // A backlog of edits after provisioning arrives in pages of 7 changes.
    for id in &ids {
        a.device.edit(*id, &[Edit::AttendanceMale(50)], NOW_MS + 9).unwrap();
    }
    a.sync().await;
    let report = fresh.sync().await;
    assert_eq!(report.round_trips, 30usize.div_ceil(7));
    assert_eq!(fresh.views(), a.views());
}

#[tokio::test]
async fn changes_arriving_before_their_dependencies_wait_and_are_applied_in_causal_order() {
    let app = spawn_app().await;
    app.commune().await;
    let mut a = app.device("lan").await;
    let mut b = app.device("hoa").await;
    let id = a.add_activity(1, 1);
    a.device.edit(id, &[Edit::AttendanceMale(2)], NOW_MS + 1).unwrap();
    a.device.edit(id, &[Edit::AttendanceMale(3)], NOW_MS + 2).unwrap();
    let full = a.device.prepare_sync(1 << 20).unwrap();
    let changes = full.push[0].changes.clone();
    // Send the last two first (their dependency is missing), then the first.
    let push = |cs: Vec<wire::ChangeBytes>| wire::SyncRequest {
        epoch: None,
        cursor: 0,
        snapshot: None,
        fresh: false,
        outbox_through: 1,
        push: vec![wire::RecordChanges { record: id.as_bytes().to_vec(), changes: cs }],
    };
    let (answer, _) = a.client.sync_once(&a.token, &push(changes[1..].to_vec())).await.unwrap();
    // A record whose first change is missing cannot be placed in a scope yet: refused, nothing stored.
    assert_eq!(answer.rejected.len(), 1);
    assert_eq!(answer.rejected[0].code, "unprocessable");
    assert_eq!(app.log_len().await, 0);
    a.client.sync_once(&a.token, &push(changes[..1].to_vec())).await.unwrap();
    // Now the third before the second: the third waits in pending.
    a.client.sync_once(&a.token, &push(changes[2..].to_vec())).await.unwrap();
    assert_eq!(app.log_len().await, 1);
    b.sync().await;
    assert_eq!(b.device.view(id).unwrap().attendance_male, Some(1));
    a.client.sync_once(&a.token, &push(changes[1..2].to_vec())).await.unwrap();
    assert_eq!(app.log_len().await, 3);
    b.sync().await;
    assert_eq!(b.device.view(id).unwrap().attendance_male, Some(3));
    a.sync().await;
    assert_eq!(a.views(), b.views());
}

#[tokio::test]
async fn concurrent_pushes_to_the_same_records_keep_every_change() {
    let app = spawn_app().await;
    app.commune().await;
    let mut devices = vec![app.device("lan").await, app.device("lan").await, app.device("hoa").await];
    let ids: Vec<RecordId> = (0..5).map(|i| devices[0].add_activity(i, i)).collect();
    devices[0].sync().await;
    for d in devices.iter_mut() {
        d.sync().await;
    }
    let mut edits = 0;
    for round in 0..15u32 {
        for (n, d) in devices.iter_mut().enumerate() {
            let id = ids[(round as usize + n) % ids.len()];
            d.device
                .edit(id, &[Edit::AttendanceMale(1000 + round * 10 + n as u32)], NOW_MS + i64::from(round))
                .unwrap();
            edits += 1;
        }
        // All three push at once: the server merges them while the others write.
        let [a, b, c] = &mut devices[..] else { unreachable!() };
        let (ra, rb, rc) = tokio::join!(a.sync(), b.sync(), c.sync());
        assert_eq!(ra.acked + rb.acked + rc.acked, 3);
    }
    for _ in 0..2 {
        for d in devices.iter_mut() {
            d.sync().await;
        }
    }
    assert_eq!(app.log_len().await, 5 + edits);
    assert_converged(&app, &devices, &ids).await;
}

#[tokio::test]
async fn a_phone_moved_to_another_village_keeps_its_refused_changes_aside_and_starts_over_there() {
    let app = spawn_app().await;
    let c = app.commune().await;
    let mut lan = app.device("lan").await;
    let mut hoa = app.device("hoa").await;
    let mut minh = app.device("minh").await;
    let id = lan.add_activity(10, 10);
    let in_b = minh.add_activity(7, 7);
    lan.sync().await;
    hoa.sync().await;
    minh.sync().await;
    // The office moves Lan to village B; her phone still holds an edit to a village-A record and
    // a new record made in village A while offline.
    let user = sotay_server::admin::user_by_name(&app.state.db, "lan").await.unwrap();
    sotay_server::admin::set_role(&app.state.db, user, sotay_server::auth::Role::Collaborator, Some(c.village_b))
        .await
        .unwrap();
    lan.device.edit(id, &[Edit::AttendanceMale(11)], NOW_MS + 1).unwrap();
    lan.add_activity(3, 3);
    let report = lan.sync().await;
    assert_eq!(report.rejected, 2, "{report:?}");
    assert!(report.reset, "the phone was told its scope changed");
    assert_eq!(lan.device.pending().unwrap(), 0, "nothing is resent forever");
    let refused = lan.device.rejected().unwrap();
    assert_eq!(refused.len(), 2, "kept aside on the phone, not lost");
    assert!(refused.iter().all(|r| r.code == "forbidden" && r.message.contains("scope")));
    assert_eq!(app.server_record(id).await.unwrap().view().attendance_male, Some(10), "the refused edit is not stored");
    // Provisioned again for village B: village A's records are gone from the phone, B's are there.
    assert_eq!(lan.device.identity().village, c.village_b);
    let views = lan.views();
    assert_eq!(views.iter().map(|v| v.id).collect::<Vec<_>>(), vec![in_b]);
    // And it works there, both ways.
    let new_b = lan.add_activity(5, 5);
    assert_eq!(lan.sync().await.acked, 1);
    minh.sync().await;
    assert!(minh.device.view(new_b).is_ok());
    hoa.device.edit(id, &[Edit::AttendanceFemale(12)], NOW_MS + 2).unwrap();
    hoa.sync().await;
    assert_eq!(lan.sync().await.round_trips, 1);
    assert!(lan.device.view(id).is_err(), "village A's edits do not reach a village-B phone");
}

#[tokio::test]
async fn a_phone_enrolled_before_its_user_moved_starts_in_the_new_village() {
    let app = spawn_app().await;
    let c = app.commune().await;
    let mut lan = app.device("lan").await;
    let mut minh = app.device("minh").await;
    let in_b = minh.add_activity(7, 7);
    minh.sync().await;
    let user = sotay_server::admin::user_by_name(&app.state.db, "lan").await.unwrap();
    sotay_server::admin::set_role(&app.state.db, user, sotay_server::auth::Role::Collaborator, Some(c.village_b))
        .await
        .unwrap();
    lan.sync().await;
    assert_eq!(lan.device.identity().village, c.village_b, "the first provisioning takes the current scope");
    assert_eq!(lan.views().iter().map(|v| v.id).collect::<Vec<_>>(), vec![in_b]);
    let mine = lan.add_activity(1, 2);
    assert_eq!(lan.sync().await.rejected, 0);
    assert_eq!(app.server_record(mine).await.unwrap().view().village, c.village_b);
}
