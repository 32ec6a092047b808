//! The commune's reports against an independent count: a commune of varied records (some deleted,
//! some edited concurrently, some approved) is synced from phones; every figure of the report is
//! computed here from the records' documents on the server, and compared with the JSON report,
//! the cells of the XLSX read back, and the CSV. Plus completeness, suppression for reviewers,
//! exact figures for focal points (audited), and query validation.

use sotay_server::admin;
use sotay_sync_core::schema::*;
use sotay_sync_core::{Date, Edit, Record, RecordView, sample};
use sotay_tests::*;
use sqlx::Row;
use std::collections::BTreeMap;

/// Every record document on the server, as views.
async fn server_views(app: &TestApp) -> Vec<RecordView> {
    let rows = sqlx::query("SELECT doc FROM records").fetch_all(&app.state.db.read).await.unwrap();
    rows.iter().map(|r| Record::load(&r.get::<Vec<u8>, _>(0), None).unwrap().view()).collect()
}

/// A report table as label → cells (numbers as strings, "<5" as is).
fn table(report: &serde_json::Value, key: &str) -> BTreeMap<String, Vec<String>> {
    let t = report["tables"].as_array().unwrap().iter().find(|t| t["key"] == key).unwrap_or_else(|| panic!("no {key}"));
    let mut out = BTreeMap::new();
    for row in t["rows"].as_array().unwrap().iter().chain(t["totals"].as_object().map(|_| &t["totals"])) {
        let cells =
            row["cells"].as_array().unwrap().iter().map(|c| c.to_string().trim_matches('"').to_string()).collect();
        out.insert(row["label"].as_str().unwrap().to_string(), cells);
    }
    out
}

fn in_period(d: Option<Date>, from: Date, to: Date) -> bool {
    d.is_some_and(|d| d >= from && d <= to)
}

/// A commune with two villages of varied records, synced; returns the reviewer's and the focal
/// point's tokens.
async fn commune_with_records(app: &TestApp) -> (String, String) {
    let c = app.commune().await;
    for (code, name) in
        [("vhxh", "Phòng Văn hóa-xã hội"), ("hlhpn", "Hội Liên hiệp phụ nữ"), ("mttq", "Mặt trận Tổ quốc")]
    {
        admin::create_unit(&app.state.db, c.commune, code, name).await.unwrap();
    }
    let mut lan = app.device("lan").await;
    let mut hoa = app.device("hoa").await;
    let mut minh = app.device("minh").await;
    let mut ids = Vec::new();
    for i in 0..90u32 {
        let phone = if i % 2 == 0 { &mut lan } else { &mut minh };
        let id = phone.device.create(RecordKind::Activity, &sample::activity(i, 2026), NOW_MS + i64::from(i)).unwrap();
        ids.push((i, id));
        if i % 9 == 4 {
            phone.device.delete(id, NOW_MS + 1000).unwrap();
        }
    }
    for i in 0..23u32 {
        lan.device.create(RecordKind::GbvReferral, &sample::gbv_referral(i, 2026), NOW_MS + i64::from(i)).unwrap();
    }
    lan.sync().await;
    minh.sync().await;
    hoa.sync().await;
    // Concurrent edits of the same activities by two phones of village A: attendance conflicts.
    for &(i, id) in ids.iter().filter(|(i, _)| i % 10 == 0 && i % 9 != 4) {
        lan.device.edit(id, &[Edit::AttendanceFemale(100 + i)], NOW_MS + 5000).unwrap();
        hoa.device.edit(id, &[Edit::AttendanceFemale(200 + i), Edit::AddTopic(Topic::Other)], NOW_MS + 5001).unwrap();
    }
    lan.sync().await;
    hoa.sync().await;
    lan.sync().await;
    (app.web_login("reviewer").await, app.web_login("focal").await)
}

#[tokio::test]
async fn every_figure_of_the_report_matches_an_independent_count_in_json_xlsx_and_csv() {
    let app = spawn_app().await;
    let (reviewer, focal) = commune_with_records(&app).await;
    let views = server_views(&app).await;
    let villages: BTreeMap<VillageIdKey, String> = sqlx::query("SELECT id, name FROM villages")
        .fetch_all(&app.state.db.read)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<Vec<u8>, _>(0), r.get::<String, _>(1)))
        .collect();
    for (query, from, to) in [
        ("year=2026", Date::new(2026, 1, 1), Date::new(2026, 12, 31)),
        ("quarter=2026-Q2", Date::new(2026, 4, 1), Date::new(2026, 6, 30)),
        ("action_month=2026", Date::new(2026, 11, 15), Date::new(2026, 12, 15)),
        ("from=2026-03-10&to=2026-08-20", Date::new(2026, 3, 10), Date::new(2026, 8, 20)),
    ] {
        let (from, to) = (from.unwrap(), to.unwrap());
        let (status, body) = app.call("GET", &format!("/api/v1/reports?{query}"), Some(&focal), None).await;
        assert_eq!(status, 200, "{body}");
        let report: serde_json::Value = serde_json::from_str(&body).unwrap();
        let acts: Vec<&RecordView> = views
            .iter()
            .filter(|v| v.kind == RecordKind::Activity && !v.deleted && in_period(v.held_on, from, to))
            .collect();
        // Activities by type, per village, and participants.
        let by_type = table(&report, "activities_by_type");
        let people = table(&report, "participants");
        for (vid, name) in &villages {
            let mine: Vec<&&RecordView> =
                acts.iter().filter(|v| v.village.as_bytes().as_slice() == vid.as_slice()).collect();
            let expected: Vec<String> = ActivityType::ALL
                .iter()
                .map(|t| mine.iter().filter(|v| v.activity_type == Some(*t)).count().to_string())
                .chain([mine.len().to_string()])
                .collect();
            assert_eq!(by_type[name], expected, "{query}: activities by type in {name}");
            let f: i64 = mine.iter().map(|v| v.attendance_female.unwrap_or(0)).sum();
            let m: i64 = mine.iter().map(|v| v.attendance_male.unwrap_or(0)).sum();
            let e: i64 = mine.iter().map(|v| v.attendance_ethnic_minority.unwrap_or(0)).sum();
            assert_eq!(
                people[name],
                [f, m, f + m, e].map(|n| n.to_string()).to_vec(),
                "{query}: participants in {name}"
            );
        }
        assert_eq!(by_type["Tổng"].last().unwrap(), &acts.len().to_string());
        // Trainings and trainees.
        let trainings: Vec<&&RecordView> =
            acts.iter().filter(|v| v.activity_type == Some(ActivityType::Training)).collect();
        let tf: i64 = trainings.iter().map(|v| v.attendance_female.unwrap_or(0)).sum();
        let tm: i64 = trainings.iter().map(|v| v.attendance_male.unwrap_or(0)).sum();
        assert_eq!(
            table(&report, "trainings")["Tổng"],
            [trainings.len() as i64, tf, tm, tf + tm].map(|n| n.to_string()).to_vec(),
            "{query}: trainings"
        );
        // Plan sections.
        let plan = table(&report, "plan_items");
        for p in PlanItem::ALL {
            let n = acts.iter().filter(|v| v.plan_item == Some(*p)).count();
            assert_eq!(plan[&format!("{}. {}", p.code(), p.label(Lang::Vi))][0], n.to_string(), "{query}: plan {p}");
        }
        // Topics (a conflict-free set: both phones' additions are kept).
        let topics = table(&report, "topics");
        for topic in Topic::ALL {
            let n = acts.iter().filter(|v| v.topics.contains(topic)).count();
            assert_eq!(topics[topic.label(Lang::Vi)][0], n.to_string(), "{query}: topic {topic}");
        }
        // GBV, exact for the focal point.
        let cases: Vec<&RecordView> = views
            .iter()
            .filter(|v| v.kind == RecordKind::GbvReferral && !v.deleted && in_period(v.reported_on, from, to))
            .collect();
        let age_sex = table(&report, "gbv_by_age_and_sex");
        for age in AgeGroup::ALL {
            let here: Vec<_> = cases.iter().filter(|v| v.survivor_age_group == Some(*age)).collect();
            if let Some(row) = age_sex.get(age.label(Lang::Vi)) {
                for (j, sex) in Sex::ALL.iter().enumerate() {
                    let n = here.iter().filter(|v| v.survivor_sex == Some(*sex)).count();
                    assert_eq!(row[j], n.to_string(), "{query}: GBV {age} {sex}");
                }
            } else {
                assert!(here.is_empty());
            }
        }
        let types = table(&report, "gbv_by_violence_type");
        for t in ViolenceType::ALL {
            let n = cases.iter().filter(|v| v.violence_types.contains(t)).count();
            assert_eq!(types[t.label(Lang::Vi)][0], n.to_string(), "{query}: GBV type {t}");
        }

        // The reviewer's report: the same activity figures; GBV suppressed, every published
        // GBV figure exact and every count 1–4 hidden.
        let (status, body) = app.call("GET", &format!("/api/v1/reports?{query}"), Some(&reviewer), None).await;
        assert_eq!(status, 200, "{body}");
        let theirs: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(table(&theirs, "activities_by_type"), by_type);
        for key in
            ["gbv_by_age_and_sex", "gbv_by_setting", "gbv_by_case_status", "gbv_by_violence_type", "gbv_by_service"]
        {
            let (exact, shown) = (table(&report, key), table(&theirs, key));
            for (label, cells) in &shown {
                for (j, cell) in cells.iter().enumerate() {
                    let truth: u64 = exact[label][j].parse().unwrap();
                    if cell == "<5" {
                        continue;
                    }
                    assert_eq!(cell, &truth.to_string(), "{query}: {key} {label} published wrong");
                    assert!(!(1..=4).contains(&truth), "{query}: {key} {label} shows a small cell {truth}");
                }
            }
        }

        // The export: the same figures in the workbook and in the CSV.
        let xlsx = download(&app, &format!("/api/v1/reports/export?{query}&format=xlsx"), &reviewer).await;
        let sheets = read_xlsx(&xlsx);
        let csv =
            String::from_utf8(download(&app, &format!("/api/v1/reports/export?{query}&format=csv"), &reviewer).await)
                .unwrap();
        assert!(csv.starts_with('\u{feff}'), "the CSV starts with a BOM");
        for (key, t) in [("activities_by_type", &by_type), ("participants", &people)] {
            let title = theirs["tables"].as_array().unwrap().iter().find(|x| x["key"] == key).unwrap()["title"]
                .as_str()
                .unwrap()
                .to_string();
            let sheet = sheets
                .iter()
                .find(|(name, _)| title.starts_with(name.as_str()) || name.starts_with(&title[..title.len().min(20)]))
                .unwrap_or_else(|| {
                    panic!("{query}: no sheet for {title}: {:?}", sheets.iter().map(|s| &s.0).collect::<Vec<_>>())
                });
            for (label, cells) in t.iter() {
                let row = sheet
                    .1
                    .iter()
                    .find(|r| r.first() == Some(label))
                    .unwrap_or_else(|| panic!("{query}: {label} not in sheet {title}"));
                assert_eq!(&row[1..], cells.as_slice(), "{query}: XLSX {key} {label}");
                let line = csv.lines().find(|l| {
                    l.starts_with(&csv_field(label)) && l.contains(',') && {
                        let fields = split_csv(l);
                        fields[1..] == cells[..]
                    }
                });
                assert!(line.is_some(), "{query}: CSV {key} {label} {cells:?}");
            }
        }
    }
    assert!(app.audit_count("gbv.report").await >= 4, "the focal point's exact reports are audited");
}

type VillageIdKey = Vec<u8>;

async fn download(app: &TestApp, path: &str, token: &str) -> Vec<u8> {
    let resp =
        sotay_client::http::plain_client().get(format!("{}{path}", app.base)).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    assert!(resp.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    resp.bytes().await.unwrap().to_vec()
}

/// Every sheet as (name, rows of cells as text; numbers without decimals).
fn read_xlsx(bytes: &[u8]) -> Vec<(String, Vec<Vec<String>>)> {
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names = book.sheet_names().to_vec();
    names
        .into_iter()
        .map(|name| {
            let range = book.worksheet_range(&name).unwrap();
            let rows = range
                .rows()
                .map(|r| {
                    r.iter()
                        .map(|c| match c {
                            Data::Float(f) => format!("{}", *f as i64),
                            Data::Int(i) => i.to_string(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .collect();
            (name, rows)
        })
        .collect()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// Splits one CSV line (RFC 4180 quoting).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                out.last_mut().unwrap().push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().unwrap().push(c),
        }
    }
    out
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
