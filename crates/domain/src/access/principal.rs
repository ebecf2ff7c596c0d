//! Who is acting, and which service sources their roles reach.
use super::permission::Permission;
use super::role::RoleDef;
use super::EMAIL_SOURCE;
use crate::history::{Actor, ActorKind};
use crate::vocab::service_source_canonical;
use std::collections::BTreeSet;

crate::vocab::vocab_enum!(
    /// Humans log in; machines present API tokens. Both are checked the same way, but the
    /// audit trail must say which one acted.
    PrincipalKind {
        User = "user",
        Token = "token",
    }
);

/// An authenticated user or API token with its roles, as resolved by the server per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// Stable id (user id or token id); what grants and audits key on.
    pub id: String,
    /// Display name for the audit trail (never a secret).
    pub name: String,
    pub roles: Vec<RoleDef>,
}

/// The service sources a principal may act on for one permission, for filtering lists (the
/// alerts queue, exports, counts) in the store.
///
/// Exactly one set is meaningful: with `all`, everything except `deny`; otherwise only
/// `allow`. Values are canonical Graph `serviceSource` spellings so the store can compare them
/// with stored columns directly (`NOT IN deny` / `IN allow`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceScope {
    all: bool,
    allow: BTreeSet<String>,
    deny: BTreeSet<String>,
}

impl SourceScope {
    /// Every source; for Rampart's own processes, which act without a principal.
    pub fn everything() -> Self {
        SourceScope {
            all: true,
            ..SourceScope::default()
        }
    }

    /// No source at all (the [`Default`]).
    pub fn nothing() -> Self {
        SourceScope::default()
    }

    /// Whether the scope is "all sources" (minus [`SourceScope::deny`]).
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// The sources permitted when the scope is not "all"; empty otherwise.
    pub fn allow(&self) -> &BTreeSet<String> {
        &self.allow
    }

    /// The sources excluded from "all"; empty when the scope is not "all".
    pub fn deny(&self) -> &BTreeSet<String> {
        &self.deny
    }

    /// Whether nothing at all is permitted, so a list can answer 403 instead of an empty
    /// page that looks like "no alerts".
    pub fn is_empty(&self) -> bool {
        !self.all && self.allow.is_empty()
    }

    /// Whether an object from this service source (Graph value or query alias) is in scope.
    /// Known sources match case-insensitively through their canonical spelling; unknown ones
    /// must match exactly, as they are stored verbatim.
    pub fn permits(&self, source: &str) -> bool {
        let source = service_source_canonical(source);
        if self.all {
            !self.deny.contains(&source)
        } else {
            self.allow.contains(&source)
        }
    }

    /// Whether everything this scope permits, `other` permits too.
    pub fn is_subset_of(&self, other: &SourceScope) -> bool {
        if self.all {
            other.all && other.deny.is_subset(&self.deny)
        } else {
            self.allow.iter().all(|s| other.permits(s))
        }
    }

    fn exclude(&mut self, source: &str) {
        self.allow.remove(source);
        if self.all {
            self.deny.insert(source.to_string());
        }
    }
}

/// Union of what the roles grant for `perm`, before the e-mail rule. A source-limited role
/// contributes its sources only for source-scoped permissions; for tenant-wide ones it
/// contributes nothing.
fn roles_scope(roles: &[RoleDef], perm: Permission) -> SourceScope {
    let mut scope = SourceScope::nothing();
    for role in roles.iter().filter(|r| r.holds(perm)) {
        match &role.sources {
            None => scope.all = true,
            Some(sources) if perm.is_source_scoped() => scope
                .allow
                .extend(sources.iter().map(|s| service_source_canonical(s))),
            Some(_) => {}
        }
    }
    if scope.all {
        scope.allow.clear();
    }
    scope
}

/// What the roles grant for `perm` with the e-mail rule applied: e-mail objects additionally
/// need `email.read`, granted by any role for the e-mail source (union across roles, so a
/// reader role plus a small "e-mail" role works).
pub(super) fn effective_scope(roles: &[RoleDef], perm: Permission) -> SourceScope {
    let mut scope = roles_scope(roles, perm);
    if perm.gated_by_email_read()
        && !roles_scope(roles, Permission::EmailRead).permits(EMAIL_SOURCE)
    {
        scope.exclude(EMAIL_SOURCE);
    }
    scope
}

/// The scope before the e-mail rule, so a denial can name the permission actually missing.
pub(super) fn scope_without_email_rule(roles: &[RoleDef], perm: Permission) -> SourceScope {
    roles_scope(roles, perm)
}

impl Principal {
    pub fn new(
        kind: PrincipalKind,
        id: impl Into<String>,
        name: impl Into<String>,
        roles: Vec<RoleDef>,
    ) -> Self {
        Principal {
            kind,
            id: id.into(),
            name: name.into(),
            roles,
        }
    }

    /// How this principal appears in the audit trail.
    pub fn actor(&self) -> Actor {
        let kind = match self.kind {
            PrincipalKind::User => ActorKind::User,
            PrincipalKind::Token => ActorKind::Token,
        };
        Actor {
            kind,
            name: self.name.clone(),
        }
    }

    /// Same as [`super::visible_sources`].
    pub fn scope(&self, perm: Permission) -> SourceScope {
        effective_scope(&self.roles, perm)
    }

    /// Permissions held for at least one source, for showing what a session may do (menus,
    /// buttons); actual checks go through [`super::authorize`].
    pub fn permissions(&self) -> BTreeSet<Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(|p| !self.scope(*p).is_empty())
            .collect()
    }

    /// Whether this principal already holds everything `role` would grant, source by source.
    /// Token minting and role assignment use it so nobody can hand out more than they have
    /// (a Security administrator can mint an "Ingest only" token, a Security reader cannot
    /// mint an operator token).
    pub fn covers(&self, role: &RoleDef) -> bool {
        let role = std::slice::from_ref(role);
        Permission::ALL
            .iter()
            .all(|p| effective_scope(role, *p).is_subset_of(&self.scope(*p)))
    }
}
