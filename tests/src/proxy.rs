//! A TCP proxy between a phone and the server that plays a village link: latency, a rate limit,
//! lost segments (as retransmission delays), stalls (a fade), requests cut mid-body, and answers
//! dropped after the server committed. The kernel here has no netem, so the network is emulated
//! in user space; faults are armed by the test and apply to the next bytes that pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The shape of the link (both directions).
#[derive(Debug, Clone, Copy, Default)]
pub struct Link {
    /// One-way delay added to every segment.
    pub delay: Duration,
    /// Bytes per second (0 = unlimited).
    pub rate: u64,
    /// Probability that a segment is lost and resent after `rto`.
    pub loss: f64,
    /// The retransmission timeout a lost segment costs.
    pub rto: Duration,
}

impl Link {
    /// A 2G link: 50 kbit/s, 300 ms round trip, the given loss.
    pub fn two_g(loss: f64) -> Link {
        Link { delay: Duration::from_millis(150), rate: 50_000 / 8, loss, rto: Duration::from_millis(600) }
    }
}

/// What the test can do to the link while it runs.
#[derive(Debug, Default)]
pub struct Faults {
    stalled: AtomicBool,
    resume: tokio::sync::Notify,
    cut_requests: AtomicU32,
    drop_answers: AtomicU32,
    /// Answers dropped so far (after the server had answered: it committed).
    pub answers_dropped: AtomicU32,
    /// Requests cut so far.
    pub requests_cut: AtomicU32,
    /// Connections accepted so far.
    pub connections: AtomicU32,
    /// Bytes sent from the phone to the server.
    pub bytes_up: AtomicU64,
    /// Bytes sent from the server to the phone.
    pub bytes_down: AtomicU64,
}

impl Faults {
    /// Stops every byte in both directions (a fade) until [`Faults::resume`].
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// Lets bytes flow again.
    pub fn resume(&self) {
        self.stalled.store(false, Ordering::SeqCst);
        self.resume.notify_waiters();
    }

    /// Cuts the next `n` requests halfway through the first segment that carries them.
    pub fn cut_requests(&self, n: u32) {
        self.cut_requests.store(n, Ordering::SeqCst);
    }

    /// Drops the next `n` answers: the request reaches the server, which commits and answers; the
    /// answer never reaches the phone and the connection is closed.
    pub fn drop_answers(&self, n: u32) {
        self.drop_answers.store(n, Ordering::SeqCst);
    }

    async fn wait_if_stalled(&self) {
        loop {
            let resumed = self.resume.notified();
            tokio::pin!(resumed);
            resumed.as_mut().enable();
            if !self.stalled.load(Ordering::SeqCst) {
                return;
            }
            resumed.await;
        }
    }

    fn take(counter: &AtomicU32) -> bool {
        counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

/// A running proxy.
pub struct Proxy {
    /// `http://127.0.0.1:<port>`: give this to the phone.
    pub base: String,
    /// The faults to arm.
    pub faults: Arc<Faults>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`) over `link`.
    pub async fn start(upstream: &str, link: Link) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let base = format!("http://{}", listener.local_addr().expect("proxy address"));
        let faults = Arc::new(Faults::default());
        let upstream = upstream.to_string();
        let f = faults.clone();
        let task = tokio::spawn(async move {
            while let Ok((phone, _)) = listener.accept().await {
                f.connections.fetch_add(1, Ordering::SeqCst);
                let (f, upstream) = (f.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else { return };
                    let _ = phone.set_nodelay(true);
                    let (pr, pw) = phone.into_split();
                    let (sr, sw) = server.into_split();
                    let up = pump(pr, sw, f.clone(), link, Direction::Up);
                    let down = pump(sr, pw, f, link, Direction::Down);
                    // Either side ending (or a fault) ends the connection both ways.
                    tokio::select! { _ = up => {}, _ = down => {} }
                });
            }
        });
        Proxy { base, faults, task }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    faults: Arc<Faults>,
    link: Link,
    dir: Direction,
) {
    let mut buf = vec![0u8; 1024];
    let mut last_forward = std::time::Instant::now() - link.delay * 2;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // A segment that starts a burst pays the propagation delay; the rest of a burst streams
        // behind it at the link's rate.
        let burst_start = last_forward.elapsed() > Duration::from_millis(20);
        faults.wait_if_stalled().await;
        match dir {
            Direction::Up if Faults::take(&faults.cut_requests) => {
                let _ = to.write_all(&buf[..n / 2]).await;
                faults.requests_cut.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Direction::Down if Faults::take(&faults.drop_answers) => {
                faults.answers_dropped.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Direction::Up => {
                faults.bytes_up.fetch_add(n as u64, Ordering::SeqCst);
            }
            Direction::Down => {
                faults.bytes_down.fetch_add(n as u64, Ordering::SeqCst);
            }
        }
        let mut wait = if burst_start { link.delay } else { Duration::ZERO };
        if link.rate > 0 {
            wait += Duration::from_secs_f64(n as f64 / link.rate as f64);
        }
        if link.loss > 0.0 && rand::random::<f64>() < link.loss {
            wait += link.rto;
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        faults.wait_if_stalled().await;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        last_forward = std::time::Instant::now();
    }
}
