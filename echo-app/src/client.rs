//! `echo-app -get URL`: the smallest HTTP/1.1 client that lets a `FROM scratch` pod check that
//! it reaches another pod (`kubectl exec <pod> -- /echo-app -get http://10.42.1.7:5678/`),
//! with no shell, curl or wget in the image. Plain HTTP only; the host must be an IP address or
//! `localhost`, because a static binary in an empty image has no resolver configuration.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// The parts of an `http://` URL this client needs.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    /// The `Host` header: the authority as written.
    pub host: String,
    pub path: String,
}

/// Parses `http://IP[:PORT][/PATH]`; every failure is a sentence for the user.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{url:?}: expected http://IP[:PORT]/PATH"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => {
            let port = p
                .parse::<u16>()
                .map_err(|_| format!("{url:?}: bad port {p:?}"))?;
            (h, port)
        }
        _ => (authority, 80),
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip = if bare.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        bare.parse::<IpAddr>().map_err(|_| {
            format!("{url:?}: the host must be an IP address (no resolver in a scratch image)")
        })?
    };
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        host: authority.to_owned(),
        path,
    })
}

/// Status code and body of a complete HTTP/1.x response (Content-Length, chunked, or
/// delimited by the end of the connection).
pub fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the response ended before its headers did")?;
    let head =
        std::str::from_utf8(&raw[..head_end]).map_err(|_| "the response head is not text")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| format!("not an HTTP/1.x status line: {status_line:?}"))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let body = &raw[head_end + 4..];
    let body = if chunked {
        decode_chunked(body)?
    } else if let Some(len) = content_length {
        body.get(..len)
            .ok_or("the response ended before its body did")?
            .to_vec()
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

fn decode_chunked(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk")?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or("truncated chunk")?);
        data = data.get(size + 2..).ok_or("truncated chunk")?;
    }
}

/// Fetches `url`; on a 2xx writes the body to `out` and returns Ok, otherwise explains.
pub fn get(url: &str, timeout: Duration, out: &mut impl Write) -> Result<(), String> {
    let target = parse_url(url)?;
    let mut stream = TcpStream::connect_timeout(&target.addr, timeout)
        .map_err(|e| format!("cannot connect to {}: {e}", target.addr))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: echo-app/{}\r\nConnection: close\r\n\r\n",
        target.path,
        target.host,
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request to {}: {e}", target.addr))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("no complete answer from {}: {e}", target.addr))?;
    let (status, body) = parse_response(&raw)?;
    if !(200..300).contains(&status) {
        return Err(format!("{url} answered {status}"));
    }
    out.write_all(&body)
        .map_err(|e| format!("cannot write the body: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("http://10.42.1.7:5678/x?y=1").unwrap();
        assert_eq!(t.addr, "10.42.1.7:5678".parse().unwrap());
        assert_eq!(
            (t.host.as_str(), t.path.as_str()),
            ("10.42.1.7:5678", "/x?y=1")
        );
        let t = parse_url("http://[::1]:8888").unwrap();
        assert_eq!(
            (t.addr, t.path.as_str()),
            ("[::1]:8888".parse().unwrap(), "/")
        );
        assert_eq!(
            parse_url("http://localhost/").unwrap().addr,
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(parse_url("http://127.0.0.1?q").unwrap().path, "/?q");
        for bad in [
            "https://1.2.3.4/",
            "http://",
            "http://app-one/",
            "http://1.2.3.4:x/",
            "ftp://a",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn responses() {
        let (s, b) =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhi\nextra").unwrap();
        assert_eq!((s, b.as_slice()), (200, &b"hi\n"[..]));
        let chunked =
            b"HTTP/1.1 503 X\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n1;x\r\nc\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (503, b"abc".to_vec()));
        assert_eq!(
            parse_response(b"HTTP/1.0 204 No\r\n\r\n").unwrap(),
            (204, vec![])
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
