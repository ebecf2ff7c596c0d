//! The authorization decision and its proof.
use super::permission::Permission;
use super::principal::{effective_scope, scope_without_email_rule, Principal, SourceScope};
use crate::history::Actor;
use crate::vocab::service_source_canonical;

/// Proof that a principal was authorized for one permission.
///
/// The fields are private and [`authorize`] is the only constructor, so a store or service
/// function that takes `&Grant` cannot be reached without a check, and always knows the
/// audit actor. There is deliberately no `Deserialize` and no public constructor; a test
/// cannot assert that at run time, so keep it that way in review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    principal_id: String,
    actor: Actor,
    permission: Permission,
    source: Option<String>,
    scope: SourceScope,
}

impl Grant {
    /// Who to record in the history for whatever this grant allows.
    pub fn actor(&self) -> Actor {
        self.actor.clone()
    }

    pub fn permission(&self) -> Permission {
        self.permission
    }

    pub fn principal_id(&self) -> &str {
        &self.principal_id
    }

    /// The canonical service source the grant was asked for, if any. Always `None` for
    /// tenant-wide permissions, whose checks ignore sources.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// Everything this permission reaches for the principal. A grant asked for without a
    /// source (listing, bulk edits) is good only for objects this scope permits, so bulk
    /// operations filter by it rather than trusting the grant alone.
    pub fn scope(&self) -> &SourceScope {
        &self.scope
    }

    /// Whether the grant reaches an object from this service source; for re-checking each
    /// object in a bulk operation.
    pub fn covers(&self, source: &str) -> bool {
        self.scope.permits(source)
    }
}

/// Why a request was refused. `perm` is the permission that is missing — for an e-mail alert
/// that can be `email.read` even though the caller asked for `alerts.read` — so the message
/// tells the user what to ask their administrator for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub perm: Permission,
    /// Canonical service source the permission was needed for.
    pub source: Option<String>,
}

// Display and Error are written by hand: thiserror treats a field named `source` as the
// underlying error, and a `String` is not one.
impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "permission {} required", self.perm)?;
        if let Some(source) = &self.source {
            write!(f, " for service source {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Denied {}

/// Decides whether `principal` may use `perm` on an object from service `source`.
///
/// - Tenant-wide permissions (users, roles, tokens, settings, rules, audit) ignore `source`
///   and need a role that is not source-limited.
/// - Source-scoped permissions with `Some(source)` need a role reaching that source, and for
///   e-mail alerts also `email.read` (see [`super::EMAIL_SOURCE`]).
/// - Source-scoped permissions with `None` (opening the queue, starting a bulk edit) need the
///   permission for at least one source; the grant's [`Grant::scope`] then limits what it may
///   touch.
///
/// Defined through [`visible_sources`], so a list filtered by the scope and a check of one
/// object can never disagree.
pub fn authorize(
    principal: &Principal,
    perm: Permission,
    source: Option<&str>,
) -> Result<Grant, Denied> {
    let scope = effective_scope(&principal.roles, perm);
    let source = source
        .filter(|_| perm.is_source_scoped())
        .map(service_source_canonical);
    match &source {
        Some(s) if !scope.permits(s) => {
            let missing = if scope_without_email_rule(&principal.roles, perm).permits(s) {
                Permission::EmailRead
            } else {
                perm
            };
            Err(Denied {
                perm: missing,
                source: Some(s.clone()),
            })
        }
        None if scope.is_empty() => Err(Denied { perm, source: None }),
        _ => Ok(Grant {
            principal_id: principal.id.clone(),
            actor: principal.actor(),
            permission: perm,
            source,
            scope,
        }),
    }
}

/// The service sources `principal` may use `perm` on, for filtering lists in the store.
/// E-mail is excluded unless the principal holds `email.read` for it.
pub fn visible_sources(principal: &Principal, perm: Permission) -> SourceScope {
    effective_scope(&principal.roles, perm)
}
