//! The Graph security alert vocabulary with its exact camelCase spellings.
//!
//! Closed enums (`severity`, `status`, `classification`, `determination`) reject unknown
//! values at ingest; evolvable ones (service source, detection source, roles, verdicts …) are
//! plain strings so a new product value is kept, not lost.
use crate::error::DomainError;

/// Declares a closed vocabulary enum with its wire spellings, parsing and serde.
macro_rules! vocab_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The wire spelling.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
            /// Parses the exact wire spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$var),)+ _ => None }
            }
            /// Parses the wire spelling, ignoring ASCII case (for humans typing queries).
            pub fn parse_loose(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s))
            }
            /// The members' spellings joined for error messages.
            pub fn expected() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::DomainError;
            fn from_str(s: &str) -> Result<Self, $crate::error::DomainError> {
                $name::parse(s).ok_or_else(|| $crate::error::DomainError::invalid(
                    stringify!($name),
                    format!("unknown value {s:?}; expected one of {}", $name::expected()),
                ))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| serde::de::Error::custom(format!(
                    "unknown value {s:?}; expected one of {}", $name::expected()
                )))
            }
        }
    };
}
pub(crate) use vocab_enum;

vocab_enum!(
    /// How bad the alert is. Ordered: `unknown` < `informational` < `low` < `medium` < `high`.
    Severity {
        Unknown = "unknown",
        Informational = "informational",
        Low = "low",
        Medium = "medium",
        High = "high",
        UnknownFutureValue = "unknownFutureValue",
    }
);

impl Severity {
    /// Rank used for sorting and ranges (`severity>=medium`); stored as an integer column.
    pub const fn rank(self) -> i64 {
        match self {
            Severity::Unknown | Severity::UnknownFutureValue => 0,
            Severity::Informational => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
        }
    }
    /// Inverse of [`Severity::rank`].
    pub const fn from_rank(r: i64) -> Self {
        match r {
            1 => Severity::Informational,
            2 => Severity::Low,
            3 => Severity::Medium,
            4 => Severity::High,
            _ => Severity::Unknown,
        }
    }
}

vocab_enum!(
    /// Triage status of an alert.
    AlertStatus {
        New = "new",
        InProgress = "inProgress",
        Resolved = "resolved",
        UnknownFutureValue = "unknownFutureValue",
    }
);

vocab_enum!(
    /// The analyst's verdict on an alert ("Not set", "True alert", "False alert",
    /// "Informational, expected activity").
    Classification {
        Unknown = "unknown",
        FalsePositive = "falsePositive",
        TruePositive = "truePositive",
        InformationalExpectedActivity = "informationalExpectedActivity",
        UnknownFutureValue = "unknownFutureValue",
    }
);

impl Classification {
    /// The label the UI shows.
    pub const fn label(self) -> &'static str {
        match self {
            Classification::Unknown | Classification::UnknownFutureValue => "Not set",
            Classification::TruePositive => "True alert",
            Classification::FalsePositive => "False alert",
            Classification::InformationalExpectedActivity => "Informational, expected activity",
        }
    }
}

vocab_enum!(
    /// What the analyst determined, refining the classification.
    Determination {
        Unknown = "unknown",
        Apt = "apt",
        Malware = "malware",
        SecurityPersonnel = "securityPersonnel",
        SecurityTesting = "securityTesting",
        UnwantedSoftware = "unwantedSoftware",
        Other = "other",
        MultiStagedAttack = "multiStagedAttack",
        CompromisedAccount = "compromisedAccount",
        Phishing = "phishing",
        MaliciousUserActivity = "maliciousUserActivity",
        NotMalicious = "notMalicious",
        NotEnoughDataToValidate = "notEnoughDataToValidate",
        ConfirmedActivity = "confirmedActivity",
        LineOfBusinessApplication = "lineOfBusinessApplication",
        UnknownFutureValue = "unknownFutureValue",
    }
);

impl Determination {
    /// The label the UI shows.
    pub const fn label(self) -> &'static str {
        match self {
            Determination::Unknown | Determination::UnknownFutureValue => "Not set",
            Determination::Apt => "APT",
            Determination::Malware => "Malware",
            Determination::SecurityPersonnel => "Security personnel",
            Determination::SecurityTesting => "Security testing",
            Determination::UnwantedSoftware => "Unwanted software",
            Determination::Other => "Other",
            Determination::MultiStagedAttack => "Multi-staged attack",
            Determination::CompromisedAccount => "Compromised account",
            Determination::Phishing => "Phishing",
            Determination::MaliciousUserActivity => "Malicious user activity",
            Determination::NotMalicious => "Not malicious",
            Determination::NotEnoughDataToValidate => "Not enough data to validate",
            Determination::ConfirmedActivity => "Confirmed activity",
            Determination::LineOfBusinessApplication => "Line-of-business application",
        }
    }
}

/// The determinations the reference product offers under each classification. `unknown`
/// ("not set yet") goes with every classification; with classification `unknown` nothing else
/// does.
pub fn allowed_determinations(class: Classification) -> &'static [Determination] {
    use Determination as D;
    match class {
        Classification::Unknown | Classification::UnknownFutureValue => {
            &[D::Unknown, D::UnknownFutureValue]
        }
        Classification::TruePositive => &[
            D::Unknown,
            D::MultiStagedAttack,
            D::MaliciousUserActivity,
            D::CompromisedAccount,
            D::Malware,
            D::Phishing,
            D::UnwantedSoftware,
            D::Apt,
            D::Other,
        ],
        Classification::InformationalExpectedActivity => &[
            D::Unknown,
            D::SecurityTesting,
            D::LineOfBusinessApplication,
            D::ConfirmedActivity,
            D::SecurityPersonnel,
            D::Other,
        ],
        Classification::FalsePositive => &[
            D::Unknown,
            D::NotMalicious,
            D::NotEnoughDataToValidate,
            D::Other,
        ],
    }
}

/// Validates a classification/determination pair.
pub fn check_pairing(class: Classification, det: Determination) -> Result<(), DomainError> {
    if allowed_determinations(class).contains(&det) {
        Ok(())
    } else {
        Err(DomainError::Pairing { class, det })
    }
}

/// Well-known service sources (Graph `serviceSource`), with short aliases for queries.
/// Unknown values are still accepted and kept: the list only powers aliases and prefixes.
pub const SERVICE_SOURCES: &[(&str, &str, &str)] = &[
    // (Graph value, query alias, id prefix)
    ("microsoftDefenderForEndpoint", "endpoint", "da"),
    ("microsoftDefenderForIdentity", "identity", "aa"),
    ("microsoftDefenderForOffice365", "email", "fa"),
    ("microsoftDefenderForCloudApps", "cloudapps", "ca"),
    ("microsoft365Defender", "xdr", "ra"),
    ("azureAdIdentityProtection", "aadip", "ad"),
    ("microsoftAppGovernance", "appgovernance", "ag"),
    ("dataLossPrevention", "dlp", "dl"),
    ("microsoftDefenderForCloud", "cloud", "dc"),
    ("microsoftSentinel", "sentinel", "sn"),
    ("microsoftInsiderRiskManagement", "insiderrisk", "ir"),
];

/// Resolves a query alias (`endpoint`) or a Graph value to the Graph value, case-insensitively.
/// Values that are neither are returned unchanged (evolvable vocabulary).
pub fn service_source_canonical(s: &str) -> String {
    SERVICE_SOURCES
        .iter()
        .find(|(v, a, _)| v.eq_ignore_ascii_case(s) || a.eq_ignore_ascii_case(s))
        .map_or_else(|| s.to_string(), |(v, _, _)| (*v).to_string())
}

/// Investigation states of the automated investigation (Graph `investigationState`).
pub const INVESTIGATION_STATES: &[&str] = &[
    "unknown",
    "terminated",
    "successfullyRemediated",
    "benign",
    "failed",
    "partiallyRemediated",
    "running",
    "pendingApproval",
    "pendingResource",
    "queued",
    "innerFailure",
    "preexistingAlert",
    "unsupportedOs",
    "unsupportedAlertType",
    "suppressedAlert",
    "terminatedByUser",
    "terminatedBySystem",
    "unknownFutureValue",
];

#[cfg(test)]
mod tests;
