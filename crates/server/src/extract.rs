//! Extractors whose rejections are problem+json, so a malformed request never gets axum's
//! plain-text errors.
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// Query string parameters; unknown or malformed parameters are a 400 naming them.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        // Room for a percent-encoded `q` at its own limit (each byte may take three).
        if q.len() > 32 * 1024 {
            return Err(ApiError::bad(
                "query",
                "query string longer than 32768 bytes",
            ));
        }
        if !decodes_to_utf8(q.as_bytes()) {
            return Err(ApiError::bad(
                "query",
                "query string: a percent-encoded value is not UTF-8",
            ));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner().to_string();
                match field_at_fault(path, &inner) {
                    Some(f) => ApiError::BadRequest {
                        detail: format!("{f}: {inner}"),
                        field: Some(f),
                    },
                    None => ApiError::BadRequest {
                        field: None,
                        detail: format!("query string: {inner}"),
                    },
                }
            })
    }
}

/// Whether a query string's percent-decoded bytes are UTF-8. The form decoder replaces
/// what is not with U+FFFD, so `q=%FF` searched for a replacement character instead of
/// being refused as the same byte in a path is.
fn decodes_to_utf8(q: &[u8]) -> bool {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(q.len());
    let mut i = 0;
    while let Some(&b) = q.get(i) {
        let escaped = (b == b'%')
            .then(|| Some((hex(*q.get(i + 1)?)?, hex(*q.get(i + 2)?)?)))
            .flatten();
        match escaped {
            Some((hi, lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&out).is_ok()
}

/// The field a deserialisation error is about: its path (`ids[3]`), or, before the first
/// key (`.`, or `?` for input cut short), the field serde names in its message (an unknown,
/// missing or repeated one). `None` when neither names one.
fn field_at_fault(path: String, msg: &str) -> Option<String> {
    if !path.is_empty() && path != "." && path != "?" {
        return Some(path);
    }
    ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|p| msg.strip_prefix(p))
        .and_then(|r| r.split('`').next())
        .map(str::to_string)
}

/// A path segment, percent-decoded.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    #[allow(clippy::disallowed_types)] // the one sanctioned wrapper
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|e| ApiError::BadRequest {
                field: Some("path".into()),
                detail: e.body_text(),
            })
    }
}

/// The raw body, refused with 413 beyond `LIMIT` bytes without buffering more than that.
#[derive(Debug)]
pub struct LimitedBody<const LIMIT: usize>(pub Bytes);

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for LimitedBody<LIMIT> {
    type Rejection = ApiError;
    async fn from_request(req: Request<Body>, _: &S) -> Result<Self, ApiError> {
        if let Some(len) = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            if len > LIMIT as u64 {
                return Err(too_large(LIMIT));
            }
        }
        axum::body::to_bytes(req.into_body(), LIMIT)
            .await
            .map(LimitedBody)
            .map_err(|_| too_large(LIMIT))
    }
}

/// For routes that take no body: one that is not empty (or only whitespace) is a 400, as
/// unknown fields are elsewhere, since a caller sending one expects it to mean something.
#[derive(Debug)]
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;
    async fn from_request(req: Request<Body>, state: &S) -> Result<Self, ApiError> {
        let LimitedBody(bytes) = LimitedBody::<1024>::from_request(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(NoBody)
        } else {
            Err(ApiError::bad("body", "this route takes no body"))
        }
    }
}

/// Parses a JSON object body, naming the field at fault (`ids[3]`, `status`) in the error,
/// or `body` when the fault is the body as a whole.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body this takes is an object. serde would also fill a struct from an array,
    // field by position, so `["resolved", …]` changed an incident.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad("body", "the body must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = field_at_fault(path, &inner.to_string()).unwrap_or_else(|| "body".to_string());
        ApiError::BadRequest {
            detail: format!("{field}: {inner}"),
            field: Some(field),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad("body", format!("invalid JSON body: {e}")))?;
    Ok(value)
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!("request body exceeds {limit} bytes"))
}

/// JSON request bodies (small ones: updates, comments).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request<Body>, state: &S) -> Result<Self, ApiError> {
        // A JSON content type cannot be sent cross-site without a CORS preflight, so this
        // also stops login CSRF from plain HTML forms.
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "Content-Type must be application/json".into(),
            ));
        }
        let LimitedBody(bytes) = LimitedBody::<{ 1024 * 1024 }>::from_request(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for ApiJson<T> {
    fn into_response(self) -> axum::response::Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Err(e) => {
                ApiError::Internal(anyhow::anyhow!("serialising a response: {e}")).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::decodes_to_utf8;

    #[test]
    fn query_strings_must_decode_to_utf8() {
        for ok in [
            "",
            "q=abc",
            "q=%C3%BC",
            "q=%EF%BF%BD",
            "q=50%",
            "q=%zz",
            "a=1&b=%41",
        ] {
            assert!(decodes_to_utf8(ok.as_bytes()), "{ok}");
        }
        for bad in ["q=%FF", "q=%C3", "severity=%80high", "q=%ed%a0%80"] {
            assert!(!decodes_to_utf8(bad.as_bytes()), "{bad}");
        }
    }
}
