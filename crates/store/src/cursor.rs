//! Opaque keyset cursors: the last row's sort key and rid, base64url-encoded JSON. Opaque so
//! clients cannot build OFFSET-like jumps, validated so a tampered cursor is a 400, not a
//! scan.
use crate::error::StoreError;
use crate::query::SortKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Longest cursor accepted.
const MAX_CURSOR_LEN: usize = 1024;

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Sort key name the cursor belongs to.
    pub s: String,
    /// Descending?
    pub d: bool,
    /// The last row's sort value: integer keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<i64>,
    /// The last row's sort value: text keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<String>,
    /// The last row's rid (tiebreak).
    pub r: i64,
    /// `t` holds only the first [`TEXT_KEY_PREFIX`] bytes of a longer key: the store takes
    /// the rest from row `r`. A title may be 64 KiB, and its whole text made a cursor
    /// longer than [`MAX_CURSOR_LEN`], which the next request then refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub p: bool,
}

/// The most bytes of a text key a cursor carries.
pub const TEXT_KEY_PREFIX: usize = 256;

impl Cursor {
    /// Encodes the cursor for a response.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes and checks a cursor against the query's sort.
    pub fn decode(s: &str, sort: SortKey, desc: bool) -> Result<Cursor, StoreError> {
        Cursor::decode_for(s, sort.as_str(), sort.is_text(), desc)
    }

    /// [`Cursor::decode`] for an order that is not an alert queue sort (the incident
    /// queue's `lastUpdate`): `name` is the order's, `text` whether its key is text.
    pub fn decode_for(s: &str, name: &str, text: bool, desc: bool) -> Result<Cursor, StoreError> {
        let bad = |msg: &str| StoreError::Invalid {
            field: "cursor",
            msg: msg.to_string(),
        };
        if s.len() > MAX_CURSOR_LEN {
            return Err(bad("too long"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad("not a cursor this server issued"))?;
        let c: Cursor =
            serde_json::from_slice(&bytes).map_err(|_| bad("not a cursor this server issued"))?;
        if c.s != name || c.d != desc {
            return Err(bad(
                "belongs to a different sort order; start again without a cursor",
            ));
        }
        let ok = if text {
            c.t.is_some() && c.k.is_none()
        } else {
            c.k.is_some() && c.t.is_none()
        };
        if !ok {
            return Err(bad("not a cursor this server issued"));
        }
        Ok(c)
    }
}
