//! The one access policy: for a role, a record kind, the caller's relation to the record and a
//! channel, whether the record is hidden, readable, readable with an audit row, and whether the
//! caller may write to it at all (what exactly it may write is `sotay_sync_core::rules`).
//!
//! SPEC §5 in one table (read through the web API; sync reads the same, except that GBV details
//! never reach a phone other than the one that created the case):
//!
//! | role | activities | GBV referrals | writes |
//! |---|---|---|---|
//! | collaborator | own village | own cases (created on this device) | sync and API, to what it reads |
//! | reviewer | the commune's | hidden (aggregates only, suppressed) | sync and API, to activities |
//! | GBV focal point | the commune's | the commune's, each view audited | API only, to GBV referrals |
//! | admin | hidden | hidden | API only (restore, by the write rules) |
//!
//! The SQL filter of the record list is derived from [`read`] ([`read_filter`]), and a property
//! test (`tests/tests/api/policy.rs`) checks on random communes that the two agree.

use crate::auth::{AuthDevice, Role};
use sotay_sync_core::RecordKind;
use sotay_sync_core::rules::Channel;

/// How the caller relates to a record (all false for a record of another commune).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relation {
    /// The record is in the caller's commune.
    pub same_commune: bool,
    /// The record is in the caller's village.
    pub own_village: bool,
    /// The record was created on the caller's device.
    pub own_device: bool,
}

impl Relation {
    /// The relation of a stored record (its commune, village and creating device) to the caller.
    pub fn of(auth: &AuthDevice, commune: &[u8], village: &[u8], owner_device: &[u8]) -> Relation {
        let same_commune = commune == auth.commune.as_bytes();
        Relation {
            same_commune,
            own_village: same_commune && auth.village.is_some_and(|v| v.as_bytes() == village),
            own_device: same_commune && owner_device == auth.device.as_bytes(),
        }
    }
}

/// Whether and how a record may be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Not at all: it is answered as if it did not exist.
    Hidden,
    /// Yes.
    Readable,
    /// Yes, and each read is written to the audit log (GBV case details).
    Audited,
}

/// Whether `role` may read a record of `kind` related to it by `rel`, through `channel`.
pub fn read(role: Role, kind: RecordKind, rel: Relation, channel: Channel) -> Read {
    if !rel.same_commune {
        return Read::Hidden;
    }
    match (role, kind) {
        (Role::Collaborator, RecordKind::Activity) if rel.own_village => Read::Readable,
        (Role::Collaborator, RecordKind::GbvReferral) if rel.own_device => Read::Readable,
        (Role::Reviewer | Role::GbvFocalPoint, RecordKind::Activity) => Read::Readable,
        (Role::GbvFocalPoint, RecordKind::GbvReferral) if channel == Channel::Api => Read::Audited,
        _ => Read::Hidden,
    }
}

/// Whether `role` may write to a record of `kind` related to it by `rel`, through `channel`, at
/// all. The write rules then decide which fields and transitions.
pub fn may_write(role: Role, kind: RecordKind, rel: Relation, channel: Channel) -> bool {
    if !rel.same_commune {
        return false;
    }
    match (role, kind) {
        (Role::Collaborator, RecordKind::Activity) => rel.own_village,
        (Role::Collaborator, RecordKind::GbvReferral) => rel.own_village && rel.own_device,
        (Role::Reviewer, RecordKind::Activity) => true,
        (Role::Reviewer, RecordKind::GbvReferral) => false,
        // Focal points work on cases in the web app, where every view is audited.
        (Role::GbvFocalPoint, RecordKind::GbvReferral) => channel == Channel::Api,
        (Role::GbvFocalPoint, RecordKind::Activity) => false,
        // Admins restore deleted records from the web app; the write rules allow nothing else.
        (Role::Admin, _) => channel == Channel::Api,
    }
}

/// The records a caller may read through the API, as a SQL condition on a `records` row aliased
/// `r`, with its parameters numbered from `first`: derived from [`read`] by asking, per kind,
/// which relation it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFilter {
    /// The condition.
    pub sql: String,
    /// Its parameters, in order (byte strings: commune, village, device ids).
    pub binds: Vec<Vec<u8>>,
}

/// The filter of [`read`] for this caller (API channel).
pub fn read_filter(auth: &AuthDevice, first: usize) -> ReadFilter {
    let mut binds = vec![auth.commune.as_bytes().to_vec()];
    let mut alternatives = Vec::new();
    let only = |own_village, own_device| Relation { same_commune: true, own_village, own_device };
    for kind in [RecordKind::Activity, RecordKind::GbvReferral] {
        let readable = |rel| read(auth.role, kind, rel, Channel::Api) != Read::Hidden;
        let kind_sql = format!("r.kind = '{}'", sotay_sync_core::Coded::code(kind));
        if readable(only(false, false)) {
            alternatives.push(kind_sql);
        } else if readable(only(true, false)) {
            if let Some(v) = auth.village {
                binds.push(v.as_bytes().to_vec());
                alternatives.push(format!("({kind_sql} AND r.village_id = ${})", first + binds.len() - 1));
            }
        } else if readable(only(false, true)) {
            binds.push(auth.device.as_bytes().to_vec());
            alternatives.push(format!("({kind_sql} AND r.owner_device = ${})", first + binds.len() - 1));
        }
    }
    let any = if alternatives.is_empty() { "FALSE".to_string() } else { alternatives.join(" OR ") };
    ReadFilter { sql: format!("r.commune_id = ${first} AND ({any})"), binds }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_reads_like_its_table() {
        let all = Relation { same_commune: true, own_village: true, own_device: true };
        let none = Relation { same_commune: true, own_village: false, own_device: false };
        let other = Relation { same_commune: false, own_village: false, own_device: false };
        use RecordKind::*;
        assert_eq!(read(Role::Collaborator, Activity, all, Channel::Api), Read::Readable);
        assert_eq!(read(Role::Collaborator, Activity, none, Channel::Api), Read::Hidden);
        assert_eq!(read(Role::Reviewer, GbvReferral, all, Channel::Api), Read::Hidden);
        assert_eq!(read(Role::GbvFocalPoint, GbvReferral, none, Channel::Api), Read::Audited);
        assert_eq!(read(Role::GbvFocalPoint, GbvReferral, none, Channel::Sync), Read::Hidden);
        assert_eq!(read(Role::Admin, Activity, all, Channel::Api), Read::Hidden);
        for role in <Role as sotay_sync_core::Coded>::ALL {
            for kind in [Activity, GbvReferral] {
                assert_eq!(read(*role, kind, other, Channel::Api), Read::Hidden);
                assert!(!may_write(*role, kind, other, Channel::Api));
            }
        }
        assert!(may_write(Role::Admin, GbvReferral, none, Channel::Api));
        assert!(!may_write(Role::Admin, GbvReferral, none, Channel::Sync));
        assert!(!may_write(Role::Collaborator, GbvReferral, Relation { own_device: false, ..all }, Channel::Sync));
    }
}
