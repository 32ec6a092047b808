//! The commune's reports against an independent count. For a few seeds, a random commune (five
//! villages, five units, six phones; activities and GBV referrals with random fields, some
//! deleted, conflicted, duplicated, approved or returned: `reports_commune::generate`) is synced
//! from phones; for the year, a month, a quarter, the Action Month and a range, each also with
//! `approved_only=true`, `by=unit` and both, every table of the report is computed from the
//! server's record documents (`reports_model::expected`) and compared with the JSON report, exact
//! for the focal point and suppressed for the reviewer, and so are the completeness tables. For
//! the year, the XLSX workbook read back and the CSV hold exactly the JSON's cells, every table,
//! exact or with "<5". Plus the duplicates queue, the audit of exact figures, and query validation.

use crate::reports_commune::generate;
use crate::reports_model::{self as model, Ask, Expected, Kind};
use sotay_server::admin;
use sotay_sync_core::schema::*;
use sotay_sync_core::{Date, Record, RecordId, RecordView};
use sotay_tests::*;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// The seeds of the cross-check; `SOTAY_REPORT_SEEDS=7,8` runs others (a failure names its seed).
fn seeds() -> Vec<u64> {
    match std::env::var("SOTAY_REPORT_SEEDS") {
        Ok(list) => list.split(',').map(|s| s.trim().parse().expect("SOTAY_REPORT_SEEDS: numbers")).collect(),
        Err(_) => vec![1, 2, 3],
    }
}

/// Every record document on the server, as views.
async fn server_views(app: &TestApp) -> Vec<RecordView> {
    let rows = sqlx::query("SELECT doc FROM records").fetch_all(&app.state.db.read).await.unwrap();
    rows.iter().map(|r| Record::load(&r.get::<Vec<u8>, _>(0), None).unwrap().view()).collect()
}

async fn get_json(app: &TestApp, path: &str, token: &str) -> serde_json::Value {
    let (status, body) = app.call("GET", path, Some(token), None).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// A JSON cell as text: a count as digits, a string as is (quoted if it looks like a number, so
/// that a count sent as a string does not pass for one).
fn cell_text(c: &serde_json::Value) -> String {
    match c {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) if s.parse::<f64>().is_ok() => format!("{s:?}"),
        serde_json::Value::String(s) => s.clone(),
        other => panic!("a cell is a number or a string, not {other}"),
    }
}

fn row_text(row: &serde_json::Value) -> (String, Vec<String>) {
    (row["label"].as_str().unwrap().to_string(), row["cells"].as_array().unwrap().iter().map(cell_text).collect())
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// Compares a JSON report with the independent count: the same tables in the same order, the same
/// columns, and every row and total; rows of villages or units in the order of `groups` (the
/// commune's list, by name, from the API), "not recorded" last.
fn compare_report(report: &serde_json::Value, expected: &[Expected], suppressed: bool, groups: &[String], ctx: &str) {
    let tables = report["tables"].as_array().unwrap();
    let keys: Vec<&str> = tables.iter().map(|t| t["key"].as_str().unwrap()).collect();
    assert_eq!(keys, expected.iter().map(|e| e.key).collect::<Vec<_>>(), "{ctx}: the tables");
    for (t, e) in tables.iter().zip(expected) {
        let ctx = format!("{ctx}: {}", e.key);
        assert_eq!(strings(&t["columns"]), e.columns, "{ctx}: columns");
        let (rows, totals) = e.published(suppressed);
        let got: Vec<(String, Vec<String>)> = t["rows"].as_array().unwrap().iter().map(row_text).collect();
        if e.kind == Kind::Groups {
            let order: Vec<&String> = got.iter().map(|(l, _)| l).take(groups.len()).collect();
            assert_eq!(order, groups.iter().collect::<Vec<_>>(), "{ctx}: rows in the commune's order");
            let sorted = |rows: &[(String, Vec<String>)]| rows.iter().cloned().collect::<BTreeMap<_, _>>();
            assert_eq!(got.len(), rows.len(), "{ctx}: rows {got:?}");
            assert_eq!(sorted(&got), sorted(&rows), "{ctx}");
        } else {
            assert_eq!(got, rows, "{ctx}");
        }
        let got_totals = t.get("totals").filter(|t| !t.is_null()).map(row_text);
        assert_eq!(got_totals, totals, "{ctx}: totals");
        if suppressed && matches!(e.kind, Kind::GbvTotals { .. } | Kind::GbvList) {
            // The primary rule, whatever suppress.rs decides beyond it: no count 1–4 is shown.
            let exact = e.rows.iter().map(|(_, c)| c).chain(e.totals.iter().map(|(_, c)| c)).flatten();
            let shown = got.iter().map(|(_, c)| c).chain(got_totals.iter().map(|(_, c)| c)).flatten();
            for (n, cell) in exact.zip(shown) {
                assert!(!(1..=4).contains(n) || cell == "<5", "{ctx}: a count of {n} is published as {cell}");
            }
        }
    }
}

/// Compares the completeness tables with the independent count (cells it cannot know: skipped).
fn compare_completeness(tables: &serde_json::Value, expected: &[model::CompletenessRows; 2], ctx: &str) {
    for (t, e) in tables.as_array().unwrap().iter().zip(expected) {
        let got: BTreeMap<String, Vec<String>> = t["rows"].as_array().unwrap().iter().map(row_text).collect();
        assert_eq!(got.len(), e.len(), "{ctx}: {} rows", t["key"]);
        for (label, cells) in e {
            for (j, cell) in cells.iter().enumerate() {
                if let Some(cell) = cell {
                    assert_eq!(&got[label][j], cell, "{ctx}: {} {label} column {j}", t["key"]);
                }
            }
        }
    }
}

/// A table as lines of text, as the exports lay it out: title, headings, rows, total row.
fn table_lines(t: &serde_json::Value) -> Vec<Vec<String>> {
    let mut lines = vec![vec![t["title"].as_str().unwrap().to_string()]];
    lines.push([t["row_heading"].as_str().unwrap().to_string()].into_iter().chain(strings(&t["columns"])).collect());
    for row in t["rows"].as_array().unwrap().iter().chain(t.get("totals").filter(|t| !t.is_null())) {
        let (label, cells) = row_text(row);
        lines.push([label].into_iter().chain(cells).collect());
    }
    lines
}

#[tokio::test]
async fn every_figure_of_the_report_matches_an_independent_count_in_json_xlsx_and_csv() {
    for seed in seeds() {
        let started = std::time::Instant::now();
        cross_check(seed).await;
        eprintln!("report cross-check, seed {seed}: {:.1} s", started.elapsed().as_secs_f64());
    }
}

async fn cross_check(seed: u64) {
    let app = spawn_app().await;
    let c = generate(&app, seed).await;
    let views = server_views(&app).await;
    let ctx = format!("seed {seed}");

    // The commune has what the cross-check is about.
    let acts = || views.iter().filter(|v| v.kind == RecordKind::Activity);
    let cases = || views.iter().filter(|v| v.kind == RecordKind::GbvReferral);
    let approved = |v: &&RecordView| v.review_state == ReviewState::Approved && !v.deleted;
    assert!(acts().filter(|v| v.deleted).count() >= 5 && cases().any(|v| v.deleted), "{ctx}: deleted records");
    assert!(acts().filter(|v| !v.conflicts.is_empty()).count() >= 5, "{ctx}: conflicts");
    assert!(acts().filter(approved).count() >= 10 && cases().any(|v| approved(&v)), "{ctx}: approvals");
    assert!(acts().any(|v| v.review_state == ReviewState::Returned), "{ctx}: a returned activity");
    assert!(acts().any(|v| v.changed_after_approval), "{ctx}: an activity edited after approval");
    assert!(acts().any(|v| v.unit.as_deref() == Some("thon")), "{ctx}: a unit not on the list");

    // The duplicates queue holds every pair the rule finds among the records, the planted ones
    // among them.
    let suspected = model::suspected_duplicates(&views, &c);
    for (a, b) in &c.duplicates {
        assert!(suspected.contains(&(*a.min(b), *a.max(b))), "{ctx}: planted duplicate {a} {b}");
    }
    let queue: BTreeSet<(RecordId, RecordId)> = get_json(&app, "/api/v1/duplicates", &c.reviewer)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let id = |k: &str| p[k]["id"].as_str().unwrap().parse::<RecordId>().unwrap();
            (id("first").min(id("second")), id("first").max(id("second")))
        })
        .collect();
    let dismissed: BTreeSet<(RecordId, RecordId)> = c.dismissed.iter().map(|&(a, b)| (a.min(b), a.max(b))).collect();
    assert!(
        dismissed.is_subset(&suspected) && dismissed.is_disjoint(&queue),
        "{ctx}: a dismissed pair is not suggested again"
    );
    let open: BTreeSet<_> = suspected.difference(&dismissed).copied().collect();
    assert!(open.is_subset(&queue), "{ctx}: missing from the queue: {:?}", open.difference(&queue));
    let (a, b) = c.near_miss;
    assert!(!queue.contains(&(a.min(b), a.max(b))), "{ctx}: the same session with far more people is not a duplicate");

    let names = |list: serde_json::Value| -> Vec<String> {
        list.as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap().to_string()).collect()
    };
    let villages = names(get_json(&app, "/api/v1/villages", &c.reviewer).await);
    let units = names(get_json(&app, "/api/v1/units", &c.reviewer).await);
    let mut exact_reports = 0;
    for p in &c.periods {
        let mut options =
            vec![(false, false, Lang::Vi), (true, false, Lang::Vi), (false, true, Lang::Vi), (true, true, Lang::Vi)];
        if p.query.starts_with("year") {
            options.push((false, true, Lang::En));
        }
        for (approved_only, by_unit, lang) in options {
            let query = format!(
                "{}{}{}{}",
                p.query,
                if approved_only { "&approved_only=true" } else { "" },
                if by_unit { "&by=unit" } else { "" },
                if lang == Lang::En { "&lang=en" } else { "" }
            );
            let expected = model::expected(&views, &c, &Ask { period: p, approved_only, by_unit, lang });
            let groups = if by_unit { &units } else { &villages };
            let exact = get_json(&app, &format!("/api/v1/reports?{query}"), &c.focal).await;
            exact_reports += 1;
            compare_report(&exact, &expected, false, groups, &format!("{ctx}, {query}, focal point"));
            let shown = get_json(&app, &format!("/api/v1/reports?{query}"), &c.reviewer).await;
            compare_report(&shown, &expected, true, groups, &format!("{ctx}, {query}, reviewer"));
        }
        let tables = get_json(&app, &format!("/api/v1/reports/completeness?{}", p.query), &c.reviewer).await;
        let expected = model::completeness(&views, &c, p, sotay_server::now_ms());
        compare_completeness(&tables, &expected, &format!("{ctx}, {}: completeness", p.query));
    }

    // The exports of the year: the workbook and the CSV hold exactly the JSON's cells (report and
    // completeness), exact for the focal point who asks, suppressed ("<5") otherwise.
    let mut exact_exports = 0;
    for query in ["year=2026", "year=2026&approved_only=true&by=unit"] {
        let mut workbooks = Vec::new();
        let mut suppressed_csv = Vec::new();
        for (token, exact) in [(&c.focal, true), (&c.reviewer, false), (&c.focal, false)] {
            let ctx = format!("{ctx}, {query}, exact={exact}");
            // The focal point's JSON report is exact; her export is suppressed unless she asks.
            let json_token = if exact { token } else { &c.reviewer };
            let report = get_json(&app, &format!("/api/v1/reports?{query}"), json_token).await;
            exact_reports += usize::from(exact);
            let completeness = get_json(&app, &format!("/api/v1/reports/completeness?{query}"), token).await;
            let tables: Vec<&serde_json::Value> =
                report["tables"].as_array().unwrap().iter().chain(completeness.as_array().unwrap()).collect();
            let head: Vec<String> =
                ["title", "commune", "period"].iter().map(|k| report[k].as_str().unwrap().to_string()).collect();
            let flag = if exact { "&exact=true" } else { "" };
            exact_exports += 2 * usize::from(exact);

            let xlsx = download(&app, &format!("/api/v1/reports/export?{query}&format=xlsx{flag}"), token).await;
            let sheets = read_xlsx(&xlsx);
            assert_eq!(sheets.len(), tables.len(), "{ctx}: one sheet per table");
            for ((name, lines), t) in sheets.iter().zip(&tables) {
                assert!(lines[0][0].starts_with(&head.join(" · ")), "{ctx}: {name}: {:?}", lines[0]);
                assert_eq!(lines[1..], table_lines(t), "{ctx}: XLSX sheet {name}");
            }
            workbooks.push(sheets);

            let csv = download(&app, &format!("/api/v1/reports/export?{query}&format=csv{flag}"), token).await;
            let text = String::from_utf8(csv).unwrap();
            let records = parse_csv(text.strip_prefix('\u{feff}').expect("the CSV starts with a BOM"));
            assert_eq!(records[0][..3], head, "{ctx}: the CSV's first line");
            let expected: Vec<Vec<String>> =
                tables.iter().flat_map(|t| [vec![String::new()]].into_iter().chain(table_lines(t))).collect();
            assert_eq!(records[1..], expected, "{ctx}: CSV");
            if !exact {
                suppressed_csv.push(records[1..].to_vec());
            }
        }
        assert_eq!(
            suppressed_csv[0], suppressed_csv[1],
            "{ctx}, {query}: a focal point's export is suppressed unless exact"
        );
        // The exact workbook against the suppressed one: the same sheets and cells, except GBV
        // counts shown as the text "<5" where the exact one has a number.
        let mut hidden = 0;
        for ((name, exact), (_, shown)) in workbooks[0].iter().zip(&workbooks[1]) {
            assert_eq!(exact.len(), shown.len(), "{ctx}, {query}: {name}");
            for (e, s) in exact[1..].iter().zip(&shown[1..]) {
                assert_eq!(e.len(), s.len(), "{ctx}, {query}: {name}");
                for (e, s) in e.iter().zip(s) {
                    if e != s {
                        assert!(s == "<5" && e.parse::<u64>().is_ok(), "{ctx}, {query}: {name}: {e} shown as {s}");
                        assert!(name.starts_with("Vụ việc"), "{ctx}, {query}: {name} is not a GBV table");
                        hidden += 1;
                    }
                }
            }
        }
        assert!(hidden > 0, "{ctx}, {query}: some GBV figure is suppressed");
    }
    assert_eq!(app.audit_count("gbv.report").await, exact_reports as i64, "{ctx}: every exact report is audited");
    assert_eq!(app.audit_count("gbv.export").await, exact_exports as i64, "{ctx}: every exact export is audited");
}

async fn download(app: &TestApp, path: &str, token: &str) -> Vec<u8> {
    let resp =
        sotay_client::http::plain_client().get(format!("{}{path}", app.base)).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    assert!(resp.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    resp.bytes().await.unwrap().to_vec()
}

/// Every sheet as (name, rows of cells as text without trailing empty cells): a number as its
/// digits, a string as is (quoted if it looks like a number).
fn read_xlsx(bytes: &[u8]) -> Vec<(String, Vec<Vec<String>>)> {
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names = book.sheet_names().to_vec();
    names
        .into_iter()
        .map(|name| {
            let range = book.worksheet_range(&name).unwrap();
            assert_eq!(range.start(), Some((0, 0)), "{name} starts at A1");
            let rows = range
                .rows()
                .map(|r| {
                    let mut cells: Vec<String> = r
                        .iter()
                        .map(|c| match c {
                            Data::Float(f) if f.fract() == 0.0 && *f >= 0.0 => format!("{}", *f as u64),
                            Data::String(s) if s.parse::<f64>().is_ok() => format!("{s:?}"),
                            Data::String(s) => s.clone(),
                            Data::Empty => String::new(),
                            other => format!("unexpected {other:?}"),
                        })
                        .collect();
                    while cells.last().is_some_and(String::is_empty) {
                        cells.pop();
                    }
                    cells
                })
                .collect();
            (name, rows)
        })
        .collect()
}

/// An RFC 4180 reader: records of fields, every line ended by CRLF.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "a CR not followed by LF");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\n') => panic!("a bare LF"),
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && record.is_empty(), "the last line has no CRLF");
    records
}

#[tokio::test]
async fn completeness_tells_who_reported_on_time_and_bad_queries_say_what_is_wrong() {
    let app = spawn_app().await;
    let c = app.commune().await;
    admin::create_unit(&app.state.db, c.commune, "hlhpn", "Hội Liên hiệp phụ nữ").await.unwrap();
    let mut lan = app.device("lan").await;
    lan.add_activity(10, 5); // held 18/11/2026, unit hlhpn, village A
    lan.sync().await;
    let reviewer = app.web_login("reviewer").await;
    let (status, body) = app.call("GET", "/api/v1/reports/completeness?year=2026", Some(&reviewer), None).await;
    assert_eq!(status, 200, "{body}");
    let tables: serde_json::Value = serde_json::from_str(&body).unwrap();
    let by_village = &tables[0];
    assert_eq!(by_village["key"], "completeness_by_village");
    let row = |name: &str| by_village["rows"].as_array().unwrap().iter().find(|r| r["label"] == name).unwrap().clone();
    assert_eq!(row("Thôn Đông")["cells"][0], 1);
    // Stored now, on 3 December 2026 or later: after the 25 November deadline.
    let stored_late =
        sotay_server::now_ms() > sotay_server::reports::completeness::end_of_day_ms(Date::new(2026, 11, 25).unwrap());
    let status_text = row("Thôn Đông")["cells"][3].as_str().unwrap().to_string();
    assert_eq!(status_text, if stored_late { "Báo cáo muộn" } else { "Đã báo cáo đúng hạn" });
    assert!(row("Thôn Tây")["cells"][3].as_str().unwrap().starts_with("Chưa báo cáo"));
    assert_eq!(tables[1]["rows"][0]["label"], "Hội Liên hiệp phụ nữ");
    // A commune that moved its deadline to the end of the year: on time.
    sqlx::query("UPDATE communes SET report_deadline = '12-31'").execute(&app.state.db.write).await.unwrap();
    let (_, body) = app.call("GET", "/api/v1/reports/completeness?year=2026", Some(&reviewer), None).await;
    assert!(body.contains("Đã báo cáo đúng hạn"), "{body}");
    for (bad, says) in [
        ("", "exactly one"),
        ("month=2026-13", "YYYY-MM"),
        ("from=2026-05-01&to=2026-04-01", "before it starts"),
        ("year=2026&by=hamlet", "village or unit"),
        ("year=2026&approved_only=yes", "true or false"),
        ("year=2026&lang=fr", "vi or en"),
    ] {
        let (status, body) = app.call("GET", &format!("/api/v1/reports?{bad}"), Some(&reviewer), None).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains(says), "{bad}: {body}");
    }
    let (status, _) = app.call("GET", "/api/v1/reports/export?year=2026&exact=true", Some(&reviewer), None).await;
    assert_eq!(status, 403, "only focal points export exact GBV figures");
    let (status, _) = app.call("GET", "/api/v1/reports/export?year=2026&format=pdf", Some(&reviewer), None).await;
    assert_eq!(status, 400);
}
