//! `kill -9` of the server at random moments while phones sync: no acknowledged change is lost
//! and none is stored twice (SPEC §9). The server is a real process on a real SQLite file; the
//! phones keep what was not acknowledged and send it again after the restart.

mod common;

use common::{Instance, one_village_with_codes};
use sotay_client::Client;
use sotay_sync_core::device::{Device, DeviceIdentity, MemoryStore};
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::{Edit, VillageId, sample};
use sqlx::Row;
use std::time::Duration;

const NOW_MS: i64 = 1_795_651_200_000;

struct Phone {
    device: Device<MemoryStore>,
    secret: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_sync_loses_nothing_acknowledged_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let (db, codes) = one_village_with_codes(&db_url, 4).await;
    db.close().await;

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Instance::start_on(&db_url, port).await;
    let client = Client::new(&server.base).unwrap();
    let mut phones = Vec::new();
    for code in &codes {
        let e = client.enrol(code, "phone", None).await.unwrap();
        let identity = DeviceIdentity {
            device: e.device_id,
            user: e.user_id,
            commune: e.commune_id,
            village: e.village_id.unwrap_or(VillageId(uuid::Uuid::nil())),
        };
        phones.push(Phone { device: Device::new(identity, MemoryStore::default()), secret: e.device_secret });
    }

    let mut made = 0usize;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rng = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..8u32 {
        // Offline work on every phone: new records and edits of known ones.
        for (p, phone) in phones.iter_mut().enumerate() {
            for k in 0..30u32 {
                let i = round * 1000 + p as u32 * 100 + k;
                phone.device.create(RecordKind::Activity, &sample::activity(i, 2026), NOW_MS).unwrap();
                made += 1;
            }
            let known: Vec<_> = phone.device.list().unwrap().iter().map(|v| v.id).collect();
            for k in 0..10u32 {
                let id = known[(rng() as usize) % known.len()];
                if phone.device.edit(id, &[Edit::AttendanceMale(500 + round * 50 + k)], NOW_MS + 1).unwrap() {
                    made += 1;
                }
            }
        }
        // Everyone syncs at once; the server is killed at a random moment in the middle.
        let tasks: Vec<_> = phones
            .drain(..)
            .map(|mut phone| {
                let client = Client::new(&server.base).unwrap();
                tokio::spawn(async move {
                    if let Ok(t) = client.token(phone.device.identity().device, &phone.secret).await {
                        let _ = client.sync(&mut phone.device, &t.access_token).await;
                    }
                    phone
                })
            })
            .collect();
        // Not waiting for an event: choosing a random instant to crash at.
        tokio::time::sleep(Duration::from_millis(5 + rng() % 300)).await;
        server.kill();
        for t in tasks {
            phones.push(t.await.unwrap());
        }
        server = Instance::start_on(&db_url, port).await;
    }
    // After the last restart, everyone finishes.
    for _ in 0..2 {
        for phone in phones.iter_mut() {
            let t = client.token(phone.device.identity().device, &phone.secret).await.unwrap();
            client.sync(&mut phone.device, &t.access_token).await.unwrap();
            assert_eq!(phone.device.pending().unwrap(), 0);
        }
    }
    server.kill();

    let db = sotay_server::db::Db::open(&db_url).await.unwrap();
    let row =
        sqlx::query("SELECT COUNT(*), COUNT(DISTINCT hash), MAX(seq) FROM changes").fetch_one(&db.read).await.unwrap();
    let (count, distinct, max): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(count as usize, made, "every change made is stored: none lost");
    assert_eq!(distinct, count, "none stored twice");
    assert_eq!(max, count, "sequence numbers dense");
    let reference = phones[0].device.list().unwrap();
    for phone in &phones[1..] {
        assert_eq!(phone.device.list().unwrap(), reference, "every phone converged");
    }
    db.close().await;
}
