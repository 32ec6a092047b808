//! Metrics in the Prometheus text format (`GET /metrics`): requests by route and status, their
//! latency, and what sync moves. Counts only, never ids or field values. Per instance: each
//! server process reports its own, as Prometheus expects.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (method, route, status) → count.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// route → latency histogram.
    latency: Mutex<BTreeMap<String, Histogram>>,
    /// Changes received in sync pushes.
    pub changes_received: AtomicU64,
    /// Changes sent in sync answers.
    pub changes_sent: AtomicU64,
    /// Snapshots sent while provisioning.
    pub snapshots_sent: AtomicU64,
    /// Records of pushes refused.
    pub records_refused: AtomicU64,
}

impl Metrics {
    /// Counts one request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((method.to_string(), route.to_string(), status)).or_insert(0) += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            let h = l.entry(route.to_string()).or_default();
            h.count += 1;
            h.sum += seconds;
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.buckets[i] += 1;
                }
            }
        }
    }

    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP sotay_build_info The running version.\n# TYPE sotay_build_info gauge");
        let _ = writeln!(out, "sotay_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        let _ = writeln!(out, "# HELP sotay_http_requests_total HTTP requests by route and status.");
        let _ = writeln!(out, "# TYPE sotay_http_requests_total counter");
        if let Ok(r) = self.requests.lock() {
            for ((method, route, status), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "sotay_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        let _ = writeln!(out, "# HELP sotay_http_request_duration_seconds Time to answer, by route.");
        let _ = writeln!(out, "# TYPE sotay_http_request_duration_seconds histogram");
        if let Ok(l) = self.latency.lock() {
            for (route, h) in l.iter() {
                for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                    let _ = writeln!(
                        out,
                        "sotay_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                    );
                }
                let _ = writeln!(
                    out,
                    "sotay_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(out, "sotay_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
                let _ = writeln!(out, "sotay_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
            }
        }
        for (name, help, counter) in [
            ("sotay_sync_changes_received_total", "Changes received in sync pushes.", &self.changes_received),
            ("sotay_sync_changes_sent_total", "Changes sent in sync answers.", &self.changes_sent),
            ("sotay_sync_snapshots_sent_total", "Compacted records sent while provisioning.", &self.snapshots_sent),
            ("sotay_sync_records_refused_total", "Records of pushes refused.", &self.records_refused),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out
    }
}

/// Middleware: times every request and counts it under its route template (never the raw path,
/// which could carry ids).
pub async fn track(State(metrics): State<std::sync::Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_string();
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.observe(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.observe("POST", "/api/v1/sync", 200, 0.02);
        m.observe("POST", "/api/v1/sync", 200, 3.0);
        Metrics::add(&m.changes_received, 5);
        let text = m.render();
        assert!(text.contains(r#"sotay_http_requests_total{method="POST",route="/api/v1/sync",status="200"} 2"#));
        assert!(text.contains(r#"sotay_http_request_duration_seconds_bucket{route="/api/v1/sync",le="0.025"} 1"#));
        assert!(text.contains(r#"sotay_http_request_duration_seconds_bucket{route="/api/v1/sync",le="+Inf"} 2"#));
        assert!(text.contains("sotay_sync_changes_received_total 5"));
    }
}
