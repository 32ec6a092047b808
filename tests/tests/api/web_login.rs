//! The web app's login form (`web/session.rs`) is throttled like the JSON login, by the same
//! counts: wrong passwords sent through either add up, the form then answers 429 with the login
//! page saying so in the person's language, the right password is refused too while the delay
//! lasts, and the refusals are audited. (The form has no CSRF token, as there is no session yet:
//! a form from another site is refused by its `Origin`, which is sent here as a browser does.)

use sotay_tests::*;
use sqlx::Row;

/// The form's answer: status, `Set-Cookie` headers, body.
struct Answer {
    status: u16,
    set_cookie: Vec<String>,
    body: String,
}

/// `POST /login` as a browser on the login page sends it (same-site `Origin`, no redirects
/// followed), in `lang`.
async fn post_login(app: &TestApp, username: &str, password: &str, lang: &str) -> Answer {
    let _ = sotay_client::http::plain_client(); // installs the crypto provider reqwest needs
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = http
        .post(format!("{}/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &app.base)
        .header("cookie", format!("sotay_lang={lang}"))
        .body(form_body(&[("username", username), ("password", password), ("next", "/records")]))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let set_cookie = resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    Answer { status, set_cookie, body: resp.text().await.unwrap() }
}

fn signs_in(a: &Answer) -> bool {
    a.status == 303 && a.set_cookie.iter().any(|c| c.starts_with("sotay_session=") && !c.starts_with("sotay_session=;"))
}

async fn throttle_attempts(app: &TestApp, key: &str) -> i64 {
    sqlx::query("SELECT attempts FROM throttle WHERE key = $1")
        .bind(key)
        .fetch_optional(&app.state.db.read)
        .await
        .unwrap()
        .map_or(0, |r| r.get(0))
}

#[tokio::test]
async fn wrong_passwords_on_the_form_are_throttled_with_the_api_and_audited() {
    let app = spawn_app().await;
    app.commune().await;
    app.web_login("reviewer").await; // sets the password below and signs in once (API)
    let right = "reviewer-mật-khẩu-dài";
    let wrong = "sai mật khẩu rồi";
    let reviewer = sotay_server::admin::user_by_name(&app.state.db, "reviewer").await.unwrap();
    // The form works, and a wrong password on it is the form again with the usual sentence.
    assert!(signs_in(&post_login(&app, "reviewer", right, "vi").await));
    // Two wrong passwords through the API, then through the form until the throttle answers.
    for _ in 0..2 {
        assert_eq!(app.login("reviewer", wrong).await.0, 401);
    }
    let mut form_failures = 0;
    let refused = loop {
        let a = post_login(&app, "reviewer", wrong, "vi").await;
        if a.status != 401 {
            break a;
        }
        assert!(a.body.contains("Tên đăng nhập hoặc mật khẩu không đúng"), "{}", a.body);
        form_failures += 1;
        assert!(form_failures < 10, "the form is never throttled");
    };
    // The form's failures and the API's are counted on the same keys: five free attempts in all
    // (more only if this machine took over the 1 s delay between two of them).
    assert!(form_failures >= 3, "the API's two failures count for the form: {form_failures}");
    assert_eq!(throttle_attempts(&app, "user:reviewer").await, 2 + form_failures);
    assert_eq!(throttle_attempts(&app, "addr:127.0.0.1").await, 2 + form_failures);
    assert_eq!(app.audit_count("login.failure").await, 2 + form_failures);
    // Throttled: 429, the login page (in the person's language) saying so, no session.
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.body.contains("Đã thử quá nhiều lần"), "{}", refused.body);
    assert!(refused.body.contains("class=\"error\" role=\"alert\"") && refused.body.contains("name=\"password\""));
    assert!(refused.set_cookie.is_empty(), "{:?}", refused.set_cookie);
    // The refusal is audited once per key (the account and the address) with its count.
    assert_eq!(app.audit_count("login.throttled").await, 2);
    let account_row = sqlx::query(
        "SELECT actor_user, detail FROM audit_log WHERE action = 'login.throttled' AND detail LIKE '%user:reviewer%'",
    )
    .fetch_one(&app.state.db.read)
    .await
    .unwrap();
    assert_eq!(account_row.get::<Option<Vec<u8>>, _>(0), Some(reviewer.as_bytes().to_vec()), "the account's row");
    let detail: String = account_row.get(1);
    assert!(detail.starts_with("1 attempts refused; key user:reviewer from 127.0.0.1"), "{detail}");
    // Five more failures' worth of delay (32 s), so that what follows happens while throttled
    // however slowly this machine runs it.
    sqlx::query("UPDATE throttle SET attempts = attempts + 5").execute(&app.state.db.write).await.unwrap();
    // The right password is refused too, on the form (here in English) and through the API.
    let a = post_login(&app, "reviewer", right, "en").await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert!(a.body.contains("Too many attempts; please wait a moment and try again."), "{}", a.body);
    assert!(a.set_cookie.is_empty(), "{:?}", a.set_cookie);
    assert_eq!(app.login("reviewer", right).await.0, 429);
    assert_eq!(app.audit_count("login.success").await, 2, "web_login's and the first form's only");
    let sessions: i64 =
        sqlx::query("SELECT COUNT(*) FROM web_sessions").fetch_one(&app.state.db.read).await.unwrap().get(0);
    assert_eq!(sessions, 1, "only the first form login opened a session");
    // Once the delay is over, the right password signs in on the form.
    sqlx::query("UPDATE throttle SET last_at = last_at - 3600000").execute(&app.state.db.write).await.unwrap();
    assert!(signs_in(&post_login(&app, "reviewer", right, "vi").await));
    assert_eq!(throttle_attempts(&app, "user:reviewer").await, 0, "a success clears the account's count");
}
