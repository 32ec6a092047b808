//! The real `sotay` binary's failures: each is one line on standard error, in Vietnamese by
//! default and in English with `--lang en`, with no backtrace even under `RUST_BACKTRACE=1`;
//! `--debug` adds the chain of causes.

use std::path::Path;
use std::process::{Command, Output};

/// Letters only Vietnamese uses (lower and upper case).
const VIETNAMESE: &str = "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹáàãéèíìĩóòõúùũýĂÂĐÊÔƠƯ";

/// Runs `sotay --dir <dir> <args>` with a backtrace asked for, and none of the user's settings.
fn sotay(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sotay"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("SOTAY_LANG")
        .env_remove("SOTAY_DEVICE_DIR")
        .env_remove("SOTAY_DATABASE_URL")
        .env_remove("SOTAY_ALLOW_HTTP")
        .output()
        .expect("run sotay")
}

/// The one line a failed run wrote, after checking that it is one line and no more.
fn error_line(out: &Output, args: &[&str]) -> String {
    let stderr = String::from_utf8(out.stderr.clone()).expect("UTF-8 on stderr");
    assert!(!out.status.success(), "{args:?} succeeded: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: not one line:\n{stderr}");
    let line = lines[0].trim();
    assert!(!line.is_empty(), "{args:?}: empty line");
    for banned in ["Stack", "Caused by", "panicked"] {
        assert!(!line.contains(banned), "{args:?}: {banned:?} in {line}");
    }
    assert!(!line.to_lowercase().contains("backtrace"), "{args:?}: backtrace in {line}");
    // A backtrace frame ("at src/main.rs:12:5"), not "at the next sync".
    assert!(!(line.contains(" at ") && line.contains(".rs:")), "{args:?}: a source location in {line}");
    line.to_string()
}

/// Checks a Vietnamese and an English failure of `args`: one line each, in its language; returns them.
fn in_both_languages(vi: &Output, en: &Output, args: &[&str]) -> (String, String) {
    let vi = error_line(vi, args);
    assert!(vi.chars().any(|c| VIETNAMESE.contains(c)), "{args:?}: not Vietnamese: {vi}");
    let en = error_line(en, args);
    assert!(en.chars().filter(|c| c.is_alphabetic()).all(|c| c.is_ascii()), "{args:?}: not English: {en}");
    assert_ne!(vi, en);
    (vi, en)
}

/// Runs `args` in the default language and in English: both fail with one line, the first in
/// Vietnamese, the second in English; returns them.
fn fails_in_both_languages(dir: &Path, args: &[&str]) -> (String, String) {
    let en_args: Vec<&str> = ["--lang", "en"].iter().chain(args).copied().collect();
    in_both_languages(&sotay(dir, args), &sotay(dir, &en_args), args)
}

#[test]
fn mistakes_and_failures_without_a_server_are_one_line_in_the_persons_language() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let empty = tmp.path().join("empty");

    // No device enrolled in this directory.
    let (vi, en) = fails_in_both_languages(&empty, &["status"]);
    assert!(vi.contains("sotay enrol") && en.contains("not enrolled"), "{vi} / {en}");
    fails_in_both_languages(&empty, &["list"]);

    // What was typed is checked before the device is opened.
    let (vi, en) = fails_in_both_languages(&empty, &["add", "--set", "foo"]);
    assert!(vi.contains("\"foo\"") && en.contains("field=value"), "{vi} / {en}");
    let (_, en) = fails_in_both_languages(&empty, &["add", "--kind", "nonsense"]);
    assert!(en.contains("nonsense") && en.contains("gbv_referral"), "{en}");
    let (_, en) = fails_in_both_languages(&empty, &["edit", "zzzz", "--set", "frobs=1"]);
    assert!(en.contains("no field \"frobs\""), "{en}");
    let (_, en) = fails_in_both_languages(&empty, &["add", "--set", "format=carrier_pigeon"]);
    assert!(en.contains("carrier_pigeon") && en.contains("the codes are:"), "{en}");
    fails_in_both_languages(&empty, &["resolve", "zzzz", "location", "0"]);

    // clap's refusals too.
    let args = ["frobnicate"];
    fails_in_both_languages(&empty, &args);
    assert_eq!(sotay(&empty, &args).status.code(), Some(2));

    // A database that cannot be opened.
    let (vi, en) = fails_in_both_languages(
        &empty,
        &["admin", "--database-url", "sqlite:///nonexistent/dir/x.db", "create-commune", "X"],
    );
    assert!(vi.starts_with("Không mở được cơ sở dữ liệu") && en.contains("/nonexistent/dir/x.db"), "{vi} / {en}");

    // A role that does not exist, on a fresh database: refused before the file is made.
    let db = tmp.path().join("fresh.db");
    let url = format!("sqlite://{}", db.display());
    let commune = "0190b1a2-0000-7000-8000-000000000000";
    let (_, en) = fails_in_both_languages(
        &empty,
        &["admin", "--database-url", &url, "create-user", "--commune", commune, "--role", "chief", "lan"],
    );
    assert!(en.contains("\"chief\"") && en.contains("gbv_focal_point"), "{en}");
    assert!(!db.exists());
    fails_in_both_languages(
        &empty,
        &["admin", "--database-url", &url, "create-user", "--commune", commune, "--role", "collaborator", "lan"],
    );
    // The database is made; nobody is in it.
    let (_, en) = fails_in_both_languages(&empty, &["admin", "--database-url", &url, "enrol-code", "nobody"]);
    assert!(en.contains("\"nobody\""), "{en}");
}

#[test]
fn an_unreachable_server_is_one_line_in_the_persons_language() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // The enrolment tries again for about a minute: both languages at once, in two directories.
    let args = ["enrol", "--server", "http://127.0.0.1:1", "CODE"];
    let [vi, en] = [None, Some("en")].map(|lang| {
        let dir = tmp.path().join(lang.unwrap_or("vi"));
        let lang_args: Vec<&str> = lang.map(|l| ["--lang", l]).into_iter().flatten().chain(args).collect();
        let args: Vec<String> = lang_args.iter().map(|a| a.to_string()).collect();
        std::thread::spawn(move || sotay(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>()))
    });
    let (vi, en) = in_both_languages(&vi.join().expect("vi"), &en.join().expect("en"), &args);
    assert!(vi.contains("http://127.0.0.1:1") && en.contains("same code"), "{vi} / {en}");
    // The directory it left behind is still not an enrolled device.
    let (_, en) = fails_in_both_languages(&tmp.path().join("vi"), &["status"]);
    assert!(en.contains("not enrolled"), "{en}");
}

#[test]
fn debug_prints_the_chain_of_causes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let args = ["--debug", "admin", "--database-url", "sqlite:///nonexistent/dir/x.db", "create-commune", "X"];
    let out = sotay(tmp.path(), &args);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().count() > 1, "{stderr}");
    assert!(stderr.contains("Caused by"), "{stderr}");
    assert!(stderr.lines().next().is_some_and(|l| l.starts_with("Không mở được cơ sở dữ liệu")), "{stderr}");
}

/// A server in this process, on a fresh SQLite file; returns its base URL.
fn spawn_server(db_url: &str) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    let db_url = db_url.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        runtime.block_on(async move {
            let state =
                sotay_server::build_state(&db_url, sotay_server::config::Limits::default()).await.expect("state");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(format!("http://{}", listener.local_addr().expect("addr"))).expect("send");
            sotay_server::serve(listener, state, std::future::pending()).await.expect("serve");
        });
    });
    rx.recv().expect("server started")
}

#[test]
fn an_enrolled_device_says_its_refusals_in_one_line() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", tmp.path().join("sotay.db").display());
    let quickstart = sotay(tmp.path(), &["admin", "--database-url", &url, "quickstart"]);
    assert!(quickstart.status.success(), "{}", String::from_utf8_lossy(&quickstart.stderr));
    let stdout = String::from_utf8(quickstart.stdout).expect("UTF-8");
    let code = stdout
        .lines()
        .find_map(|l| l.strip_prefix("enrolment code, phone 1: "))
        .expect("an enrolment code")
        .to_string();
    let server = spawn_server(&url);

    let phone = tmp.path().join("phone");
    let enrol = sotay(&phone, &["enrol", "--server", &server, &code]);
    assert!(enrol.status.success(), "{}", String::from_utf8_lossy(&enrol.stderr));

    let (_, en) = fails_in_both_languages(&phone, &["edit", "zzzz", "--set", "location=x"]);
    assert!(en.contains("\"zzzz\"") && en.contains("sotay list"), "{en}");
    let (_, en) = fails_in_both_languages(&phone, &["add", "--set", "attendance_female=abc"]);
    assert!(en.contains("whole number"), "{en}");
    fails_in_both_languages(&phone, &["rejected", "--discard", "7"]);

    // An empty draft cannot be submitted: every field at fault, on the one line.
    let add = sotay(&phone, &["add"]);
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let id = String::from_utf8(add.stdout).expect("UTF-8").trim().to_string();
    let (vi, en) = fails_in_both_languages(&phone, &["submit", &id]);
    assert!(vi.contains("bắt buộc phải nhập") && en.contains("is required"), "{vi} / {en}");
}

#[test]
fn set_deadline_checks_the_day_before_the_database_and_sets_a_day_every_year_has() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let db = tmp.path().join("sotay.db");
    let url = format!("sqlite://{}", db.display());
    let unknown = "0190b1a2-0000-7000-8000-000000000000";
    let set = |commune: &str, day: &str| {
        ["admin", "--database-url", &url, "set-deadline", "--commune", commune, day].map(str::to_string)
    };
    let run = |args: [String; 7]| sotay(tmp.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
    let fails =
        |args: [String; 7]| fails_in_both_languages(tmp.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());

    // What was typed is checked before the database is opened (or made).
    let (vi, en) = fails(set(unknown, "02-30"));
    assert!(vi.starts_with("Không đặt được hạn nộp báo cáo \"02-30\"") && vi.contains("25 tháng 11"), "{vi}");
    assert!(en.contains("as MM-DD") && en.contains("not 02-29"), "{en}");
    fails(set(unknown, "2026-11-25"));
    assert!(!db.exists());

    // A commune that does not exist.
    let (_, en) = fails(set(unknown, "12-15"));
    assert!(en.contains(&format!("there is no commune {unknown}")), "{en}");

    // A day every year has: set, audited.
    let made = sotay(tmp.path(), &["admin", "--database-url", &url, "create-commune", "Tân Yên"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let commune = String::from_utf8(made.stdout).expect("UTF-8").trim().to_string();
    let out = run(set(&commune, "12-15"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(said.contains("12-15") && said.contains("it was 11-25"), "{said}");
    let audit = sotay(tmp.path(), &["admin", "--database-url", &url, "audit"]);
    let log = String::from_utf8(audit.stdout).expect("UTF-8");
    assert!(log.contains("commune.deadline") && log.contains("11-25 -> 12-15"), "{log}");
}
