//! The phone's session policy, in one place: enrolment that can be retried after a lost answer,
//! the credential kept in the phone's store (its secret sealed under the store's data key),
//! access tokens fetched and refreshed, the scope refreshed when the server resets the phone, the
//! GBV wipe when the server says the phone was revoked, and the time of the last successful sync.
//! The mobile bindings and the `sotay` command line are thin layers over this.

use crate::error::ClientError;
use crate::http::{Client, ClientConfig};
use crate::store::SqliteStore;
use crate::sync::{SyncOptions, SyncReport};
use serde::{Deserialize, Serialize};
use sotay_sync_core::device::{Device, DeviceIdentity};
use sotay_sync_core::{DeviceId, Role, VillageId};
use std::time::{Duration, Instant};

const CREDENTIAL: &str = "credential";
const ENROLMENT: &str = "enrolment";
const LAST_SYNC: &str = "last_sync_ms";
const REVOKED: &str = "revoked";

/// Days without a successful sync after which an app locks the GBV referrals by default
/// ([`Session::lock_if_stale`]): a phone that long out of touch may be lost.
pub const DEFAULT_GBV_LOCK_AFTER_DAYS: u32 = 30;

/// What enrolment gave this device, kept in its store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The server's base URL.
    pub server: String,
    /// Identity and scope.
    pub identity: DeviceIdentity,
    /// The role, as the server reported it at enrolment.
    pub role: Role,
    /// The device secret: kept in the store only sealed ([`SqliteStore::set_secret`]), never in
    /// the plain settings; empty once the phone was revoked, or while the store's key is missing.
    #[serde(default, skip_serializing)]
    pub secret: String,
}

/// An enrolment under way: saved before the request is sent, so that a retry after a lost answer
/// sends the same secret and gets the same device.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingEnrolment {
    server: String,
    code: String,
    secret: String,
}

/// An enrolled phone: its store, its credential and a client of its server.
#[derive(Debug)]
pub struct Session {
    client: Client,
    device: Device<SqliteStore>,
    credential: Credential,
    token: Option<(String, Instant)>,
}

/// The credential kept in a store, if the phone is enrolled. Its secret is sealed under the
/// store's data key: opened without the right phone key, the secret comes back empty and
/// [`Session::sync`] answers [`ClientError::KeyNeeded`].
pub fn credential(store: &SqliteStore) -> Result<Option<Credential>, ClientError> {
    let Some(bytes) = store.get_meta(CREDENTIAL)? else { return Ok(None) };
    let mut credential: Credential = serde_json::from_slice(&bytes).map_err(|e| ClientError::Storage(e.to_string()))?;
    // A credential saved before sealing still holds its secret in plain (until `Session::open`).
    match store.get_secret(CREDENTIAL) {
        Ok(Some(secret)) => credential.secret = String::from_utf8_lossy(&secret).into_owned(),
        Ok(None) => {}
        Err(crate::store::StoreError::Locked(_)) => credential.secret.clear(),
        Err(e) => return Err(e.into()),
    }
    Ok(Some(credential))
}

/// Saves the credential's public part (server, identity, role); its secret is kept apart, sealed.
fn save_credential(store: &mut SqliteStore, credential: &Credential) -> Result<(), ClientError> {
    let bytes = serde_json::to_vec(credential).map_err(|e| ClientError::Storage(e.to_string()))?;
    Ok(store.set_meta(CREDENTIAL, &bytes)?)
}

/// Seals a secret of the session; without the store's key, enrolling cannot keep its secret.
fn save_secret(store: &mut SqliteStore, key: &str, value: &[u8]) -> Result<(), ClientError> {
    store.set_secret(key, value).map_err(key_needed)
}

/// A store error, where a locked store means the session's secrets cannot be read or kept.
fn key_needed(e: crate::store::StoreError) -> ClientError {
    match e {
        crate::store::StoreError::Locked(_) => ClientError::KeyNeeded,
        e => e.into(),
    }
}

/// When the last sync of the phone whose store is `store` succeeded (Unix ms), if ever.
pub fn last_sync_ms(store: &SqliteStore) -> Result<Option<i64>, ClientError> {
    Ok(store.get_meta(LAST_SYNC)?.and_then(|b| b.try_into().ok()).map(i64::from_le_bytes))
}

/// Whether the server said the phone whose store is `store` was revoked (its GBV data is gone).
pub fn is_revoked(store: &SqliteStore) -> Result<bool, ClientError> {
    Ok(store.get_meta(REVOKED)?.is_some())
}

/// The phone's clock, in Unix ms (advisory: phones' clocks can be wrong).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn new_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Session {
    /// The session of an enrolled store, or `NotEnrolled`.
    pub fn open(mut store: SqliteStore, config: ClientConfig) -> Result<Session, ClientError> {
        let credential = credential(&store)?.ok_or(ClientError::NotEnrolled)?;
        if !credential.secret.is_empty() && store.gbv_lock().is_none() && store.get_secret(CREDENTIAL)?.is_none() {
            // Saved in plain by an older app: sealed now, and the plain copy overwritten.
            save_secret(&mut store, CREDENTIAL, credential.secret.as_bytes())?;
            save_credential(&mut store, &credential)?;
        }
        let client = Client::with_config(&credential.server, config)?;
        Ok(Session { client, device: Device::new(credential.identity, store), credential, token: None })
    }

    /// Enrols the phone whose store is `store` with a one-time `code` from the commune office.
    /// Retried on network faults with the same phone-chosen secret, so an answer lost after the
    /// server used the code still ends in this phone being enrolled.
    pub async fn enrol(
        mut store: SqliteStore,
        server: &str,
        code: &str,
        device_name: &str,
        config: ClientConfig,
        options: &SyncOptions,
    ) -> Result<Session, ClientError> {
        if credential(&store)?.is_some() {
            return Err(ClientError::AlreadyEnrolled);
        }
        let client = Client::with_config(server, config.clone())?;
        let pending = store.get_secret(ENROLMENT).map_err(key_needed)?;
        // An enrolment an older app began kept its secret in plain: taken over, sealed, erased.
        let pending = match pending {
            Some(bytes) => Some(bytes),
            None => store.get_meta(ENROLMENT)?,
        };
        let pending: Option<PendingEnrolment> = pending.and_then(|b| serde_json::from_slice(&b).ok());
        let pending = match pending {
            Some(p) if p.server == client.base() && p.code == code => p,
            _ => PendingEnrolment { server: client.base().to_string(), code: code.to_string(), secret: new_secret() },
        };
        let bytes = serde_json::to_vec(&pending).map_err(|e| ClientError::Storage(e.to_string()))?;
        save_secret(&mut store, ENROLMENT, &bytes)?;
        store.delete_meta(ENROLMENT)?;
        let answer =
            crate::sync::with_retries(options, || client.enrol(code, device_name, Some(&pending.secret))).await?;
        let credential = Credential {
            server: client.base().to_string(),
            identity: DeviceIdentity {
                device: answer.device_id,
                user: answer.user_id,
                commune: answer.commune_id,
                village: answer.village_id.unwrap_or(VillageId(uuid::Uuid::nil())),
            },
            role: answer.role,
            secret: answer.device_secret,
        };
        save_secret(&mut store, CREDENTIAL, credential.secret.as_bytes())?;
        save_credential(&mut store, &credential)?;
        store.delete_secret(ENROLMENT)?;
        store.delete_meta(REVOKED)?;
        Ok(Session { client, device: Device::new(credential.identity, store), credential, token: None })
    }

    /// The device (records, edits, conflicts).
    pub fn device(&self) -> &Device<SqliteStore> {
        &self.device
    }

    /// The device, for edits.
    pub fn device_mut(&mut self) -> &mut Device<SqliteStore> {
        &mut self.device
    }

    /// The credential.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// This device's id.
    pub fn device_id(&self) -> DeviceId {
        self.credential.identity.device
    }

    /// The client of this phone's server.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// When the last sync succeeded (Unix ms), if ever.
    pub fn last_sync_ms(&self) -> Result<Option<i64>, ClientError> {
        last_sync_ms(self.device.store())
    }

    /// Whether the server said this phone was revoked (its GBV data is gone).
    pub fn is_revoked(&self) -> Result<bool, ClientError> {
        is_revoked(self.device.store())
    }

    /// A valid access token, fetched when there is none or it is about to expire.
    pub async fn token(&mut self, options: &SyncOptions) -> Result<String, ClientError> {
        if let Some((token, until)) = &self.token
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        if self.credential.secret.is_empty() {
            // Sealed under a key this store was not opened with, or erased at revocation.
            return Err(match self.device.store().get_secret(CREDENTIAL) {
                Err(crate::store::StoreError::Locked(_)) => ClientError::KeyNeeded,
                _ => ClientError::NotEnrolled,
            });
        }
        let (client, device, secret) = (&self.client, self.credential.identity.device, &self.credential.secret);
        let answer = crate::sync::with_retries(options, || client.token(device, secret)).await;
        let answer = match answer {
            Err(ClientError::Revoked) => return Err(self.revoked()),
            other => other?,
        };
        // Refreshed well before it expires, so a long sync on a slow link never holds a stale one.
        let until = Instant::now() + Duration::from_secs(answer.expires_in * 3 / 4);
        self.token = Some((answer.access_token.clone(), until));
        Ok(answer.access_token)
    }

    /// Syncs until nothing is left to send or receive. Network faults are retried by themselves
    /// (`options.retry`); an expired token is refreshed once; a revoked phone wipes its GBV data.
    pub async fn sync(&mut self, options: &SyncOptions) -> Result<SyncReport, ClientError> {
        if self.is_revoked()? {
            return Err(ClientError::Revoked);
        }
        let mut result = Err(ClientError::NotEnrolled);
        for _ in 0..2 {
            let token = self.token(options).await?;
            result = self.client.sync_with(&mut self.device, &token, options).await;
            match &result {
                Err(ClientError::Server { status: 401, .. }) => self.token = None,
                _ => break,
            }
        }
        if self.device.identity() != self.credential.identity {
            // The server gave this phone a new scope: keep it for next time, whatever else happened.
            self.credential.identity = self.device.identity();
            save_credential(self.device.store_mut(), &self.credential)?;
        }
        match result {
            Err(ClientError::Revoked) => Err(self.revoked()),
            Ok(report) => {
                self.device.store_mut().set_meta(LAST_SYNC, &now_ms().to_le_bytes())?;
                Ok(report)
            }
            Err(e) => Err(e),
        }
    }

    /// The server said this phone is revoked: its GBV referrals go at once (key first), its device
    /// secret is erased, and it stops syncing.
    fn revoked(&mut self) -> ClientError {
        tracing::warn!(device = %self.credential.identity.device, "device revoked; GBV data wiped");
        if let Err(e) = self.device.wipe_sensitive() {
            return e.into();
        }
        if let Err(e) = self.device.store_mut().set_meta(REVOKED, b"1") {
            return e.into();
        }
        // The device secret is worthless now; it does not stay on the phone either.
        self.credential.secret.clear();
        self.token = None;
        if let Err(e) = self.device.store_mut().delete_secret(CREDENTIAL) {
            return e.into();
        }
        // Overwrites a plain copy an older app may have left in the public part.
        if let Err(e) = save_credential(self.device.store_mut(), &self.credential) {
            return e;
        }
        ClientError::Revoked
    }

    /// Locks the GBV referrals when the last successful sync is more than `days` days before
    /// `now_ms` (the phone may be lost), until [`Session::sign_in`]; `days` = 0 never locks.
    /// Returns whether they are locked now (for this reason or another).
    pub fn lock_if_stale(&mut self, days: u32, now_ms: i64) -> Result<bool, ClientError> {
        if days > 0
            && let Some(last) = self.last_sync_ms()?
            && now_ms.saturating_sub(last) > i64::from(days) * 86_400_000
        {
            self.device.store_mut().lock_gbv();
        }
        Ok(self.device.store().gbv_lock().is_some())
    }

    /// The person signs in again with their password, checked by the server; it must be this
    /// phone's user. Unlocks the GBV referrals locked by [`Session::lock_if_stale`].
    pub async fn sign_in(&mut self, username: &str, password: &str, options: &SyncOptions) -> Result<(), ClientError> {
        let client = &self.client;
        let answer = match crate::sync::with_retries(options, || client.login(username, password)).await {
            Err(ClientError::Server { status: 401, .. }) => return Err(ClientError::BadPassword),
            other => other?,
        };
        // The token came over this connection from the phone's own server, in answer to this
        // password: its subject says whose password it was.
        if token_subject(&answer.access_token) != Some(self.credential.identity.user.to_string()) {
            return Err(ClientError::WrongAccount);
        }
        match self.device.store_mut().unlock_gbv()? {
            None => Ok(()),
            Some(lock) => Err(ClientError::Locked(lock.to_string())),
        }
    }

    /// Removes everything from this phone (records, unsent changes, credential), returning the
    /// empty store, ready to enrol again.
    pub fn wipe(self) -> Result<SqliteStore, ClientError> {
        let mut store = self.device.into_store();
        store.wipe_all()?;
        Ok(store)
    }
}

/// The `sub` claim of a JSON Web Token, read without checking its signature (see its caller).
fn token_subject(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_string)
}
