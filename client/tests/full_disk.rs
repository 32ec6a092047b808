//! The phone's own storage fills up: its SQLite store on a small tmpfs the test mounts (as root;
//! skipped with the reason printed where it cannot). An edit that cannot be stored fails with a
//! clear error and leaves the store as it was (the record and the outbox stand or fall together);
//! once space returns the phone works on, and nothing stored before is lost.

use sotay_client::store::{PhoneKey, SqliteStore, StoreError};
use sotay_sync_core::device::{Device, DeviceError, DeviceIdentity};
use sotay_sync_core::{CommuneId, DeviceId, Edit, RecordKind, UserId, VillageId, sample};
use std::io::Write;
use std::process::Command;
use uuid::Uuid;

const NOW: i64 = 1_780_000_000_000;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn identity() -> DeviceIdentity {
    DeviceIdentity {
        device: DeviceId(Uuid::from_u128(0x71)),
        user: UserId(Uuid::from_u128(0x72)),
        commune: CommuneId(Uuid::from_u128(0x73)),
        village: VillageId(Uuid::from_u128(0x74)),
    }
}

#[test]
fn a_full_phone_refuses_the_edit_clearly_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    match Command::new("mount").args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"]).arg(dir.path()).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => return println!("SKIPPED: cannot mount a tmpfs ({})", String::from_utf8_lossy(&out.stderr).trim()),
        Err(e) => return println!("SKIPPED: cannot run mount ({e})"),
    }
    let _mount = Mount(dir.path().to_path_buf());
    let path = dir.path().join("phone.db");
    let key = PhoneKey::from_bytes([0x3c; 32]);
    let mut device = Device::new(identity(), SqliteStore::open(&path, Some(&key)).unwrap());
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(device.create(RecordKind::Activity, &sample::activity(i, 2026), NOW).unwrap());
    }
    let before = (device.list().unwrap(), device.pending().unwrap());

    // The phone's storage fills up.
    let filler = dir.path().join("photos");
    let mut file = std::fs::File::create(&filler).unwrap();
    while file.write_all(&[0u8; 64 * 1024]).is_ok() {}
    while file.write_all(&[0u8; 512]).is_ok() {}
    drop(file);
    let long = "Ghi chú rất dài. ".repeat(250);
    let mut refused = 0;
    for (k, id) in ids.iter().enumerate() {
        match device.edit(*id, &[Edit::Notes(format!("{long} {k}"))], NOW + 1) {
            Ok(_) => {}
            Err(DeviceError::Store(StoreError::Sqlite(e))) => {
                refused += 1;
                let text = e.to_string();
                assert!(!text.contains('\n'), "{text}");
            }
            Err(e) => panic!("an unexpected error on a full phone: {e}"),
        }
    }
    assert!(refused > 0, "the full store refused some edits");
    // What was stored before is all there, and every edit the store accepted is in the outbox.
    let after = device.list().unwrap();
    assert_eq!(after.len(), before.0.len(), "no record lost");
    let accepted = ids.len() - refused;
    assert_eq!(device.pending().unwrap(), before.1 + accepted, "the outbox matches what was stored");

    // Space returns: the phone works on, and the store reopens whole.
    std::fs::remove_file(&filler).unwrap();
    for id in &ids {
        device.edit(*id, &[Edit::AttendanceMale(42)], NOW + 2).unwrap();
    }
    drop(device);
    let device = Device::new(identity(), SqliteStore::open(&path, Some(&key)).unwrap());
    let views = device.list().unwrap();
    assert_eq!(views.len(), 20);
    assert!(views.iter().all(|v| v.attendance_male == Some(42)));
}
