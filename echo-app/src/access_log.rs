//! One line per request on stdout, in http-echo's format (or as JSON), written in batches.
//!
//! Formatting happens on the request's thread into that thread's buffer; a flusher thread
//! writes the buffers to stdout when one passes [`FLUSH_BYTES`] or every [`FLUSH_EVERY`]. A
//! write per request would cost a syscall each and halve throughput; the batching keeps memory
//! bounded (at most [`MAX_PENDING_BYTES`] waiting per thread; beyond that lines are dropped and
//! counted, so a stalled stdout never stalls or bloats the server). Lines of one thread keep
//! their order; lines of different threads are interleaved by batch.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::flags::LogFormat;

const FLUSH_BYTES: usize = 32 * 1024;
const FLUSH_EVERY: Duration = Duration::from_millis(50);
const MAX_PENDING_BYTES: usize = 1024 * 1024;

/// What one access-log line says about a request.
#[derive(Debug)]
pub struct Entry<'a> {
    pub host: &'a [u8],
    /// The peer, formatted once per connection ([`PeerText`]).
    pub remote: &'a [u8],
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

/// A peer address as Go prints it (IPv4-mapped IPv6 peers of a dual-stack listener as plain
/// IPv4), formatted once when the connection is accepted rather than once per request.
#[derive(Debug, Clone, Copy)]
pub struct PeerText {
    buf: [u8; 64],
    len: u8,
}

impl PeerText {
    pub fn new(addr: SocketAddr) -> Self {
        let shown = match addr.ip().to_canonical() {
            ip @ std::net::IpAddr::V4(_) => SocketAddr::new(ip, addr.port()),
            std::net::IpAddr::V6(_) => addr,
        };
        let mut buf = [0u8; 64];
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        // The longest socket address, "[ffff:…:ffff%4294967295]:65535", is 58 bytes.
        let _ = write!(cursor, "{shown}");
        let len = cursor.position() as u8;
        Self { buf, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

/// One buffer per recording thread: a worker locks only its own buffer, which nobody else
/// touches but the flusher's brief swap, so two workers never wait on each other (a single
/// shared buffer made them, and its futex waits showed in the p99).
type Shard = Arc<Mutex<Vec<u8>>>;

struct Shared {
    /// Every thread's shard, registered on its first line.
    shards: Mutex<Vec<Shard>>,
    /// Set when a shard passes [`FLUSH_BYTES`] or when closing; the flusher waits on it.
    signal: Mutex<bool>,
    wake: Condvar,
    closing: AtomicBool,
    dropped: AtomicU64,
    /// Tells this log's shards from another log's in a thread's list (tests run several).
    id: usize,
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
        static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
        let shared = Arc::new(Shared {
            shards: Mutex::new(Vec::new()),
            signal: Mutex::new(false),
            wake: Condvar::new(),
            closing: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
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
        SCRATCH.with_borrow_mut(|line| {
            line.clear();
            match self.format {
                LogFormat::Text => write_text(line, entry, now),
                LogFormat::Json => write_json(line, entry, now),
            }
            self.append(line);
        });
    }

    /// This thread's shard of this log, registered on first use.
    fn shard(&self) -> Shard {
        SHARDS.with_borrow_mut(|mine| {
            if let Some((_, shard)) = mine.iter().find(|(id, _)| *id == self.shared.id) {
                return shard.clone();
            }
            let shard: Shard = Arc::new(Mutex::new(Vec::with_capacity(FLUSH_BYTES)));
            if let Ok(mut all) = self.shared.shards.lock() {
                all.push(shard.clone());
            }
            mine.push((self.shared.id, shard.clone()));
            shard
        })
    }

    fn append(&self, line: &[u8]) {
        let shard = self.shard();
        let Ok(mut pending) = shard.lock() else {
            return;
        };
        if pending.len() + line.len() > MAX_PENDING_BYTES {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let before = pending.len();
        pending.extend_from_slice(line);
        let full = before < FLUSH_BYTES && pending.len() >= FLUSH_BYTES;
        drop(pending);
        if full {
            self.shared.raise();
        }
    }
}

impl Shared {
    /// Wakes the flusher now rather than at its next tick.
    fn raise(&self) {
        if let Ok(mut signal) = self.signal.lock() {
            *signal = true;
            self.wake.notify_one();
        }
    }
}

thread_local! {
    /// Each worker thread formats its lines here, so a request allocates nothing.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
    /// This thread's shard of each log it has written to (one, outside tests).
    static SHARDS: RefCell<Vec<(usize, Shard)>> = const { RefCell::new(Vec::new()) };
    /// The calendar part of the timestamp changes once a second: cache it per thread.
    static CLOCK: Cell<(u64, Stamp)> = const { Cell::new((u64::MAX, Stamp::UNSET)) };
}

impl Flusher {
    /// Writes everything recorded so far and stops the thread.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        self.shared.raise();
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

/// Every [`FLUSH_EVERY`], or as soon as a shard fills up, writes each shard's lines; on
/// closing, writes what is left and returns.
fn flush_loop(shared: &Shared, out: &mut dyn Write) {
    let mut spare = Vec::with_capacity(FLUSH_BYTES);
    loop {
        if let Ok(mut signal) = shared.signal.lock() {
            if !*signal {
                signal = match shared.wake.wait_timeout(signal, FLUSH_EVERY) {
                    Ok((guard, _)) => guard,
                    Err(_) => return,
                };
            }
            *signal = false;
        }
        let closing = shared.closing.load(Ordering::Acquire);
        let shards = shared.shards.lock().map(|s| s.clone()).unwrap_or_default();
        for shard in shards {
            if let Ok(mut pending) = shard.lock() {
                std::mem::swap(&mut *pending, &mut spare);
            }
            if !spare.is_empty() {
                let _ = out.write_all(&spare).and_then(|()| out.flush());
                // Keep the buffer from growing past a normal batch after a burst.
                spare.clear();
                spare.shrink_to(FLUSH_BYTES);
            }
        }
        if closing {
            return;
        }
    }
}

/// http-echo's line: `2006/01/02 15:04:05 host remote "METHOD path proto" status len "ua" dur`.
/// Written by hand, not with `write!`: the formatting machinery cost more than the request.
fn write_text(w: &mut Vec<u8>, e: &Entry<'_>, now: SystemTime) {
    let (stamp, _) = stamp_now(now);
    w.extend_from_slice(&stamp.text);
    w.push(b' ');
    w.extend_from_slice(e.host);
    w.push(b' ');
    w.extend_from_slice(e.remote);
    w.extend_from_slice(b" \"");
    w.extend_from_slice(e.method.as_bytes());
    w.push(b' ');
    w.extend_from_slice(e.path.as_bytes());
    w.push(b' ');
    w.extend_from_slice(e.proto.as_bytes());
    w.extend_from_slice(b"\" ");
    push_u64(w, u64::from(e.status));
    w.push(b' ');
    push_u64(w, e.length as u64);
    w.extend_from_slice(b" \"");
    w.extend_from_slice(e.user_agent);
    w.extend_from_slice(b"\" ");
    write_go_duration(w, e.duration);
    w.push(b'\n');
}

fn write_json(w: &mut Vec<u8>, e: &Entry<'_>, now: SystemTime) {
    w.extend_from_slice(b"{\"time\":\"");
    push_iso_timestamp(w, now);
    w.extend_from_slice(b"\",\"host\":\"");
    push_json_escaped(w, e.host);
    w.extend_from_slice(b"\",\"remote\":\"");
    push_json_escaped(w, e.remote);
    w.extend_from_slice(b"\",\"method\":\"");
    push_json_escaped(w, e.method.as_bytes());
    w.extend_from_slice(b"\",\"path\":\"");
    push_json_escaped(w, e.path.as_bytes());
    w.extend_from_slice(b"\",\"proto\":\"");
    w.extend_from_slice(e.proto.as_bytes());
    w.extend_from_slice(b"\",\"status\":");
    push_u64(w, u64::from(e.status));
    w.extend_from_slice(b",\"bytes\":");
    push_u64(w, e.length as u64);
    w.extend_from_slice(b",\"user_agent\":\"");
    push_json_escaped(w, e.user_agent);
    w.extend_from_slice(b"\",\"duration_seconds\":");
    let micros = e.duration.as_micros();
    push_u64(w, (micros / 1_000_000) as u64);
    w.push(b'.');
    push_padded(w, (micros % 1_000_000) as u64, 6);
    w.extend_from_slice(b"}\n");
}

/// The second-resolution part of both timestamp layouts, formatted once per second.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    /// `2006/01/02 15:04:05`, http-echo's layout.
    text: [u8; 19],
    /// `2006-01-02T15:04:05`, RFC 3339 without the fraction.
    iso: [u8; 19],
}

impl Stamp {
    const UNSET: Stamp = Stamp {
        text: [0; 19],
        iso: [0; 19],
    };

    fn of(secs: u64) -> Stamp {
        let c = Civil::from_unix(secs);
        let mut text = Vec::with_capacity(19);
        push_padded(&mut text, c.year as u64, 4);
        text.push(b'/');
        push_padded(&mut text, u64::from(c.month), 2);
        text.push(b'/');
        push_padded(&mut text, u64::from(c.day), 2);
        text.push(b' ');
        push_padded(&mut text, u64::from(c.hour), 2);
        text.push(b':');
        push_padded(&mut text, u64::from(c.minute), 2);
        text.push(b':');
        push_padded(&mut text, u64::from(c.second), 2);
        let mut stamp = Stamp::UNSET;
        // Years past 9999 would not fit; clamp rather than panic on a clock that far off.
        let n = text.len().min(19);
        stamp.text[..n].copy_from_slice(&text[..n]);
        stamp.iso = stamp.text;
        stamp.iso[4] = b'-';
        stamp.iso[7] = b'-';
        stamp.iso[10] = b'T';
        stamp
    }
}

/// `2006-01-02T15:04:05.000Z`: RFC 3339 in UTC, to the millisecond.
pub(crate) fn push_iso_timestamp(w: &mut Vec<u8>, now: SystemTime) {
    let (stamp, millis) = stamp_now(now);
    w.extend_from_slice(&stamp.iso);
    w.push(b'.');
    push_padded(w, u64::from(millis), 3);
    w.push(b'Z');
}

fn stamp_now(now: SystemTime) -> (Stamp, u32) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let stamp = CLOCK.with(|clock| {
        let (cached_secs, cached) = clock.get();
        if cached_secs == secs {
            return cached;
        }
        let fresh = Stamp::of(secs);
        clock.set((secs, fresh));
        fresh
    });
    (stamp, since.subsec_millis())
}

pub(crate) fn push_u64(w: &mut Vec<u8>, n: u64) {
    push_padded(w, n, 1);
}

/// `n` in decimal, left-padded with zeros to at least `width` digits.
fn push_padded(w: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = i.min(digits.len().saturating_sub(width));
    w.extend_from_slice(&digits[start..]);
}

pub(crate) fn push_json_escaped(w: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => w.extend_from_slice(b"\\\""),
                '\\' => w.extend_from_slice(b"\\\\"),
                c if (c as u32) < 0x20 => {
                    w.extend_from_slice(b"\\u00");
                    w.push(HEX[(c as usize) >> 4]);
                    w.push(HEX[(c as usize) & 0xF]);
                }
                c => {
                    let mut buf = [0u8; 4];
                    w.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            w.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Go's `time.Duration.String()`: "850ns", "12.5µs", "1.25ms", "1.5s", "2m3.5s", "1h0m0s".
pub fn write_go_duration(w: &mut Vec<u8>, d: Duration) {
    let nanos = d.as_nanos() as u64;
    if nanos == 0 {
        w.extend_from_slice(b"0s");
    } else if nanos < 1_000 {
        push_u64(w, nanos);
        w.extend_from_slice(b"ns");
    } else if nanos < 1_000_000 {
        push_fraction(w, nanos, 3, "µs");
    } else if nanos < 1_000_000_000 {
        push_fraction(w, nanos, 6, "ms");
    } else {
        let hours = nanos / 3_600_000_000_000;
        let minutes = (nanos / 60_000_000_000) % 60;
        if hours > 0 {
            push_u64(w, hours);
            w.push(b'h');
        }
        if hours > 0 || minutes > 0 {
            push_u64(w, minutes);
            w.push(b'm');
        }
        push_fraction(w, nanos % 60_000_000_000, 9, "s");
    }
}

/// `value / 10^scale` with the fraction's trailing zeros dropped, then `suffix`.
fn push_fraction(w: &mut Vec<u8>, value: u64, scale: u32, suffix: &str) {
    let unit = 10u64.pow(scale);
    push_u64(w, value / unit);
    let mut frac = value % unit;
    if frac != 0 {
        let mut width = scale as usize;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        w.push(b'.');
        push_padded(w, frac, width);
    }
    w.extend_from_slice(suffix.as_bytes());
}

/// A UTC calendar time to the second; http-echo images run without time zone data, so they
/// log UTC too.
#[derive(Debug, Clone, Copy)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Civil {
    fn from_unix(secs: u64) -> Self {
        let secs = secs as i64;
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(d: Duration) -> String {
        let mut v = Vec::new();
        write_go_duration(&mut v, d);
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
        assert_eq!(go(Duration::from_secs(3600 + 61)), "1h1m1s");
        assert_eq!(go(Duration::from_nanos(60_000_000_001)), "1m0.000000001s");
    }

    #[test]
    fn peers_print_as_go_prints_them() {
        let mapped = PeerText::new("[::ffff:127.0.0.1]:40000".parse().unwrap());
        assert_eq!(mapped.as_bytes(), b"127.0.0.1:40000");
        let v6 = PeerText::new("[2001:db8::1]:8080".parse().unwrap());
        assert_eq!(v6.as_bytes(), b"[2001:db8::1]:8080");
        let longest = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535";
        assert_eq!(
            PeerText::new(longest.parse().unwrap()).as_bytes(),
            longest.as_bytes()
        );
    }

    fn entry() -> Entry<'static> {
        Entry {
            host: b"app1.com",
            remote: b"127.0.0.1:40000",
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
        write_text(&mut v, &entry(), t);
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
        write_json(&mut v, &e, t);
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

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_of_many_threads_all_arrive_each_thread_in_order() {
        let out = Captured::default();
        let (log, flusher) = AccessLog::start(LogFormat::Text, Box::new(out.clone()));
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..3000 {
                        let path = format!("/{t}/{i}");
                        let e = Entry {
                            path: &path,
                            ..entry()
                        };
                        log.record(&e, SystemTime::now());
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        flusher.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let mut next = [0usize; 4];
        for line in text.lines() {
            let path = line.split(' ').nth(5).unwrap();
            let (t, i) = path[1..].split_once('/').unwrap();
            let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[t], "thread {t} out of order");
            next[t] += 1;
        }
        assert_eq!(next, [3000; 4]);
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn lines_reach_the_writer_in_order_and_all_of_them_on_finish() {
        let out = Captured::default();
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
