//! Instants as microseconds since the Unix epoch: cheap to compare, index and sort, and wide
//! enough for Graph's DateTimeOffset range (years 0001–9999). The producer's original text is
//! kept in the stored document, so a 7-digit fraction still reads back exactly.
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

/// Microseconds in one day.
pub const DAY_MICROS: i64 = 86_400_000_000;

impl Timestamp {
    /// From microseconds since the epoch.
    pub const fn from_micros(m: i64) -> Self {
        Timestamp(m)
    }
    /// Microseconds since the epoch.
    pub const fn micros(self) -> i64 {
        self.0
    }
    /// Seconds since the epoch.
    pub const fn from_secs(s: i64) -> Self {
        Timestamp(s.saturating_mul(1_000_000))
    }
    /// This instant moved by `micros` (saturating).
    pub const fn plus_micros(self, micros: i64) -> Self {
        Timestamp(self.0.saturating_add(micros))
    }

    /// Parses an RFC 3339 date-time with an offset, years 0001–9999, as Graph's DateTimeOffset.
    pub fn parse_rfc3339(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        // time's parser accepts lower-case separators and some leniencies; require the shape.
        if b.len() < 20
            || b.get(4) != Some(&b'-')
            || b.get(10).map(|c| c.to_ascii_uppercase()) != Some(b'T')
        {
            return Err(format!("{s:?} is not an RFC 3339 date-time with an offset"));
        }
        let dt = OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|e| format!("{s:?} is not an RFC 3339 date-time with an offset: {e}"))?;
        // The instant, not the local date: an offset can carry a date inside the range to
        // an instant outside it (`9999-12-31T23:59:59-00:01`), which would print as year 0001.
        let micros = i64::try_from(dt.unix_timestamp_nanos().div_euclid(1000))
            .map_err(|_| format!("{s:?} is out of range"))?;
        if !(FIRST_MICROS..=LAST_MICROS).contains(&micros) {
            return Err(format!("{s:?}: must fall within years 0001-9999 in UTC"));
        }
        Ok(Timestamp(micros))
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-23T10:00:00.000000Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        match OffsetDateTime::from_unix_timestamp(secs) {
            Ok(dt) => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                dt.year(),
                u8::from(dt.month()),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second(),
                micros
            ),
            Err(_) => "0001-01-01T00:00:00.000000Z".to_string(),
        }
    }
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z, in microseconds since the epoch:
/// the instants Graph's DateTimeOffset can write in UTC.
const FIRST_MICROS: i64 = -62_135_596_800_000_000;
const LAST_MICROS: i64 = 253_402_300_799_999_999;

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
