//! The domain's one error type. Each variant names the field or column at fault so the HTTP
//! edge can turn it into a precise problem+json without guessing.
use crate::vocab::{Classification, Determination};

/// Errors from validating or interpreting domain values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A condition-language query that does not parse or names an unknown field/value.
    #[error("query error at column {col}: {msg}")]
    Query { col: usize, msg: String },
    /// A field holds a value that is not allowed.
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    /// The classification/determination pair is not one the reference product allows.
    #[error("determination {det} is not allowed with classification {class}")]
    Pairing {
        class: Classification,
        det: Determination,
    },
}

impl DomainError {
    /// Shorthand for [`DomainError::Invalid`].
    pub fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Self {
        DomainError::Invalid {
            field: field.into(),
            msg: msg.into(),
        }
    }
}
