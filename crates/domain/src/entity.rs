//! Entity identity: what an alert is about, reduced to (kind, normalised value) keys so that
//! the same device, account or file is one key however a product spells it.
//!
//! These keys feed the entity index (impacted-asset filters, entity pages) and correlation.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

crate::vocab::vocab_enum!(
    /// Kinds of entity keys in the entity index.
    EntityKind {
        Device = "device",
        User = "user",
        Mailbox = "mailbox",
        Ip = "ip",
        Url = "url",
        Domain = "domain",
        FileSha256 = "file.sha256",
        FileSha1 = "file.sha1",
        FileMd5 = "file.md5",
        FileName = "file.name",
        Process = "process",
        CloudApp = "cloudApp",
        RegistryKey = "registryKey",
        SecurityGroup = "securityGroup",
        MailMessage = "mailMessage",
    }
);

impl EntityKind {
    /// Stable small integer for the index table (never reorder: it is stored).
    pub const fn code(self) -> i64 {
        match self {
            EntityKind::Device => 1,
            EntityKind::User => 2,
            EntityKind::Mailbox => 3,
            EntityKind::Ip => 4,
            EntityKind::Url => 5,
            EntityKind::Domain => 6,
            EntityKind::FileSha256 => 7,
            EntityKind::FileSha1 => 8,
            EntityKind::FileMd5 => 9,
            EntityKind::FileName => 10,
            EntityKind::Process => 11,
            EntityKind::CloudApp => 12,
            EntityKind::RegistryKey => 13,
            EntityKind::SecurityGroup => 14,
            EntityKind::MailMessage => 15,
        }
    }
    /// Inverse of [`EntityKind::code`].
    pub fn from_code(c: i64) -> Option<Self> {
        EntityKind::ALL.iter().copied().find(|k| k.code() == c)
    }
    /// Kinds shown as "impacted assets" in the queue.
    pub const fn is_asset(self) -> bool {
        matches!(
            self,
            EntityKind::Device | EntityKind::User | EntityKind::Mailbox
        )
    }
}

/// An entity key: kind and normalised value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityKey {
    pub kind: EntityKind,
    pub value: String,
}

/// The digest that identifies a normalised entity value: the first eight bytes of its
/// SHA-256, big-endian. The entity index stores it (so changing it needs a migration), and
/// the correlation engine finds keys by it instead of hashing their text again.
///
/// SHA-256 rather than a fast hash because values come from producers: with a weak hash an
/// attacker could craft a value whose digest equals someone else's device or user. With
/// SHA-256 that is a 2^64 search. (Hash tables must still seed what they hash it with:
/// matching a table's few bucket bits is cheap.)
pub fn value_digest(value: &str) -> i64 {
    let d = Sha256::digest(value.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    i64::from_be_bytes(b)
}

/// Longest normalised value indexed; longer values are cut (they still match themselves).
pub const MAX_ENTITY_VALUE: usize = 512;

/// Whether a normalised account value is a Windows SID (`s-1-…`) rather than a name.
pub fn is_sid(user: &str) -> bool {
    user.starts_with("s-1-")
}

/// Normalises a raw value of `kind` so spellings of one entity meet:
/// - devices: case-insensitive, and the short name stands for the FQDN (`WS-17.corp.local` ≡ `ws-17`);
/// - users: case-insensitive account name without its domain (`CORP\alice` ≡ `alice@corp.com`
///   ≡ `alice`); SIDs are kept whole;
/// - IPs in canonical form; hashes, names, mailboxes, domains lower-cased.
///
/// Returns `None` for values that carry no identity (blank).
pub fn normalise(kind: EntityKind, raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let v = match kind {
        // A host named by its IP address keeps the whole address (its "short name" would
        // be the first octet, shared by unrelated hosts).
        EntityKind::Device => match raw.parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => raw.split('.').next().unwrap_or(raw).to_lowercase(),
        },
        EntityKind::User => {
            let lower = raw.to_lowercase();
            if is_sid(&lower) {
                lower
            } else if let Some((_, name)) = lower.rsplit_once('\\') {
                name.to_string()
            } else if let Some((name, _)) = lower.split_once('@') {
                name.to_string()
            } else {
                lower
            }
        }
        EntityKind::Ip => match raw.parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => raw.to_lowercase(),
        },
        EntityKind::Url | EntityKind::Process => raw.to_string(),
        EntityKind::Mailbox
        | EntityKind::Domain
        | EntityKind::FileSha256
        | EntityKind::FileSha1
        | EntityKind::FileMd5
        | EntityKind::FileName
        | EntityKind::CloudApp
        | EntityKind::RegistryKey
        | EntityKind::SecurityGroup
        | EntityKind::MailMessage => raw.to_lowercase(),
    };
    if v.is_empty() {
        return None;
    }
    Some(truncate(v))
}

fn truncate(mut v: String) -> String {
    crate::text::cut_to(&mut v, MAX_ENTITY_VALUE);
    v
}

/// The host part of a URL, lower-cased, if it has one. Without `://` the value is taken as
/// `host[:port]/path`, unless what follows its first colon is not a port: then it is a URI
/// without a host (`javascript:…`, `mailto:…`, `data:…`), and taking its scheme for a host
/// made every `javascript:` URL share one domain key.
pub fn url_host(url: &str) -> Option<String> {
    let rest = match url.split_once("://") {
        Some((_, r)) => r,
        None => {
            let head = url.split(['/', '?', '#']).next()?;
            if let Some((_, after)) = head.split_once(':') {
                if !head.starts_with('[') && !after.chars().all(|c| c.is_ascii_digit()) {
                    return None;
                }
            }
            url
        }
    };
    let host_port = rest.split(['/', '?', '#']).next()?;
    let host = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| h.trim_start_matches('['))?
    } else {
        host.split(':').next()?
    };
    if host.is_empty() {
        None
    } else {
        Some(host.to_lowercase())
    }
}

/// An impacted asset as the queue shows it: kind and the name as the product spelled it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactedAsset {
    pub kind: EntityKind,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_meet_across_spellings() {
        let a = normalise(EntityKind::User, "CORP\\Alice");
        assert_eq!(a, normalise(EntityKind::User, "alice@corp.example.com"));
        assert_eq!(a, normalise(EntityKind::User, "ALICE"));
        assert_eq!(
            normalise(EntityKind::User, "S-1-5-21-1-2-3-1001").as_deref(),
            Some("s-1-5-21-1-2-3-1001")
        );
    }

    #[test]
    fn devices_short_name_equals_fqdn() {
        assert_eq!(
            normalise(EntityKind::Device, "WS-17.corp.local"),
            normalise(EntityKind::Device, "ws-17")
        );
    }

    #[test]
    fn hosts_named_by_address_keep_the_address() {
        assert_eq!(
            normalise(EntityKind::Device, "10.20.30.40").as_deref(),
            Some("10.20.30.40")
        );
        assert_ne!(
            normalise(EntityKind::Device, "10.20.30.40"),
            normalise(EntityKind::Device, "10.99.1.1")
        );
    }

    #[test]
    fn ips_are_canonical() {
        assert_eq!(
            normalise(EntityKind::Ip, "2001:DB8:0:0::1").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(normalise(EntityKind::Ip, " ").as_deref(), None);
    }

    #[test]
    fn url_hosts() {
        assert_eq!(
            url_host("https://User@Evil.Example:8443/x?y").as_deref(),
            Some("evil.example")
        );
        assert_eq!(
            url_host("evil.example/path").as_deref(),
            Some("evil.example")
        );
        assert_eq!(url_host("http://[::1]:80/").as_deref(), Some("::1"));
        assert_eq!(
            url_host("evil.example:8080/x").as_deref(),
            Some("evil.example")
        );
        // URIs without a host have no domain (their scheme is not one).
        for v in [
            "javascript:alert(5)//evil.example",
            "mailto:ana@corp.example",
            "data:text/html,<b>x</b>",
            "about:blank",
        ] {
            assert_eq!(url_host(v), None, "{v}");
        }
    }

    #[test]
    fn long_values_are_cut_on_char_boundaries() {
        let v = normalise(EntityKind::FileName, &"é".repeat(400)).unwrap();
        assert!(v.len() <= MAX_ENTITY_VALUE);
    }
}
