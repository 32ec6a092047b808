//! The phone library's figures (the phone-library issue's targets): a village provisioned into
//! the SQLite phone store through the real session, the store reopened, the first page of the
//! record list, one local edit, and a day's work synced over an emulated 2G link with loss.

use crate::Args;
use crate::figures::{Figure, Goal, Printer};
use crate::harness::{NOW_MS, Server, create_on_memory_phone, median, setup};
use sotay_client::store::{PhoneKey, RecordQuery};
use sotay_client::{ClientConfig, Session, SqliteStore, SyncOptions};
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::{Edit, sample};
use sotay_tests::proxy::{Link, Proxy};
use std::time::Instant;

/// The median time of opening the session of the store at `path`, over five opens, in ms.
fn median_open_ms(path: &std::path::Path, key: &PhoneKey) -> anyhow::Result<f64> {
    let mut opens: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let session = Session::open(SqliteStore::open(path, Some(key))?, ClientConfig::default())?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            drop(session);
            Ok(ms)
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(median(&mut opens))
}

/// The phone scenario.
pub async fn phone(args: &Args, out: &mut Printer) -> anyhow::Result<()> {
    let n = if args.quick { 1000 } else { 5000 };
    // Village 0 holds the big village; the 2G phone works in village 1.
    let s = setup(2, 2).await?;
    let server = Server::start(&s.db_url)?;
    create_on_memory_phone(&server.base, &s.codes[0][0], n).await?;
    let label = format!("{n}-record village");

    // Provisioning, end to end: enrolment, token, scope, every page into SQLite.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("phone.db");
    let t = Instant::now();
    let key = PhoneKey::generate();
    let store = SqliteStore::open(&path, Some(&key))?;
    let mut session =
        Session::enrol(store, &server.base, &s.codes[0][1], "bench", ClientConfig::default(), &SyncOptions::default())
            .await?;
    session.sync(&SyncOptions::default()).await?;
    out.print(Figure::target(
        format!("phone store: provisioning a {label} end to end"),
        t.elapsed().as_secs_f64(),
        "s",
        Goal::AtMost,
        3.0,
    ));
    drop(session);

    let opens = median_open_ms(&path, &key)?;
    out.print(Figure::target(format!("phone store: opening a {label}"), opens, "ms", Goal::AtMost, 100.0));

    let mut session = Session::open(SqliteStore::open(&path, Some(&key))?, ClientConfig::default())?;
    let mut pages: Vec<f64> = (0..10)
        .map(|_| {
            let t = Instant::now();
            let page = session.device().store().query(&RecordQuery::default())?;
            anyhow::ensure!(page.len() == 50, "a full first page");
            Ok(t.elapsed().as_secs_f64() * 1000.0)
        })
        .collect::<anyhow::Result<_>>()?;
    out.print(Figure::target(
        "phone store: first page of the record list",
        median(&mut pages),
        "ms",
        Goal::AtMost,
        20.0,
    ));

    let ids: Vec<_> = session.device().store().query(&RecordQuery { limit: 20, ..RecordQuery::default() })?;
    let mut edits = Vec::new();
    for (i, v) in ids.iter().enumerate() {
        let t = Instant::now();
        session.device_mut().edit(v.id, &[Edit::AttendanceFemale(50 + i as u32)], NOW_MS + i as i64)?;
        edits.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.print(Figure::target("phone store: one local edit committed", median(&mut edits), "ms", Goal::AtMost, 5.0));
    session.sync(&SyncOptions::default()).await?;

    // The cost of sealing: the same store with 200 GBV referrals (each document, projection and
    // outbox entry encrypted), its opening, a page of referrals, and one edit of a referral.
    let mut cases = Vec::new();
    for i in 0..200 {
        cases.push(session.device_mut().create(RecordKind::GbvReferral, &sample::gbv_referral(i, 2026), NOW_MS)?);
    }
    drop(session);
    let opens = median_open_ms(&path, &key)?;
    out.print(Figure::target(
        format!("phone store: opening a {label} with 200 sealed GBV referrals"),
        opens,
        "ms",
        Goal::AtMost,
        100.0,
    ));
    let mut session = Session::open(SqliteStore::open(&path, Some(&key))?, ClientConfig::default())?;
    let gbv_page = RecordQuery { kind: Some(RecordKind::GbvReferral), ..RecordQuery::default() };
    let mut pages: Vec<f64> = (0..10)
        .map(|_| {
            let t = Instant::now();
            let page = session.device().store().query(&gbv_page)?;
            anyhow::ensure!(page.len() == 50, "a full first page of referrals");
            Ok(t.elapsed().as_secs_f64() * 1000.0)
        })
        .collect::<anyhow::Result<_>>()?;
    out.print(Figure::target(
        "phone store: first page of GBV referrals (50, unsealed)",
        median(&mut pages),
        "ms",
        Goal::AtMost,
        20.0,
    ));
    let mut edits = Vec::new();
    for (i, id) in cases.iter().take(20).enumerate() {
        let t = Instant::now();
        session.device_mut().edit(*id, &[Edit::Notes(format!("gọi lại lần {i}"))], NOW_MS + i as i64)?;
        edits.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.print(Figure::target(
        "phone store: one local edit of a sealed GBV referral",
        median(&mut edits),
        "ms",
        Goal::AtMost,
        5.0,
    ));
    drop(session);

    // A day's work over 2G (50 kbit/s, 300 ms round trip, 20 % of segments lost), on a phone of
    // another village that already holds ten of its records from earlier days.
    let proxy = Proxy::start(server.base.trim_start_matches("http://"), Link::two_g(0.2)).await;
    let day_dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&day_dir.path().join("phone.db"), Some(&key))?;
    let mut day =
        Session::enrol(store, &proxy.base, &s.codes[1][0], "2G", ClientConfig::default(), &SyncOptions::default())
            .await?;
    let mut earlier = Vec::new();
    for i in 0..10 {
        earlier.push(day.device_mut().create(RecordKind::Activity, &sample::activity(800_000 + i, 2026), NOW_MS)?);
    }
    day.sync(&SyncOptions::default()).await?;
    for i in 0..20 {
        day.device_mut().create(RecordKind::Activity, &sample::activity(900_000 + i, 2026), NOW_MS)?;
    }
    for (i, id) in earlier.iter().enumerate() {
        day.device_mut().edit(*id, &[Edit::AttendanceMale(70 + i as u32)], NOW_MS + 100)?;
    }
    let up_before = proxy.faults.bytes_up.load(std::sync::atomic::Ordering::SeqCst);
    let t = Instant::now();
    let report = day.sync(&SyncOptions::default()).await?;
    let secs = t.elapsed().as_secs_f64();
    let up = proxy.faults.bytes_up.load(std::sync::atomic::Ordering::SeqCst) - up_before;
    anyhow::ensure!(report.acked == 30 && day.device().pending()? == 0, "the day's work acknowledged: {report:?}");
    out.print(Figure::target("a day's work (20 new, 10 edits) over 2G with 20 % loss", secs, "s", Goal::AtMost, 30.0));
    out.print(Figure::info("a day's work over 2G: bytes up (headers included)", up as f64, "B"));
    out.print(Figure::target(
        "a day's work over 2G: retried round trips",
        f64::from(report.retries),
        "count",
        Goal::AtMost,
        0.0,
    ));
    server.stop();
    Ok(())
}
