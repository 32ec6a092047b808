//! Several `sotay-server` processes on one PostgreSQL database behave as one: phones of three
//! communes pushing concurrent changes to the same records through different instances lose
//! nothing, converge, and never miss a change because sequence numbers committed out of order
//! (the log is numbered per commune, and within a commune sequence order is commit order); and a
//! commune's writes do not wait for another commune's.
//!
//! Needs PostgreSQL (`SOTAY_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
//! Without it the test says it is skipped, unless `SOTAY_REQUIRE_POSTGRES=1` (as in `.ci/run`),
//! which makes a missing PostgreSQL a failure.

mod common;

use common::{Instance, commune_with_codes, fresh_postgres_database, one_village_with_codes};
use sotay_client::Client;
use sotay_sync_core::device::{Device, DeviceIdentity, MemoryStore};
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::{Edit, RecordId, VillageId, sample};
use sqlx::Row;

const NOW_MS: i64 = 1_795_651_200_000;

struct Phone {
    device: Device<MemoryStore>,
    token: String,
}

/// Enrols `codes` phones, alternating the instances.
async fn enrol(clients: &[Client], codes: &[String]) -> Vec<Phone> {
    let mut phones = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let client = &clients[i % 2];
        let e = client.enrol(code, "phone", None).await.unwrap();
        // A token issued by one instance is good on the other: the keys live in the database.
        let token = clients[(i + 1) % 2].token(e.device_id, &e.device_secret).await.unwrap().access_token;
        let identity = DeviceIdentity {
            device: e.device_id,
            user: e.user_id,
            commune: e.commune_id,
            village: e.village_id.unwrap_or(VillageId(uuid::Uuid::nil())),
        };
        phones.push(Phone { device: Device::new(identity, MemoryStore::default()), token });
    }
    phones
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_instances_on_one_postgres_behave_as_one() {
    let Some(db_url) = fresh_postgres_database().await else { return };
    let (db, mut codes) = one_village_with_codes(&db_url, 4).await;
    let mut commune_of_phone = vec![0; 4];
    for (c, name) in [(1, "Ngọc Thiện"), (2, "Phúc Hoà")] {
        codes.extend(commune_with_codes(&db, name, &format!("lan{c}"), 4).await);
        commune_of_phone.extend([c; 4]);
    }
    let instances = [Instance::start(&db_url).await, Instance::start(&db_url).await];
    let clients: Vec<Client> = instances.iter().map(|i| Client::new(&i.base).unwrap()).collect();
    let mut phones = enrol(&clients, &codes).await;
    let mut made = [0usize; 3];
    for (i, p) in phones.iter_mut().enumerate() {
        for k in 0..3u32 {
            let edits = sample::activity(i as u32 * 10 + k, 2026);
            p.device.create(RecordKind::Activity, &edits, NOW_MS).unwrap();
            made[commune_of_phone[i]] += 1;
        }
    }

    // Rounds of concurrent syncs, each phone through an instance that changes every round, every
    // phone editing records others of its commune edit too.
    for round in 0..12usize {
        for (i, p) in phones.iter_mut().enumerate() {
            let known: Vec<RecordId> = p.device.list().unwrap().iter().map(|v| v.id).collect();
            let id = known[(i * 7 + round * 3) % known.len()];
            if p.device
                .edit(id, &[Edit::AttendanceMale((1000 + round * 10 + i) as u32)], NOW_MS + round as i64)
                .unwrap()
            {
                made[commune_of_phone[i]] += 1;
            }
        }
        let tasks: Vec<_> = phones
            .drain(..)
            .enumerate()
            .map(|(i, mut p)| {
                let client = clients[(i + round) % 2].clone();
                tokio::spawn(async move {
                    client.sync(&mut p.device, &p.token).await.unwrap();
                    p
                })
            })
            .collect();
        for t in tasks {
            phones.push(t.await.unwrap());
        }
    }
    for _ in 0..2 {
        for (i, p) in phones.iter_mut().enumerate() {
            clients[i % 2].sync(&mut p.device, &p.token).await.unwrap();
        }
    }

    for (c, &made) in made.iter().enumerate() {
        let mine: Vec<&Phone> =
            phones.iter().enumerate().filter(|(i, _)| commune_of_phone[*i] == c).map(|(_, p)| p).collect();
        let commune = mine[0].device.identity().commune;
        // Every change kept once; the commune's sequence numbers unique and without holes.
        let row = sqlx::query("SELECT COUNT(*), MIN(seq), MAX(seq) FROM changes WHERE commune_id = $1")
            .bind(commune.as_bytes().as_slice())
            .fetch_one(&db.read)
            .await
            .unwrap();
        let (count, min, max): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        assert_eq!(count as usize, made, "commune {c}: every change stored exactly once");
        assert_eq!((min, max), (1, count), "commune {c}: sequence numbers are dense");
        // Every phone of the commune holds the same records as the server, field for field, and
        // nothing of the other communes.
        let reference: Vec<_> = mine[0].device.list().unwrap();
        assert_eq!(reference.len(), 12, "commune {c}: its four phones' records");
        for p in &mine[1..] {
            assert_eq!(p.device.list().unwrap(), reference);
        }
        for view in &reference {
            let doc: Vec<u8> = sqlx::query("SELECT doc FROM records WHERE id = $1 AND commune_id = $2")
                .bind(view.id.as_bytes().as_slice())
                .bind(commune.as_bytes().as_slice())
                .fetch_one(&db.read)
                .await
                .unwrap()
                .get(0);
            assert_eq!(sotay_sync_core::Record::load(&doc, None).unwrap().view(), *view);
        }
    }
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commune_writing_does_not_wait_for_another() {
    let Some(db_url) = fresh_postgres_database().await else { return };
    let (db, mut codes) = one_village_with_codes(&db_url, 1).await;
    codes.extend(commune_with_codes(&db, "Ngọc Thiện", "lan1", 1).await);
    let instances = [Instance::start(&db_url).await, Instance::start(&db_url).await];
    let clients: Vec<Client> = instances.iter().map(|i| Client::new(&i.base).unwrap()).collect();
    let mut phones = enrol(&clients, &codes).await;
    for p in phones.iter_mut() {
        p.device.create(RecordKind::Activity, &sample::activity(1, 2026), NOW_MS).unwrap();
    }
    let mut b = phones.pop().unwrap();
    let mut a = phones.pop().unwrap();

    // Someone holds commune A's log lock (as a long write of A on a third instance would).
    let mut holder = db.write.begin().await.unwrap();
    let key = sotay_server::store::log_lock_key(a.device.identity().commune);
    sqlx::query("SELECT pg_advisory_xact_lock(7243, $1)").bind(key).execute(&mut *holder).await.unwrap();

    // A's push waits for it, through instance 0…
    let client_a = clients[0].clone();
    let a_sync = tokio::spawn(async move {
        let progress = client_a.sync(&mut a.device, &a.token).await;
        (a, progress)
    });
    loop {
        let waiting: i64 = sqlx::query(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&db.read)
        .await
        .unwrap()
        .get(0);
        if waiting > 0 {
            break;
        }
        assert!(!a_sync.is_finished(), "commune A's push went through while its log was locked");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // …while B's push goes through instance 1 at once.
    tokio::time::timeout(std::time::Duration::from_secs(20), clients[1].sync(&mut b.device, &b.token))
        .await
        .expect("commune B's push does not wait for commune A's lock")
        .unwrap();
    assert_eq!(b.device.pending().unwrap(), 0, "B's change acknowledged");
    assert!(!a_sync.is_finished(), "A's push still waits");
    holder.rollback().await.unwrap();
    let (a, progress) = a_sync.await.unwrap();
    progress.unwrap();
    assert_eq!(a.device.pending().unwrap(), 0, "A's change acknowledged once the lock is free");
    db.close().await;
}
