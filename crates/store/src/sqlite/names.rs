//! Finding an alert by its id or provider key.
//!
//! Both names are filed in the entity index under kinds of their own (`entity_index.rs`,
//! "Names"): the sealed parts in the `entities` table, the newest part in memory
//! (`recent.rs`). A lookup walks the parts, adds the rows in memory, and then compares the
//! name itself on the alert's row, since the index holds only a digest.
//!
//! Two ways reach the rows in memory, as for entity filters:
//! - readers bind them as an array before the statement takes its snapshot (see the module
//!   docs of `recent.rs` for why the order matters);
//! - the writer connection calls `rampart_newest_rids(kind, digest)`, registered on it at
//!   opening ([`register`]), which also sees what the open transaction staged. Only the
//!   writer thread changes the index, so nothing moves between its statements' snapshots
//!   and their calls.
//!
//! A reader shares the entity filters' one gap (`recent.rs`): for the microseconds between
//! a commit and its publication, an alert just committed is not found by name by another
//! client yet. The writer answers only after publishing, so whoever sent an alert finds it,
//! and the writer's own lookups (idempotence) see what it staged, so the gap cannot let an
//! alert be inserted twice.
use super::recent::RecentIndex;
use crate::entity_index::{ALERT_ID, IN_EVERY_PART, PROVIDER_KEY};
use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;
use std::sync::Arc;

/// Which name of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
    Id,
    ProviderKey,
}

impl Name {
    pub(crate) fn kind(self) -> i64 {
        match self {
            Name::Id => ALERT_ID,
            Name::ProviderKey => PROVIDER_KEY,
        }
    }

    fn column(self) -> &'static str {
        match self {
            Name::Id => "id",
            Name::ProviderKey => "provider_key",
        }
    }
}

/// The sealed parts' rows filed under `name`'s kind and the digest of `?1`.
fn in_table(name: Name) -> String {
    format!(
        "SELECT e.rid FROM {IN_EVERY_PART} AND e.kind = {} AND e.value_hash = rampart_value_hash(?1)",
        name.kind()
    )
}

/// A condition on `alerts` that holds for the alert whose `name` is `?1`, for statements on
/// the writer connection. Callers build their statement once (a `LazyLock`): it is prepared
/// on the writer's path for every alert the names filter is unsure of.
pub(crate) fn on_writer(name: Name) -> String {
    format!(
        "rid IN ({} UNION ALL SELECT value FROM json_each(\
         rampart_newest_rids({}, rampart_value_hash(?1)))) AND {} = ?1",
        in_table(name),
        name.kind(),
        name.column()
    )
}

/// The same for a reader: `?2` is bound to [`RecentIndex::rids`] of the name's digest.
pub(crate) fn on_reader(name: Name) -> String {
    format!(
        "rid IN ({} UNION ALL SELECT value FROM rarray(?2)) AND {} = ?1",
        in_table(name),
        name.column()
    )
}

/// Registers `rampart_newest_rids` on the writer connection.
pub(crate) fn register(conn: &Connection, recent: &Arc<RecentIndex>) -> rusqlite::Result<()> {
    let recent = Arc::clone(recent);
    conn.create_scalar_function(
        "rampart_newest_rids",
        2,
        FunctionFlags::SQLITE_UTF8,
        move |ctx| Ok(recent.rids_json(ctx.get(0)?, ctx.get(1)?)),
    )
}
