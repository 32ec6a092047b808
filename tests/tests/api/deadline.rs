//! The commune's reporting deadline (issue 11, Deliver 3), set by its admin in the admin page's
//! form or with `PUT /api/v1/admin/report-deadline`: completeness judges lateness against the new
//! day, other roles are refused, a day that is not in every year is refused with a sentence saying
//! what a deadline looks like, and every change is in the audit log.

use crate::access::assert_documented;
use sotay_server::reports::completeness::end_of_day_ms;
use sotay_sync_core::{Date, Edit};
use sotay_tests::*;
use sqlx::Row;

const PUT: &str = "/api/v1/admin/report-deadline";

/// Today in Vietnam, the day the server's "now" falls on for completeness.
fn today() -> Date {
    Date::from_unix_ms(sotay_server::now_ms() + sotay_server::reports::VIETNAM_OFFSET_MS)
}

/// A signed-in browser: its cookies, sent by hand; redirects are not followed.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: String,
}

impl Browser {
    /// Signs `username` in through the login form (with the password `web_login` gives them).
    async fn sign_in(app: &TestApp, username: &str) -> Browser {
        app.web_login(username).await;
        // Installs the TLS crypto provider the phone's client uses (plain HTTP here all the same).
        let _ = sotay_client::http::plain_client();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let password = format!("{username}-mật-khẩu-dài");
        let resp = http
            .post(format!("{}/login", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("username", username), ("password", &password), ("next", "/")]))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303, "{username} signs in");
        let session = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .find(|c| c.starts_with("sotay_session="))
            .expect("a session cookie");
        Browser { base: app.base.clone(), http, cookies: session }
    }

    /// `GET path`: (status, body).
    async fn get(&self, path: &str) -> (u16, String) {
        let resp = self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookies).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// `POST path` with a form: (status, Location, body).
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookies)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(fields))
            .send()
            .await
            .unwrap();
        let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        (resp.status().as_u16(), location, resp.text().await.unwrap())
    }

    /// The CSRF token of the forms of a page (every page has the sign-out form).
    fn csrf(page: &str) -> String {
        let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        page[at..].split('"').next().unwrap().to_string()
    }
}

/// The completeness row of Thôn Đông for `year` (the status is in it), and the table's title
/// (which names the deadline).
async fn thon_dong(app: &TestApp, token: &str, year: u16) -> (String, String) {
    let (status, body) = app.call("GET", &format!("/api/v1/reports/completeness?year={year}"), Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    let tables: serde_json::Value = serde_json::from_str(&body).unwrap();
    let by_village = &tables[0];
    assert_eq!(by_village["key"], "completeness_by_village");
    let row = by_village["rows"].as_array().unwrap().iter().find(|r| r["label"] == "Thôn Đông").unwrap();
    (row.to_string(), by_village["title"].as_str().unwrap().to_string())
}

/// The stored deadline of the test commune.
async fn stored(app: &TestApp) -> String {
    sqlx::query("SELECT report_deadline FROM communes").fetch_one(&app.state.db.read).await.unwrap().get(0)
}

#[tokio::test]
async fn an_admin_sets_the_deadline_in_the_admin_page_and_completeness_judges_by_it() {
    let app = spawn_app().await;
    let c = app.commune().await;
    let year = today().year;
    // An activity of Thôn Đông held on 1 January of this year, stored by the server now.
    let mut lan = app.device("lan").await;
    let mut edits = activity_edits(10, 5);
    edits.retain(|e| !matches!(e, Edit::HeldOn(_)));
    edits.push(Edit::HeldOn(Date::new(year, 1, 1).unwrap()));
    lan.device.create(sotay_sync_core::schema::RecordKind::Activity, &edits, NOW_MS).unwrap();
    lan.sync().await;
    let reviewer = app.web_login("reviewer").await;

    // The admin page shows the plan's deadline, 25 November, in the form.
    let admin = Browser::sign_in(&app, "admin").await;
    let (status, page) = admin.get("/admin").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Hạn nộp báo cáo"), "the Vietnamese label: {page}");
    assert!(page.contains(r#"name="day" type="number" min="1" max="31" required value="25""#), "{page}");
    assert!(page.contains(r#"<option value="11" selected>Tháng 11</option>"#), "{page}");
    let csrf = Browser::csrf(&page);

    // Set to 31 December in the form: the activity, stored now, is on time for this year.
    let (status, location, body) =
        admin.post("/admin/deadline", &[("csrf", &csrf), ("day", "31"), ("month", "12")]).await;
    assert_eq!((status, location.as_str()), (303, "/admin"), "{body}");
    assert_eq!(stored(&app).await, "12-31");
    let (_, page) = admin.get("/admin").await;
    assert!(page.contains(r#"required value="31""#) && page.contains(r#"<option value="12" selected>"#), "{page}");
    let (row, title) = thon_dong(&app, &reviewer, year).await;
    assert!(row.contains("Đã báo cáo đúng hạn"), "{row}");
    assert!(title.contains(&format!("31/12/{year}")), "the table names the deadline: {title}");

    // Set to 1 January with the API: from the day after, the same activity is late.
    let admin_token = app.web_login("admin").await;
    let (status, body) = app.call("PUT", PUT, Some(&admin_token), Some(br#"{"deadline":"01-01"}"#.to_vec())).await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer, serde_json::json!({"deadline": "01-01", "previous": "12-31"}));
    let (row, title) = thon_dong(&app, &reviewer, year).await;
    assert!(title.contains(&format!("01/01/{year}")), "{title}");
    let late = sotay_server::now_ms() > end_of_day_ms(Date::new(year, 1, 1).unwrap());
    assert!(row.contains(if late { "Báo cáo muộn" } else { "Đã báo cáo đúng hạn" }), "late: {late}: {row}");

    // Both changes are audited, with who made them and what the deadline was before.
    let admin_id = c.users.iter().find(|(name, _)| name == "admin").unwrap().1;
    let rows = sqlx::query("SELECT actor_user, detail FROM audit_log WHERE action = 'commune.deadline' ORDER BY id")
        .fetch_all(&app.state.db.read)
        .await
        .unwrap();
    let audited: Vec<(Vec<u8>, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let commune = c.commune;
    assert_eq!(
        audited,
        vec![
            (admin_id.as_bytes().to_vec(), format!("commune {commune}: 11-25 -> 12-31")),
            (admin_id.as_bytes().to_vec(), format!("commune {commune}: 12-31 -> 01-01")),
        ]
    );
    let (_, log) = admin.get("/admin/audit?action=commune.").await;
    assert!(log.contains("commune.deadline") && log.contains("01-01"), "the commune's audit page: {log}");

    // The same form in English.
    let english = Browser { cookies: format!("{}; sotay_lang=en", admin.cookies), ..admin };
    let (_, page) = english.get("/admin").await;
    assert!(page.contains("Reporting deadline") && page.contains(r#"<option value="1" selected>January</option>"#));
}

#[tokio::test]
async fn only_admins_set_the_deadline_and_a_day_not_in_every_year_is_refused_with_a_sentence() {
    let app = spawn_app().await;
    app.commune().await;
    let lan = app.device("lan").await;
    let body = || Some(br#"{"deadline":"12-15"}"#.to_vec());

    // Nobody but an admin: not a collaborator's phone, not a reviewer, not a focal point.
    assert_eq!(app.call("PUT", PUT, None, body()).await.0, 401);
    for token in [lan.token.clone(), app.web_login("reviewer").await, app.web_login("focal").await] {
        let (status, text) = app.call("PUT", PUT, Some(&token), body()).await;
        assert_eq!(status, 403, "{text}");
    }
    let reviewer = Browser::sign_in(&app, "reviewer").await;
    let (status, page) = reviewer.get("/admin").await;
    assert_eq!(status, 403, "{page}");
    let (_, records) = reviewer.get("/records").await;
    let csrf = Browser::csrf(&records);
    let (status, _, page) = reviewer.post("/admin/deadline", &[("csrf", &csrf), ("day", "15"), ("month", "12")]).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("không được làm việc này"), "a sentence in Vietnamese: {page}");

    // An admin's form without the session's token is refused.
    let admin = Browser::sign_in(&app, "admin").await;
    let (status, _, _) = admin.post("/admin/deadline", &[("csrf", "forged"), ("day", "15"), ("month", "12")]).await;
    assert_eq!(status, 403);

    // A day that is not in every year, or not MM-DD: 400, saying what a deadline is.
    let admin_token = app.web_login("admin").await;
    for (bad, says) in [
        (r#"{"deadline":"02-30"}"#, "02-30 is not a day of the year"),
        (r#"{"deadline":"13-01"}"#, "the month is 01 to 12"),
        (r#"{"deadline":"02-29"}"#, "29 February is not in every year"),
        (r#"{"deadline":"2026-11-25"}"#, "as MM-DD, for example 11-25"),
        (r#"{"deadline":"25/11"}"#, "as MM-DD"),
        (r#"{"deadline":11}"#, "not in the expected form"),
        (r#"{}"#, "not in the expected form"),
    ] {
        let (status, text) = app.call("PUT", PUT, Some(&admin_token), Some(bad.as_bytes().to_vec())).await;
        assert_eq!(status, 400, "{bad}: {text}");
        let error: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["error"], "bad_request", "{text}");
        assert!(error["message"].as_str().unwrap().contains(says), "{bad}: {text}");
    }
    assert_documented(&app, "PUT", PUT, 400).await;
    let csrf = Browser::csrf(&admin.get("/admin").await.1);
    let (status, _, page) = admin.post("/admin/deadline", &[("csrf", &csrf), ("day", "30"), ("month", "2")]).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("Thông tin nhập chưa đúng"), "a sentence in Vietnamese: {page}");

    // Nothing refused changed the deadline or reached the audit log as a change.
    assert_eq!(stored(&app).await, "11-25");
    assert_eq!(app.audit_count("commune.deadline").await, 0);
}
