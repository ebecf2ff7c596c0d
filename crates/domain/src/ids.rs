//! Alert ids: a two-letter prefix naming the service source, then a UUID.
//!
//! An alert sent without `id` gets a deterministic one: prefix + UUIDv5 of (serviceSource,
//! providerAlertId), so a re-send maps onto the alert it already created. The prefix is chosen
//! from the source and never influences the UUID part.
use crate::error::DomainError;
use crate::vocab::SERVICE_SOURCES;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Namespace for derived alert ids (a fixed random UUID; changing it would re-key every alert).
const ALERT_NAMESPACE: Uuid = Uuid::from_u128(0x5f0e_2a1c_8d3b_4e7a_9c61_0b2d_7e4f_a913);

/// Prefix for alerts whose service source nobody registered.
pub const UNREGISTERED_PREFIX: &str = "xx";

/// Longest id or providerAlertId accepted.
pub const MAX_ID_LEN: usize = 256;

/// Maps service sources to id prefixes: the built-ins plus operator-registered ones.
#[derive(Debug, Clone)]
pub struct PrefixRegistry {
    by_source: BTreeMap<String, String>,
}

impl Default for PrefixRegistry {
    fn default() -> Self {
        let by_source = SERVICE_SOURCES
            .iter()
            .map(|(src, _, p)| ((*src).to_string(), (*p).to_string()))
            .collect();
        PrefixRegistry { by_source }
    }
}

impl PrefixRegistry {
    /// Registers a further source with its own two-letter prefix.
    pub fn register(&mut self, source: &str, prefix: &str) -> Result<(), DomainError> {
        if prefix.len() != 2 || !prefix.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(DomainError::invalid(
                "prefix",
                format!("{prefix:?} must be two lower-case ASCII letters"),
            ));
        }
        if prefix == "ed" || self.by_source.values().any(|p| p == prefix) {
            return Err(DomainError::invalid(
                "prefix",
                format!("{prefix:?} is already taken"),
            ));
        }
        self.by_source
            .insert(source.to_string(), prefix.to_string());
        Ok(())
    }

    /// The prefix for an alert from `service_source` raised by `detection_source`. Endpoint
    /// custom detections get `ed`, as in the reference product.
    pub fn prefix_for(&self, service_source: &str, detection_source: &str) -> &str {
        if service_source == "microsoftDefenderForEndpoint" && detection_source == "customDetection"
        {
            return "ed";
        }
        self.by_source
            .get(service_source)
            .map_or(UNREGISTERED_PREFIX, String::as_str)
    }

    /// The derived id for an alert that came without one.
    pub fn derive_id(
        &self,
        service_source: &str,
        detection_source: &str,
        provider_alert_id: &str,
    ) -> String {
        let mut name = Vec::with_capacity(service_source.len() + provider_alert_id.len() + 1);
        name.extend_from_slice(service_source.as_bytes());
        name.push(0x1f);
        name.extend_from_slice(provider_alert_id.as_bytes());
        let uuid = Uuid::new_v5(&ALERT_NAMESPACE, &name);
        format!(
            "{}{}",
            self.prefix_for(service_source, detection_source),
            uuid
        )
    }
}

/// Checks an id-like string: non-blank, at most [`MAX_ID_LEN`] characters, no control
/// characters.
pub fn check_id(field: &str, s: &str) -> Result<(), DomainError> {
    if s.trim().is_empty() {
        return Err(DomainError::invalid(field, "must not be blank"));
    }
    if s.chars().count() > MAX_ID_LEN {
        return Err(DomainError::invalid(
            field,
            format!("longer than {MAX_ID_LEN} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Names the alert routes use beside `/api/v1/alerts/{id}`: an alert with one of them as
/// its id could be read or changed only by percent-encoding it.
pub const RESERVED_ALERT_IDS: &[&str] = &["bulk", "bulk-update"];

/// Checks an alert id a producer chose: [`check_id`], and not a route's name.
pub fn check_alert_id(s: &str) -> Result<(), DomainError> {
    check_id("id", s)?;
    if RESERVED_ALERT_IDS.contains(&s) {
        return Err(DomainError::invalid(
            "id",
            format!("{s:?} names an API route and cannot be an alert id"),
        ));
    }
    Ok(())
}

/// A fresh random id with a prefix, for incidents, comments, tokens.
pub fn random_id(prefix: &str) -> String {
    format!("{prefix}{}", Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_prefixed() {
        let r = PrefixRegistry::default();
        let a = r.derive_id("microsoftDefenderForEndpoint", "antivirus", "p-1");
        assert_eq!(
            a,
            r.derive_id("microsoftDefenderForEndpoint", "antivirus", "p-1")
        );
        assert!(a.starts_with("da"));
        let custom = r.derive_id("microsoftDefenderForEndpoint", "customDetection", "p-1");
        assert!(custom.starts_with("ed"));
        assert_eq!(a[2..], custom[2..], "prefix never changes the UUID part");
        assert!(r
            .derive_id("acme", "x", "p-1")
            .starts_with(UNREGISTERED_PREFIX));
    }

    #[test]
    fn registration_validates_prefixes() {
        let mut r = PrefixRegistry::default();
        assert!(r.register("acmeEdr", "ac").is_ok());
        assert!(r.derive_id("acmeEdr", "x", "1").starts_with("ac"));
        assert!(r.register("other", "da").is_err());
        assert!(r.register("other", "ABC").is_err());
    }

    #[test]
    fn id_checks() {
        assert!(check_id("id", "  ").is_err());
        assert!(check_id("id", "a\u{7}b").is_err());
        assert!(check_id("id", &"x".repeat(257)).is_err());
        assert!(check_id("id", "da123_-9").is_ok());
        for reserved in RESERVED_ALERT_IDS {
            assert!(check_alert_id(reserved).is_err(), "{reserved}");
        }
        assert!(check_alert_id("bulk-1").is_ok());
    }
}
