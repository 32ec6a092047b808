//! Several `sotay-server` processes on one PostgreSQL database behave as one: phones pushing
//! concurrent changes to the same records through different instances lose nothing, converge,
//! and never miss a change because sequence numbers committed out of order.
//!
//! Needs PostgreSQL (`SOTAY_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
//! Without it the test says it is skipped, unless `SOTAY_REQUIRE_POSTGRES=1` (as in `.ci/run`),
//! which makes a missing PostgreSQL a failure.

mod common;

use common::{Instance, fresh_postgres_database, one_village_with_codes};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_instances_on_one_postgres_behave_as_one() {
    let Some(db_url) = fresh_postgres_database().await else { return };
    let (db, codes) = one_village_with_codes(&db_url, 6).await;
    let instances = [Instance::start(&db_url).await, Instance::start(&db_url).await];
    let clients: Vec<Client> = instances.iter().map(|i| Client::new(&i.base).unwrap()).collect();

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
    let mut ids: Vec<RecordId> = Vec::new();
    for (i, p) in phones.iter_mut().enumerate() {
        for k in 0..3u32 {
            let edits = sample::activity(i as u32 * 10 + k, 2026);
            ids.push(p.device.create(RecordKind::Activity, &edits, NOW_MS).unwrap());
        }
    }

    // Rounds of concurrent syncs, each phone through an instance that changes every round, every
    // phone editing records others edit too.
    let mut made = ids.len();
    for round in 0..12usize {
        for (i, p) in phones.iter_mut().enumerate() {
            let known: Vec<RecordId> = p.device.list().unwrap().iter().map(|v| v.id).collect();
            let id = known[(i * 7 + round * 3) % known.len()];
            if p.device
                .edit(id, &[Edit::AttendanceMale((1000 + round * 10 + i) as u32)], NOW_MS + round as i64)
                .unwrap()
            {
                made += 1;
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

    // Every change kept once; sequence numbers unique and without holes.
    let row = sqlx::query("SELECT COUNT(*), MIN(seq), MAX(seq) FROM changes").fetch_one(&db.read).await.unwrap();
    let (count, min, max): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(count as usize, made, "every change stored exactly once");
    assert_eq!((min, max), (1, count), "sequence numbers are dense");
    // Every phone holds the same records as the server, field for field.
    let reference: Vec<_> = phones[0].device.list().unwrap();
    assert_eq!(reference.len(), ids.len());
    for p in &phones[1..] {
        assert_eq!(p.device.list().unwrap(), reference);
    }
    for view in &reference {
        let doc: Vec<u8> = sqlx::query("SELECT doc FROM records WHERE id = $1")
            .bind(view.id.as_bytes().as_slice())
            .fetch_one(&db.read)
            .await
            .unwrap()
            .get(0);
        assert_eq!(sotay_sync_core::Record::load(&doc, None).unwrap().view(), *view);
    }
    db.close().await;
}
