//! Changes the server refuses, through the real server: the phone rolls the record back to what
//! the server holds (so its next edits are not built on a change that will never arrive), keeps
//! the refused change aside, and can discard it or re-submit what it meant as a new edit.

use sotay_sync_core::schema::CaseStatus;
use sotay_sync_core::{Edit, RecordKind};
use sotay_tests::*;

#[tokio::test]
async fn a_refused_edit_is_rolled_back_so_the_next_edit_reaches_the_server() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let id = lan.device.create(RecordKind::GbvReferral, &gbv_edits("VV-01"), NOW_MS).unwrap();
    assert_eq!(lan.sync().await.acked, 1);
    let synced = lan.device.view(id).unwrap();

    // A collaborator may not change a case's status after creating it: the server refuses the
    // whole change, the note written with it included.
    lan.device
        .edit(id, &[Edit::CaseStatus(CaseStatus::Closed), Edit::Notes("đã gọi điện cho gia đình".into())], NOW_MS + 1)
        .unwrap();
    let report = lan.sync().await;
    assert_eq!(report.rejected, 1, "{report:?}");
    assert_eq!(lan.device.view(id).unwrap(), synced, "the phone shows what the server holds");
    assert_eq!(lan.device.rejected().unwrap().len(), 1);

    // The next edit reaches the server: it is not built on the refused change.
    lan.device.edit(id, &[Edit::Notes("hẹn gặp lại thứ hai".into())], NOW_MS + 2).unwrap();
    let report = lan.sync().await;
    assert_eq!((report.acked, report.rejected), (1, 0), "{report:?}");
    let on_server = app.server_record(id).await.unwrap().view();
    assert_eq!(on_server.notes, "hẹn gặp lại thứ hai");
    assert_eq!(on_server.case_status, Some(CaseStatus::Referred));
    assert_eq!(lan.device.view(id).unwrap(), on_server, "phone and server agree");

    // Re-submitting sends the same intent again; the server decides again, and refuses again.
    let seq = lan.device.rejected().unwrap()[0].entry.seq;
    assert_eq!(lan.device.resubmit(seq, NOW_MS + 3).unwrap(), id);
    assert_eq!(lan.device.view(id).unwrap().case_status, Some(CaseStatus::Closed));
    let report = lan.sync().await;
    assert_eq!(report.rejected, 1, "{report:?}");
    assert_eq!(lan.device.view(id).unwrap(), on_server);
    let refused = lan.device.rejected().unwrap();
    assert_eq!(refused.len(), 1, "the re-submitted change is the one kept now");
    assert!(lan.device.discard_rejected(refused[0].entry.seq).unwrap());
    assert!(lan.device.rejected().unwrap().is_empty());
    assert_eq!(lan.device.pending().unwrap(), 0);
}

#[tokio::test]
async fn a_change_refused_while_the_user_was_moved_is_resubmitted_once_she_is_back() {
    let app = spawn_app().await;
    let c = app.commune().await;
    let mut lan = app.device("lan").await;
    let mut hoa = app.device("hoa").await;
    let id = lan.add_activity(10, 10);
    lan.sync().await;
    hoa.sync().await;

    // The office moves Lan to village B by mistake while she edits a village-A record offline.
    let user = sotay_server::admin::user_by_name(&app.state.db, "lan").await.unwrap();
    let role = sotay_server::auth::Role::Collaborator;
    sotay_server::admin::set_role(&app.state.db, user, role, Some(c.village_b)).await.unwrap();
    lan.device.edit(id, &[Edit::AttendanceMale(11)], NOW_MS + 1).unwrap();
    let report = lan.sync().await;
    assert!(report.reset && report.rejected == 1, "{report:?}");
    assert!(lan.device.view(id).is_err(), "village A's records left the phone");

    // Meanwhile Hoa corrects another field of the same record.
    hoa.device.edit(id, &[Edit::AttendanceFemale(12)], NOW_MS + 2).unwrap();
    assert_eq!(hoa.sync().await.acked, 1);

    // The office moves her back; the phone is provisioned for village A again.
    sotay_server::admin::set_role(&app.state.db, user, role, Some(c.village_a)).await.unwrap();
    assert!(lan.sync().await.reset);
    assert_eq!(lan.device.view(id).unwrap().attendance_female, Some(12));

    let seq = lan.device.rejected().unwrap()[0].entry.seq;
    assert_eq!(lan.device.resubmit(seq, NOW_MS + 3).unwrap(), id);
    let report = lan.sync().await;
    assert_eq!((report.acked, report.rejected), (1, 0), "{report:?}");
    let on_server = app.server_record(id).await.unwrap().view();
    assert_eq!(
        (on_server.attendance_female, on_server.attendance_male),
        (Some(12), Some(11)),
        "her edit arrives as a new edit, and Hoa's correction is kept"
    );
    hoa.sync().await;
    assert_eq!(hoa.device.view(id).unwrap(), on_server);
    assert!(lan.device.rejected().unwrap().is_empty());
}
