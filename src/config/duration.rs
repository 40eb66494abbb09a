//! Human-friendly durations for flags, environment variables and the config
//! file: `30s`, `15m`, `1h`, `8h`, `7d`, or a sum such as `1h30m`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A positive duration written as one or more `<digits><unit>` terms, with
/// unit `s`, `m`, `h` or `d`. Invariant: never zero (a zero timeout or TTL is
/// always a mistake), and the parse never overflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(Duration);

/// A duration string that could not be read; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {0:?}: expected terms like 30s, 15m, 1h, 7d (e.g. 1h30m), greater than zero"
)]
pub struct DurationError(String);

impl HumanDuration {
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// Wraps a non-zero duration, rounded down to whole seconds; `None` for
    /// less than one second.
    pub fn from_duration(d: Duration) -> Option<Self> {
        (d.as_secs() > 0).then(|| Self(Duration::from_secs(d.as_secs())))
    }
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DurationError(s.to_owned());
        let mut total: u64 = 0;
        let mut digits = String::new();
        for c in s.trim().chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit: u64 = match c {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                _ => return Err(err()),
            };
            let n: u64 = digits.parse().map_err(|_| err())?;
            digits.clear();
            total = n
                .checked_mul(unit)
                .and_then(|t| total.checked_add(t))
                .ok_or_else(err)?;
        }
        // A trailing number without a unit is ambiguous: refuse it.
        if !digits.is_empty() || total == 0 {
            return Err(err());
        }
        Ok(Self(Duration::from_secs(total)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0.as_secs();
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl<'de> serde::Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        let secs = |s: &str| s.parse::<HumanDuration>().map(|d| d.get().as_secs());
        assert_eq!(secs("30s"), Ok(30));
        assert_eq!(secs("30m"), Ok(1_800));
        assert_eq!(secs("8h"), Ok(28_800));
        assert_eq!(secs("7d"), Ok(604_800));
        assert_eq!(secs("1h30m"), Ok(5_400));
    }

    #[test]
    fn refuses_zero_bare_numbers_unknown_units_and_overflow() {
        for bad in [
            "",
            "0s",
            "10",
            "1x",
            "h",
            "-1h",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["30s", "1h30m", "2d", "1d1h1m1s"] {
            let d: HumanDuration = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
        }
    }
}
