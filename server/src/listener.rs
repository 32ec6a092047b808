//! Accepting connections: how many are open (in all and per client address), how long a client
//! may take to send its headers or sit idle, and what happens past the caps. This replaces
//! `axum::serve`, which has no timeout and no cap: one client holding thousands of unfinished
//! requests could use up the process's file descriptors and take `/healthz` down.
//!
//! - A connection must send each request's headers within the header timeout; the same timer
//!   closes a keep-alive connection that stays idle that long (hyper starts it whenever it waits
//!   for a request head). Bodies have their own deadline (`pressure.rs`).
//! - Past the per-address or the total cap, a connection goes to the **overflow lane**: a small,
//!   separately capped set of connections that answer one request each, `/healthz` with "ok"
//!   and everything else 503 with Retry-After, within two seconds, then close. Past that lane too,
//!   a connection is closed at once. So a flood from one address leaves other clients served,
//!   and a flood from many still gets a prompt answer rather than a hang.

use crate::config::Limits;
use crate::error::ApiError;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// How long an overflow connection may take to send its request.
const OVERFLOW_TIMEOUT: Duration = Duration::from_secs(2);

/// Counts open connections, in all and per client address.
#[derive(Debug)]
struct Admission {
    total: Arc<Semaphore>,
    per_addr: Mutex<HashMap<IpAddr, usize>>,
    max_per_addr: usize,
}

/// An admitted connection's place; gives it back when dropped.
struct Ticket {
    admission: Arc<Admission>,
    addr: IpAddr,
    _total: OwnedSemaphorePermit,
}

impl Admission {
    fn admit(self: &Arc<Self>, addr: IpAddr) -> Option<Ticket> {
        let mut per_addr = self.per_addr.lock().unwrap_or_else(|e| e.into_inner());
        let open = per_addr.entry(addr).or_insert(0);
        if *open >= self.max_per_addr {
            return None;
        }
        let total = self.total.clone().try_acquire_owned().ok()?;
        *open += 1;
        Some(Ticket { admission: self.clone(), addr, _total: total })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut per_addr = self.admission.per_addr.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = per_addr.get_mut(&self.addr) {
            *open -= 1;
            if *open == 0 {
                per_addr.remove(&self.addr);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and waits for the
/// requests in flight to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let admission = Arc::new(Admission {
        total: Arc::new(Semaphore::new(limits.max_connections.max(1))),
        per_addr: Mutex::new(HashMap::new()),
        max_per_addr: limits.max_connections_per_addr.max(1),
    });
    let overflow = Arc::new(Semaphore::new(limits.overflow_connections.max(1)));
    let header_timeout = Duration::from_secs(limits.header_timeout_secs.max(1));
    let trusted: Arc<[IpAddr]> = limits.trusted_proxies.clone().into();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // pause briefly instead of spinning, and go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        if let Some(ticket) = admission.admit(peer.ip()) {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), WithPeer { app: app.clone(), peer, trusted: trusted.clone() });
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                let _ = conn.await;
                drop(ticket);
            });
        } else if let Ok(slot) = overflow.clone().try_acquire_owned() {
            tokio::spawn(overflow_lane(stream, slot));
        } else {
            drop(stream);
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The router as a hyper service for one connection, with the client's address for handlers.
#[derive(Clone)]
struct WithPeer {
    app: Router,
    peer: SocketAddr,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`Limits::trusted_proxies`).
    trusted: Arc<[IpAddr]>,
}

/// The client's address, the one every handler sees (throttling, the audit log): the
/// connection's peer, or, when the peer is a trusted reverse proxy, the address that proxy put
/// last in `X-Forwarded-For` (the one it saw; earlier entries come from the client and can be
/// forged). Connection caps stay per connection peer.
fn client_addr(req: &Request<Incoming>, peer: SocketAddr, trusted: &[IpAddr]) -> SocketAddr {
    if !trusted.contains(&peer.ip()) {
        return peer;
    }
    req.headers()
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
        .map_or(peer, |ip| SocketAddr::new(ip, 0))
}

/// Whether the client reached the server over HTTPS: a trusted reverse proxy said so in
/// `X-Forwarded-Proto` (the server itself speaks plain HTTP). Session cookies are `Secure` then.
#[derive(Debug, Clone, Copy, Default)]
pub struct Https(pub bool);

fn forwarded_https(req: &Request<Incoming>) -> bool {
    req.headers()
        .get_all("x-forwarded-proto")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

impl hyper::service::Service<Request<Incoming>> for WithPeer {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = tower::util::Oneshot<Router, Request<Body>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let client = client_addr(&req, self.peer, &self.trusted);
        let https = Https(self.trusted.contains(&self.peer.ip()) && forwarded_https(&req));
        req.extensions_mut().insert(ConnectInfo(client));
        req.extensions_mut().insert(https);
        self.app.clone().oneshot(req.map(Body::new))
    }
}

/// Answers one request on a connection past the caps, then closes it.
async fn overflow_lane(stream: TcpStream, slot: OwnedSemaphorePermit) {
    let answer = hyper::service::service_fn(|req: Request<Incoming>| async move {
        let response =
            if req.uri().path() == "/healthz" { "ok".into_response() } else { ApiError::Unavailable.into_response() };
        Ok::<_, Infallible>(response)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(OVERFLOW_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), answer);
    let _ = tokio::time::timeout(OVERFLOW_TIMEOUT * 2, conn).await;
    drop(slot);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_capped_per_address_and_in_all_and_given_back() {
        let admission = Arc::new(Admission {
            total: Arc::new(Semaphore::new(3)),
            per_addr: Mutex::new(HashMap::new()),
            max_per_addr: 2,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = admission.admit(a).unwrap();
        let _a2 = admission.admit(a).unwrap();
        assert!(admission.admit(a).is_none(), "third from one address");
        let _b1 = admission.admit(b).unwrap();
        assert!(admission.admit(b).is_none(), "over the total");
        drop(a1);
        assert!(admission.admit(b).is_some(), "a closed connection frees its place");
    }
}
