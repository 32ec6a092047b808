//! Sổ Tay for phones: the UniFFI surface of the device library (`sotay-client`), for Kotlin,
//! Swift and Python. One object, [`Phone`], a thin wrapper over a `Session` and its SQLite store;
//! flat records with labels already in the person's language (`types.rs`); one error enum with
//! stable codes (`error.rs`).
//!
//! Threading: every method blocks. Call them off the UI thread (a sync may take minutes on a
//! village link). Reads (`list`, `record`, `status`, `refused_changes`) use their own database
//! connection, so they answer while a sync runs; writes wait for a running sync to finish a
//! round, or call `cancel_sync` first.

mod error;
mod types;

pub use error::{FieldProblem, SotayError};
pub use types::*;

use sotay_client::session::now_ms;
use sotay_client::store::{GbvLock, PhoneKey, SqliteStore};
use sotay_client::{CancelToken, ClientConfig, ClientError, RetryPolicy, Session, SyncOptions};
use sotay_sync_core::schema::{Coded, Lang, RecordKind};
use sotay_sync_core::{Date, Edit, Field, Record, RecordId};
use std::sync::{Arc, Mutex, MutexGuard};

uniffi::setup_scaffolding!();

/// The sync-core version these bindings wrap, so apps can report it.
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

enum State {
    NotEnrolled(SqliteStore),
    Enrolled(Box<Session>),
    /// Only while changing between the two.
    Moving,
}

/// A phone: its store, its enrolment and its sync. Open one per store file and keep it for the
/// app's lifetime.
#[derive(uniffi::Object)]
pub struct Phone {
    path: String,
    lang: Lang,
    config: ClientConfig,
    retry: RetryPolicy,
    runtime: tokio::runtime::Runtime,
    cancel: CancelToken,
    key: Option<PhoneKey>,
    state: Mutex<State>,
    reader: Mutex<SqliteStore>,
}

fn parse_id(id: &str, lang: Lang) -> Result<RecordId, SotayError> {
    id.parse().map_err(|_| SotayError::Refused {
        code: "not_found".into(),
        reason: if lang == Lang::Vi {
            "Không có bản ghi này trên điện thoại."
        } else {
            "This record is not on this phone."
        }
        .into(),
    })
}

impl Phone {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reader(&self) -> MutexGuard<'_, SqliteStore> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn client_err(&self, e: ClientError) -> SotayError {
        SotayError::from_client(e, self.lang)
    }

    /// Runs `f` on the enrolled session.
    fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> Result<T, SotayError>) -> Result<T, SotayError> {
        match &mut *self.state() {
            State::Enrolled(s) => f(s),
            _ => Err(self.client_err(ClientError::NotEnrolled)),
        }
    }

    fn edits(&self, values: &[FieldValue]) -> Result<Vec<Edit>, SotayError> {
        let mut edits = Vec::new();
        let mut problems = Vec::new();
        for v in values {
            match Edit::parse(&v.field, &v.value) {
                Ok(e) => edits.push(e),
                Err(e) => {
                    let label = Field::from_code(&v.field).map_or(v.field.clone(), |f| f.label(self.lang).to_string());
                    let message = match self.lang {
                        Lang::Vi => format!("{label}: giá trị “{}” không hợp lệ ({}).", v.value, e.reason),
                        Lang::En => format!("{label}: the value “{}” is not valid ({}).", v.value, e.reason),
                    };
                    problems.push(FieldProblem { field: v.field.clone(), label, message });
                }
            }
        }
        if problems.is_empty() {
            return Ok(edits);
        }
        Err(SotayError::Invalid {
            code: "invalid".into(),
            reason: match self.lang {
                Lang::Vi => "Có giá trị không hợp lệ; chưa có gì được lưu.",
                Lang::En => "Some values are not valid; nothing was saved.",
            }
            .into(),
            fields: problems,
        })
    }

    fn sync_options(&self, listener: Option<Arc<dyn SyncListener>>) -> SyncOptions {
        SyncOptions {
            retry: self.retry,
            max_push_bytes: 0,
            cancel: self.cancel.clone(),
            progress: listener.map(|l| {
                Arc::new(move |s: &sotay_client::SyncStatus| l.on_progress(s.into())) as sotay_client::sync::ProgressFn
            }),
        }
    }
}

#[uniffi::export]
impl Phone {
    /// Opens (or creates) the phone's store at `path`, a file in the app's private storage.
    #[uniffi::constructor]
    pub fn open(path: String, config: PhoneConfig) -> Result<Arc<Phone>, SotayError> {
        let lang = Lang::from_code(&config.lang).unwrap_or_default();
        let storage = |e: sotay_client::store::StoreError| SotayError::from_client(e.into(), lang);
        let key = match &config.key {
            None => None,
            Some(bytes) => Some(PhoneKey::from_slice(bytes).ok_or_else(|| {
                SotayError::Refused {
                    code: "bad_key".into(),
                    reason: if lang == Lang::Vi {
                        "Khoá của ứng dụng phải dài đúng 32 byte."
                    } else {
                        "The app's key must be exactly 32 bytes."
                    }
                    .into(),
                }
            })?),
        };
        let store = SqliteStore::open(std::path::Path::new(&path), key.as_ref()).map_err(storage)?;
        let mut reader = SqliteStore::open(std::path::Path::new(&path), key.as_ref()).map_err(storage)?;
        let client_config = ClientConfig {
            lang,
            allow_plain_http: config.allow_plain_http,
            extra_roots: config.ca_certificate.clone().into_iter().collect(),
            ..ClientConfig::default()
        };
        let lock_after = config.gbv_lock_after_days.unwrap_or(sotay_client::session::DEFAULT_GBV_LOCK_AFTER_DAYS);
        let state = match sotay_client::session::credential(&store) {
            Ok(Some(_)) => {
                let mut session =
                    Session::open(store, client_config.clone()).map_err(|e| SotayError::from_client(e, lang))?;
                // A phone that has not synced for too long may be lost: its cases lock until the
                // person signs in again. Both connections lock, so no screen reads them.
                if session.lock_if_stale(lock_after, now_ms()).map_err(|e| SotayError::from_client(e, lang))?
                    && session.device().store().gbv_lock() == Some(GbvLock::Stale)
                {
                    reader.lock_gbv();
                }
                State::Enrolled(Box::new(session))
            }
            Ok(None) => State::NotEnrolled(store),
            Err(e) => return Err(SotayError::from_client(e, lang)),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| SotayError::from_client(ClientError::Storage(e.to_string()), lang))?;
        let mut retry = RetryPolicy::default();
        if config.max_attempts > 0 {
            retry.max_attempts = config.max_attempts;
        }
        Ok(Arc::new(Phone {
            path,
            lang,
            config: client_config,
            retry,
            runtime,
            cancel: CancelToken::new(),
            key,
            state: Mutex::new(state),
            reader: Mutex::new(reader),
        }))
    }

    /// Whether this phone is enrolled.
    pub fn is_enrolled(&self) -> bool {
        matches!(&*self.state(), State::Enrolled(_))
    }

    /// Enrols this phone with a one-time code from the commune office. Safe to call again after a
    /// network failure: the same code gets the same device.
    pub fn enrol(&self, server_url: String, code: String, device_name: String) -> Result<PhoneStatus, SotayError> {
        {
            let mut state = self.state();
            let store = match std::mem::replace(&mut *state, State::Moving) {
                State::NotEnrolled(store) => store,
                other => {
                    *state = other;
                    return Err(self.client_err(ClientError::AlreadyEnrolled));
                }
            };
            // The store is needed back if enrolment fails: reopen it (enrol consumes it).
            self.cancel.reset();
            let options = self.sync_options(None);
            let result = self.runtime.block_on(Session::enrol(
                store,
                &server_url,
                &code,
                &device_name,
                self.config.clone(),
                &options,
            ));
            match result {
                Ok(session) => *state = State::Enrolled(Box::new(session)),
                Err(e) => {
                    let reopened = SqliteStore::open(std::path::Path::new(&self.path), self.key.as_ref())
                        .map_err(|s| self.client_err(s.into()))?;
                    *state = State::NotEnrolled(reopened);
                    return Err(self.client_err(e));
                }
            }
        }
        self.status()
    }

    /// Creates a record in the user's village; returns its id. Values that cannot be read are
    /// returned per field and nothing is saved; a draft may be incomplete (see `problems`).
    pub fn create(&self, kind: Kind, values: Vec<FieldValue>) -> Result<String, SotayError> {
        let edits = self.edits(&values)?;
        self.with_session(|s| {
            s.device_mut()
                .create(RecordKind::from(kind), &edits, now_ms())
                .map(|id| id.to_string())
                .map_err(|e| SotayError::from_device(e, self.lang))
        })
    }

    /// Edits a record; returns whether anything changed.
    pub fn edit(&self, id: String, values: Vec<FieldValue>) -> Result<bool, SotayError> {
        let id = parse_id(&id, self.lang)?;
        let edits = self.edits(&values)?;
        self.with_session(|s| {
            s.device_mut().edit(id, &edits, now_ms()).map_err(|e| SotayError::from_device(e, self.lang))
        })
    }

    /// Soft-deletes a record (it can be restored by the commune office).
    pub fn delete(&self, id: String) -> Result<(), SotayError> {
        let id = parse_id(&id, self.lang)?;
        self.with_session(|s| s.device_mut().delete(id, now_ms()).map_err(|e| SotayError::from_device(e, self.lang)))
    }

    /// Submits a record for review; an invalid one is refused with its problems per field.
    pub fn submit(&self, id: String) -> Result<(), SotayError> {
        let id = parse_id(&id, self.lang)?;
        self.with_session(|s| {
            s.device_mut()
                .submit(id, Date::from_unix_ms(now_ms()), now_ms())
                .map_err(|e| SotayError::from_device(e, self.lang))
        })
    }

    /// What keeps a record from being submitted, per field (empty when it is ready).
    pub fn problems(&self, id: String) -> Result<Vec<FieldProblem>, SotayError> {
        let view = self.load(&id)?.view();
        Ok(sotay_sync_core::validate(&view, Date::from_unix_ms(now_ms()))
            .iter()
            .map(|v| FieldProblem {
                field: v.field.code().to_string(),
                label: v.field.label(self.lang).to_string(),
                message: v.message(self.lang),
            })
            .collect())
    }

    /// Resolves a conflict by choosing one of its values (its index in `ConflictInfo::choices`).
    pub fn resolve(&self, id: String, field: String, choice: u32) -> Result<(), SotayError> {
        let id = parse_id(&id, self.lang)?;
        let field = Field::from_code(&field)
            .ok_or_else(|| SotayError::Refused { code: "not_found".into(), reason: format!("{field}?") })?;
        self.with_session(|s| {
            s.device_mut()
                .resolve(id, field, choice as usize, now_ms())
                .map_err(|e| SotayError::from_device(e, self.lang))
        })
    }

    /// A page of the record list (newest date first).
    pub fn list(&self, filter: RecordFilter) -> Result<Vec<RecordSummary>, SotayError> {
        let query = filter.to_query().map_err(|m| SotayError::Refused { code: "invalid".into(), reason: m })?;
        let views = self.reader().query(&query).map_err(|e| self.client_err(e.into()))?;
        Ok(views.iter().map(|v| RecordSummary::new(v, self.lang)).collect())
    }

    /// One record with its fields, conflicts (value, who, device, when) and history.
    pub fn record(&self, id: String) -> Result<RecordDetail, SotayError> {
        let mut record = self.load(&id)?;
        let view = record.view();
        let history = record.field_history();
        Ok(RecordDetail::new(&view, &history, self.lang))
    }

    /// Syncs now: sends what is unsent, receives what is new. Blocks (run it off the UI thread);
    /// network faults are retried by themselves with backoff; `cancel_sync` stops it.
    pub fn sync(&self, listener: Option<Arc<dyn SyncListener>>) -> Result<SyncResult, SotayError> {
        self.cancel.reset();
        let options = self.sync_options(listener);
        let report = self.with_session(|s| self.runtime.block_on(s.sync(&options)).map_err(|e| self.client_err(e)));
        // A revocation during the sync destroyed the data key and made a new one: the reading
        // connection takes it up (a stale-phone lock stays).
        self.reader().refresh_data_key().map_err(|e| self.client_err(e.into()))?;
        Ok(SyncResult::from(&report?))
    }

    /// Stops a running sync (from any thread). What was committed stays; the rest is sent next time.
    pub fn cancel_sync(&self) {
        self.cancel.cancel();
    }

    /// The home screen: enrolment, last sync, unsent and refused changes, counts.
    pub fn status(&self) -> Result<PhoneStatus, SotayError> {
        let reader = self.reader();
        let counts = reader.counts().map_err(|e| self.client_err(e.into()))?;
        let credential = sotay_client::session::credential(&reader).map_err(|e| self.client_err(e))?;
        let status = PhoneStatus {
            enrolled: credential.is_some(),
            device_id: credential.as_ref().map(|c| c.identity.device.to_string()),
            server: credential.as_ref().map(|c| c.server.clone()),
            role: credential.as_ref().map(|c| c.role.code().to_string()),
            revoked: sotay_client::session::is_revoked(&reader).map_err(|e| self.client_err(e))?,
            gbv_lock: reader.gbv_lock().map(|l| {
                match l {
                    GbvLock::NoKey => "no_key",
                    GbvLock::WrongKey => "wrong_key",
                    GbvLock::Stale => "stale",
                }
                .to_string()
            }),
            last_sync_ms: sotay_client::session::last_sync_ms(&reader).map_err(|e| self.client_err(e))?,
            unsent_changes: 0,
            refused_changes: 0,
            records: 0,
            activities: 0,
            gbv_referrals: 0,
            drafts: 0,
            submitted: 0,
            returned: 0,
            approved: 0,
            conflicted: 0,
        };
        Ok(status.counts(&counts))
    }

    /// Local changes the server refused, oldest first. The record shows what the server holds;
    /// each refused change can be discarded or re-submitted as a new edit.
    pub fn refused_changes(&self) -> Result<Vec<RefusedChange>, SotayError> {
        let list =
            sotay_sync_core::device::DeviceStore::rejected(&*self.reader()).map_err(|e| self.client_err(e.into()))?;
        Ok(list.iter().map(|r| RefusedChange::new(r, self.lang)).collect())
    }

    /// Forgets a refused change (the person has seen it); returns whether there was one.
    pub fn discard_refused(&self, id: u64) -> Result<bool, SotayError> {
        self.with_session(|s| s.device_mut().discard_rejected(id).map_err(|e| SotayError::from_device(e, self.lang)))
    }

    /// Sends what a refused change meant again, as a new edit of the record as it is now (review
    /// actions and deletions are not carried over); a refused new record is made again as a new
    /// record. Returns the id of the record edited. It is checked by the server at the next sync.
    pub fn resubmit_refused(&self, id: u64) -> Result<String, SotayError> {
        self.with_session(|s| {
            s.device_mut()
                .resubmit(id, now_ms())
                .map(|r| r.to_string())
                .map_err(|e| SotayError::from_device(e, self.lang))
        })
    }

    /// The person signs in again with their name and password (checked by the server; it must be
    /// this phone's account): unlocks GBV referrals locked because the phone went too long
    /// without a sync.
    pub fn sign_in(&self, username: String, password: String) -> Result<(), SotayError> {
        self.cancel.reset();
        let options = self.sync_options(None);
        self.with_session(|s| {
            self.runtime.block_on(s.sign_in(&username, &password, &options)).map_err(|e| self.client_err(e))
        })?;
        let remaining = self.reader().unlock_gbv().map_err(|e| self.client_err(e.into()))?;
        match remaining {
            None => Ok(()),
            Some(lock) => Err(self.client_err(ClientError::Locked(lock.to_string()))),
        }
    }

    /// Removes everything from this phone: records, unsent changes, the enrolment.
    pub fn wipe(&self) -> Result<(), SotayError> {
        let mut state = self.state();
        let store = match std::mem::replace(&mut *state, State::Moving) {
            State::Enrolled(session) => session.wipe().map_err(|e| self.client_err(e))?,
            State::NotEnrolled(mut store) => {
                store.wipe_all().map_err(|e| self.client_err(e.into()))?;
                store
            }
            State::Moving => SqliteStore::open(std::path::Path::new(&self.path), self.key.as_ref())
                .map_err(|e| self.client_err(e.into()))?,
        };
        *state = State::NotEnrolled(store);
        drop(state);
        // The wipe replaced the data key: the reading connection takes up the new one.
        self.reader().unlock_gbv().map_err(|e| self.client_err(e.into()))?;
        Ok(())
    }
}

impl Phone {
    fn load(&self, id: &str) -> Result<Record, SotayError> {
        let id = parse_id(id, self.lang)?;
        let bytes = sotay_sync_core::device::DeviceStore::load_record(&*self.reader(), id)
            .map_err(|e| self.client_err(e.into()))?
            .ok_or_else(|| {
                SotayError::from_device::<ClientError>(sotay_sync_core::device::DeviceError::NotFound(id), self.lang)
            })?;
        Record::load(&bytes, None).map_err(|e| self.client_err(ClientError::Storage(e.to_string())))
    }
}
