//! The request and response bodies of enrolment, tokens, login and `me`: what a phone and the
//! server say to each other outside the binary sync messages (those are `sotay_sync_core::wire`).
//! Written once, used by the handlers and by the device client.

use crate::ids::{CommuneId, DeviceId, UserId, VillageId};
use crate::schema::Role;
use serde::{Deserialize, Serialize};

/// Shortest device secret a phone may choose itself (43 characters: 32 random bytes in base64url).
pub const MIN_DEVICE_SECRET_LEN: usize = 43;
/// Longest device secret a phone may choose itself.
pub const MAX_DEVICE_SECRET_LEN: usize = 128;

/// Body of `POST /api/v1/enrol`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolRequest {
    /// The one-time code, as shown (separators and case do not matter).
    #[cfg_attr(feature = "openapi", schema(example = "F1XH-Q81D-VSYV"))]
    pub code: String,
    /// A name for the device, shown to admins ("Điện thoại của Lan").
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub device_name: String,
    /// The device secret, chosen by the phone (32 random bytes, base64url) and saved before the
    /// request is sent. With it enrolment can be retried: if the answer was lost after the server
    /// used the code, the same code and secret get the same device again, not a refusal. Without
    /// it the server chooses the secret and a lost answer costs the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 43, max_length = 128))]
    pub device_secret: Option<String>,
}

/// Whether a phone-chosen device secret is acceptable: long enough to be unguessable, printable
/// ASCII only.
pub fn device_secret_is_acceptable(secret: &str) -> bool {
    (MIN_DEVICE_SECRET_LEN..=MAX_DEVICE_SECRET_LEN).contains(&secret.len())
        && secret.bytes().all(|b| b.is_ascii_graphic())
}

/// Answer of `POST /api/v1/enrol`: the device's credential. The secret is shown once.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolResponse {
    /// The new device id (also its Automerge actor).
    pub device_id: DeviceId,
    /// The device secret, to exchange for access tokens. Keep it in the platform keystore.
    pub device_secret: String,
    /// The enrolled user.
    pub user_id: UserId,
    /// The user's role.
    pub role: Role,
    /// The user's commune.
    pub commune_id: CommuneId,
    /// The user's village, if any.
    pub village_id: Option<VillageId>,
}

/// Body of `POST /api/v1/token`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRequest {
    /// The device id.
    pub device_id: DeviceId,
    /// The device secret from enrolment.
    pub device_secret: String,
}

/// Answer of `POST /api/v1/token`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// A bearer token for the API.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Answer of `GET /api/v1/me`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeResponse {
    /// The user.
    pub user_id: UserId,
    /// The device.
    pub device_id: DeviceId,
    /// The role.
    pub role: Role,
    /// The commune.
    pub commune_id: CommuneId,
    /// The village, if any.
    pub village_id: Option<VillageId>,
}

/// Body of `POST /api/v1/login`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub password: String,
}
