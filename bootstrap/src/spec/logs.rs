//! Reading a node's log for its ready line, as k3d does (case-insensitive substring), but
//! against Docker's per-line timestamps, so lines from before the current start never count
//! (k3d compares whole seconds and can match an old line after a restart: k3d #592, #1526).

use std::collections::VecDeque;

/// How many of a node's last lines an error shows.
pub(crate) const TAIL_LINES: usize = 15;

/// A Docker log timestamp (RFC 3339, UTC, optional fraction) as (unix seconds, nanoseconds).
pub(crate) type Timestamp = (i64, u32);

/// Parses `2026-11-30T02:31:00.123456789Z` (Docker trims trailing zeros of the fraction).
pub(crate) fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, fraction) = match time.split_once('.') {
        Some((hms, f)) => (hms, f),
        None => (time, ""),
    };
    let mut t = hms.splitn(3, ':').map(str::parse::<i64>);
    let (h, m, sec) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    if fraction.len() > 9 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + h * 3600 + m * 60 + sec, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Feeds on log chunks (timestamped lines, split anywhere) and says when the ready line
/// appears; keeps the last lines for error messages.
#[derive(Debug)]
pub(crate) struct ReadyMatcher {
    needle: String,
    since: Option<Timestamp>,
    partial: String,
    tail: VecDeque<String>,
    last_seen: Option<Timestamp>,
}

impl ReadyMatcher {
    pub(crate) fn new(needle: &str, since: Option<Timestamp>) -> Self {
        Self {
            needle: needle.to_lowercase(),
            since,
            partial: String::new(),
            tail: VecDeque::new(),
            last_seen: None,
        }
    }

    /// Returns true once a complete line at or after `since` contains the needle.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> bool {
        self.partial.push_str(&String::from_utf8_lossy(chunk));
        while let Some(pos) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=pos).collect();
            if self.line(line.trim_end_matches(['\n', '\r'])) {
                return true;
            }
        }
        false
    }

    fn line(&mut self, raw: &str) -> bool {
        let (stamp, text) = match raw.split_once(' ') {
            Some((s, t)) => match parse_timestamp(s) {
                Some(ts) => (Some(ts), t),
                None => (None, raw),
            },
            None => match parse_timestamp(raw) {
                Some(ts) => (Some(ts), ""),
                None => (None, raw),
            },
        };
        if let (Some(ts), Some(since)) = (stamp, self.since)
            && ts < since
        {
            return false;
        }
        if stamp.is_some() {
            self.last_seen = stamp;
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(text.to_owned());
        text.to_lowercase().contains(&self.needle)
    }

    /// The timestamp of the newest line seen, to resume following after a restart.
    pub(crate) fn last_seen(&self) -> Option<Timestamp> {
        self.last_seen
    }

    /// The last lines, oldest first.
    pub(crate) fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }

    /// k3d retries the wait when the stream ended on a fatal K3s line (the container then
    /// restarts under its restart policy).
    pub(crate) fn ended_fatally(&self) -> bool {
        self.tail.back().is_some_and(|l| l.contains("level=fatal"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_timestamp("2026-11-30T02:31:07.5Z"),
            Some((1_796_005_867, 500_000_000))
        );
        assert_eq!(
            parse_timestamp("2000-03-01T00:00:00.000000001Z"),
            Some((951_868_800, 1))
        );
        assert_eq!(parse_timestamp("2026-11-30T02:31:07"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2026-11-30T02:31:07.1234567890Z"), None);
    }

    #[test]
    fn matches_across_chunks_case_insensitively() {
        let mut m = ReadyMatcher::new("k3s is up and running", None);
        assert!(!m.feed(b"2026-11-30T02:31:07.1Z level=info msg=\"Starting\"\n2026-11-30T02:31:08Z level=info msg=\"K3s is up"));
        assert!(m.feed(b" and running\"\n"));
        assert_eq!(m.last_seen(), Some((1_796_005_868, 0)));
    }

    #[test]
    fn lines_before_the_start_do_not_count() {
        let since = parse_timestamp("2026-11-30T02:31:08.5Z");
        let mut m = ReadyMatcher::new("up and running", since);
        assert!(!m.feed(b"2026-11-30T02:31:08.4Z k3s is up and running\n"));
        assert!(m.tail().is_empty(), "old lines are not shown either");
        assert!(m.feed(b"2026-11-30T02:31:08.6Z k3s is up and running\n"));
    }

    #[test]
    fn keeps_a_bounded_tail_and_spots_fatal_endings() {
        let mut m = ReadyMatcher::new("never", None);
        for i in 0..40 {
            m.feed(format!("2026-11-30T02:31:08Z line {i}\n").as_bytes());
        }
        let tail = m.tail();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.last().map(String::as_str), Some("line 39"));
        assert!(!m.ended_fatally());
        m.feed(b"2026-11-30T02:31:09Z time=x level=fatal msg=\"boom\"\n");
        assert!(m.ended_fatally());
    }
}
