//! One line per request on stdout, in http-echo's format (or as JSON), written in batches.
//!
//! Formatting happens on the request's thread into a shared buffer; a flusher thread writes
//! the buffer to stdout when it passes [`FLUSH_BYTES`] or every [`FLUSH_EVERY`]. A write per
//! request would cost a syscall each and halve throughput; the batching keeps memory bounded
//! (at most [`MAX_PENDING_BYTES`] waiting; beyond that lines are dropped and counted, so a
//! stalled stdout never stalls or bloats the server).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::flags::LogFormat;

const FLUSH_BYTES: usize = 32 * 1024;
const FLUSH_EVERY: Duration = Duration::from_millis(50);
const MAX_PENDING_BYTES: usize = 1024 * 1024;

/// What one access-log line says about a request.
#[derive(Debug)]
pub struct Entry<'a> {
    pub host: &'a [u8],
    pub remote: SocketAddr,
    pub method: &'a str,
    /// The path as it came on the wire (no query): never decoded, so no byte of it can forge
    /// a second log line.
    pub path: &'a str,
    pub proto: &'a str,
    pub status: u16,
    pub length: usize,
    pub user_agent: &'a [u8],
    pub duration: Duration,
}

struct Shared {
    pending: Mutex<Vec<u8>>,
    wake: Condvar,
    closing: AtomicBool,
    dropped: AtomicU64,
}

/// The sink; cheap to clone into every connection.
#[derive(Clone)]
pub struct AccessLog {
    shared: Arc<Shared>,
    format: LogFormat,
}

/// Joins the flusher thread, writing whatever is pending, when dropped or `finish`ed.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl AccessLog {
    /// Starts the flusher thread writing to `out` (stdout in the binary).
    pub fn start(format: LogFormat, mut out: Box<dyn Write + Send>) -> (Self, Flusher) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(FLUSH_BYTES)),
            wake: Condvar::new(),
            closing: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        });
        let flusher_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || flush_loop(&flusher_shared, &mut *out))
            .ok();
        let log = Self {
            shared: shared.clone(),
            format,
        };
        (log, Flusher { shared, thread })
    }

    /// Lines dropped because stdout could not keep up.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    pub fn record(&self, entry: &Entry<'_>, now: SystemTime) {
        let mut line = [0u8; 512];
        let mut cursor = std::io::Cursor::new(&mut line[..]);
        let formatted = match self.format {
            LogFormat::Text => write_text(&mut cursor, entry, now),
            LogFormat::Json => write_json(&mut cursor, entry, now),
        };
        let mut heap;
        let bytes: &[u8] = if formatted.is_ok() {
            let len = cursor.position() as usize;
            &line[..len]
        } else {
            // Unusually long host, path or user agent: format on the heap instead.
            heap = Vec::with_capacity(1024);
            let _ = match self.format {
                LogFormat::Text => write_text(&mut heap, entry, now),
                LogFormat::Json => write_json(&mut heap, entry, now),
            };
            heap.as_slice()
        };
        let Ok(mut pending) = self.shared.pending.lock() else {
            return;
        };
        if pending.len() + bytes.len() > MAX_PENDING_BYTES {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let before = pending.len();
        pending.extend_from_slice(bytes);
        // Wake the flusher only on the two transitions it waits for.
        if before == 0 || (before < FLUSH_BYTES && pending.len() >= FLUSH_BYTES) {
            self.shared.wake.notify_one();
        }
    }
}

impl Flusher {
    /// Writes everything recorded so far and stops the thread.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // Under the lock, so the flusher cannot miss the wake-up between its check and its wait.
        if let Ok(_pending) = self.shared.pending.lock() {
            self.shared.closing.store(true, Ordering::Release);
            self.shared.wake.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn flush_loop(shared: &Shared, out: &mut dyn Write) {
    let mut spare = Vec::with_capacity(FLUSH_BYTES);
    loop {
        let closing = {
            let Ok(mut pending) = shared.pending.lock() else {
                return;
            };
            // Sleep until the first line of a batch arrives...
            while pending.is_empty() && !shared.closing.load(Ordering::Acquire) {
                pending = match shared.wake.wait(pending) {
                    Ok(guard) => guard,
                    Err(_) => return,
                };
            }
            // ...then let the batch fill for a while, so that a busy server writes in chunks.
            let deadline = Instant::now() + FLUSH_EVERY;
            while pending.len() < FLUSH_BYTES && !shared.closing.load(Ordering::Acquire) {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                pending = match shared.wake.wait_timeout(pending, deadline - now) {
                    Ok((guard, _)) => guard,
                    Err(_) => return,
                };
            }
            std::mem::swap(&mut *pending, &mut spare);
            shared.closing.load(Ordering::Acquire)
        };
        if !spare.is_empty() {
            let _ = out.write_all(&spare).and_then(|()| out.flush());
            // Keep the buffer's memory from growing past a normal batch after a burst.
            spare.clear();
            spare.shrink_to(FLUSH_BYTES);
        }
        if closing {
            return;
        }
    }
}

/// http-echo's line: `2006/01/02 15:04:05 host remote "METHOD path proto" status len "ua" dur`.
fn write_text(w: &mut impl Write, e: &Entry<'_>, now: SystemTime) -> std::io::Result<()> {
    let civil = Civil::from(now);
    write!(
        w,
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02} ",
        civil.year, civil.month, civil.day, civil.hour, civil.minute, civil.second
    )?;
    w.write_all(e.host)?;
    write!(
        w,
        " {} \"{} {} {}\" {} {} \"",
        Remote(e.remote),
        e.method,
        e.path,
        e.proto,
        e.status,
        e.length
    )?;
    w.write_all(e.user_agent)?;
    w.write_all(b"\" ")?;
    write_go_duration(w, e.duration)?;
    w.write_all(b"\n")
}

fn write_json(w: &mut impl Write, e: &Entry<'_>, now: SystemTime) -> std::io::Result<()> {
    let civil = Civil::from(now);
    write!(
        w,
        "{{\"time\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\",\"host\":\"",
        civil.year, civil.month, civil.day, civil.hour, civil.minute, civil.second, civil.millis
    )?;
    write_json_escaped(w, e.host)?;
    write!(w, "\",\"remote\":\"{}\",\"method\":\"", Remote(e.remote))?;
    write_json_escaped(w, e.method.as_bytes())?;
    w.write_all(b"\",\"path\":\"")?;
    write_json_escaped(w, e.path.as_bytes())?;
    write!(
        w,
        "\",\"proto\":\"{}\",\"status\":{},\"bytes\":{},\"user_agent\":\"",
        e.proto, e.status, e.length
    )?;
    write_json_escaped(w, e.user_agent)?;
    writeln!(
        w,
        "\",\"duration_seconds\":{:.6}}}",
        e.duration.as_secs_f64()
    )
}

/// Go prints IPv4-mapped IPv6 peers of a dual-stack listener as plain IPv4.
struct Remote(SocketAddr);

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = self.0.ip().to_canonical();
        SocketAddr::new(ip, self.0.port()).fmt(f)
    }
}

fn write_json_escaped(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => w.write_all(b"\\\"")?,
                '\\' => w.write_all(b"\\\\")?,
                c if (c as u32) < 0x20 => write!(w, "\\u{:04x}", c as u32)?,
                c => {
                    let mut buf = [0u8; 4];
                    w.write_all(c.encode_utf8(&mut buf).as_bytes())?;
                }
            }
        }
        if !chunk.invalid().is_empty() {
            w.write_all("\u{FFFD}".as_bytes())?;
        }
    }
    Ok(())
}

/// Go's `time.Duration.String()`: "850ns", "12.5µs", "1.25ms", "1.5s", "2m3.5s", "1h0m0s".
pub fn write_go_duration(w: &mut impl Write, d: Duration) -> std::io::Result<()> {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return w.write_all(b"0s");
    }
    if nanos < 1_000 {
        return write!(w, "{nanos}ns");
    }
    if nanos < 1_000_000 {
        return write_fraction(w, nanos, 1_000, "µs");
    }
    if nanos < 1_000_000_000 {
        return write_fraction(w, nanos, 1_000_000, "ms");
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let sec_nanos = nanos % 60_000_000_000;
    if hours > 0 {
        write!(w, "{hours}h{minutes}m")?;
    } else if minutes > 0 {
        write!(w, "{minutes}m")?;
    }
    write_fraction(w, sec_nanos, 1_000_000_000, "s")
}

fn write_fraction(
    w: &mut impl Write,
    value: u128,
    unit: u128,
    suffix: &str,
) -> std::io::Result<()> {
    let whole = value / unit;
    let mut frac = value % unit;
    write!(w, "{whole}")?;
    if frac != 0 {
        let mut width = unit.ilog10() as usize;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        write!(w, ".{frac:0width$}")?;
    }
    w.write_all(suffix.as_bytes())
}

/// A UTC calendar time; http-echo images run without time zone data, so they log UTC too.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
}

impl From<SystemTime> for Civil {
    fn from(t: SystemTime) -> Self {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs() as i64;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
        // Howard Hinnant's days-to-civil conversion.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            millis: since.subsec_millis(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(d: Duration) -> String {
        let mut v = Vec::new();
        write_go_duration(&mut v, d).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go(Duration::ZERO), "0s");
        assert_eq!(go(Duration::from_nanos(850)), "850ns");
        assert_eq!(go(Duration::from_nanos(12_500)), "12.5µs");
        assert_eq!(go(Duration::from_nanos(1_000)), "1µs");
        assert_eq!(go(Duration::from_nanos(1_250_000)), "1.25ms");
        assert_eq!(go(Duration::from_nanos(1_000_001)), "1.000001ms");
        assert_eq!(go(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go(Duration::from_millis(123_500)), "2m3.5s");
        assert_eq!(go(Duration::from_secs(3600)), "1h0m0s");
    }

    fn entry() -> Entry<'static> {
        Entry {
            host: b"app1.com",
            remote: "[::ffff:127.0.0.1]:40000".parse().unwrap(),
            method: "GET",
            path: "/a/b",
            proto: "HTTP/1.1",
            status: 200,
            length: 16,
            user_agent: b"curl/8.0 \"quoted\"",
            duration: Duration::from_nanos(12_345),
        }
    }

    #[test]
    fn text_line_has_http_echo_layout() {
        let mut v = Vec::new();
        let t = UNIX_EPOCH + Duration::from_secs(1_767_225_600 + 3_723); // 2026-01-01 01:02:03
        write_text(&mut v, &entry(), t).unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "2026/01/01 01:02:03 app1.com 127.0.0.1:40000 \"GET /a/b HTTP/1.1\" 200 16 \"curl/8.0 \"quoted\"\" 12.345µs\n"
        );
    }

    #[test]
    fn json_line_escapes_and_parses() {
        let mut v = Vec::new();
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_250); // 2000-02-29 00:00:00.250
        let mut e = entry();
        e.user_agent = b"a\x01\xffb";
        write_json(&mut v, &e, t).unwrap();
        let line = String::from_utf8(v).unwrap();
        assert!(
            line.starts_with("{\"time\":\"2000-02-29T00:00:00.250Z\",\"host\":\"app1.com\""),
            "{line}"
        );
        assert!(
            line.contains("\"user_agent\":\"a\\u0001\u{FFFD}b\""),
            "{line}"
        );
        assert!(line.ends_with("\"duration_seconds\":0.000012}\n"), "{line}");
    }

    #[test]
    fn lines_reach_the_writer_in_order_and_all_of_them_on_finish() {
        #[derive(Clone, Default)]
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let out = Shared::default();
        let (log, flusher) = AccessLog::start(LogFormat::Text, Box::new(out.clone()));
        let mut e = entry();
        let paths: Vec<String> = (0..5000).map(|i| format!("/{i}")).collect();
        for p in &paths {
            e.path = p;
            log.record(&e, SystemTime::now());
        }
        flusher.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let logged: Vec<&str> = text.lines().map(|l| l.split(' ').nth(5).unwrap()).collect();
        assert_eq!(logged.len(), 5000);
        assert!(logged.iter().zip(&paths).all(|(a, b)| *a == b));
        assert_eq!(log.dropped(), 0);
    }
}
