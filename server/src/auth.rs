//! Device credentials and access tokens.
//!
//! A phone enrols once with a one-time code and receives a device id and a random secret (only a
//! SHA-256 hash of it is stored: the secret is 256 random bits, so a slow hash adds nothing).
//! It exchanges the secret for short-lived JWT access tokens (RFC 8725 practice: HS256 pinned,
//! `typ` checked, `exp`, `nbf`, `iss`, `aud` required). Every request re-reads the device and
//! its user from the database, so a revoked phone is refused on its next request and the scope
//! of a sync always comes from the server-side user, never from the token or the request.

use crate::db::Db;
use crate::error::ApiError;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sotay_sync_core::Coded;
use sotay_sync_core::{CommuneId, DeviceId, UserId, VillageId};
use sqlx::Row;

/// Token issuer.
pub const ISSUER: &str = "sotay";
/// Token audience.
pub const AUDIENCE: &str = "sotay-api";
/// The JOSE `typ` of access tokens (RFC 9068).
pub const TOKEN_TYPE: &str = "at+jwt";

pub use sotay_sync_core::schema::Role;

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: String,
    /// The device.
    pub did: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Not before.
    pub nbf: u64,
    /// Issued at.
    pub iat: u64,
}

/// Signing keys, loaded from (or created in) the database so every instance shares them.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<secret>)")
    }
}

impl Keys {
    /// Keys from a secret (refused if empty).
    pub fn from_secret(secret: &[u8]) -> Result<Keys, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        Ok(Keys {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
        })
    }

    /// Loads the signing secret from the database, creating it on first start.
    pub async fn load_or_create(db: &crate::db::Db) -> anyhow::Result<Keys> {
        let fresh: [u8; 32] = rand::rng().random();
        sqlx::query(
            "INSERT INTO server_keys (name, secret, created_at) VALUES ('jwt_hs256', $1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(fresh.as_slice())
        .bind(crate::now_ms())
        .execute(&db.write)
        .await?;
        let row = sqlx::query("SELECT secret FROM server_keys WHERE name = 'jwt_hs256'").fetch_one(&db.write).await?;
        Ok(Keys::from_secret(&row.get::<Vec<u8>, _>(0))?)
    }

    /// Loads the signing secret from a file (`--signing-key-file`), creating it with a new random
    /// key and mode 0600 if it is missing. A file others may read is refused: whoever reads the
    /// key can sign tokens for any account.
    pub fn load_or_create_file(path: &std::path::Path) -> anyhow::Result<Keys> {
        use std::io::Write;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let shown = path.display();
        match std::fs::metadata(path) {
            Ok(meta) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    if meta.permissions().mode() & 0o077 != 0 {
                        anyhow::bail!(
                            "the signing key file {shown} may be read by other users; make it private (chmod 600 {shown})"
                        );
                    }
                }
                #[cfg(not(unix))]
                let _ = meta;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let fresh: [u8; 32] = rand::rng().random();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options
                    .open(path)
                    .map_err(|e| anyhow::anyhow!("cannot create the signing key file {shown}: {e}"))?;
                writeln!(file, "{}", engine.encode(fresh))?;
                file.sync_all()?;
                tracing::info!(file = %shown, "a new token signing key was generated");
            }
            Err(e) => anyhow::bail!("cannot read the signing key file {shown}: {e}"),
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the signing key file {shown}: {e}"))?;
        let secret =
            engine.decode(text.trim()).ok().filter(|s| s.len() >= 32).ok_or_else(|| {
                anyhow::anyhow!("the signing key file {shown} must hold at least 32 bytes in base64url")
            })?;
        Ok(Keys::from_secret(&secret)?)
    }

    /// Issues an access token for a device, valid for `ttl_secs`.
    pub fn issue(&self, user: UserId, device: DeviceId, now_secs: u64, ttl_secs: u64) -> String {
        let claims = Claims {
            sub: user.to_string(),
            did: device.to_string(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: now_secs + ttl_secs,
            nbf: now_secs,
            iat: now_secs,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(TOKEN_TYPE.into());
        jsonwebtoken::encode(&header, &claims, &self.encoding).expect("HS256 signing cannot fail")
    }

    /// Verifies a token: signature, pinned algorithm, `typ`, and the required claims.
    pub fn verify(&self, token: &str) -> Result<(UserId, DeviceId), ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| ApiError::Unauthorized)?;
        if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(ApiError::Unauthorized);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ApiError::Unauthorized)?;
        let user = data.claims.sub.parse().map_err(|_| ApiError::Unauthorized)?;
        let device = data.claims.did.parse().map_err(|_| ApiError::Unauthorized)?;
        Ok((user, device))
    }
}

/// SHA-256 of a secret or code.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Compares two secrets in time that depends only on their length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random device secret: 32 bytes, base64url.
pub fn new_device_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The alphabet of enrolment codes: Crockford base32 (no I, L, O, U: easy to read aloud and type).
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A one-time enrolment code: 12 characters (60 bits) shown as `XXXX-XXXX-XXXX`.
pub fn new_enrolment_code() -> String {
    let mut rng = rand::rng();
    let chars: String = (0..12).map(|_| CODE_ALPHABET[rng.random_range(0..32)] as char).collect();
    format!("{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..12])
}

/// Normalises a typed code: upper case, no separators, common misreadings mapped.
pub fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect()
}

/// An authenticated device, its user and the user's scope, read from the database on every request.
#[derive(Debug, Clone, Copy)]
pub struct AuthDevice {
    /// The device.
    pub device: DeviceId,
    /// Its user.
    pub user: UserId,
    /// The user's role.
    pub role: Role,
    /// The user's commune.
    pub commune: CommuneId,
    /// The user's village, if the role has one.
    pub village: Option<VillageId>,
    /// The device was last provisioned for another scope (the user was moved): it must reset.
    pub scope_changed: bool,
    /// No scope is recorded for the device yet (enrolled before scopes were recorded).
    pub scope_unrecorded: bool,
}

impl AuthDevice {
    /// The scope the user has now, as stored with a device when it is provisioned.
    pub fn scope_key(&self) -> String {
        let village = self.village.map(|v| v.to_string()).unwrap_or_default();
        format!("{}|{}|{village}", self.role.code(), self.commune)
    }
}

/// The extractor, for any handler state that gives the database and the keys (the application's
/// `AppState`), so this module does not depend on the HTTP layer's state.
impl<S> FromRequestParts<S> for AuthDevice
where
    S: Send + Sync,
    Db: FromRef<S>,
    std::sync::Arc<Keys>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (db, keys) = (Db::from_ref(state), std::sync::Arc::<Keys>::from_ref(state));
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or(ApiError::Unauthorized)?;
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or(ApiError::Unauthorized)?;
        let (user, device) = keys.verify(token.trim())?;
        load_device(&db, user, device).await
    }
}

/// The device `device` of `user` with the user's scope as it is now, for a token or a web session
/// that names them: refused if the device is revoked (403, the phone wipes) or unknown, or the
/// user disabled (401).
pub async fn load_device(db: &Db, user: UserId, device: DeviceId) -> Result<AuthDevice, ApiError> {
    let row = sqlx::query(
        "SELECT d.revoked_at, u.role, u.commune_id, u.village_id, u.disabled_at, d.scope
         FROM devices d JOIN users u ON u.id = d.user_id
         WHERE d.id = $1 AND d.user_id = $2",
    )
    .bind(device.as_bytes().as_slice())
    .bind(user.as_bytes().as_slice())
    .fetch_optional(&db.read)
    .await?
    .ok_or(ApiError::Unauthorized)?;
    if row.get::<Option<i64>, _>(0).is_some() {
        return Err(ApiError::DeviceRevoked);
    }
    if row.get::<Option<i64>, _>(4).is_some() {
        return Err(ApiError::Unauthorized);
    }
    let role = Role::from_code(&row.get::<String, _>(1)).ok_or(ApiError::Unauthorized)?;
    let commune = CommuneId::from_slice(&row.get::<Vec<u8>, _>(2)).ok_or(ApiError::Unauthorized)?;
    let village = row.get::<Option<Vec<u8>>, _>(3).and_then(|v| VillageId::from_slice(&v));
    let mut auth = AuthDevice { device, user, role, commune, village, scope_changed: false, scope_unrecorded: false };
    let stored: Option<String> = row.get(5);
    auth.scope_changed = stored.as_ref().is_some_and(|s| *s != auth.scope_key());
    auth.scope_unrecorded = stored.is_none();
    Ok(auth)
}

/// Requires one of `roles`, else 403.
pub fn require(auth: &AuthDevice, roles: &[Role]) -> Result<(), ApiError> {
    if roles.contains(&auth.role) { Ok(()) } else { Err(ApiError::Forbidden("your role may not do this".into())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_forgeries_fail() {
        let keys = Keys::from_secret(b"k1").unwrap();
        let other = Keys::from_secret(b"k2").unwrap();
        let (u, d) = (UserId(uuid::Uuid::from_u128(1)), DeviceId(uuid::Uuid::from_u128(2)));
        let now = crate::now_ms() as u64 / 1000;
        let t = keys.issue(u, d, now, 60);
        assert_eq!(keys.verify(&t).unwrap(), (u, d));
        assert!(other.verify(&t).is_err());
        assert!(keys.verify(&keys.issue(u, d, now - 1000, 60)).is_err(), "expired");
        assert!(keys.verify(&keys.issue(u, d, now + 1000, 60)).is_err(), "not yet valid");
        assert!(keys.verify("garbage").is_err());
        assert!(keys.verify("").is_err());
    }

    #[test]
    fn codes_are_readable_and_normalise() {
        let c = new_enrolment_code();
        assert_eq!(c.len(), 14);
        assert_eq!(normalise_code(&c.to_lowercase()), c.replace('-', ""));
        assert_eq!(normalise_code("o1l-i"), "0111");
    }
}
