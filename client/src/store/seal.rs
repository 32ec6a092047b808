//! Sealing GBV referrals at rest: XChaCha20-Poly1305 (RustCrypto, no C library) under a data key
//! that lives in the database only wrapped by the phone's key.
//!
//! Two keys, so that a wipe is key destruction and the app's key never touches a row:
//!
//! - the **phone key** ([`PhoneKey`], 32 bytes) belongs to the app: on Android it comes from the
//!   Keystore, on iOS from the Keychain, in the `sotay` command line from a 0600 file. It is never
//!   written to the database.
//! - the **data key** (random, 32 bytes) seals every GBV referral's document, projection, outbox
//!   entries and refused changes, and the session's secrets (the device secret, an enrolment
//!   under way). It is stored in `meta` sealed by the phone key. Destroying that
//!   one row (and checkpointing, with `secure_delete` on) makes every sealed row unreadable at
//!   once, even if the deletes that follow never reach the disk.
//!
//! A sealed value is `S1` ‖ 24-byte random nonce ‖ ciphertext and tag. The associated data names
//! what the value is and, for rows, the record it belongs to, so a sealed value moved to another
//! row or column does not open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// The first bytes of every sealed value (format version 1).
const MAGIC: &[u8; 2] = b"S1";
const NONCE_LEN: usize = 24;

/// The app's key for this phone's store (32 bytes from the platform's key store).
#[derive(Clone)]
pub struct PhoneKey([u8; 32]);

impl PhoneKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> PhoneKey {
        PhoneKey(bytes)
    }

    /// A key from a slice, which must hold exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<PhoneKey> {
        <[u8; 32]>::try_from(bytes).ok().map(PhoneKey)
    }

    /// A new random key (the command line's key file, tests).
    pub fn generate() -> PhoneKey {
        PhoneKey(rand::random())
    }

    /// The key's bytes (to keep it in the platform's key store).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
}

impl std::fmt::Debug for PhoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhoneKey(…)")
    }
}

/// An AEAD key in use: the phone key (to wrap the data key) or the data key (to seal rows).
#[derive(Clone)]
pub(super) struct Sealer(XChaCha20Poly1305);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(…)")
    }
}

/// What a sealed value is, bound into its associated data.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose {
    /// The data key, wrapped by the phone key.
    DataKey,
    /// A record's saved document.
    Doc,
    /// A record's projection.
    View,
    /// An outbox entry's or refused change's Automerge change.
    Change,
    /// A secret setting of the session (the device secret).
    Secret,
}

impl Purpose {
    fn tag(self) -> &'static [u8] {
        match self {
            Purpose::DataKey => b"sotay/data-key",
            Purpose::Doc => b"sotay/doc",
            Purpose::View => b"sotay/view",
            Purpose::Change => b"sotay/change",
            Purpose::Secret => b"sotay/secret",
        }
    }
}

fn aad(purpose: Purpose, owner: &[u8]) -> Vec<u8> {
    let mut a = purpose.tag().to_vec();
    a.push(0);
    a.extend_from_slice(owner);
    a
}

impl Sealer {
    pub(super) fn new(key: &[u8; 32]) -> Sealer {
        Sealer(XChaCha20Poly1305::new(&Key::from(*key)))
    }

    pub(super) fn for_phone_key(key: &PhoneKey) -> Sealer {
        Sealer::new(&key.0)
    }

    /// Seals `plain` as `purpose` of `owner` (a record id, or nothing).
    pub(super) fn seal(&self, purpose: Purpose, owner: &[u8], plain: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .0
            .encrypt(&XNonce::from(nonce), Payload { msg: plain, aad: &aad(purpose, owner) })
            .expect("XChaCha20-Poly1305 seals any length a phone holds");
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a sealed value; `None` when it was sealed under another key, as something else, or
    /// was altered.
    pub(super) fn open(&self, purpose: Purpose, owner: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let body = sealed.strip_prefix(MAGIC.as_slice())?;
        if body.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ct) = body.split_at(NONCE_LEN);
        let nonce = XNonce::from(<[u8; NONCE_LEN]>::try_from(nonce).ok()?);
        self.0.decrypt(&nonce, Payload { msg: ct, aad: &aad(purpose, owner) }).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_as_what_they_were_sealed_as() {
        let s = Sealer::new(&[7; 32]);
        let sealed = s.seal(Purpose::Doc, b"record-1", b"ghi ch\xc3\xba m\xe1\xba\xadt");
        assert_eq!(s.open(Purpose::Doc, b"record-1", &sealed).as_deref(), Some(&b"ghi ch\xc3\xba m\xe1\xba\xadt"[..]));
        assert_eq!(s.open(Purpose::View, b"record-1", &sealed), None, "another column");
        assert_eq!(s.open(Purpose::Doc, b"record-2", &sealed), None, "another record");
        assert_eq!(Sealer::new(&[8; 32]).open(Purpose::Doc, b"record-1", &sealed), None, "another key");
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(s.open(Purpose::Doc, b"record-1", &flipped), None, "altered");
        assert_eq!(s.open(Purpose::Doc, b"record-1", b"S1short"), None);
        assert_ne!(s.seal(Purpose::Doc, b"record-1", b"x"), s.seal(Purpose::Doc, b"record-1", b"x"), "fresh nonces");
    }
}
