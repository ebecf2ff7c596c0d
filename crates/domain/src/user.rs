//! People and machines that act: users (who log in) and API tokens (which present a secret),
//! with the validation both share. Secrets never live in these types: the store keeps only
//! password hashes and token digests.
use crate::access::{builtin, RoleDef};
use crate::error::DomainError;
use crate::timestamp::Timestamp;
use crate::vocab::service_source_canonical;
use serde::{Deserialize, Serialize};

/// Shortest password accepted for a user.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted; argon2 takes any length, but hashing megabytes is a DoS vector.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest user or token name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A user account as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    /// Login name; also what `assignedTo` holds.
    pub username: String,
    pub display_name: String,
    /// A built-in or custom role name.
    pub role: String,
    /// Service sources the role is limited to; `None` = all.
    pub sources: Option<Vec<String>>,
    pub disabled: bool,
    #[serde(rename = "createdDateTime")]
    pub created: Timestamp,
    #[serde(rename = "lastLoginDateTime")]
    pub last_login: Option<Timestamp>,
}

/// An API token as the API lists it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub role: String,
    pub sources: Option<Vec<String>>,
    /// Who minted it.
    pub created_by: String,
    #[serde(rename = "createdDateTime")]
    pub created: Timestamp,
    #[serde(rename = "lastUsedDateTime")]
    pub last_used: Option<Timestamp>,
    #[serde(rename = "revokedDateTime")]
    pub revoked: Option<Timestamp>,
}

/// Checks a user or token name: trimmed, 1–64 characters, no control characters. Usernames
/// are further limited to a login-friendly alphabet by [`check_username`].
pub fn check_name(field: &str, name: &str) -> Result<(), DomainError> {
    if name.trim().is_empty() {
        return Err(DomainError::invalid(field, "must not be blank"));
    }
    if name.trim() != name {
        return Err(DomainError::invalid(
            field,
            "must not start or end with blanks",
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Usernames: ASCII letters and digits and `. _ - @`, so they are unambiguous in audit
/// lines, `assignedTo` and the condition language (`assignedTo:alice`). ASCII because
/// usernames are unique without regard to case, which the store folds for ASCII only, and
/// because look-alike letters from other scripts (a Cyrillic `а` in `аdmin`) would let one
/// account pass for another in the audit trail. Display names take any script.
pub fn check_username(name: &str) -> Result<(), DomainError> {
    check_name("username", name)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(DomainError::invalid(
            "username",
            "may contain only ASCII letters and digits and . _ - @",
        ));
    }
    Ok(())
}

/// Password policy: long rather than complex (NIST SP 800-63B), bounded for hashing cost.
pub fn check_password(pw: &str) -> Result<(), DomainError> {
    if pw.chars().count() < MIN_PASSWORD_CHARS {
        return Err(DomainError::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err(DomainError::invalid(
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Normalises an optional source list (aliases → Graph values, sorted, deduplicated); an
/// empty list is refused because "limited to nothing" is a disabled account, said better.
pub fn normalise_sources(sources: Option<Vec<String>>) -> Result<Option<Vec<String>>, DomainError> {
    let Some(list) = sources else {
        return Ok(None);
    };
    if list.is_empty() {
        return Err(DomainError::invalid(
            "sources",
            "give at least one service source, or omit the list for all sources",
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        check_name("sources", &s)?;
        out.push(service_source_canonical(&s));
    }
    out.sort();
    out.dedup();
    Ok(Some(out))
}

/// The role a user or token acts with: the named role (built-in, or a custom role from
/// `custom`), narrowed to `sources` when given.
pub fn resolve_role(
    name: &str,
    sources: Option<&[String]>,
    custom: &[RoleDef],
) -> Result<RoleDef, DomainError> {
    let mut role = builtin(name)
        .or_else(|| custom.iter().find(|r| r.name == name).cloned())
        .ok_or_else(|| {
            DomainError::invalid(
                "role",
                format!(
                    "unknown role {name:?}; expected one of {} or a custom role",
                    crate::access::ROLE_NAMES.join(", ")
                ),
            )
        })?;
    // A user's or token's sources narrow the role; they never widen a limited role.
    role.sources = match (role.sources.take(), sources) {
        (Some(r), Some(s)) => Some(s.iter().filter(|x| r.contains(*x)).cloned().collect()),
        (None, Some(s)) => Some(s.iter().cloned().collect()),
        (r, None) => r,
    };
    Ok(role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_ascii_logins() {
        for ok in ["alice", "a.ng_2-x@corp", "Bob"] {
            assert!(check_username(ok).is_ok(), "{ok}");
        }
        // Letters outside ASCII: case folding and look-alikes (Cyrillic а, fullwidth).
        for bad in [
            "ü",
            "Ü",
            "\u{430}dmin",
            "\u{ff41}dmin",
            "a b",
            "a/b",
            " alice",
            "",
        ] {
            assert!(
                matches!(check_username(bad), Err(DomainError::Invalid { ref field, .. }) if field == "username"),
                "{bad:?}"
            );
        }
    }
}
