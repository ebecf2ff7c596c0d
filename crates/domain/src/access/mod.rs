//! Access control: permissions, built-in and custom roles, principals, and the one
//! authorization decision every request goes through.
//!
//! The model follows Microsoft 365 Defender: built-in roles with the reference product's names,
//! custom roles composed of permissions, and roles optionally limited to service sources.
//! Two rules shape everything here:
//!
//! - **Sources.** Alerts (and what is derived from them) carry a Graph `serviceSource`. A role
//!   may be limited to some sources; it then grants only source-scoped permissions and only
//!   there. Tenant-wide permissions cannot be source-limited because nothing tenant-wide has a
//!   source to check against.
//! - **E-mail.** Defender for Office 365 alerts (`microsoftDefenderForOffice365`, id prefix
//!   `fa`) expose message data, so acting on them needs `email.read` on top of the permission
//!   itself. All built-in roles that read alerts hold it; custom roles must opt in.
//!
//! Checks return a [`Grant`], which mutating store and service functions require, so an
//! unchecked write does not compile and every change has an audit actor.

mod grant;
mod permission;
mod principal;
mod role;

pub use grant::{authorize, visible_sources, Denied, Grant};
pub use permission::Permission;
pub use principal::{Principal, PrincipalKind, SourceScope};
pub use role::{
    builtin, builtin_roles, BuiltinRole, RoleDef, BUILTIN_ROLES, MAX_ROLE_NAME_CHARS, ROLE_NAMES,
};

/// The service source whose alerts additionally need [`Permission::EmailRead`].
pub const EMAIL_SOURCE: &str = "microsoftDefenderForOffice365";

/// Whether a service source (Graph value or alias such as `email`) is the e-mail product.
pub fn is_email_source(source: &str) -> bool {
    crate::vocab::service_source_canonical(source) == EMAIL_SOURCE
}

#[cfg(test)]
mod tests;
