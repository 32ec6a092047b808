//! Reading the header of a change received from outside before applying it: its hash, who made
//! it and what it depends on. The server uses this to refuse a change a device did not make.

use crate::ids::{DeviceId, UserId};

/// What a change says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeInfo {
    /// The change hash.
    pub hash: [u8; 32],
    /// The device (actor) that made it, if the actor is a device id.
    pub device: Option<DeviceId>,
    /// The user (author), if recorded. Automerge records it only on the first change of each
    /// actor in a document; use `Record::author_of` after applying for the others.
    pub user: Option<UserId>,
}

/// Parses a change chunk and checks its integrity: the 4-byte checksum in the chunk header must
/// be the start of the hash of its contents (Automerge 0.12 does not check this itself, so a
/// flipped bit could otherwise turn one valid change into another).
pub fn parse_change(bytes: &[u8]) -> Result<automerge::Change, String> {
    let change = automerge::Change::from_bytes(bytes.to_vec()).map_err(|e| e.to_string())?;
    if bytes.len() < 8 || bytes[4..8] != change.hash().0[..4] {
        return Err("checksum mismatch: the change is corrupt".into());
    }
    Ok(change)
}

/// Parses a change chunk's header. Errors on anything that is not a valid Automerge change.
pub fn inspect_change(bytes: &[u8]) -> Result<ChangeInfo, String> {
    let change = parse_change(bytes)?;
    Ok(ChangeInfo {
        hash: change.hash().0,
        device: DeviceId::from_slice(change.actor_id().as_ref()),
        user: change.author().and_then(|a| UserId::from_slice(a.as_bytes())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_change() {
        assert!(inspect_change(b"").is_err());
        assert!(inspect_change(b"\x85\x6f\x4a\x83garbage").is_err());
        assert!(inspect_change(&[0u8; 64]).is_err());
    }
}
