//! GBV case details never appear in logs: a run that syncs, edits, views and reports GBV cases is
//! logged at every level into a buffer, and the buffer must hold neither case codes nor notes.
//! (Its own test binary, because it installs the process-wide log subscriber.)

use sotay_sync_core::Edit;
use sotay_sync_core::schema::{CaseStatus, RecordKind};
use sotay_tests::*;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn gbv_case_details_never_reach_the_logs() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let case_code = "TY-SECRET-0042";
    let note = "ghi chú mật về người bị hại";
    let app = spawn_app().await;
    app.commune().await;
    let mut phone = app.device("lan").await;
    let mut edits = gbv_edits(case_code);
    edits.retain(|e| !matches!(e, Edit::Notes(_)));
    edits.push(Edit::Notes(note.into()));
    let case = phone.device.create(RecordKind::GbvReferral, &edits, NOW_MS).unwrap();
    phone.sync().await;
    phone
        .device
        .edit(case, &[Edit::CaseStatus(CaseStatus::Closed), Edit::Notes(format!("{note}, đã đóng"))], NOW_MS + 1)
        .unwrap();
    phone.sync().await;
    let focal = app.web_login("focal").await;
    let (status, body) = app.call("GET", &format!("/api/v1/records/{case}"), Some(&focal), None).await;
    assert_eq!(status, 200);
    assert!(body.contains(case_code), "the focal point does see the case");
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/records/{case}/case-status"),
            Some(&focal),
            Some(br#"{"case_status":"receiving_support"}"#.to_vec()),
        )
        .await;
    assert_eq!(status, 200);
    phone.sync().await;
    let reviewer = app.web_login("reviewer").await;
    assert_eq!(app.call("GET", "/api/v1/reports/gbv", Some(&reviewer), None).await.0, 200);
    // A refused push of the case from another phone is logged as an error path too.
    let mut other = app.device("hoa").await;
    other.sync().await;

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("sync"), "the run was logged");
    assert!(logs.len() > 10_000, "logged at every level: {} bytes", logs.len());
    for secret in [case_code, note, "người bị hại"] {
        assert!(!logs.contains(secret), "{secret:?} appears in the logs");
    }
}
