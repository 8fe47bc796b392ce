//! Hostile and careless clients: garbage, slow senders, idle crowds, connection limits.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Server, get, raw, read_reply};

#[test]
fn malformed_requests_get_400_and_the_server_stays_up() {
    let server = Server::start(&["-listen=127.0.0.1:0", "-text=alive"], &[]);
    let garbage: [&[u8]; 5] = [
        b"\x00\x01\x02garbage\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nBad Header Line\r\n\r\n",
        b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: a\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    ];
    for bytes in garbage {
        match raw(server.addr, bytes) {
            Ok(reply) => assert!(
                (400..500).contains(&reply.status),
                "{bytes:?} got {}",
                reply.status
            ),
            // A request hyper cannot even frame may simply be closed; the server must live on.
            Err(e) => assert_eq!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof,
                "{bytes:?}: {e}"
            ),
        }
        assert_eq!(get(server.addr, "/").text(), "alive\n", "after {bytes:?}");
    }
    // A broken body the handler never reads: answered (as Go answers it), then the
    // connection is dropped when hyper fails to skip the body; the server lives on.
    let _ = raw(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    );
    assert_eq!(get(server.addr, "/").text(), "alive\n");
    let huge = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(1 << 20));
    let _ = raw(server.addr, huge.as_bytes());
    let many_headers: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();
    let reply = raw(
        server.addr,
        format!("GET / HTTP/1.1\r\nHost: a\r\n{many_headers}\r\n").as_bytes(),
    );
    if let Ok(r) = reply {
        assert!(
            r.status >= 400,
            "500 headers should be refused, got {}",
            r.status
        );
    }
    assert_eq!(get(server.addr, "/").text(), "alive\n");
}

#[test]
fn random_bytes_never_crash_it() {
    let server = Server::start(&["-listen=127.0.0.1:0", "-text=alive"], &[]);
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..200 {
        let len = (seed % 2048) as usize + 1;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        if let Ok(s) = TcpStream::connect(server.addr) {
            let _ = (&s).write_all(&bytes);
            let _ = s.shutdown(std::net::Shutdown::Write);
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = (&s).read_to_end(&mut Vec::new());
        }
        if round % 50 == 0 {
            assert_eq!(get(server.addr, "/").text(), "alive\n");
        }
    }
    assert_eq!(get(server.addr, "/").text(), "alive\n");
}

#[test]
fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let server = Server::start(
        &[
            "-listen=127.0.0.1:0",
            "-text=a",
            "-header-read-timeout=300ms",
        ],
        &[],
    );
    let stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (&stream)
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    // The server must end the connection on its own; the read returns at its close.
    let result = (&stream).read_to_end(&mut rest);
    assert!(
        result.is_ok()
            || result.as_ref().unwrap_err().kind() == std::io::ErrorKind::ConnectionReset
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the slow client was not cut off"
    );
    assert_eq!(get(server.addr, "/").text(), "a\n");
}

#[test]
fn ten_thousand_idle_connections_do_not_stop_it_serving() {
    let server = Server::start(
        &[
            "-listen=127.0.0.1:0",
            "-text=busy",
            "-header-read-timeout=1m",
        ],
        &[],
    );
    let mut idle = Vec::with_capacity(10_000);
    for i in 0..10_000 {
        match TcpStream::connect(server.addr) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {i} failed: {e}"),
        }
    }
    let started = Instant::now();
    let reply = get(server.addr, "/");
    assert_eq!(reply.text(), "busy\n");
    let metrics = get(server.addr, "/metrics").text();
    let open: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("echo_app_connections_open "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(open >= 10_000, "only {open} connections accepted");
    eprintln!(
        "served a request beside {} idle connections in {:?}",
        idle.len(),
        started.elapsed()
    );
}

#[test]
fn the_connection_bound_holds_and_queued_clients_get_served_when_a_slot_frees() {
    let server = Server::start(
        &[
            "-listen=127.0.0.1:0",
            "-text=slot",
            "-max-connections=2",
            "-header-read-timeout=1m",
        ],
        &[],
    );
    let first = TcpStream::connect(server.addr).unwrap();
    let second = TcpStream::connect(server.addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let third = TcpStream::connect(server.addr).unwrap(); // queued in the kernel backlog
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    (&third)
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut byte = [0u8; 1];
    let waited = (&third).read(&mut byte);
    assert!(
        waited.is_err(),
        "a third connection was served beyond -max-connections=2"
    );
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let reply = read_reply(&mut BufReader::new(third), false).unwrap();
    assert_eq!(reply.text(), "slot\n");
    drop(second);
}
