//! What a K3s join token looks like, so that neither side hands on something else: `serve`
//! answers 503 while the file holds no complete token (K3s may still be writing it), and
//! `fetch` refuses to write an HTML error page or a truncated body where the agent expects
//! its token.
//!
//! K3s accepts two shapes (`k3s token --help`, docs.k3s.io/cli/token):
//! - secure: `K10<sha256 of the cluster CA, 64 hex>::<user>:<password>` — what K3s writes to
//!   `server/node-token`; the CA hash lets the agent check it talks to the right server;
//! - short: a bare password chosen by the operator (`--token`), with no CA pinning.

use thiserror::Error;

/// Longest token accepted. K3s writes about 100 bytes; anything much larger is not a token.
pub const MAX_LEN: usize = 512;

const SECURE_PREFIX: &str = "K10";
const CA_HASH_HEX_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `K10<ca-hash>::<user>:<password>`: the agent verifies the server's CA.
    Secure,
    /// A bare password: the agent trusts the first server it reaches.
    Short,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Secure => "secure K10 token (pins the cluster CA)",
            Kind::Short => "short token (no CA pinning)",
        }
    }
}

/// Why some bytes are not a K3s token. The messages never quote the bytes: they may be a
/// secret that is merely malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    #[error("it is empty")]
    Empty,
    #[error("it is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("it spans several lines")]
    MultiLine,
    #[error("it contains a space, a control character or a non-ASCII byte")]
    BadByte,
    #[error("it starts with K10 but has no `::` after the CA hash")]
    NoSeparator,
    #[error("it is the start of a K10 token, cut short")]
    Truncated,
    #[error("its CA hash is not 64 hexadecimal digits")]
    BadCaHash,
    #[error("it has no `<user>:<password>` after the CA hash")]
    NoCredentials,
    #[error("a short token may only hold letters, digits and `._~+/=-`")]
    BadShortToken,
}

/// A validated token: the text without its trailing newline, and its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub text: &'a str,
    pub kind: Kind,
}

/// Checks that `raw` (a file's or a response's bytes) is one K3s token, optionally followed by
/// a line ending as K3s writes it.
pub fn parse(raw: &[u8]) -> Result<Token<'_>, TokenError> {
    let body = raw
        .strip_suffix(b"\n")
        .map(|b| b.strip_suffix(b"\r").unwrap_or(b))
        .unwrap_or(raw);
    if body.is_empty() {
        return Err(TokenError::Empty);
    }
    if body.len() > MAX_LEN {
        return Err(TokenError::TooLong);
    }
    if body.contains(&b'\n') {
        return Err(TokenError::MultiLine);
    }
    if !body.iter().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::BadByte);
    }
    // All bytes are ASCII, so this cannot fail.
    let text = std::str::from_utf8(body).map_err(|_| TokenError::BadByte)?;
    let kind = match text.strip_prefix(SECURE_PREFIX) {
        Some(rest) => {
            check_secure(rest)?;
            Kind::Secure
        }
        None if SECURE_PREFIX.starts_with(text) => return Err(TokenError::Truncated),
        None => {
            check_short(text)?;
            Kind::Short
        }
    };
    Ok(Token { text, kind })
}

fn check_secure(rest: &str) -> Result<(), TokenError> {
    let (hash, credentials) = rest.split_once("::").ok_or(TokenError::NoSeparator)?;
    if hash.len() != CA_HASH_HEX_LEN || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(TokenError::BadCaHash);
    }
    match credentials.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => Ok(()),
        _ => Err(TokenError::NoCredentials),
    }
}

fn check_short(text: &str) -> Result<(), TokenError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._~+/=-".contains(&b);
    if text.bytes().all(allowed) {
        Ok(())
    } else {
        Err(TokenError::BadShortToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "3f1d0b6a3c9e4e7f8a2b5c6d7e8f90112233445566778899aabbccddeeff0011";

    #[test]
    fn the_node_token_k3s_writes_is_secure() {
        let file = format!("K10{HASH}::server:0123456789abcdef0123456789abcdef\n");
        let token = parse(file.as_bytes()).unwrap();
        assert_eq!(token.kind, Kind::Secure);
        assert_eq!(token.text, file.trim_end());
    }

    #[test]
    fn line_endings_are_not_part_of_the_token() {
        assert_eq!(parse(b"abc123\r\n").unwrap().text, "abc123");
        assert_eq!(parse(b"abc123").unwrap().text, "abc123");
        assert_eq!(parse(b"abc123\n\n"), Err(TokenError::MultiLine));
    }

    #[test]
    fn short_tokens_and_bootstrap_tokens_pass() {
        assert_eq!(
            parse(b"my-cluster.secret_2024~x+y/z=").unwrap().kind,
            Kind::Short
        );
        assert_eq!(parse(b"abcdef.0123456789abcdef").unwrap().kind, Kind::Short);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(parse(b""), Err(TokenError::Empty));
        assert_eq!(parse(b"\n"), Err(TokenError::Empty));
        assert_eq!(
            parse(b"<html><body>Not Found</body></html>"),
            Err(TokenError::BadByte)
        );
        assert_eq!(
            parse(b"{\"status\":\"error\"}"),
            Err(TokenError::BadShortToken)
        );
        assert_eq!(parse(&[b'a'; MAX_LEN + 1]), Err(TokenError::TooLong));
        assert_eq!(parse(b"tok\0en"), Err(TokenError::BadByte));
        assert_eq!(parse("tökén".as_bytes()), Err(TokenError::BadByte));
        assert_eq!(parse(b"line1\nline2"), Err(TokenError::MultiLine));
    }

    #[test]
    fn malformed_secure_tokens_are_refused() {
        assert_eq!(parse(b"K10abc"), Err(TokenError::NoSeparator));
        assert_eq!(parse(b"K10abcdef::server:pw"), Err(TokenError::BadCaHash));
        let not_hex = format!("K10{}::server:pw", "g".repeat(64));
        assert_eq!(parse(not_hex.as_bytes()), Err(TokenError::BadCaHash));
        for creds in ["server", "server:", ":pw", ""] {
            let t = format!("K10{HASH}::{creds}");
            assert_eq!(parse(t.as_bytes()), Err(TokenError::NoCredentials), "{t}");
        }
    }

    #[test]
    fn a_truncated_write_is_not_a_token() {
        let full = format!("K10{HASH}::server:0123456789abcdef\n");
        // Every prefix short of the credentials must fail: K3s may be mid-write.
        let creds_start = 3 + 64 + 2 + "server:".len();
        for cut in 1..=creds_start {
            assert!(
                parse(&full.as_bytes()[..cut]).is_err(),
                "prefix of {cut} bytes"
            );
        }
    }

    #[test]
    fn errors_never_quote_the_input() {
        let secret = "s3cr3t<>";
        let err = parse(secret.as_bytes()).unwrap_err().to_string();
        assert!(!err.contains("s3cr3t"), "{err}");
    }
}
