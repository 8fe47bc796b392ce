//! Shutdown: readiness fails first, accepted requests finish, nothing accepted is lost.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Server, get, read_reply};

#[test]
fn readiness_fails_during_the_shutdown_delay_while_requests_are_still_served() {
    let server = Server::start(
        &[
            "-listen=127.0.0.1:0",
            "-text=still here",
            "-shutdown-delay=3s",
        ],
        &[],
    );
    assert_eq!(get(server.addr, "/readyz").status, 200);
    server.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(2);
    let ready = loop {
        let r = get(server.addr, "/readyz");
        if r.status == 503 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(
        (ready.status, ready.text().as_str()),
        (503, "shutting down\n")
    );
    // Liveness holds, traffic is still answered, and clients are told to go elsewhere.
    assert_eq!(get(server.addr, "/healthz").status, 200);
    let reply = get(server.addr, "/");
    assert_eq!(reply.text(), "still here\n");
    assert_eq!(reply.header("connection"), Some("close"));
    let addr = server.addr;
    let (status, _, _) = server.wait();
    assert_eq!(status.code(), Some(2));
    assert!(
        TcpStream::connect(addr).is_err(),
        "the port must be closed after exit"
    );
}

#[test]
fn a_request_in_flight_at_the_signal_is_answered_then_the_connection_closes() {
    let server = Server::start(&["-listen=127.0.0.1:0", "-text=finished"], &[]);
    let stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    (&stream)
        .write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    // New connections are refused once the listener is closed...
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "listener still open after the signal"
    );
    // ...but the request that had started arriving completes.
    (&stream).write_all(b"\r\n").unwrap();
    let reply = read_reply(&mut BufReader::new(stream), false).unwrap();
    assert_eq!((reply.status, reply.text().as_str()), (200, "finished\n"));
    assert_eq!(server.wait().0.code(), Some(2));
}

#[test]
fn the_drain_timeout_bounds_a_stuck_client_and_exits_1() {
    let server = Server::start(
        &[
            "-listen=127.0.0.1:0",
            "-text=a",
            "-drain-timeout=300ms",
            "-header-read-timeout=1m",
        ],
        &[],
    );
    let stream = TcpStream::connect(server.addr).unwrap();
    (&stream).write_all(b"GET / HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let sent = Instant::now();
    server.signal("TERM");
    let (status, _, err) = server.wait();
    assert_eq!(status.code(), Some(1), "{err:?}");
    assert!(
        err.iter().any(|l| l.contains("drain timeout passed")),
        "{err:?}"
    );
    assert!(sent.elapsed() < Duration::from_secs(10));
    drop(stream);
}

#[test]
fn sigterm_under_load_loses_no_accepted_request() {
    sigterm_under_load("-threads=1");
}

#[test]
fn sigterm_under_load_loses_no_accepted_request_with_two_worker_threads() {
    sigterm_under_load("-threads=2");
}

/// Keep-alive clients hammer the server; SIGTERM arrives mid-run. Every request the server
/// logged (that is, read and answered) must have reached its client whole.
fn sigterm_under_load(threads: &str) {
    let server = Server::start(&["-listen=127.0.0.1:0", "-text=load", threads], &[]);
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicU64::new(0));
    let torn = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (stop, completed, torn) = (stop.clone(), completed.clone(), torn.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(stream) = TcpStream::connect(addr) else {
                        return;
                    };
                    stream
                        .set_read_timeout(Some(Duration::from_secs(5)))
                        .unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    loop {
                        if (&stream)
                            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                            .is_err()
                        {
                            break;
                        }
                        match read_reply(&mut reader, false) {
                            Ok(r) if r.status == 200 && r.body == b"load\n" => {
                                completed.fetch_add(1, Ordering::Relaxed);
                                if r.header("connection") == Some("close") {
                                    break;
                                }
                            }
                            Ok(_) => {
                                torn.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            // Closed before any byte of a reply: the request was never read.
                            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                            Err(_) => {
                                torn.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    server.signal("TERM");
    let (status, stdout, _) = server.wait();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(status.code(), Some(2));
    let logged = stdout.len() as u64;
    assert!(logged > 100, "the load did not run: {logged} requests");
    assert_eq!(
        torn.load(Ordering::Relaxed),
        0,
        "a client got a partial or wrong reply"
    );
    assert_eq!(
        completed.load(Ordering::Relaxed),
        logged,
        "answered requests that never arrived"
    );
}
