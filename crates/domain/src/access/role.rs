//! Built-in and custom roles.
use super::permission::Permission;
use crate::error::DomainError;
use crate::vocab::service_source_canonical;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Longest role name, in characters; names show up in pickers and audit lines.
pub const MAX_ROLE_NAME_CHARS: usize = 100;

/// A role: a named set of permissions, optionally limited to some service sources.
///
/// Fields are public because roles are plain data the store persists and the UI edits; a
/// `RoleDef` proves nothing by itself. Only [`super::authorize`] turns roles into a
/// [`super::Grant`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDef {
    pub name: String,
    /// Built-in roles cannot be edited or deleted and their names are reserved.
    pub builtin: bool,
    pub permissions: BTreeSet<Permission>,
    /// Graph `serviceSource` values the role is limited to; `None` = every source. A limited
    /// role grants only source-scoped permissions, and only for these sources.
    pub sources: Option<BTreeSet<String>>,
}

/// One row of the built-in role table: the single place the built-in mapping is written down,
/// so the API matrix, the docs and the tests cannot drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinRole {
    pub name: &'static str,
    pub permissions: &'static [Permission],
    /// Why the role has exactly these permissions.
    pub rationale: &'static str,
}

use Permission as P;

/// The built-in roles, in display order.
///
/// Decisions worth knowing:
/// - Security administrator runs the security side (triage, rules, tokens, settings, exports,
///   audit, ingest) but not identity: `users.manage` and `roles.manage` stay with Global
///   administrator and Organization management, so a security admin cannot grant themselves
///   more than they have. It holds `alerts.ingest` because it mints producer tokens and a
///   token should never carry a permission its minter lacks.
/// - Readers (Global reader, Security reader) and Compliance administrator hold no permission
///   that changes state; Compliance administrator adds `export` for evidence hand-over.
/// - Organization management administers people and roles and may see (not change) what they
///   protect, plus the audit log to review who changed what.
/// - Every role that reads alerts also holds `email.read`: the reference product lets exactly
///   these roles see Defender for Office 365 alerts. Custom roles must opt in.
pub const BUILTIN_ROLES: &[BuiltinRole] = &[
    BuiltinRole {
        name: "Global administrator",
        permissions: Permission::ALL,
        rationale: "Owns the tenant: everything, including users and roles.",
    },
    BuiltinRole {
        name: "Security administrator",
        permissions: &[
            P::AlertsRead,
            P::AlertsManage,
            P::AlertsIngest,
            P::IncidentsRead,
            P::IncidentsManage,
            P::EmailRead,
            P::RulesManage,
            P::TokensManage,
            P::Export,
            P::SettingsManage,
            P::AuditRead,
        ],
        rationale: "Runs security operations and configuration, but not identity \
                    (users and roles).",
    },
    BuiltinRole {
        name: "Security operator",
        permissions: &[
            P::AlertsRead,
            P::AlertsManage,
            P::IncidentsRead,
            P::IncidentsManage,
            P::EmailRead,
            P::Export,
        ],
        rationale: "Triages: reads and manages alerts and incidents, exports findings.",
    },
    BuiltinRole {
        name: "Global reader",
        permissions: &[P::AlertsRead, P::IncidentsRead, P::EmailRead, P::AuditRead],
        rationale: "Sees everything an administrator sees; changes nothing.",
    },
    BuiltinRole {
        name: "Security reader",
        permissions: &[P::AlertsRead, P::IncidentsRead, P::EmailRead, P::AuditRead],
        rationale: "Sees security data; changes nothing.",
    },
    BuiltinRole {
        name: "Compliance administrator",
        permissions: &[
            P::AlertsRead,
            P::IncidentsRead,
            P::EmailRead,
            P::AuditRead,
            P::Export,
        ],
        rationale: "Reviews and exports for compliance; read-only on alerts and incidents.",
    },
    BuiltinRole {
        name: "Organization management",
        permissions: &[
            P::AlertsRead,
            P::IncidentsRead,
            P::EmailRead,
            P::AuditRead,
            P::UsersManage,
            P::RolesManage,
        ],
        rationale: "Administers users and role assignments; read-only on security data.",
    },
    BuiltinRole {
        name: "Ingest only",
        permissions: &[P::AlertsIngest],
        rationale: "For producer tokens: may submit alerts and nothing else, not even read \
                    them back.",
    },
];

const ROLE_COUNT: usize = BUILTIN_ROLES.len();

const ROLE_NAME_ARRAY: [&str; ROLE_COUNT] = {
    let mut names = [""; ROLE_COUNT];
    let mut i = 0;
    while i < ROLE_COUNT {
        names[i] = BUILTIN_ROLES[i].name;
        i += 1;
    }
    names
};

/// Names of the built-in roles in [`BUILTIN_ROLES`] order, derived from it at compile time.
pub const ROLE_NAMES: &[&str] = &ROLE_NAME_ARRAY;

impl BuiltinRole {
    /// The row as a storable role.
    pub fn to_role(&self) -> RoleDef {
        RoleDef {
            name: self.name.to_string(),
            builtin: true,
            permissions: self.permissions.iter().copied().collect(),
            sources: None,
        }
    }
}

/// Every built-in role, in [`ROLE_NAMES`] order.
pub fn builtin_roles() -> Vec<RoleDef> {
    BUILTIN_ROLES.iter().map(BuiltinRole::to_role).collect()
}

/// The built-in role with this name, ignoring ASCII case and surrounding blanks (people type
/// "security reader").
pub fn builtin(name: &str) -> Option<RoleDef> {
    let name = name.trim();
    BUILTIN_ROLES
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
        .map(BuiltinRole::to_role)
}

/// Adds implied permissions so what is stored and shown is what is effectively granted.
fn with_implied(perms: impl IntoIterator<Item = Permission>) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    for p in perms {
        out.insert(p);
        out.extend(p.implies().iter().copied());
    }
    out
}

impl RoleDef {
    /// Builds and validates a custom role. The name is trimmed, implied permissions are added
    /// and source aliases (`endpoint`) are resolved to Graph values, so equal roles compare
    /// equal and the store filters on the same spelling ingest writes.
    pub fn custom(
        name: &str,
        permissions: impl IntoIterator<Item = Permission>,
        sources: Option<Vec<String>>,
    ) -> Result<Self, DomainError> {
        let role = RoleDef {
            // As sent: a name with blanks around it is refused by `validate`, as user and
            // token names are, not quietly made another name.
            name: name.to_string(),
            builtin: false,
            permissions: with_implied(permissions),
            sources: sources.map(|s| {
                s.iter()
                    .map(|v| service_source_canonical(v.trim()))
                    .collect()
            }),
        };
        role.validate()?;
        role.refuse_email_without_email_read()?;
        role.refuse_look_alike_of_a_builtin()?;
        Ok(role)
    }

    /// A new role whose name reads as a built-in one once fullwidth letters are folded
    /// (`ＳＥＣＵＲＩＴＹ ＲＥＡＤＥＲ`) would pass for it in user lists and the audit
    /// trail. Checked when a role is made, as the e-mail rule is, so stored roles still read.
    fn refuse_look_alike_of_a_builtin(&self) -> Result<(), DomainError> {
        let folded: String = self
            .name
            .chars()
            .map(|c| match u32::from(c) {
                0xFF01..=0xFF5E => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
                0x3000 => ' ',
                _ => c,
            })
            .collect();
        match builtin(&folded) {
            Some(b) => Err(DomainError::invalid(
                "name",
                format!("{:?} reads as the built-in role {:?}", self.name, b.name),
            )),
            None => Ok(()),
        }
    }

    /// A new role limited to e-mail alone whose every permission needs `email.read` there
    /// and which lacks it grants nothing at all; it was accepted, and its users and tokens
    /// met 403s naming the very permission the role lists. (Roles already stored still
    /// read back: this is checked when one is made.)
    fn refuse_email_without_email_read(&self) -> Result<(), DomainError> {
        let Some(sources) = &self.sources else {
            return Ok(());
        };
        let email_only = sources.iter().all(|s| super::is_email_source(s));
        let all_gated = self.permissions.iter().all(|p| p.gated_by_email_read());
        if email_only && all_gated && !self.permissions.contains(&Permission::EmailRead) {
            return Err(DomainError::invalid(
                "permissions",
                "a role limited to e-mail alerts needs email.read to act on them; add it, \
                 or the role grants nothing",
            ));
        }
        Ok(())
    }

    /// Checks a role read back from storage or built by hand. A built-in must match the
    /// table exactly (a tampered row must not widen a built-in); a custom role must have a
    /// usable, unreserved name, at least one permission, and — if source-limited — at least
    /// one source and only source-scoped permissions.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.builtin {
            return match builtin(&self.name) {
                Some(b) if b == *self => Ok(()),
                Some(_) => Err(DomainError::invalid(
                    "role",
                    format!("built-in role {:?} cannot be changed", self.name),
                )),
                None => Err(DomainError::invalid(
                    "role",
                    format!("{:?} is not a built-in role", self.name),
                )),
            };
        }
        let name = self.name.as_str();
        if name.trim().is_empty() {
            return Err(DomainError::invalid("name", "must not be blank"));
        }
        if name.trim() != name {
            return Err(DomainError::invalid(
                "name",
                "must not start or end with blanks",
            ));
        }
        if name.chars().count() > MAX_ROLE_NAME_CHARS {
            return Err(DomainError::invalid(
                "name",
                format!("must be at most {MAX_ROLE_NAME_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "name",
                "must not contain control characters",
            ));
        }
        if let Some(b) = builtin(name) {
            return Err(DomainError::invalid(
                "name",
                format!("{:?} is the name of a built-in role", b.name),
            ));
        }
        if self.permissions.is_empty() {
            return Err(DomainError::invalid(
                "permissions",
                format!(
                    "a role needs at least one permission; expected some of {}",
                    Permission::expected()
                ),
            ));
        }
        if let Some(sources) = &self.sources {
            if sources.is_empty() {
                return Err(DomainError::invalid(
                    "sources",
                    "a source-limited role needs at least one service source \
                     (omit the list for all sources)",
                ));
            }
            if sources.iter().any(|s| s.trim().is_empty()) {
                return Err(DomainError::invalid("sources", "must not contain blanks"));
            }
            let global: Vec<&str> = self
                .permissions
                .iter()
                .filter(|p| !p.is_source_scoped())
                .map(|p| p.as_str())
                .collect();
            if !global.is_empty() {
                return Err(DomainError::invalid(
                    "permissions",
                    format!(
                        "{} apply to the whole tenant and cannot be limited to service sources",
                        global.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether the role holds the permission directly or through an implication, regardless
    /// of sources. Roles stored before an implication existed still behave as they should.
    pub fn holds(&self, perm: Permission) -> bool {
        self.permissions
            .iter()
            .any(|p| *p == perm || p.implies().contains(&perm))
    }

    /// The permissions the role effectively holds (stored plus implied).
    pub fn effective_permissions(&self) -> BTreeSet<Permission> {
        with_implied(self.permissions.iter().copied())
    }
}
