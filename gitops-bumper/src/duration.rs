//! `--timeout 5m`, `90s`, `1m30s`, `500ms`: durations as people write them. Pure.

use std::time::Duration;

/// Why a duration cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a duration; write it like 90s, 5m, 1m30s or 500ms")]
pub struct InvalidDuration(pub String);

/// Parses `<number><unit>` groups (`h`, `m`, `s`, `ms`); a bare number is seconds.
pub fn parse(text: &str) -> Result<Duration, InvalidDuration> {
    let invalid = || InvalidDuration(text.to_owned());
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let value: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "h" => value.checked_mul(3600).map(Duration::from_secs),
            "m" => value.checked_mul(60).map(Duration::from_secs),
            "s" => Some(Duration::from_secs(value)),
            "ms" => Some(Duration::from_millis(value)),
            _ => None,
        };
        total = total
            .checked_add(part.ok_or_else(invalid)?)
            .ok_or_else(invalid)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_durations() {
        assert_eq!(parse("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        for bad in ["", "m", "5x", "5 m", "-5s", "1.5s", "s5"] {
            assert_eq!(parse(bad), Err(InvalidDuration(bad.to_owned())), "{bad}");
        }
    }
}
