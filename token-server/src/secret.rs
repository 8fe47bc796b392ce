//! The optional shared secret: where it comes from (`--secret-file`, `--secret-env`), how it
//! travels (`Authorization: Bearer …`) and how it is compared (in constant time).

use std::fmt;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A shorter secret can be guessed by a patient client; 16 bytes of hex is 64 bits.
pub const MIN_LEN: usize = 16;
/// Keeps the Authorization header (and memory) small.
pub const MAX_LEN: usize = 1024;

/// Where the secret is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Env(String),
}

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("cannot read the secret file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the secret file {path} is readable by group or others (mode {mode:04o}); \
         run `chmod 600 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("the environment variable {0} is not set; export it or use --secret-file")]
    EnvMissing(String),
    #[error("the secret from {0} is empty")]
    Empty(String),
    #[error(
        "the secret from {0} is shorter than {MIN_LEN} characters; generate one with \
         `openssl rand -hex 32`"
    )]
    TooShort(String),
    #[error("the secret from {0} is longer than {MAX_LEN} characters")]
    TooLong(String),
    #[error(
        "the secret from {0} holds spaces, control or non-ASCII characters; it must fit in an \
         HTTP header"
    )]
    BadByte(String),
}

/// The secret's bytes. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What a request's Authorization header amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Accepted,
    Missing,
    Wrong,
}

impl Secret {
    /// Reads the secret; one trailing line ending is dropped (files written by `echo`).
    pub fn load(source: &Source) -> Result<Self, SecretError> {
        let (origin, raw) = match source {
            Source::File(path) => (path.display().to_string(), read_private_file(path)?),
            Source::Env(var) => {
                let value =
                    std::env::var_os(var).ok_or_else(|| SecretError::EnvMissing(var.clone()))?;
                (format!("${var}"), value.into_encoded_bytes())
            }
        };
        Self::from_bytes(&raw, &origin)
    }

    /// Validates raw secret bytes; `origin` names where they came from, for errors.
    pub fn from_bytes(raw: &[u8], origin: &str) -> Result<Self, SecretError> {
        let body = raw
            .strip_suffix(b"\n")
            .map(|b| b.strip_suffix(b"\r").unwrap_or(b))
            .unwrap_or(raw);
        if body.is_empty() {
            return Err(SecretError::Empty(origin.to_owned()));
        }
        if !body.iter().all(u8::is_ascii_graphic) {
            return Err(SecretError::BadByte(origin.to_owned()));
        }
        if body.len() < MIN_LEN {
            return Err(SecretError::TooShort(origin.to_owned()));
        }
        if body.len() > MAX_LEN {
            return Err(SecretError::TooLong(origin.to_owned()));
        }
        Ok(Self(body.to_vec()))
    }

    /// The value of the Authorization header that carries this secret.
    pub fn bearer_header(&self) -> Vec<u8> {
        let mut value = b"Bearer ".to_vec();
        value.extend_from_slice(&self.0);
        value
    }

    /// Checks an Authorization header value against the secret.
    pub fn check(&self, authorization: Option<&[u8]>) -> Check {
        let Some(value) = authorization else {
            return Check::Missing;
        };
        let Some(presented) = bearer_credentials(value) else {
            return Check::Missing;
        };
        if constant_time_eq(&self.0, presented) {
            Check::Accepted
        } else {
            Check::Wrong
        }
    }
}

/// `Bearer <credentials>`, the scheme matched case-insensitively (RFC 9110 §11.1).
fn bearer_credentials(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let credentials = value[7..].trim_ascii();
    (!credentials.is_empty()).then_some(credentials)
}

/// Compares in time that depends on the length of `expected` only, never on where the first
/// difference is, so response timing tells a guesser nothing about the secret's bytes.
pub fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    let mut diff = u8::from(expected.len() != presented.len());
    for (i, e) in expected.iter().enumerate() {
        let p = presented.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(e ^ p);
    }
    std::hint::black_box(diff) == 0
}

/// Reads a file meant to hold a secret, refusing it when others can read it too.
fn read_private_file(path: &Path) -> Result<Vec<u8>, SecretError> {
    let read_err = |source| SecretError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    std::fs::read(path).map_err(read_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::from_bytes(b"0123456789abcdef0123\n", "test").unwrap()
    }

    #[test]
    fn a_bearer_header_with_the_secret_is_accepted() {
        let s = secret();
        assert_eq!(
            s.check(Some(b"Bearer 0123456789abcdef0123")),
            Check::Accepted
        );
        assert_eq!(
            s.check(Some(b"bearer 0123456789abcdef0123 ")),
            Check::Accepted
        );
        assert_eq!(s.check(Some(&s.bearer_header())), Check::Accepted);
    }

    #[test]
    fn missing_and_wrong_secrets_are_told_apart() {
        let s = secret();
        assert_eq!(s.check(None), Check::Missing);
        assert_eq!(s.check(Some(b"")), Check::Missing);
        assert_eq!(s.check(Some(b"Bearer ")), Check::Missing);
        assert_eq!(s.check(Some(b"Basic dXNlcjpwdw==")), Check::Missing);
        assert_eq!(s.check(Some(b"Bearer 0123456789abcdef012")), Check::Wrong);
        assert_eq!(s.check(Some(b"Bearer 0123456789abcdef01234")), Check::Wrong);
        assert_eq!(s.check(Some(b"Bearer 0123456789abcdef0124")), Check::Wrong);
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abc", b""));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn weak_or_unusable_secrets_are_refused_without_quoting_them() {
        let err = Secret::from_bytes(b"short", "$S").unwrap_err().to_string();
        assert!(err.contains("shorter than 16"), "{err}");
        assert!(!err.contains("short\""), "{err}");
        assert!(matches!(
            Secret::from_bytes(b"\n", "$S"),
            Err(SecretError::Empty(_))
        ));
        assert!(matches!(
            Secret::from_bytes(b"0123456789abcdef 0123", "$S"),
            Err(SecretError::BadByte(_))
        ));
        assert!(matches!(
            Secret::from_bytes(&[b'a'; MAX_LEN + 1], "$S"),
            Err(SecretError::TooLong(_))
        ));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        assert_eq!(format!("{:?}", secret()), "Secret(<redacted>)");
    }

    #[test]
    fn secret_files_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Secret::load(&Source::File(path.clone())).unwrap_err();
        assert!(
            matches!(err, SecretError::TooOpen { mode: 0o644, .. }),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Secret::load(&Source::File(path)).unwrap(), secret());
    }
}
