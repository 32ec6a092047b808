//! The sync wire format, version 1: the messages of `POST /api/v1/sync` and their framing.
//!
//! A body is a 4-byte header followed by a CBOR payload, deflated when that makes it smaller:
//!
//! ```text
//! offset 0  'S' 'T'          magic
//! offset 2  0x01             protocol version
//! offset 3  flags            bit 0: payload is raw DEFLATE (RFC 1951); other bits must be 0
//! offset 4  payload          CBOR (RFC 8949) of SyncRequest / SyncResponse
//! ```
//!
//! `docs/sync-protocol.md` is the normative description; this module is its implementation.
//! Decoding is kept apart from I/O and bounded: a body that inflates past the caller's limit is
//! refused before it is fully inflated.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// The two magic bytes that open every body.
pub const MAGIC: [u8; 2] = *b"ST";
/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// The media type of sync bodies.
pub const CONTENT_TYPE: &str = "application/vnd.sotay.sync";
const FLAG_DEFLATE: u8 = 1;
/// Payloads smaller than this are sent as plain CBOR: deflate would only add bytes.
const DEFLATE_THRESHOLD: usize = 96;

/// Changes of one record, in causal order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordChanges {
    /// The record id (16 bytes).
    #[serde(rename = "r", with = "serde_bytes")]
    pub record: Vec<u8>,
    /// Automerge change chunks, each as produced by Automerge.
    #[serde(rename = "c")]
    pub changes: Vec<ChangeBytes>,
}

/// One Automerge change chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeBytes(#[serde(with = "serde_bytes")] pub Vec<u8>);

/// A compacted record (a saved Automerge document), sent when provisioning a new device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSnapshot {
    /// The record id (16 bytes).
    #[serde(rename = "r", with = "serde_bytes")]
    pub record: Vec<u8>,
    /// The saved document.
    #[serde(rename = "d", with = "serde_bytes")]
    pub doc: Vec<u8>,
}

/// A record of a push that the server refused (outside the device's scope, not a valid change…).
/// Its changes are acknowledged as refused: never stored, and not to be sent again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The record id (16 bytes).
    #[serde(rename = "r", with = "serde_bytes")]
    pub record: Vec<u8>,
    /// A stable code: `forbidden` or `unprocessable`.
    #[serde(rename = "e")]
    pub code: String,
    /// Why, for people (English; a phone shows its own text from `reason` and `field`).
    #[serde(rename = "m")]
    pub message: String,
    /// The write rule broken, when one was: a [`crate::rules::Reason`] code.
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The field the rule is about, when there is one.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Rejection {
    /// The record id, checked.
    pub fn record_id(&self) -> Result<crate::RecordId, WireError> {
        crate::RecordId::from_slice(&self.record).ok_or(WireError::RecordId)
    }
}

/// Where an interrupted provisioning resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotCursor {
    /// The change-log position the snapshot is taken at: the device's cursor once provisioning ends.
    #[serde(rename = "u")]
    pub upto: u64,
    /// The last record id already sent (records go in id order); absent at the start.
    #[serde(rename = "a", with = "serde_bytes", default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<u8>>,
}

/// What a device sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The change-log position the device has applied everything up to (0: nothing yet).
    #[serde(rename = "k")]
    pub cursor: u64,
    /// Present while provisioning from snapshots is under way.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotCursor>,
    /// The device has never been provisioned: start provisioning from snapshots.
    #[serde(rename = "f", default, skip_serializing_if = "std::ops::Not::not")]
    pub fresh: bool,
    /// The device's highest outbox sequence number included in `push` (0 when `push` is empty).
    #[serde(rename = "o", default)]
    pub outbox_through: u64,
    /// The device's unacknowledged changes, grouped by record.
    #[serde(rename = "p", default)]
    pub push: Vec<RecordChanges>,
    /// The server's log epoch as this device last learnt it (`SyncResponse::epoch`); absent before.
    #[serde(rename = "e", with = "serde_bytes", default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<Vec<u8>>,
}

/// What the server answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SyncResponse {
    /// Every outbox entry up to this sequence number is durably stored on the server, or refused
    /// (its record is listed in `rejected`).
    #[serde(rename = "a", default)]
    pub acked_through: u64,
    /// Records of the push that were refused, each with the reason.
    #[serde(rename = "x", default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejection>,
    /// Changes in the device's scope after its cursor, minus its own, grouped by record.
    #[serde(rename = "c", default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<RecordChanges>,
    /// Compacted records, while provisioning.
    #[serde(rename = "d", default, skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<RecordSnapshot>,
    /// Records whose history the server purged: replace the local copy with this document (it
    /// shares no history with the old one, so it cannot be merged). Applied before `changes`,
    /// which may carry edits made after the purge.
    #[serde(rename = "y", default, skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<RecordSnapshot>,
    /// The device's new cursor, to be stored atomically with what it received.
    #[serde(rename = "k")]
    pub cursor: u64,
    /// Present while provisioning is not finished: send it back in the next request.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotCursor>,
    /// More is waiting: sync again straight away.
    #[serde(rename = "m", default)]
    pub more: bool,
    /// The device's scope changed (its user was moved to another village or role): drop every
    /// local record and the sync position, set aside what is still unsent, and provision again
    /// (`fresh`). The push in this request was handled as usual before.
    #[serde(rename = "z", default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    /// The server's log epoch, sent when the request's differs. A device that knew another one
    /// learns that the server's database was restored from a backup: what it sent since may be
    /// gone and its cursor means nothing there, so it provisions again (merging) and sends all its
    /// own changes again.
    #[serde(rename = "e", with = "serde_bytes", default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<Vec<u8>>,
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than the header, or not starting with the magic bytes.
    #[error("not a Sổ Tay sync body (bad magic or too short)")]
    BadMagic,
    /// A protocol version this build does not speak.
    #[error("unsupported sync protocol version {0}; this server speaks version {PROTOCOL_VERSION}")]
    Version(u8),
    /// Unknown flag bits.
    #[error("unknown flags {0:#04x}")]
    Flags(u8),
    /// The payload inflates past the limit.
    #[error("body inflates to more than {0} bytes")]
    TooLarge(usize),
    /// Bad DEFLATE data.
    #[error("bad compressed payload: {0}")]
    Deflate(String),
    /// Bad CBOR, or CBOR of the wrong shape.
    #[error("bad payload: {0}")]
    Cbor(String),
    /// A record id that is not 16 bytes.
    #[error("a record id must be 16 bytes")]
    RecordId,
}

/// Frames a message without deflating it (a valid body too; for tools and fuzzing seeds, whose
/// byte-level mutations should reach the CBOR, not the deflate stream).
pub fn encode_uncompressed<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut out = vec![MAGIC[0], MAGIC[1], PROTOCOL_VERSION, 0];
    ciborium::into_writer(msg, &mut out).expect("serializing to a Vec cannot fail");
    out
}

/// Frames a message: header, then CBOR, deflated when that is smaller.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut cbor = Vec::new();
    ciborium::into_writer(msg, &mut cbor).expect("serializing to a Vec cannot fail");
    let mut out = Vec::with_capacity(cbor.len() + 4);
    out.extend_from_slice(&MAGIC);
    out.push(PROTOCOL_VERSION);
    if cbor.len() >= DEFLATE_THRESHOLD {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&cbor).expect("writing to a Vec cannot fail");
        let deflated = enc.finish().expect("writing to a Vec cannot fail");
        if deflated.len() < cbor.len() {
            out.push(FLAG_DEFLATE);
            out.extend_from_slice(&deflated);
            return out;
        }
    }
    out.push(0);
    out.extend_from_slice(&cbor);
    out
}

/// The size of a framed message's payload once inflated, without keeping it: a server charges
/// that much memory before it decodes (a 30 KB body can inflate to megabytes). Refuses payloads
/// that inflate past `max_payload` bytes, as [`decode`] does.
pub fn payload_len(body: &[u8], max_payload: usize) -> Result<usize, WireError> {
    let payload = framed_payload(body)?;
    let len = if body[3] & FLAG_DEFLATE != 0 {
        let mut inflater = flate2::read::DeflateDecoder::new(payload).take(max_payload as u64 + 1);
        std::io::copy(&mut inflater, &mut std::io::sink()).map_err(|e| WireError::Deflate(e.to_string()))? as usize
    } else {
        payload.len()
    };
    if len > max_payload {
        return Err(WireError::TooLarge(max_payload));
    }
    Ok(len)
}

/// Checks the frame header; the payload after it.
fn framed_payload(body: &[u8]) -> Result<&[u8], WireError> {
    if body.len() < 4 || body[..2] != MAGIC {
        return Err(WireError::BadMagic);
    }
    if body[2] != PROTOCOL_VERSION {
        return Err(WireError::Version(body[2]));
    }
    let flags = body[3];
    if flags & !FLAG_DEFLATE != 0 {
        return Err(WireError::Flags(flags));
    }
    Ok(&body[4..])
}

/// Reads a framed message, refusing payloads that inflate past `max_payload` bytes.
pub fn decode<T: DeserializeOwned>(body: &[u8], max_payload: usize) -> Result<T, WireError> {
    let payload = framed_payload(body)?;
    let flags = body[3];
    let inflated;
    let cbor: &[u8] = if flags & FLAG_DEFLATE != 0 {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(payload)
            .take((max_payload as u64).saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| WireError::Deflate(e.to_string()))?;
        inflated = out;
        &inflated
    } else {
        payload
    };
    if cbor.len() > max_payload {
        return Err(WireError::TooLarge(max_payload));
    }
    ciborium::from_reader(cbor).map_err(|e| WireError::Cbor(e.to_string()))
}

impl RecordChanges {
    /// The record id, checked.
    pub fn record_id(&self) -> Result<crate::RecordId, WireError> {
        crate::RecordId::from_slice(&self.record).ok_or(WireError::RecordId)
    }
}

impl RecordSnapshot {
    /// The record id, checked.
    pub fn record_id(&self) -> Result<crate::RecordId, WireError> {
        crate::RecordId::from_slice(&self.record).ok_or(WireError::RecordId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> SyncRequest {
        SyncRequest {
            epoch: None,
            cursor: 42,
            snapshot: None,
            fresh: false,
            outbox_through: 7,
            push: vec![RecordChanges { record: vec![1; 16], changes: vec![ChangeBytes(vec![9; 300])] }],
        }
    }

    #[test]
    fn round_trips_and_compresses() {
        let body = encode(&request());
        assert_eq!(&body[..3], b"ST\x01");
        assert_eq!(body[3], FLAG_DEFLATE);
        assert!(body.len() < 100, "{}", body.len());
        assert_eq!(decode::<SyncRequest>(&body, 1 << 20).unwrap(), request());
        let small =
            SyncRequest { epoch: None, cursor: 1, snapshot: None, fresh: true, outbox_through: 0, push: vec![] };
        let body = encode(&small);
        assert_eq!(body[3], 0);
        assert_eq!(decode::<SyncRequest>(&body, 1 << 20).unwrap(), small);
    }

    #[test]
    fn no_limit_at_all_decodes_without_overflow() {
        // `usize::MAX` as the limit once overflowed the inflater's bound (found by the simulation).
        let body = encode(&request());
        assert_eq!(body[3], FLAG_DEFLATE);
        assert_eq!(decode::<SyncRequest>(&body, usize::MAX).unwrap(), request());
        assert_eq!(decode::<SyncRequest>(&encode_uncompressed(&request()), usize::MAX).unwrap(), request());
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(decode::<SyncRequest>(b"", 100), Err(WireError::BadMagic));
        assert_eq!(decode::<SyncRequest>(b"GET / HTTP/1.1", 100), Err(WireError::BadMagic));
        assert_eq!(decode::<SyncRequest>(b"ST\x02\x00", 100), Err(WireError::Version(2)));
        assert_eq!(decode::<SyncRequest>(b"ST\x01\x80", 100), Err(WireError::Flags(0x80)));
        assert!(matches!(decode::<SyncRequest>(b"ST\x01\x00\xff\xff", 100), Err(WireError::Cbor(_))));
        assert!(matches!(decode::<SyncRequest>(b"ST\x01\x01\xff\xff\xff", 100), Err(WireError::Deflate(_))));
        // Valid CBOR of the wrong shape.
        let mut body = b"ST\x01\x00".to_vec();
        ciborium::into_writer(&vec![1, 2, 3], &mut body).unwrap();
        assert!(matches!(decode::<SyncRequest>(&body, 100), Err(WireError::Cbor(_))));
    }

    #[test]
    fn a_deflate_bomb_is_refused_before_inflating_it_all() {
        let mut big = request();
        big.push[0].changes = vec![ChangeBytes(vec![0; 10_000_000])];
        let body = encode(&big);
        assert!(body.len() < 20_000);
        assert_eq!(decode::<SyncRequest>(&body, 1_000_000), Err(WireError::TooLarge(1_000_000)));
    }

    #[test]
    fn limits_are_exact() {
        let body = encode(&request());
        let mut cbor = Vec::new();
        ciborium::into_writer(&request(), &mut cbor).unwrap();
        assert!(decode::<SyncRequest>(&body, cbor.len()).is_ok());
        assert_eq!(decode::<SyncRequest>(&body, cbor.len() - 1), Err(WireError::TooLarge(cbor.len() - 1)));
    }
}
