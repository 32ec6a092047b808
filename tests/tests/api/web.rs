//! The web app over HTTP as a browser drives it (cookies by hand, no redirects followed): the
//! session rules (cookie attributes, CSRF, Origin, idle expiry, logout, revocation), the
//! authorization matrix over every HTML route, and the review work a reviewer does in pages
//! reaching the phones. The same in a real browser is `tests/web/` (Playwright).

use sotay_server::config::Limits;
use sotay_sync_core::schema::RecordKind;
use sotay_sync_core::{Coded, Date, Edit, RecordId};
use sotay_tests::*;

/// A browser: one cookie jar (the session and the language), no redirects followed.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

/// An answer: status, `Location`, `Set-Cookie` and the body.
struct Answer {
    status: u16,
    location: String,
    set_cookie: Vec<String>,
    body: String,
    headers: reqwest::header::HeaderMap,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        // Installs the TLS crypto provider the phone's client uses (plain HTTP here all the same).
        let _ = sotay_client::http::plain_client();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { base: app.base.clone(), http, cookies: Vec::new() }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let req = if cookie.is_empty() { req } else { req.header("cookie", cookie) };
        let resp = req.send().await.unwrap();
        let headers = resp.headers().clone();
        let set_cookie: Vec<String> =
            headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        for c in &set_cookie {
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() {
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
        let location = headers.get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        Answer { status: resp.status().as_u16(), location, set_cookie, body: resp.text().await.unwrap(), headers }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(fields));
        self.send(req).await
    }

    /// Signs in with the password `web_login` gives this user.
    async fn sign_in(&mut self, app: &TestApp, username: &str) -> Answer {
        let _token = app.web_login(username).await;
        let password = format!("{username}-mật-khẩu-dài");
        self.post("/login", &[("username", username), ("password", &password), ("next", "/records")]).await
    }

    /// The CSRF token of the forms of a page.
    fn csrf(page: &str) -> String {
        let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        page[at..].split('"').next().unwrap().to_string()
    }
}

#[tokio::test]
async fn sessions_use_a_strict_cookie_csrf_tokens_and_end_on_logout_idleness_or_revocation() {
    let app = spawn_app_with(Limits { trusted_proxies: vec!["127.0.0.1".parse().unwrap()], ..Limits::default() }).await;
    app.commune().await;
    let mut b = Browser::new(&app);
    // Not signed in: to the login page, then back.
    let a = b.get("/records?kind=activity").await;
    assert_eq!((a.status, a.location.as_str()), (303, "/login?next=/records%3Fkind%3Dactivity&ended=1"));
    let a = b.get("/login").await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains("lang=\"vi\"") && a.body.contains("Mật khẩu"), "Vietnamese by default");
    let csp = a.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(a.headers["x-frame-options"], "DENY");
    // A wrong password: the form again, in Vietnamese, 401; throttled like the API.
    let _ = app.web_login("reviewer").await;
    let a = b.post("/login", &[("username", "reviewer"), ("password", "sai mật khẩu")]).await;
    assert_eq!(a.status, 401);
    assert!(a.body.contains("Tên đăng nhập hoặc mật khẩu không đúng"), "{}", a.body);
    assert!(a.set_cookie.is_empty());
    // The right one: a session cookie, HttpOnly and SameSite=Strict; Secure behind HTTPS.
    let a = b.sign_in(&app, "reviewer").await;
    assert_eq!((a.status, a.location.as_str()), (303, "/records"));
    let cookie = &a.set_cookie[0];
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"),
        "{cookie}"
    );
    let behind_https = b
        .http
        .post(format!("{}/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-proto", "https")
        .body(form_body(&[("username", "reviewer"), ("password", "reviewer-mật-khẩu-dài")]));
    let mut other = Browser::new(&app);
    let a = other.send(behind_https).await;
    assert!(a.set_cookie[0].contains("; Secure"), "{:?}", a.set_cookie);
    // The session's token is stored hashed only.
    let token = b.cookies.iter().find(|(k, _)| k == "sotay_session").unwrap().1.clone();
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM web_sessions WHERE token_hash = $1")
        .bind(token.as_bytes().to_vec())
        .fetch_one(&app.state.db.read)
        .await
        .unwrap();
    assert_eq!(stored, 0, "the raw token is never stored");

    let page = b.get("/records").await;
    assert_eq!(page.status, 200);
    let csrf = Browser::csrf(&page.body);
    // A form without the token, with another session's, or from another site: refused.
    assert_eq!(b.post("/logout", &[("csrf", "forged")]).await.status, 403);
    let other_csrf = Browser::csrf(&other.get("/records").await.body);
    assert_eq!(b.post("/logout", &[("csrf", &other_csrf)]).await.status, 403);
    let cross = b
        .http
        .post(format!("{}/logout", app.base))
        .header("origin", "http://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[("csrf", &csrf)]));
    let a = b.send(cross).await;
    assert_eq!(a.status, 403, "another site's form: {}", a.body);
    assert!(a.body.contains("Biểu mẫu đã cũ"), "{}", a.body);
    // Logout ends the session for good.
    let a = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!((a.status, a.location.as_str()), (303, "/login"));
    assert!(b.cookies.iter().all(|(k, _)| k != "sotay_session"));
    b.cookies.push(("sotay_session".into(), token));
    assert_eq!(b.get("/records").await.status, 303, "the old cookie opens nothing");

    // Idle past the limit: signed out.
    assert_eq!(other.get("/records").await.status, 200);
    sqlx::query("UPDATE web_sessions SET last_seen_at = 0").execute(&app.state.db.write).await.unwrap();
    assert_eq!(other.get("/records").await.status, 303, "idle sessions end");
    // Revoking the person's web device ends their session.
    let mut c = Browser::new(&app);
    c.sign_in(&app, "reviewer").await;
    assert_eq!(c.get("/records").await.status, 200);
    let device: Vec<u8> =
        sqlx::query_scalar("SELECT device_id FROM web_sessions LIMIT 1").fetch_one(&app.state.db.read).await.unwrap();
    let device = sotay_sync_core::DeviceId::from_slice(&device).unwrap();
    sotay_server::admin::revoke_device(&app.state.db, device).await.unwrap();
    assert_eq!(c.get("/records").await.status, 303, "a revoked session device signs out");
}

#[tokio::test]
async fn every_html_route_against_every_role() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let activity = lan.add_activity(10, 5);
    let to_return = lan.add_activity(2, 2);
    let today = Date::new(2026, 11, 29).unwrap();
    lan.device.submit(activity, today, NOW_MS).unwrap();
    lan.device.submit(to_return, today, NOW_MS).unwrap();
    let case = lan.device.create(RecordKind::GbvReferral, &gbv_edits("TY-0009"), NOW_MS).unwrap();
    lan.sync().await;
    let spare = app.device("minh").await.device.identity().device;
    let identities = ["anonymous", "lan", "reviewer", "focal", "admin"];
    let mut browsers = Vec::new();
    for who in identities {
        let mut b = Browser::new(&app);
        if who != "anonymous" {
            assert_eq!(b.sign_in(&app, who).await.status, 303, "{who} signs in");
        }
        browsers.push(b);
    }
    // (method, path) → expected status per identity, in the order above. A page's answer comes
    // from the same policy as the API: 303 to sign in, 303 from the dashboard to the page a role
    // works on, 404 for a record the role may not see, 403 for an action it may not take.
    let activity_path = format!("/records/{activity}");
    let case_path = format!("/records/{case}");
    let rows: Vec<(&str, String, [u16; 5])> = vec![
        ("GET", "/".into(), [303, 303, 200, 200, 303]),
        ("GET", "/login".into(), [200; 5]),
        ("GET", "/lang/en".into(), [303; 5]),
        ("GET", "/records".into(), [303, 200, 200, 200, 403]),
        ("GET", activity_path.clone(), [303, 200, 200, 200, 404]),
        // A collaborator reads her GBV cases on the phone that made them, never on the web.
        ("GET", case_path.clone(), [303, 404, 404, 200, 404]),
        ("GET", "/static/app.css".into(), [200; 5]),
        ("GET", "/static/app.js".into(), [200; 5]),
        ("POST", format!("{case_path}/approve"), [303, 403, 404, 409, 403]),
        ("POST", format!("/records/{to_return}/return"), [303, 403, 200, 403, 403]),
        ("POST", format!("{activity_path}/approve"), [303, 403, 200, 403, 403]),
        ("POST", format!("{activity_path}/resolve"), [303, 422, 422, 403, 403]),
        ("POST", format!("{case_path}/case-status"), [303, 403, 403, 200, 403]),
        ("GET", "/queues".into(), [303, 200, 200, 200, 403]),
        ("POST", "/duplicates/merge".into(), [303, 403, 404, 403, 403]),
        ("POST", "/duplicates/dismiss".into(), [303, 403, 404, 403, 403]),
        ("GET", "/reports".into(), [303, 403, 200, 200, 403]),
        ("GET", "/reports/export?format=csv".into(), [303, 403, 200, 200, 403]),
        ("GET", "/admin".into(), [303, 403, 403, 403, 200]),
        ("GET", "/admin/audit?action=login.".into(), [303, 403, 403, 403, 200]),
        ("POST", "/admin/villages".into(), [303, 403, 403, 403, 200]),
        ("POST", "/admin/units".into(), [303, 403, 403, 403, 200]),
        ("POST", "/admin/users".into(), [303, 403, 403, 403, 200]),
        ("POST", "/admin/deadline".into(), [303, 403, 403, 403, 200]),
        ("POST", "/admin/users/lan/enrolment-code".into(), [303, 403, 403, 403, 200]),
        ("GET", "/admin/users/lan/devices".into(), [303, 403, 403, 403, 200]),
        ("POST", format!("/admin/devices/{spare}/revoke"), [303, 403, 403, 403, 200]),
    ];
    let mut covered = std::collections::BTreeSet::new();
    for (method, path, expected) in &rows {
        let template = sotay_server::web::route_table()
            .into_iter()
            .map(|(m, p, _)| (m, p))
            .find(|(m, p)| m == method && matches_template(p, path))
            .unwrap_or_else(|| panic!("{method} {path} is not a web route"));
        covered.insert(template);
        for (i, who) in identities.iter().enumerate() {
            let b = &mut browsers[i];
            let answer = if *method == "GET" {
                b.get(path).await
            } else {
                let token = session_csrf(&app, b).await;
                let (first, second) = (activity.to_string(), to_return.to_string());
                let new_user = format!("new.{who}");
                let fields: Vec<(&str, &str)> = match path.rsplit('/').next() {
                    Some("return") => vec![("csrf", &token), ("comment", "thiếu số liệu")],
                    Some("resolve") => vec![("csrf", &token), ("field", "attendance_female"), ("choice", "0")],
                    Some("case-status") => vec![("csrf", &token), ("case_status", "receiving_support")],
                    Some("merge" | "dismiss") => vec![("csrf", &token), ("first", &first), ("second", &second)],
                    Some("villages") => vec![("csrf", &token), ("name", "Thôn Mới")],
                    Some("units") => vec![("csrf", &token), ("code", "doanthanhnien"), ("name", "Đoàn Thanh niên")],
                    Some("users") => {
                        vec![("csrf", &token), ("username", &new_user), ("display_name", "Mới"), ("role", "reviewer")]
                    }
                    Some("revoke") => vec![("csrf", &token), ("username", "minh")],
                    Some("deadline") => vec![("csrf", &token), ("day", "15"), ("month", "12")],
                    _ => vec![("csrf", &token)],
                };
                b.post(path, &fields).await
            };
            // An action that succeeded answers 303 to the page that shows its outcome.
            let done = answer.status == 303 && !answer.location.starts_with("/login") && *method == "POST";
            let status = if done { 200 } else { answer.status };
            assert_eq!(status, expected[i], "{method} {path} as {who}: {}", answer.body);
            if status >= 400 {
                assert!(
                    answer.body.contains("<html lang=") && answer.body.contains("class=\"error\" role=\"alert\""),
                    "{method} {path} as {who}: an error is a page in the person's language: {}",
                    answer.body
                );
                assert!(!answer.body.contains("panicked") && !answer.body.contains("sqlx"));
            }
        }
    }
    assert!(app.audit_count("gbv.view").await >= 1, "the focal point's view of the case page is audited");
    for (method, path, _) in sotay_server::web::route_table() {
        let exempt = ["/login", "/logout"].contains(&path);
        assert!(exempt || covered.contains(&(method, path)), "{method} {path} is not in the matrix");
    }
}

fn matches_template(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('?').next().unwrap().split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(a, b)| a.starts_with('{') || a == b)
}

/// The CSRF token of a browser's session (anonymous: none).
async fn session_csrf(app: &TestApp, b: &Browser) -> String {
    let Some((_, token)) = b.cookies.iter().find(|(k, _)| k == "sotay_session") else { return String::new() };
    let hash = sotay_server::auth::hash_secret(token);
    sqlx::query_scalar("SELECT csrf FROM web_sessions WHERE token_hash = $1")
        .bind(hash)
        .fetch_optional(&app.state.db.read)
        .await
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_reviewer_resolves_approves_and_returns_in_pages_and_the_phones_get_the_outcome() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let mut hoa = app.device("hoa").await;
    // A conflict between two phones of one village.
    let id = lan.add_activity(10, 5);
    lan.sync().await;
    hoa.sync().await;
    lan.device.edit(id, &[Edit::AttendanceFemale(11)], NOW_MS + 10).unwrap();
    hoa.device.edit(id, &[Edit::AttendanceFemale(12)], NOW_MS + 11).unwrap();
    lan.sync().await;
    hoa.sync().await;
    let mut b = Browser::new(&app);
    b.sign_in(&app, "reviewer").await;
    let list = b.get("/records?conflicts=1").await;
    assert!(list.body.contains(&format!("/records/{id}")), "the conflict is in the filtered list");
    let page = b.get(&format!("/records/{id}")).await;
    assert!(page.body.contains("Số người tham dự nữ") && page.body.contains("hoa&#39;s phone"), "{}", page.body);
    let csrf = Browser::csrf(&page.body);
    let a = b
        .post(&format!("/records/{id}/resolve"), &[("csrf", &csrf), ("field", "attendance_female"), ("value", "13")])
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    lan.sync().await;
    let v = lan.views().into_iter().find(|v| v.id == id).unwrap();
    assert!(v.conflicts.is_empty() && v.attendance_female == Some(13), "the phone receives the resolution");

    // Approve one submitted record, return another with a comment: the phone gets both outcomes.
    let today = Date::new(2026, 11, 29).unwrap();
    let (ok, back): (RecordId, RecordId) = (lan.add_activity(3, 4), lan.add_activity(5, 6));
    lan.device.submit(ok, today, NOW_MS).unwrap();
    lan.device.submit(back, today, NOW_MS).unwrap();
    lan.sync().await;
    let waiting = b.get("/records?state=submitted").await;
    assert!(waiting.body.contains(&ok.to_string()) && waiting.body.contains(&back.to_string()));
    assert_eq!(b.post(&format!("/records/{ok}/approve"), &[("csrf", &csrf)]).await.status, 303);
    let a = b.post(&format!("/records/{back}/return"), &[("csrf", &csrf), ("comment", "Thiếu số người dân tộc")]).await;
    assert_eq!(a.status, 303);
    lan.sync().await;
    let views = lan.views();
    let state = |id: RecordId| views.iter().find(|v| v.id == id).unwrap().clone();
    assert_eq!(state(ok).review_state, sotay_sync_core::ReviewState::Approved);
    assert_eq!(state(back).review_state, sotay_sync_core::ReviewState::Returned);
    assert_eq!(state(back).review_comment.as_deref(), Some("Thiếu số người dân tộc"));
    // The page says so, and in English once the language is switched.
    let a = b.get(&format!("/lang/en?back=/records/{ok}")).await;
    assert_eq!(a.location, format!("/records/{ok}"));
    let page = b.get(&format!("/records/{ok}")).await;
    assert!(page.body.contains("lang=\"en\"") && page.body.contains("Approved"), "{}", page.body);
    let a = b.post(&format!("/records/{ok}/approve"), &[("csrf", &csrf)]).await;
    assert_eq!(a.status, 409);
    assert!(a.body.contains("Someone else has just changed this record"), "{}", a.body);
}

#[tokio::test]
async fn the_dashboard_counts_what_the_records_hold_and_hides_small_gbv_numbers_from_reviewers() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    let mut minh = app.device("minh").await;
    let year = sotay_sync_core::Date::from_unix_ms(sotay_server::now_ms() + 7 * 3600 * 1000).year;
    let held = |month: u8| Date::new(year, month, 10).unwrap();
    let training = [Edit::ActivityType(sotay_sync_core::schema::ActivityType::Training)];
    for (on_minh, month, f, m, is_training) in
        [(false, 3, 10, 5, false), (false, 11, 7, 2, true), (true, 12, 4, 4, false)]
    {
        let phone = if on_minh { &mut minh } else { &mut lan };
        let id = phone.add_activity(f, m);
        phone.device.edit(id, &[Edit::HeldOn(held(month))], NOW_MS).unwrap();
        if is_training {
            phone.device.edit(id, &training, NOW_MS).unwrap();
        }
        phone.sync().await;
    }
    let mut case = gbv_edits("TY-0001");
    case.retain(|e| !matches!(e, Edit::ReportedOn(_)));
    case.push(Edit::ReportedOn(held(11)));
    lan.device.create(RecordKind::GbvReferral, &case, NOW_MS).unwrap();
    lan.sync().await;
    let figure = |page: &str, name: &str| -> String {
        let at = page.find(&format!("data-figure=\"{name}\">")).unwrap() + name.len() + 15;
        page[at..].split('<').next().unwrap().to_string()
    };
    let mut reviewer = Browser::new(&app);
    reviewer.sign_in(&app, "reviewer").await;
    let page = reviewer.get(&format!("/?year={year}")).await.body;
    for (name, expected) in [
        ("activities", "3"),
        ("female", "21"),
        ("male", "11"),
        ("participants", "32"),
        ("trainings", "1"),
        ("trainees", "9"),
    ] {
        assert_eq!(figure(&page, name), expected, "{name}");
    }
    assert_eq!(figure(&page, "gbv"), "&#60;5", "one case is hidden from reviewers (\"<5\")");
    assert!(page.contains("<svg class=\"chart\"") && page.contains("class=\"highlight\""), "charts, Action Month");
    assert!(page.contains("Thôn Đông") && page.contains("Thôn Tây"));
    let mut focal = Browser::new(&app);
    focal.sign_in(&app, "focal").await;
    let page = focal.get(&format!("/?year={year}")).await.body;
    assert_eq!(figure(&page, "gbv"), "1", "a focal point sees the exact count");
    assert!(page.len() < 100 * 1024, "a page stays under 100 KB");
}

#[tokio::test]
async fn an_admin_enrols_a_phone_from_the_page_and_a_reviewer_merges_duplicates_and_downloads_the_report() {
    let app = spawn_app().await;
    app.commune().await;
    // The admin adds a collaborator and issues a code; the code enrols a phone.
    let mut admin = Browser::new(&app);
    admin.sign_in(&app, "admin").await;
    let page = admin.get("/admin").await;
    assert!(page.body.contains("Thôn Đông"), "{}", page.body);
    let csrf = Browser::csrf(&page.body);
    let village = {
        let at = page.body.find("<option value=\"").unwrap();
        let rest = &page.body[at..];
        // The first village option after the "none" one.
        let opts: Vec<&str> = rest.split("<option value=\"").skip(1).map(|o| o.split('"').next().unwrap()).collect();
        opts.into_iter().find(|o| o.len() == 36).unwrap().to_string()
    };
    let a = admin
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "thu"),
                ("display_name", "Chị Thu"),
                ("role", "collaborator"),
                ("village", &village),
            ],
        )
        .await;
    assert_eq!((a.status, a.location.as_str()), (303, "/admin"), "{}", a.body);
    let taken = admin
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "thu"),
                ("display_name", "x"),
                ("role", "collaborator"),
                ("village", &village),
            ],
        )
        .await;
    assert_eq!(taken.status, 409, "a user name is unique");
    let a = admin.post("/admin/users/thu/enrolment-code", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains("<svg class=\"qr\""), "the code as a QR code");
    let code = a.body.split("data-code>").nth(1).unwrap().split('<').next().unwrap().to_string();
    let client = sotay_client::Client::new(&app.base).unwrap();
    let enrolled = client.enrol(&code, "Điện thoại của Thu", None).await.unwrap();
    assert_eq!(enrolled.role, sotay_sync_core::Role::Collaborator);
    let devices = admin.get("/admin/users/thu/devices").await;
    assert!(devices.body.contains("Điện thoại của Thu"));
    let a = admin
        .post(&format!("/admin/devices/{}/revoke", enrolled.device_id), &[("csrf", &csrf), ("username", "thu")])
        .await;
    assert_eq!(a.status, 303);
    let audit = admin.get("/admin/audit?action=enrolment_code.").await;
    assert!(audit.body.contains("enrolment_code.issue"), "{}", audit.body);
    assert!(!audit.body.contains("login.success"), "the filter keeps to the action asked");

    // Two phones log the same session: a suspected pair, merged in the page taking one value
    // from the other record.
    let mut lan = app.device("lan").await;
    let mut hoa = app.device("hoa").await;
    let first = lan.add_activity(20, 10);
    let second = hoa.add_activity(21, 10);
    lan.sync().await;
    hoa.sync().await;
    let mut reviewer = Browser::new(&app);
    reviewer.sign_in(&app, "reviewer").await;
    // The records list filters the pair, and by plan item.
    let other = lan.add_activity(3, 3);
    lan.device.edit(other, &[Edit::PlanItem(sotay_sync_core::schema::PlanItem::ALL[0])], NOW_MS).unwrap();
    lan.sync().await;
    let pair = reviewer.get("/records?duplicates=1").await.body;
    assert!(
        pair.contains(&first.to_string()) && pair.contains(&second.to_string()) && !pair.contains(&other.to_string())
    );
    let code = sotay_sync_core::schema::PlanItem::ALL[0].code();
    let by_item = reviewer.get(&format!("/records?plan_item={code}")).await.body;
    assert!(by_item.contains(&other.to_string()) && !by_item.contains(&first.to_string()), "{code}");
    let queues = reviewer.get("/queues").await;
    let (keep, drop) = if first < second { (first, second) } else { (second, first) };
    assert!(queues.body.contains(&format!("name=\"second\" value=\"{drop}\"")), "{}", queues.body);
    let csrf = Browser::csrf(&queues.body);
    let (keep_s, drop_s) = (keep.to_string(), drop.to_string());
    let a = reviewer
        .post(
            "/duplicates/merge",
            &[("csrf", &csrf), ("first", &keep_s), ("second", &drop_s), ("f_attendance_female", "second")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    lan.sync().await;
    let views = lan.views();
    let kept = views.iter().find(|v| v.id == keep).unwrap();
    let dropped_female = if drop == second { 21 } else { 20 };
    assert_eq!(kept.attendance_female, Some(dropped_female), "the value taken from the other record");
    assert!(views.iter().find(|v| v.id == drop).is_none_or(|v| v.deleted), "the other record is deleted");

    // The report page and its download: the same figures as the page.
    let year = sotay_sync_core::Date::from_unix_ms(NOW_MS).year;
    let page = reviewer.get(&format!("/reports?period=year&year={year}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-table="), "{}", page.body);
    let file = reviewer.get(&format!("/reports/export?period=year&year={year}&format=xlsx")).await;
    assert_eq!(file.status, 200);
    assert!(file.headers["content-disposition"].to_str().unwrap().contains(".xlsx"));
    let csv = reviewer.get(&format!("/reports/export?period=year&year={year}&format=csv")).await;
    assert!(
        csv.body.contains(&kept.attendance_female.unwrap().to_string()) || csv.body.contains("Tổng"),
        "{}",
        csv.body
    );
}

#[tokio::test]
async fn the_records_list_sorts_by_date_and_pages_through_every_record_once() {
    let app = spawn_app().await;
    app.commune().await;
    let mut lan = app.device("lan").await;
    for i in 0..57u32 {
        let id = lan.add_activity(i, 1);
        // Ten days, several records on each: ties broken by id across page boundaries.
        lan.device.edit(id, &[Edit::HeldOn(Date::new(2026, 10, 1 + (i * 7 % 10) as u8).unwrap())], NOW_MS).unwrap();
    }
    lan.sync().await;
    let mut b = Browser::new(&app);
    b.sign_in(&app, "reviewer").await;
    for (sort, descending) in [("date_desc", true), ("date_asc", false)] {
        let mut path = format!("/records?sort={sort}");
        let (mut seen, mut dates, mut pages) = (Vec::new(), Vec::new(), 0);
        loop {
            let page = b.get(&path).await;
            assert_eq!(page.status, 200, "{}", page.body);
            pages += 1;
            assert!(pages <= 3, "{sort}: the pages do not end: {path}");
            for row in page.body.split("<tr><td><a href=\"/records/").skip(1) {
                seen.push(row[..36].to_string());
                dates.push(row.split("\">").nth(1).unwrap().split('<').next().unwrap().to_string());
            }
            match page.body.split("rel=\"next\"").next().and_then(|b| b.rsplit("<a href=\"").next()) {
                Some(next) if page.body.contains("rel=\"next\"") => {
                    path = next.split('"').next().unwrap().replace("&#38;", "&").replace("&amp;", "&")
                }
                _ => break,
            }
        }
        assert_eq!(pages, 2, "{sort}: 57 records on pages of 50");
        let unique: std::collections::BTreeSet<_> = seen.iter().collect();
        assert_eq!((seen.len(), unique.len()), (57, 57), "{sort}: every record once");
        let mut sorted = dates.clone();
        sorted.sort();
        if descending {
            sorted.reverse();
        }
        assert_eq!(dates, sorted, "{sort}: in date order across the pages");
    }
}
