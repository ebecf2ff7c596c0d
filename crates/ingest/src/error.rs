//! Why an input was refused, precise enough for a producer to fix it: which item (array
//! index or NDJSON line) and which field.
use rampart_domain::DomainError;

/// An ingest rejection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// Not JSON we accept (syntax, duplicate key, lone surrogate, depth, invalid UTF-8).
    #[error("{location}invalid JSON: {msg}")]
    Json { location: Location, msg: String },
    /// A field is missing, of the wrong type or holds a value that is not allowed.
    #[error("{location}{field}: {msg}")]
    Field {
        location: Location,
        field: String,
        msg: String,
    },
    /// The body or one item is larger than allowed.
    #[error("{location}{msg}")]
    TooLarge { location: Location, msg: String },
}

/// Where in a request an error is: the whole body, an array index or an NDJSON line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Location {
    #[default]
    Body,
    /// Zero-based index into a JSON array body.
    Item(usize),
    /// One-based NDJSON line number.
    Line(usize),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Body => Ok(()),
            Location::Item(i) => write!(f, "item {i}: "),
            Location::Line(l) => write!(f, "line {l}: "),
        }
    }
}

impl IngestError {
    /// The field at fault: `body` when it is the JSON or its size, as the triage routes
    /// name it (with the item or line, when there is one, in the location).
    pub fn field(&self) -> Option<&str> {
        match self {
            IngestError::Field { field, .. } => Some(field),
            IngestError::Json { .. } | IngestError::TooLarge { .. } => Some("body"),
        }
    }
    /// The location of the error.
    pub fn location(&self) -> Location {
        match self {
            IngestError::Json { location, .. }
            | IngestError::Field { location, .. }
            | IngestError::TooLarge { location, .. } => *location,
        }
    }
    /// The same error placed at `loc`.
    pub fn at(mut self, loc: Location) -> Self {
        match &mut self {
            IngestError::Json { location, .. }
            | IngestError::Field { location, .. }
            | IngestError::TooLarge { location, .. } => *location = loc,
        }
        self
    }
    /// A field error at the body level (the caller places it).
    pub fn field_err(field: impl Into<String>, msg: impl Into<String>) -> Self {
        IngestError::Field {
            location: Location::Body,
            field: field.into(),
            msg: msg.into(),
        }
    }
}

impl From<DomainError> for IngestError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, msg } => IngestError::field_err(field, msg),
            DomainError::Pairing { .. } => IngestError::field_err("determination", e.to_string()),
            DomainError::Query { .. } => IngestError::field_err("query", e.to_string()),
        }
    }
}
