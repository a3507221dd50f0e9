//! Timestamps as Colonies writes them: RFC 3339 in UTC with at most six
//! fractional digits, and `0001-01-01T00:00:00Z` for "unset".

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time with nanosecond resolution, or unset.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(Option<i64>);

const ZERO_TEXT: &str = "0001-01-01T00:00:00Z";

impl Timestamp {
    /// The unset time (Go's zero time on the wire).
    pub const UNSET: Timestamp = Timestamp(None);

    /// The current time.
    pub fn now() -> Self {
        Self::from_nanos(Utc::now().timestamp_nanos_opt().unwrap_or(0))
    }

    /// A time from Unix nanoseconds.
    pub fn from_nanos(nanos: i64) -> Self {
        Self(Some(nanos))
    }

    /// Unix nanoseconds, or `None` when unset.
    pub fn nanos(self) -> Option<i64> {
        self.0
    }

    /// Whether the time is unset.
    pub fn is_unset(self) -> bool {
        self.0.is_none()
    }

    /// This time plus `secs` seconds (unset stays unset).
    pub fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.map(|n| n.saturating_add(secs.saturating_mul(1_000_000_000))))
    }

    /// Seconds from `earlier` to `self`, or 0 when either is unset.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        match (self.0, earlier.0) {
            (Some(a), Some(b)) => (a - b) as f64 / 1e9,
            _ => 0.0,
        }
    }

    fn to_datetime(self) -> Option<DateTime<Utc>> {
        self.0.map(DateTime::from_timestamp_nanos)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime() {
            None => f.write_str(ZERO_TEXT),
            Some(t) => {
                // Microseconds, trailing zeros trimmed, as Go's RFC3339Nano
                // prints values read back from its database.
                let t = t.with_timezone(&Utc);
                let micros = t.timestamp_subsec_micros();
                let base = t.format("%Y-%m-%dT%H:%M:%S");
                if micros == 0 {
                    write!(f, "{base}Z")
                } else {
                    let frac = format!("{micros:06}");
                    write!(f, "{base}.{}Z", frac.trim_end_matches('0'))
                }
            }
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Timestamp {
    /// A short human form for tables: `2026-11-21 05:24:00`, or `-` when unset.
    pub fn human(self) -> String {
        match self.to_datetime() {
            None => "-".into(),
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        match text.as_deref() {
            None | Some("") => Ok(Self::UNSET),
            Some(text) => {
                let t = DateTime::parse_from_rfc3339(text).map_err(serde::de::Error::custom)?;
                if t.timestamp() <= DateTime::<Utc>::MIN_UTC.timestamp() || t.format("%Y").to_string() == "0001" {
                    return Ok(Self::UNSET);
                }
                Ok(Self(t.timestamp_nanos_opt()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(Timestamp::UNSET.to_string(), ZERO_TEXT);
        let t = Timestamp::from_nanos(1_795_238_640_025_214_469);
        assert_eq!(t.to_string(), "2026-11-21T05:24:00.025214Z");
        let whole = Timestamp::from_nanos(1_795_238_640_000_000_000);
        assert_eq!(whole.to_string(), "2026-11-21T05:24:00Z");
        let tenth = Timestamp::from_nanos(1_795_238_640_100_000_000);
        assert_eq!(tenth.to_string(), "2026-11-21T05:24:00.1Z");
    }

    #[test]
    fn parses_round_trip_and_zero() {
        let t: Timestamp = serde_json::from_str("\"2026-11-21T05:24:00.025214Z\"").unwrap();
        assert_eq!(t.nanos(), Some(1_795_238_640_025_214_000));
        let z: Timestamp = serde_json::from_str("\"0001-01-01T00:00:00Z\"").unwrap();
        assert!(z.is_unset());
        let n: Timestamp = serde_json::from_str("null").unwrap();
        assert!(n.is_unset());
    }
}
