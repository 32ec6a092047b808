//! `sotay-server` as an operator meets it, as its own process: settings from flags, variables and
//! a TOML file in that order; a bad file answered with its line and key; every option documented;
//! the signing key file and the database created private; the request id on every log line of a
//! request and in its error body; metrics on their own address only.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

const SERVER: &str = env!("CARGO_BIN_EXE_sotay-server");

/// Runs `sotay-server` with these flags and variables (and no `SOTAY_*` of the caller's).
fn run(flags: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(SERVER);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SOTAY_")) {
        cmd.env_remove(k);
    }
    cmd.args(flags).envs(vars.iter().copied()).output().unwrap()
}

fn settings(out: &std::process::Output) -> toml::Table {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap()
}

#[test]
fn flags_win_over_variables_which_win_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sotay.toml");
    std::fs::write(
        &file,
        "bind = \"0.0.0.0:9000\"\nmax_body_bytes = 1000\ntoken_ttl_secs = 60\nlog_json = true\n\
         trusted_proxies = [\"10.0.0.1\", \"10.0.0.2\"]\ndetect_duplicates = false\n\
         database_url = \"postgres://sotay:mật-khẩu@db/sotay\"\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let out = run(
        &["--config", config, "--token-ttl-secs", "120", "--print-config"],
        &[("SOTAY_MAX_BODY_BYTES", "2000"), ("SOTAY_TOKEN_TTL_SECS", "90")],
    );
    let got = settings(&out);
    assert_eq!(got["bind"].as_str(), Some("0.0.0.0:9000"), "from the file");
    assert_eq!(got["max_body_bytes"].as_integer(), Some(2000), "the variable over the file");
    assert_eq!(got["token_ttl_secs"].as_integer(), Some(120), "the flag over the variable");
    assert_eq!(got["log_json"].as_bool(), Some(true));
    assert_eq!(got["detect_duplicates"].as_bool(), Some(false));
    assert_eq!(got["trusted_proxies"].as_array().map(Vec::len), Some(2));
    assert_eq!(got["page_changes"].as_integer(), Some(5000), "a default");
    assert_eq!(got["metrics_bind"].as_str(), Some("127.0.0.1:9464"), "metrics on loopback by default");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("mật-khẩu"), "no password printed: {printed}");
    // The printed settings are themselves a file the server accepts, and say the same.
    let again = dir.path().join("again.toml");
    std::fs::write(&again, printed.as_bytes()).unwrap();
    let round = settings(&run(&["--config", again.to_str().unwrap(), "--print-config"], &[]));
    assert_eq!(round["token_ttl_secs"].as_integer(), Some(120));
    assert_eq!(round["bind"].as_str(), Some("0.0.0.0:9000"));
    // --help shows every default and hides the database URL a variable holds.
    let help = run(&["--help"], &[("SOTAY_DATABASE_URL", "postgres://sotay:mật-khẩu@db/sotay")]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[default: 127.0.0.1:8080]"), "{help}");
    assert!(!help.contains("mật-khẩu"), "{help}");
}

#[test]
fn a_bad_file_is_answered_with_its_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sotay.toml");
    for (text, expected) in [
        ("bind = \"127.0.0.1:1\"\nmax_body_bytes = \"lots\"\n", "line 2, key `max_body_bytes`: invalid value 'lots'"),
        ("# comment\n\nbnd = \"127.0.0.1:1\"\n", "line 3, key `bnd`: not a setting of sotay-server"),
        ("demo = 1\n", "line 1, key `demo`: must be true or false"),
        ("bind = 127.0.0.1\n", "line 1"),
        ("trusted_proxies = [1, 2]\n", "line 1, key `trusted_proxies`: must be a list of strings"),
        ("config = \"other.toml\"\n", "line 1, key `config`: not a setting"),
    ] {
        std::fs::write(&file, text).unwrap();
        let out = run(&["--config", file.to_str().unwrap(), "--print-config"], &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(&format!("{}, {expected}", file.display())) || err.contains(expected), "{text:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    }
    let missing = run(&["--config", "/nonexistent/sotay.toml"], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the configuration file"));
}

#[test]
fn every_option_is_in_the_operations_guide() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md")).unwrap();
    let help = String::from_utf8_lossy(&run(&["--help"], &[]).stdout).into_owned();
    let mut options = 0;
    for word in help.split_whitespace().filter(|w| w.starts_with("--") && w.len() > 2) {
        let option = word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
        if ["--help", "--version"].contains(&option) {
            continue;
        }
        options += 1;
        assert!(guide.contains(&format!("`{option}`")), "docs/operations.md does not document `{option}`");
    }
    assert!(options > 25, "{options} options found in --help");
}

#[tokio::test]
async fn the_signing_key_file_and_the_database_are_created_private() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing.key");
    let db = dir.path().join("sotay.db");
    let url = format!("sqlite://{}", db.display());
    let server = common::Instance::start_with(&url, free_port(), &["--signing-key-file", key.to_str().unwrap()]).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&db), 0o600);
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.trim().len() >= 43, "32 bytes in base64url");
    drop(server);
    // The same key is used again; a key file others may read is refused in one line.
    let again = common::Instance::start_with(&url, free_port(), &["--signing-key-file", key.to_str().unwrap()]).await;
    drop(again);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text, "the key is kept");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&["--database-url", &url, "--signing-key-file", key.to_str().unwrap(), "--bind", "127.0.0.1:0"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("may be read by other users") && err.contains("chmod 600"), "{err}");
    assert!(!err.contains(text.trim()), "the key is never printed");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn every_log_line_of_a_request_names_it_and_so_does_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let (port, metrics_port) = (free_port(), free_port());
    let mut child = Command::new(SERVER)
        .args(["--database-url", &format!("sqlite://{}", dir.path().join("sotay.db").display())])
        .args(["--bind", &format!("127.0.0.1:{port}"), "--metrics-bind", &format!("127.0.0.1:{metrics_port}")])
        .arg("--log-json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = sotay_client::http::plain_client();
    let mut ready = false;
    for _ in 0..600 {
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the server did not start");
    // An error body names the request; the id a client sends is kept.
    let resp = http.get(format!("{base}/api/v1/records")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let header = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(body["request_id"].as_str(), Some(header.as_str()), "{body}");
    let resp = http
        .post(format!("{base}/api/v1/login"))
        .header("x-request-id", "commune-ticket-42")
        .header("content-type", "application/json")
        .body(r#"{"username":"nobody","password":"wrong password"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let chosen = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(body["request_id"].as_str(), Some(chosen.as_str()));
    // Metrics answer on their own address only.
    assert_eq!(http.get(format!("{base}/metrics")).send().await.unwrap().status().as_u16(), 404);
    let metrics = http.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status().as_u16(), 200);
    assert!(metrics.text().await.unwrap().contains("sotay_http_requests_total"));
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    child.wait().unwrap();

    let log = std::fs::read_to_string(&log_path).unwrap();
    let mut in_requests = 0;
    for line in log.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if let Some(span) = entry.get("span").filter(|s| s["name"] == "request") {
            in_requests += 1;
            let id = span["request_id"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "a request's line without its id: {line}");
        }
    }
    assert!(in_requests >= 3, "{log}");
    assert!(log.contains(&header) && log.contains(&chosen), "{log}");
}
