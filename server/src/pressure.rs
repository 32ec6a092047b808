//! Back-pressure inside the server: how many requests are handled at once, how many bytes of
//! request bodies and inflated sync payloads are held at once, how fast a body must arrive, and
//! how many password hashes run at once. Past each bound the answer is 503 with Retry-After (408
//! for a body that arrives too slowly), so an abusive client costs a bounded amount of memory and
//! never takes `/healthz` down with it.
//!
//! Why a byte budget and not only a body limit: a sync body of 30 KB can inflate to megabytes,
//! and forty of them at once are the danger, not one. Every body is charged to the budget as it
//! arrives, and the sync handler charges the inflated size before it inflates; a request holds
//! its charge until its answer is built.

use crate::config::Limits;
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The shared bounds. One per server instance, in [`AppState`].
#[derive(Debug)]
pub struct Pressure {
    in_flight: Arc<Semaphore>,
    /// Permits are KiB.
    budget: Arc<Semaphore>,
    budget_kib: u32,
    budget_wait: Duration,
    argon2: Arc<Semaphore>,
    argon2_wait: Duration,
    /// The hashing slots' memory, reused (one buffer per slot at most).
    argon2_memory: Arc<std::sync::Mutex<Vec<Vec<argon2::Block>>>>,
    max_body: usize,
    body_grace: Duration,
    body_min_rate: u64,
}

/// Bytes held against the memory budget; given back when dropped.
#[derive(Debug)]
pub struct Charge {
    permit: Option<OwnedSemaphorePermit>,
    kib: u32,
}

impl Charge {
    /// Bytes charged.
    pub fn bytes(&self) -> usize {
        self.kib as usize * 1024
    }
}

fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

impl Pressure {
    /// The bounds of `limits`.
    pub fn new(limits: &Limits) -> Pressure {
        let budget_kib = kib(limits.memory_budget_bytes).max(1);
        Pressure {
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            budget: Arc::new(Semaphore::new(budget_kib as usize)),
            budget_kib,
            budget_wait: Duration::from_millis(limits.budget_wait_ms),
            argon2: Arc::new(Semaphore::new(limits.argon2_concurrency.max(1))),
            argon2_wait: Duration::from_millis(limits.argon2_queue_ms),
            argon2_memory: Arc::default(),
            max_body: limits.max_body_bytes,
            body_grace: Duration::from_secs(limits.body_timeout_secs),
            body_min_rate: limits.body_min_rate.max(1),
        }
    }

    /// Charges `bytes` to the memory budget, waiting for it up to the budget wait (503 past it).
    /// A charge larger than the whole budget waits for the whole budget.
    pub async fn charge(&self, bytes: usize) -> Result<Charge, ApiError> {
        let mut charge = Charge { permit: None, kib: 0 };
        self.grow(&mut charge, bytes).await?;
        Ok(charge)
    }

    /// Grows `charge` to cover `bytes` in all.
    async fn grow(&self, charge: &mut Charge, bytes: usize) -> Result<(), ApiError> {
        let want = kib(bytes).min(self.budget_kib);
        if want <= charge.kib {
            return Ok(());
        }
        let more = self.budget.clone().acquire_many_owned(want - charge.kib);
        let permit = tokio::time::timeout(self.budget_wait, more)
            .await
            .map_err(|_| ApiError::Unavailable)?
            .map_err(|_| ApiError::Unavailable)?;
        match &mut charge.permit {
            Some(held) => held.merge(permit),
            None => charge.permit = Some(permit),
        }
        charge.kib = want;
        Ok(())
    }

    /// Runs a password hash (Argon2id: 19 MiB and a core for a fraction of a second) on the
    /// blocking pool once one of the few hashing slots is free, in that slot's memory; 503 if
    /// none frees up in time.
    pub async fn hash<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<argon2::Block>) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let slot = tokio::time::timeout(self.argon2_wait, self.argon2.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Unavailable)?
            .map_err(|_| ApiError::Unavailable)?;
        let pool = self.argon2_memory.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = pool.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
            let out = work(&mut memory);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
            drop(slot);
            out
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))
    }

    /// How long a request may queue for a scarce resource (a hashing slot, a throttle lock).
    pub fn queue_wait(&self) -> Duration {
        self.argon2_wait
    }

    /// The most time a body of `received` bytes may have taken so far.
    fn body_allowance(&self, received: usize) -> Duration {
        self.body_grace + Duration::from_secs_f64(received as f64 / self.body_min_rate as f64)
    }

    /// Reads a whole request body within its time allowance and the memory budget.
    async fn read_body(&self, body: Body, declared: Option<usize>) -> Result<(Bytes, Charge), ApiError> {
        let too_large = || ApiError::TooLarge(format!("the request body is over {} bytes", self.max_body));
        if declared.is_some_and(|n| n > self.max_body) {
            return Err(too_large());
        }
        let mut charge = self.charge(declared.unwrap_or(0)).await?;
        let start = Instant::now();
        let mut body = body;
        let mut buf = Vec::with_capacity(declared.unwrap_or(0));
        loop {
            let deadline = start + self.body_allowance(buf.len());
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => return Err(ApiError::Timeout),
                Ok(None) => break,
                Ok(Some(Err(_))) => {
                    return Err(ApiError::BadRequest("the request body could not be read".into()));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > self.max_body {
                    return Err(too_large());
                }
                self.grow(&mut charge, buf.len() + data.len()).await?;
                buf.extend_from_slice(&data);
            }
        }
        Ok((Bytes::from(buf), charge))
    }
}

/// Middleware on every route but `/healthz`: a slot among the requests in flight (waiting for one
/// up to the budget wait, as for memory, then 503: a burst of phones queues for a moment instead
/// of being refused, and the connection cap bounds how many can wait), then the whole body read
/// under its deadline and charged to the memory budget before the handler sees it. The charge is
/// held until the handler has answered.
pub async fn bound(State(pressure): State<Arc<Pressure>>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let slot = tokio::time::timeout(pressure.budget_wait, pressure.in_flight.clone().acquire_owned()).await;
    let Ok(Ok(_slot)) = slot else {
        return ApiError::Unavailable.into_response();
    };
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let (parts, body) = req.into_parts();
    let (bytes, charge) = match pressure.read_body(body, declared).await {
        Ok(read) => read,
        Err(e) => return e.into_response(),
    };
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    drop(charge);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pressure(budget: usize) -> Pressure {
        Pressure::new(&Limits { memory_budget_bytes: budget, budget_wait_ms: 50, ..Limits::default() })
    }

    #[tokio::test]
    async fn the_budget_is_given_back_and_waiting_past_it_is_refused() {
        let p = pressure(64 * 1024);
        let a = p.charge(40 * 1024).await.unwrap();
        assert_eq!(a.bytes(), 40 * 1024);
        assert!(matches!(p.charge(40 * 1024).await, Err(ApiError::Unavailable)));
        drop(a);
        let b = p.charge(40 * 1024).await.unwrap();
        // Larger than the whole budget: waits for all of it, then proceeds alone.
        drop(b);
        assert_eq!(p.charge(10 << 20).await.unwrap().bytes(), 64 * 1024);
    }

    #[tokio::test]
    async fn a_hash_waits_for_a_free_slot_and_past_the_queue_wait_is_refused() {
        let p = Arc::new(Pressure::new(&Limits { argon2_concurrency: 1, argon2_queue_ms: 1000, ..Limits::default() }));
        // A hash that holds the only slot until it is told to finish.
        let (started, is_started) = tokio::sync::oneshot::channel();
        let (finish, finished) = std::sync::mpsc::channel::<()>();
        let holder = tokio::spawn({
            let p = p.clone();
            async move {
                p.hash(move |_| {
                    let _ = started.send(());
                    finished.recv().is_ok()
                })
                .await
            }
        });
        is_started.await.unwrap();
        let asked = Instant::now();
        assert!(matches!(p.hash(|_| ()).await, Err(ApiError::Unavailable)));
        assert!(asked.elapsed() >= Duration::from_millis(1000), "it waited first: {:?}", asked.elapsed());
        // One already waiting (polled once, so it is in the queue) when the slot frees up gets it.
        let mut waiter = std::pin::pin!(p.hash(|memory| memory.len()));
        tokio::select! {
            biased;
            _ = &mut waiter => panic!("no slot is free yet"),
            () = std::future::ready(()) => {}
        }
        finish.send(()).unwrap();
        waiter.await.unwrap();
        assert!(holder.await.unwrap().unwrap());
    }

    #[tokio::test]
    async fn a_body_gets_its_grace_and_then_a_minimum_rate() {
        let p = Pressure::new(&Limits { body_timeout_secs: 20, body_min_rate: 1024, ..Limits::default() });
        assert_eq!(p.body_allowance(0), Duration::from_secs(20));
        assert_eq!(p.body_allowance(10 * 1024), Duration::from_secs(30));
    }
}
