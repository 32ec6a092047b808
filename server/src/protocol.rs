//! The request and response bodies of enrolment, tokens, login and `me`: what a phone and the
//! server say to each other outside the binary sync messages (those are `sotay_sync_core::wire`).
//! Written once, used by the handlers and by the device client.

use crate::auth::Role;
use serde::{Deserialize, Serialize};
use sotay_sync_core::{CommuneId, DeviceId, UserId, VillageId};

/// Body of `POST /api/v1/enrol`.
#[derive(Debug, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// The one-time code, as shown (separators and case do not matter).
    pub code: String,
    /// A name for the device, shown to admins ("Điện thoại của Lan").
    pub device_name: String,
}

/// Answer of `POST /api/v1/enrol`: the device's credential. The secret is shown once.
#[derive(Debug, Serialize, Deserialize)]
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
pub struct TokenRequest {
    /// The device id.
    pub device_id: DeviceId,
    /// The device secret from enrolment.
    pub device_secret: String,
}

/// Answer of `POST /api/v1/token`.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    /// A bearer token for the API.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Answer of `GET /api/v1/me`.
#[derive(Debug, Serialize, Deserialize)]
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
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}
