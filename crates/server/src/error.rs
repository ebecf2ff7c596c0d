//! The one error type handlers return, rendered as RFC 9457 problem+json. Every variant has a
//! stable `type` slug; internal errors are logged, never echoed.
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rampart_domain::DomainError;
use rampart_ingest::IngestError;
use rampart_store::StoreError;
use serde::Serialize;

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input: the message names the field (and item/line/column where there is one).
    #[error("{detail}")]
    BadRequest {
        field: Option<String>,
        detail: String,
    },
    /// No or bad credentials (401, with `WWW-Authenticate`).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not allowed (403); the message names the missing permission.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// An update without the version it was based on (428).
    #[error("{0}")]
    PreconditionRequired(String),
    /// Throttled (429); `retry_after` in seconds.
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after: i64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// The content type of every error body (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The problem+json body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable identifier of the problem kind, e.g. `/problems/invalid-input`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The offending field, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// A 400 naming `field`.
    pub fn bad(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::BadRequest { .. } => {
                (StatusCode::BAD_REQUEST, "invalid-input", "Invalid input")
            }
            ApiError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
            ),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Payload too large",
            ),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::PreconditionRequired(_) => (
                StatusCode::PRECONDITION_REQUIRED,
                "version-required",
                "Version required",
            ),
            ApiError::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

/// Longest `detail` sent, in bytes. Details quote the input at fault, and a 1 MB id quoted
/// back made a 1 MB error.
const DETAIL_MAX: usize = 1024;

/// `detail` cut to [`DETAIL_MAX`] bytes on a character boundary, marked as cut.
fn clip(mut detail: String) -> String {
    if rampart_domain::text::cut_to(&mut detail, DETAIL_MAX) {
        detail.push_str("… (cut)");
    }
    detail
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = ?e, "internal error");
        }
        let field = match &self {
            ApiError::BadRequest { field, .. } => field.clone(),
            _ => None,
        };
        let detail = match &self {
            ApiError::Internal(_) => "an internal error occurred; it has been logged".to_string(),
            other => clip(other.to_string()),
        };
        let body = Problem {
            kind: format!("/problems/{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            field,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut resp = (status, [(header::CONTENT_TYPE, PROBLEM_JSON)], json).into_response();
        let extra = match &self {
            ApiError::Unauthorized(_) => Some((header::WWW_AUTHENTICATE, "Bearer".to_string())),
            ApiError::TooManyRequests { retry_after, .. } => {
                Some((header::RETRY_AFTER, retry_after.to_string()))
            }
            _ => None,
        };
        if let Some((name, value)) = extra {
            if let Ok(v) = header::HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let field = match &e {
            DomainError::Query { .. } => "q".to_string(),
            DomainError::Invalid { field, .. } => field.clone(),
            DomainError::Pairing { .. } => "determination".to_string(),
        };
        ApiError::BadRequest {
            field: Some(field),
            detail: e.to_string(),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::TooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
            IngestError::Field { .. } | IngestError::Json { .. } => ApiError::BadRequest {
                field: e.field().map(str::to_string),
                detail: e.to_string(),
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            StoreError::Stale { current } => ApiError::Conflict(format!(
                "version: it changed since you read it (current version {current}); reload and retry"
            )),
            StoreError::Duplicate => ApiError::Conflict("already exists".into()),
            StoreError::Forbidden(m) => ApiError::Forbidden(m),
            StoreError::Domain(d) => d.into(),
            StoreError::Invalid { field, msg } => ApiError::bad(field, format!("{field}: {msg}")),
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
            StoreError::Config(m) => ApiError::Internal(anyhow::anyhow!(m)),
            StoreError::Other(e) => ApiError::Internal(anyhow::anyhow!(e)),
        }
    }
}

impl From<rampart_domain::access::Denied> for ApiError {
    fn from(d: rampart_domain::access::Denied) -> Self {
        ApiError::Forbidden(d.to_string())
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
