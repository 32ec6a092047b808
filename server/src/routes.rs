//! The router: every route of the server in one table, plus enrolment, tokens and health.

use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry::REQUEST_ID_HEADER;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post, put};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// Every route: (method, path, handler). The router is built from this table, and the
/// authorization matrix test enumerates it, so a new route cannot escape that test.
pub fn route_table() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    use crate::api;
    vec![
        ("GET", "/healthz", get(api::health::healthz)),
        ("GET", "/readyz", get(api::health::readyz)),
        ("GET", "/openapi.json", get(crate::openapi::serve)),
        ("POST", "/api/v1/enrol", post(api::devices::enrol)),
        ("POST", "/api/v1/token", post(api::devices::token)),
        ("POST", "/api/v1/login", post(crate::login::login)),
        ("POST", "/api/v1/sync", post(crate::sync::sync)),
        ("GET", "/api/v1/me", get(api::devices::me)),
        ("GET", "/api/v1/records", get(api::list_records)),
        ("GET", "/api/v1/records/{id}", get(api::get_record)),
        ("POST", "/api/v1/records/{id}/approve", post(api::approve)),
        ("POST", "/api/v1/records/{id}/return", post(api::return_record)),
        ("POST", "/api/v1/records/{id}/case-status", post(api::case_status)),
        ("POST", "/api/v1/records/{id}/purge-history", post(api::actions::purge_history)),
        ("POST", "/api/v1/records/{id}/resolve", post(api::actions::resolve)),
        ("POST", "/api/v1/records/{id}/restore", post(api::actions::restore)),
        ("GET", "/api/v1/records/{id}/history", get(api::actions::history)),
        ("GET", "/api/v1/duplicates", get(api::actions::duplicate_queue)),
        ("POST", "/api/v1/duplicates/merge", post(api::actions::merge)),
        ("POST", "/api/v1/duplicates/dismiss", post(api::actions::dismiss)),
        ("GET", "/api/v1/reports/gbv", get(api::gbv_report)),
        ("GET", "/api/v1/reports", get(api::reports::report)),
        ("GET", "/api/v1/reports/completeness", get(api::reports::completeness)),
        ("GET", "/api/v1/reports/export", get(api::reports::export)),
        ("GET", "/api/v1/villages", get(api::reports::villages)),
        ("GET", "/api/v1/units", get(api::reports::units)),
        ("GET", "/api/v1/admin/users/{username}/devices", get(api::user_devices)),
        ("POST", "/api/v1/admin/devices/{id}/revoke", post(api::revoke_device)),
        ("GET", "/api/v1/admin/audit", get(api::audit_log)),
        ("PUT", "/api/v1/admin/report-deadline", put(api::set_report_deadline)),
    ]
}

/// Builds the application.
pub fn router(state: AppState) -> Router {
    let max_body = state.limits.max_body_bytes;
    let counters = state.metrics.clone();
    let request_id = axum::http::HeaderName::from_static(REQUEST_ID_HEADER);
    let web = crate::web::route_table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| router.route(path, handler))
        .layer(axum::middleware::from_fn(crate::web::forms_from_this_site))
        .layer(axum::middleware::from_fn(crate::web::security_headers));
    route_table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| router.route(path, handler))
        .merge(web)
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(state.pressure.clone(), crate::pressure::bound))
        .layer(axum::middleware::from_fn_with_state(counters, crate::metrics::track))
        // A bug that panics in a handler answers 500 like any internal error (and is logged with
        // the request id), instead of dropping the connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
        }))
        .layer(axum::middleware::from_fn(crate::telemetry::with_request_id))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    let id = req.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
                    // The route template, not the path: paths carry record ids and user names.
                    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str());
                    tracing::info_span!("request", method = %req.method(), route = %route, request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}
