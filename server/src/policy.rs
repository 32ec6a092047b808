//! The one access policy: for a role, a record kind, the caller's relation to the record and a
//! channel, whether the record is hidden, readable, readable with an audit row, and whether the
//! caller may write to it at all (what exactly it may write is `sotay_sync_core::rules`); and for
//! a role, a kind and an aggregate (the dashboard, a report, completeness, an export), whether the
//! kind's figures are hidden, suppressed, exact, or exact with an audit row ([`aggregates`]).
//!
//! SPEC §5 in one table (read through the web API; sync reads the same, except that GBV details
//! never reach a phone other than the one that created the case):
//!
//! | role | activities | GBV referrals | writes | aggregates: activities | aggregates: GBV referrals |
//! |---|---|---|---|---|---|
//! | collaborator | own village | own cases (created on this device; by sync, in its village) | sync and API, to what it reads | hidden | hidden |
//! | reviewer | the commune's | hidden | sync and API, to activities | exact | suppressed (an exact export is refused), also in the GBV summary |
//! | GBV focal point | the commune's | the commune's, each view audited | API only, to GBV referrals | exact | exact: audited in a report (`gbv.report`) and an `exact=true` export (`gbv.export`), unaudited on the dashboard; suppressed in a plain export and the GBV summary |
//! | admin | hidden | hidden | API only (restore, by the write rules) | completeness only | hidden |
//!
//! Every record-level SQL scope filter is derived from [`read`] ([`read_filter`]): the record
//! list (API), and the pull and provisioning of sync (on the change log and on records). Who gets
//! which aggregate of the commune (`crate::reports`) is derived from [`aggregates`] by the report
//! and export handlers (`api/reports.rs`, and through them the web's reports screen) and the
//! dashboard (`web/dashboard.rs`): an aggregate is refused when a kind it carries is hidden. A
//! property test (`tests/tests/api/policy.rs`) checks on random communes that the policy, the
//! record list and what phones receive by sync agree.

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
        // A phone holds its village's scope: its own cases reach it by sync while it is there.
        (Role::Collaborator, RecordKind::GbvReferral)
            if rel.own_device && (channel == Channel::Api || rel.own_village) =>
        {
            Read::Readable
        }
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

/// An aggregate: figures counted over the commune's records, never a record itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The dashboard (`GET /`): a year's figures per village and per month.
    Dashboard,
    /// The plan-shaped report of a period (`GET /api/v1/reports`, the web's reports screen).
    Report,
    /// Which villages and units have reported activities (`GET /api/v1/reports/completeness`).
    Completeness,
    /// The report and completeness as a file (`GET /api/v1/reports/export`); `exact` asks for
    /// GBV figures unsuppressed.
    Export {
        /// GBV figures unsuppressed.
        exact: bool,
    },
    /// The commune's GBV referrals counted by type, age, service and status
    /// (`GET /api/v1/reports/gbv`): always suppressed, a summary safe to show on any screen.
    GbvSummary,
}

impl Want {
    /// Every aggregate, with both exports.
    pub const ALL: [Want; 6] = [
        Want::Dashboard,
        Want::Report,
        Want::Completeness,
        Want::Export { exact: false },
        Want::Export { exact: true },
        Want::GbvSummary,
    ];

    /// The kinds whose figures it carries (completeness counts activities only).
    pub fn kinds(self) -> &'static [RecordKind] {
        match self {
            Want::Completeness => &[RecordKind::Activity],
            Want::GbvSummary => &[RecordKind::GbvReferral],
            Want::Dashboard | Want::Report | Want::Export { .. } => &[RecordKind::Activity, RecordKind::GbvReferral],
        }
    }
}

/// How a kind's figures appear in an aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Not at all: an aggregate carrying them is refused.
    Hidden,
    /// Counts 1–4 as "<5", with complementary suppression (`crate::reports::suppress`).
    Suppressed,
    /// Exact.
    Exact,
    /// Exact, and each time written to the audit log (`gbv.report`, `gbv.export`).
    ExactAudited,
}

/// How `role` sees the figures of `kind` in `want`.
pub fn aggregates(role: Role, kind: RecordKind, want: Want) -> Aggregate {
    use Aggregate::*;
    use RecordKind::{Activity, GbvReferral};
    match (role, kind, want) {
        // Completeness counts activities only.
        (_, GbvReferral, Want::Completeness) => Hidden,
        (_, Activity, Want::GbvSummary) => Hidden,
        (Role::Reviewer | Role::GbvFocalPoint, GbvReferral, Want::GbvSummary) => Suppressed,
        (Role::Reviewer | Role::GbvFocalPoint, Activity, _) => Exact,
        (Role::Reviewer, GbvReferral, Want::Export { exact: true }) => Hidden,
        (Role::Reviewer, GbvReferral, Want::Dashboard | Want::Report | Want::Export { exact: false }) => Suppressed,
        // The dashboard is every visit's first page: exact, but not audited.
        (Role::GbvFocalPoint, GbvReferral, Want::Dashboard) => Exact,
        (Role::GbvFocalPoint, GbvReferral, Want::Report | Want::Export { exact: true }) => ExactAudited,
        (Role::GbvFocalPoint, GbvReferral, Want::Export { exact: false }) => Suppressed,
        // Administrators watch who has reported, not what.
        (Role::Admin, Activity, Want::Completeness) => Exact,
        (Role::Admin, _, _) => Hidden,
        // Collaborators work on their village's records.
        (Role::Collaborator, _, _) => Hidden,
    }
}

/// Whether `role` may have `want` at all: no kind it carries is hidden.
pub fn may_aggregate(role: Role, want: Want) -> bool {
    want.kinds().iter().all(|&kind| aggregates(role, kind, want) != Aggregate::Hidden)
}

/// A table a scope filter is written for: its alias and how a record's kind shows in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `records`, aliased `r` (the kind is a column).
    Records,
    /// The change log `changes`, aliased `c` (a change of a GBV referral is `sensitive`).
    Changes,
}

impl Table {
    fn alias(self) -> &'static str {
        match self {
            Table::Records => "r",
            Table::Changes => "c",
        }
    }

    fn kind_is(self, kind: RecordKind) -> String {
        match self {
            Table::Records => format!("r.kind = '{}'", sotay_sync_core::Coded::code(kind)),
            Table::Changes => format!("c.sensitive = {}", kind == RecordKind::GbvReferral),
        }
    }
}

/// The records a caller may read through a channel, as a SQL condition on a [`Table`], with its
/// parameters numbered from `first`: derived from [`read`] by asking, per kind, which relation it
/// needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFilter {
    /// The condition.
    pub sql: String,
    /// Its parameters, in order (byte strings: commune, village, device ids).
    pub binds: Vec<Vec<u8>>,
    /// The caller may read nothing at all through this channel.
    pub nothing: bool,
}

/// The filter of [`read`] for this caller through `channel`, on `table`.
///
/// Per kind, the weakest relation that makes it readable (none, the village, the device, both)
/// becomes one alternative; a condition every alternative needs is written once outside them, so
/// the query can use the index led by (commune, village).
pub fn read_filter(auth: &AuthDevice, channel: Channel, table: Table, first: usize) -> ReadFilter {
    let only = |own_village, own_device| Relation { same_commune: true, own_village, own_device };
    // (kind, needs the village, needs the device)
    let mut needs = Vec::new();
    for kind in [RecordKind::Activity, RecordKind::GbvReferral] {
        let readable = |rel| read(auth.role, kind, rel, channel) != Read::Hidden;
        let weakest = [(false, false), (true, false), (false, true), (true, true)]
            .into_iter()
            .find(|&(village, device)| readable(only(village, device)));
        match weakest {
            Some((true, _)) if auth.village.is_none() => {}
            Some((village, device)) => needs.push((kind, village, device)),
            None => {}
        }
    }
    let t = table.alias();
    let mut binds = vec![auth.commune.as_bytes().to_vec()];
    let mut outer = vec![format!("{t}.commune_id = ${first}")];
    let bind = |bytes: &[u8], binds: &mut Vec<Vec<u8>>| {
        binds.push(bytes.to_vec());
        format!("${}", first + binds.len() - 1)
    };
    let all_need_village = !needs.is_empty() && needs.iter().all(|n| n.1);
    let all_need_device = !needs.is_empty() && needs.iter().all(|n| n.2);
    let village = auth.village.map(|v| v.as_bytes().to_vec()).unwrap_or_default();
    let device = auth.device.as_bytes().to_vec();
    if all_need_village {
        outer.push(format!("{t}.village_id = {}", bind(&village, &mut binds)));
    }
    if all_need_device {
        outer.push(format!("{t}.owner_device = {}", bind(&device, &mut binds)));
    }
    let alternatives: Vec<String> = needs
        .iter()
        .map(|&(kind, needs_village, needs_device)| {
            let mut all = vec![table.kind_is(kind)];
            if needs_village && !all_need_village {
                all.push(format!("{t}.village_id = {}", bind(&village, &mut binds)));
            }
            if needs_device && !all_need_device {
                all.push(format!("{t}.owner_device = {}", bind(&device, &mut binds)));
            }
            format!("({})", all.join(" AND "))
        })
        .collect();
    let any = if alternatives.is_empty() { "FALSE".to_string() } else { alternatives.join(" OR ") };
    outer.push(format!("({any})"));
    ReadFilter { sql: outer.join(" AND "), binds, nothing: needs.is_empty() }
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
        let moved = Relation { own_village: false, ..all };
        assert_eq!(read(Role::Collaborator, GbvReferral, moved, Channel::Api), Read::Readable);
        assert_eq!(read(Role::Collaborator, GbvReferral, moved, Channel::Sync), Read::Hidden);
    }

    #[test]
    fn the_aggregates_read_like_their_table() {
        use Aggregate::{Exact as E, ExactAudited as A, Hidden as H, Suppressed as S};
        use RecordKind::*;
        // Columns in the order of `Want::ALL`: dashboard, report, completeness, export, exact
        // export, GBV summary.
        let table = [
            (Role::Collaborator, Activity, [H, H, H, H, H, H]),
            (Role::Collaborator, GbvReferral, [H, H, H, H, H, H]),
            (Role::Reviewer, Activity, [E, E, E, E, E, H]),
            (Role::Reviewer, GbvReferral, [S, S, H, S, H, S]),
            (Role::GbvFocalPoint, Activity, [E, E, E, E, E, H]),
            (Role::GbvFocalPoint, GbvReferral, [E, A, H, S, A, S]),
            (Role::Admin, Activity, [H, H, E, H, H, H]),
            (Role::Admin, GbvReferral, [H, H, H, H, H, H]),
        ];
        let roles = <Role as sotay_sync_core::Coded>::ALL;
        for role in roles {
            for kind in [Activity, GbvReferral] {
                assert_eq!(table.iter().filter(|r| (r.0, r.1) == (*role, kind)).count(), 1, "{role:?} {kind:?}");
            }
        }
        for (role, kind, row) in table {
            for (want, expected) in Want::ALL.into_iter().zip(row) {
                assert_eq!(aggregates(role, kind, want), expected, "{role:?} {kind:?} {want:?}");
            }
        }
        // Who may have which aggregate at all, in the same column order.
        let may = [
            (Role::Collaborator, [false, false, false, false, false, false]),
            (Role::Reviewer, [true, true, true, true, false, true]),
            (Role::GbvFocalPoint, [true, true, true, true, true, true]),
            (Role::Admin, [false, false, true, false, false, false]),
        ];
        assert_eq!(may.len(), roles.len());
        for (role, row) in may {
            for (want, expected) in Want::ALL.into_iter().zip(row) {
                assert_eq!(may_aggregate(role, want), expected, "{role:?} {want:?}");
            }
        }
    }

    fn caller(role: Role, village: bool) -> AuthDevice {
        let id = |n: u128| uuid::Uuid::from_u128(n);
        AuthDevice {
            device: sotay_sync_core::DeviceId(id(1)),
            user: sotay_sync_core::UserId(id(2)),
            role,
            commune: sotay_sync_core::CommuneId(id(3)),
            village: village.then(|| sotay_sync_core::VillageId(id(4))),
            scope_changed: false,
            scope_unrecorded: false,
        }
    }

    #[test]
    fn the_filters_follow_the_policy_and_keep_the_village_index_usable() {
        let f = read_filter(&caller(Role::Collaborator, true), Channel::Sync, Table::Changes, 2);
        assert_eq!(
            f.sql,
            "c.commune_id = $2 AND c.village_id = $3 AND ((c.sensitive = false) OR (c.sensitive = true AND c.owner_device = $4))"
        );
        assert_eq!(f.binds.len(), 3);
        let f = read_filter(&caller(Role::Collaborator, true), Channel::Api, Table::Records, 1);
        assert_eq!(
            f.sql,
            "r.commune_id = $1 AND ((r.kind = 'activity' AND r.village_id = $2) OR (r.kind = 'gbv_referral' AND r.owner_device = $3))"
        );
        let f = read_filter(&caller(Role::GbvFocalPoint, false), Channel::Sync, Table::Records, 1);
        assert_eq!(f.sql, "r.commune_id = $1 AND ((r.kind = 'activity'))");
        let f = read_filter(&caller(Role::GbvFocalPoint, false), Channel::Api, Table::Records, 1);
        assert_eq!(f.sql, "r.commune_id = $1 AND ((r.kind = 'activity') OR (r.kind = 'gbv_referral'))");
        for (role, village) in [(Role::Admin, false), (Role::Collaborator, false)] {
            let f = read_filter(&caller(role, village), Channel::Sync, Table::Changes, 1);
            assert!(f.nothing && f.sql.ends_with("(FALSE)"), "{role:?}: {}", f.sql);
        }
    }
}
