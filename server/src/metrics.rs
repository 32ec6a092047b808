//! Metrics in the Prometheus text format, through `prometheus-client` (one registry per server
//! instance, so every process reports its own, as Prometheus expects, and tests in one process
//! do not share counters). Served by [`serve`] on its own address (`--metrics-bind`, loopback by
//! default), never on the public one. Counts only: never ids, names or field values; every
//! label takes a bounded set of values (route templates, status codes, reason codes).
//!
//! `docs/operations.md` lists the series and what to alert on.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use sqlx::AnyPool;
use sqlx::Row;
use std::sync::Arc;
use std::time::Instant;

/// Upper bounds of the latency histograms, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

type Labels = Vec<(&'static str, String)>;

/// A latency histogram with the server's buckets.
pub fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The server's series. Fields are updated where things happen; gauges that describe the stored
/// data are read from the database at each scrape ([`Metrics::render`]).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    syncs: Family<Labels, Counter>,
    sync_bytes_received: Counter,
    sync_bytes_sent: Counter,
    changes_applied: Counter,
    changes_sent: Counter,
    snapshots_sent: Counter,
    refusals: Family<Labels, Counter>,
    throttled: Family<Labels, Counter>,
    records: Family<Labels, Gauge>,
    open_conflicts: Gauge,
    open_duplicates: Gauge,
    pending_changes: Gauge,
    pool_connections: Family<Labels, Gauge>,
}

impl Metrics {
    /// The series of one server instance; `write_wait` is its database's (`Db::write_wait`).
    pub fn new(write_wait: Histogram) -> Self {
        let mut registry = Registry::with_prefix("sotay");
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(histogram as fn() -> _);
        let syncs = Family::<Labels, Counter>::default();
        let refusals = Family::<Labels, Counter>::default();
        let throttled = Family::<Labels, Counter>::default();
        let records = Family::<Labels, Gauge>::default();
        let pool_connections = Family::<Labels, Gauge>::default();
        let m = Metrics {
            requests,
            latency,
            syncs,
            sync_bytes_received: Counter::default(),
            sync_bytes_sent: Counter::default(),
            changes_applied: Counter::default(),
            changes_sent: Counter::default(),
            snapshots_sent: Counter::default(),
            refusals,
            throttled,
            records,
            open_conflicts: Gauge::default(),
            open_duplicates: Gauge::default(),
            pending_changes: Gauge::default(),
            pool_connections,
            registry: Registry::default(),
        };
        registry.register("build", "The running version", Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]));
        registry.register("http_requests", "HTTP requests by method, route template and status", m.requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by method and route template",
            m.latency.clone(),
        );
        registry.register("syncs", "Syncs by outcome (ok, or the error code answered)", m.syncs.clone());
        registry.register("sync_received_bytes", "Sync request bodies, as sent", m.sync_bytes_received.clone());
        registry.register("sync_sent_bytes", "Sync answer bodies, as sent", m.sync_bytes_sent.clone());
        registry.register(
            "sync_changes_applied",
            "Changes of pushed records accepted (stored, or already stored)",
            m.changes_applied.clone(),
        );
        registry.register("sync_changes_sent", "Changes sent in sync answers", m.changes_sent.clone());
        registry.register("sync_snapshots_sent", "Compacted records sent while provisioning", m.snapshots_sent.clone());
        registry.register(
            "sync_refusals",
            "Records of pushes refused, by the write rule broken (or forbidden/unprocessable)",
            m.refusals.clone(),
        );
        registry.register(
            "throttled",
            "Login and enrolment attempts answered 429 by the throttle, by action",
            m.throttled.clone(),
        );
        registry.register("records", "Records stored, by kind (deleted ones left out)", m.records.clone());
        registry.register("open_conflicts", "Records with a conflict waiting for a person", m.open_conflicts.clone());
        registry.register(
            "open_duplicates",
            "Suspected duplicate pairs waiting for a person",
            m.open_duplicates.clone(),
        );
        registry.register("pending_changes", "Changes kept waiting for their dependencies", m.pending_changes.clone());
        registry.register(
            "db_pool_connections",
            "Database connections of this instance, by pool (write, read) and state (used, idle)",
            m.pool_connections.clone(),
        );
        registry.register(
            "db_write_wait_seconds",
            "Time a write transaction waited for the writer connection and the database's write lock",
            write_wait,
        );
        Metrics { registry, ..m }
    }

    /// Counts one request under its route template.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = vec![("method", method.to_string()), ("route", route.to_string())];
        self.latency.get_or_create(&labels).observe(seconds);
        let mut labels = labels;
        labels.push(("status", status.to_string()));
        self.requests.get_or_create(&labels).inc();
    }

    /// Counts one sync: its outcome (`ok` or an error code) and the body sizes as sent.
    pub fn sync_done(&self, outcome: &str, received_bytes: usize, sent_bytes: usize) {
        self.syncs.get_or_create(&vec![("outcome", outcome.to_string())]).inc();
        self.sync_bytes_received.inc_by(received_bytes as u64);
        self.sync_bytes_sent.inc_by(sent_bytes as u64);
    }

    /// Counts what a successful sync moved.
    pub fn sync_moved(&self, applied: usize, sent: usize, snapshots: usize) {
        self.changes_applied.inc_by(applied as u64);
        self.changes_sent.inc_by(sent as u64);
        self.snapshots_sent.inc_by(snapshots as u64);
    }

    /// Counts a refused record by its reason code.
    pub fn refused(&self, reason: &str) {
        self.refusals.get_or_create(&vec![("reason", reason.to_string())]).inc();
    }

    /// Counts an attempt the throttle answered 429 (`login`, `enrol`).
    pub fn throttled(&self, action: &'static str) {
        self.throttled.get_or_create(&vec![("action", action.to_string())]).inc();
    }

    /// Reads the gauges of the stored data and the pools (the writer's and the readers'), then
    /// renders the text format. A
    /// database that does not answer leaves the data gauges at their last values.
    pub async fn render(&self, write: &AnyPool, read: &AnyPool) -> String {
        for (pool_name, pool) in [("write", write), ("read", read)] {
            let idle = pool.num_idle() as i64;
            let size = i64::from(pool.size());
            let set = |state: &str, v: i64| {
                self.pool_connections
                    .get_or_create(&vec![("pool", pool_name.to_string()), ("state", state.to_string())])
                    .set(v);
            };
            set("idle", idle);
            set("used", size - idle);
        }
        if let Err(e) = self.read_data_gauges(read).await {
            tracing::warn!(error = %e, "metrics: reading the record gauges failed");
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    async fn read_data_gauges(&self, read: &AnyPool) -> sqlx::Result<()> {
        let rows = sqlx::query("SELECT kind, COUNT(*) FROM record_facts WHERE deleted = FALSE GROUP BY kind")
            .fetch_all(read)
            .await?;
        for row in rows {
            self.records.get_or_create(&vec![("kind", row.get::<String, _>(0))]).set(row.get::<i64, _>(1));
        }
        let one = |sql: &'static str| async move { sqlx::query(sql).fetch_one(read).await.map(|r| r.get::<i64, _>(0)) };
        self.open_conflicts
            .set(one("SELECT COUNT(*) FROM record_facts WHERE conflicted = TRUE AND deleted = FALSE").await?);
        self.open_duplicates.set(one("SELECT COUNT(*) FROM duplicate_pairs WHERE status = 'open'").await?);
        self.pending_changes.set(one("SELECT COUNT(*) FROM pending_changes").await?);
        Ok(())
    }
}

/// Middleware: times every request and counts it under its route template (never the raw path,
/// which could carry ids).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_string();
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.observe(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// Serves `GET /metrics` (and nothing else) on its own listener until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    pools: (AnyPool, AnyPool),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move {
            (
                [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                metrics.render(&pools.0, &pools.1).await,
            )
        }),
    );
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_label_and_histograms() {
        let m = Metrics::new(histogram());
        m.observe("POST", "/api/v1/sync", 200, 0.02);
        m.observe("POST", "/api/v1/sync", 200, 3.0);
        m.refused("review_transition");
        let mut text = String::new();
        encode(&mut text, &m.registry).unwrap();
        assert!(
            text.contains(r#"sotay_http_requests_total{method="POST",route="/api/v1/sync",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"sotay_http_request_duration_seconds_bucket{le="0.025",method="POST",route="/api/v1/sync"} 1"#
            ) || text.contains(r#"route="/api/v1/sync",le="0.025"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"sotay_sync_refusals_total{reason="review_transition"} 1"#), "{text}");
        assert!(text.contains(r#"sotay_build_info{version=""#), "{text}");
    }
}
