//! Image references, tags and the `--image` matcher: the rules that decide what is "the app's
//! image" and what a valid new tag is. Pure; no I/O.

use std::fmt;
use std::str::FromStr;

/// The longest tag the OCI distribution spec allows.
const MAX_TAG_LEN: usize = 128;

/// A valid OCI image tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

/// Why a string is not an image tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a valid image tag: use 1 to 128 letters, digits, `_`, `.` or `-`, \
     not starting with `.` or `-` (e.g. v2 or 1.4.0)"
)]
pub struct InvalidTag(pub String);

impl Tag {
    /// Checks `text` against the OCI tag grammar.
    pub fn parse(text: &str) -> Result<Tag, InvalidTag> {
        if is_valid_tag(text) {
            Ok(Tag(text.to_owned()))
        } else {
            Err(InvalidTag(text.to_owned()))
        }
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = InvalidTag;
    fn from_str(s: &str) -> Result<Tag, InvalidTag> {
        Tag::parse(s)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_valid_tag(text: &str) -> bool {
    let mut bytes = text.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    text.len() <= MAX_TAG_LEN
        && (first.is_ascii_alphanumeric() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// An image reference as written in a manifest, split into its parts. Byte offsets point into
/// the text it was parsed from, so an edit can splice exactly the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference<'a> {
    /// Everything before the tag: `[registry[:port]/]path`.
    pub(crate) name: &'a str,
    /// The tag, if one is written.
    pub(crate) tag: Option<&'a str>,
    /// The `sha256:…` digest, if one is written.
    pub(crate) digest: Option<&'a str>,
}

impl<'a> Reference<'a> {
    /// Parses `text` as `name[:tag][@digest]`; `None` when it is not an image reference at all
    /// (a Helm template expression, an empty string, a sentence…).
    pub fn parse(text: &'a str) -> Option<Reference<'a>> {
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (text, None),
        };
        if let Some(d) = digest
            && !is_valid_digest(d)
        {
            return None;
        }
        // A ':' after the last '/' starts the tag; one before it belongs to a registry port.
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
                (&rest[..colon], Some(&rest[colon + 1..]))
            }
            _ => (rest, None),
        };
        if let Some(t) = tag
            && !is_valid_tag(t)
        {
            return None;
        }
        ImageName::parse(name)?;
        Some(Reference { name, tag, digest })
    }

    /// Byte offset of the tag inside the parsed text (the end of the name when untagged).
    pub(crate) fn tag_offset(&self) -> usize {
        self.name.len() + usize::from(self.tag.is_some())
    }
}

fn is_valid_digest(text: &str) -> bool {
    match text.split_once(':') {
        Some((algorithm, hex)) => {
            !algorithm.is_empty()
                && algorithm
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && hex.len() >= 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// A repository name split into registry and path, normalised the way Docker resolves it
/// (`echo-app` is `docker.io/library/echo-app`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageName {
    /// The registry host (with port), `None` for Docker Hub.
    pub(crate) registry: Option<String>,
    /// Path components, e.g. `["library", "echo-app"]`.
    pub path: Vec<String>,
}

impl ImageName {
    /// Parses a repository name without tag or digest; `None` if it is not one.
    pub fn parse(text: &str) -> Option<ImageName> {
        let mut components: Vec<&str> = text.split('/').collect();
        let registry = match components.as_slice() {
            [first, _, ..] if is_registry(first) => Some(components.remove(0)),
            _ => None,
        };
        if let Some(host) = registry
            && !is_valid_registry(host)
        {
            return None;
        }
        if components.iter().any(|c| !is_valid_path_component(c)) {
            return None;
        }
        let registry = registry.map(str::to_ascii_lowercase).filter(|host| {
            !matches!(
                host.as_str(),
                "docker.io" | "index.docker.io" | "registry-1.docker.io"
            )
        });
        let mut path: Vec<String> = components.into_iter().map(str::to_owned).collect();
        if registry.is_none() && path.len() == 1 {
            path.insert(0, "library".to_owned());
        }
        Some(ImageName { registry, path })
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.join("/");
        match &self.registry {
            Some(host) => write!(f, "{host}/{path}"),
            None => write!(f, "docker.io/{path}"),
        }
    }
}

// Docker's rule: the first component names a registry when it looks like a host.
fn is_registry(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

fn is_valid_registry(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

// `[a-z0-9]+` runs joined by `.`, `_`, `__` or `-`s (distribution's path-component grammar).
fn is_valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    alnum(first)
        && alnum(last)
        && bytes
            .iter()
            .all(|b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
        && !component.contains("..")
        && !component.contains("___")
}

/// Which images `--image` selects.
///
/// A bare name (`echo-app`) matches that repository in any registry and namespace
/// (`echo-app`, `docker.io/library/echo-app`, `docker.io/someone/echo-app`,
/// `registry:5000/echo-app`), but not `my-echo-app`. A name with a namespace
/// (`someone/echo-app`) must match those trailing components; a name with a registry
/// (`registry:5000/echo-app`) must match exactly, after Docker Hub normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMatcher {
    written: String,
    registry: Option<String>,
    path: Vec<String>,
    exact: bool,
}

/// Why an `--image` value cannot select images.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an image name: give a repository without tag or digest, \
     e.g. echo-app or registry:5000/echo-app"
)]
pub struct InvalidImageName(pub String);

impl ImageMatcher {
    /// Parses an `--image` value.
    pub fn parse(text: &str) -> Result<ImageMatcher, InvalidImageName> {
        let invalid = || InvalidImageName(text.to_owned());
        let reference = Reference::parse(text).ok_or_else(invalid)?;
        if reference.tag.is_some() || reference.digest.is_some() {
            return Err(invalid());
        }
        let components: Vec<&str> = text.split('/').collect();
        let exact = components.len() > 1 && is_registry(components[0]);
        let (registry, path) = if exact {
            let name = ImageName::parse(text).ok_or_else(invalid)?;
            (name.registry, name.path)
        } else {
            (None, components.into_iter().map(str::to_owned).collect())
        };
        Ok(ImageMatcher {
            written: text.to_owned(),
            registry,
            path,
            exact,
        })
    }

    /// Does the repository name `name` (no tag) belong to the selected image?
    pub(crate) fn matches(&self, name: &str) -> bool {
        let Some(candidate) = ImageName::parse(name) else {
            return false;
        };
        if self.exact {
            candidate.registry == self.registry && candidate.path == self.path
        } else {
            candidate.path.ends_with(&self.path)
        }
    }
}

impl fmt::Display for ImageMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

/// Would `text`, written as a plain YAML scalar, be read as something other than a string
/// (null, bool, int or float under YAML 1.1 or 1.2)? Helm renders `tag: 1.10` as `1.1`, so such
/// a tag must be quoted when it stands alone as a value.
pub(crate) fn plain_scalar_is_not_a_string(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n",
    ];
    if WORDS.contains(&text.to_ascii_lowercase().as_str()) {
        return true;
    }
    let unsigned = text.trim_start_matches(['+', '-']);
    let lower = unsigned.to_ascii_lowercase();
    if matches!(lower.as_str(), ".inf" | ".nan") {
        return true;
    }
    for (prefix, digit) in [
        ("0x", u8::is_ascii_hexdigit as fn(&u8) -> bool),
        ("0o", |b: &u8| (b'0'..=b'7').contains(b)),
        ("0b", |b: &u8| matches!(b, b'0' | b'1')),
    ] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            return !digits.is_empty() && digits.bytes().all(|b| b == b'_' || digit(&b));
        }
    }
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let mantissa_is_number = mantissa.bytes().any(|b| b.is_ascii_digit())
        && mantissa.bytes().filter(|&b| b == b'.').count() <= 1
        && mantissa
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'_');
    let exponent_is_number = exponent.is_none_or(|e| {
        let digits = e.trim_start_matches(['+', '-']);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_is_number && exponent_is_number
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_oci_grammar() {
        for ok in ["v2", "1.4.0", "latest", "_x", "V2-rc.1_b", &"a".repeat(128)] {
            assert!(Tag::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".v2",
            "-v2",
            "v2:x",
            "v 2",
            "v2/x",
            "é",
            &"a".repeat(129),
        ] {
            assert_eq!(Tag::parse(bad), Err(InvalidTag(bad.to_owned())), "{bad}");
        }
    }

    #[test]
    fn references_split_into_name_tag_and_digest() {
        let r = Reference::parse("registry:5000/team/echo-app:v1").unwrap();
        assert_eq!(
            (r.name, r.tag, r.digest),
            ("registry:5000/team/echo-app", Some("v1"), None)
        );
        assert_eq!(r.tag_offset(), "registry:5000/team/echo-app:".len());

        let r = Reference::parse("registry:5000/echo-app").unwrap();
        assert_eq!((r.name, r.tag), ("registry:5000/echo-app", None));
        assert_eq!(r.tag_offset(), r.name.len());

        let digest = format!("sha256:{}", "a".repeat(64));
        let text = format!("echo-app:v1@{digest}");
        let r = Reference::parse(&text).unwrap();
        assert_eq!(
            (r.name, r.tag, r.digest),
            ("echo-app", Some("v1"), Some(digest.as_str()))
        );

        for not_an_image in [
            "",
            "{{ .Values.image.repository }}:{{ .Values.image.tag }}",
            "Echo-App:v1",
            "echo-app:v1 # x",
            "echo-app:",
            "echo-app@sha256:short",
            "http://x/y",
        ] {
            assert_eq!(Reference::parse(not_an_image), None, "{not_an_image}");
        }
    }

    #[test]
    fn a_bare_name_matches_that_repository_anywhere_but_not_lookalikes() {
        let m = ImageMatcher::parse("echo-app").unwrap();
        for yes in [
            "echo-app",
            "library/echo-app",
            "docker.io/library/echo-app",
            "docker.io/someone/echo-app",
            "registry:5000/echo-app",
            "localhost/echo-app",
            "ghcr.io/org/team/echo-app",
        ] {
            assert!(m.matches(yes), "{yes}");
        }
        for no in [
            "my-echo-app",
            "echo-app-sidecar",
            "echo-app/sidecar",
            "wil42/playground",
            "{{ x }}",
        ] {
            assert!(!m.matches(no), "{no}");
        }
    }

    #[test]
    fn a_namespaced_name_matches_trailing_components() {
        let m = ImageMatcher::parse("wil42/playground").unwrap();
        assert!(m.matches("wil42/playground"));
        assert!(m.matches("docker.io/wil42/playground"));
        assert!(!m.matches("other/playground"));
        assert!(!m.matches("playground"));
    }

    #[test]
    fn a_name_with_a_registry_matches_exactly_after_docker_hub_normalisation() {
        let m = ImageMatcher::parse("registry:5000/echo-app").unwrap();
        assert!(m.matches("registry:5000/echo-app"));
        assert!(!m.matches("echo-app"));
        assert!(!m.matches("registry:5001/echo-app"));

        let hub = ImageMatcher::parse("docker.io/library/echo-app").unwrap();
        assert!(hub.matches("echo-app"));
        assert!(hub.matches("index.docker.io/library/echo-app"));
        assert!(!hub.matches("registry:5000/echo-app"));
    }

    #[test]
    fn the_matcher_refuses_tags_and_non_names() {
        for bad in ["echo-app:v1", "echo-app@sha256:abc", "", "Echo App", "a//b"] {
            assert_eq!(
                ImageMatcher::parse(bad),
                Err(InvalidImageName(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn plain_scalars_that_yaml_reads_as_non_strings_are_detected() {
        for non_string in [
            "1", "2", "1.10", "1.", ".5", "+1", "-2.5", "1e3", "1E-3", "0x1F", "0o17", "0b101",
            "1_000", ".inf", "-.Inf", ".NaN", "true", "No", "ON", "y", "~", "null", "",
        ] {
            assert!(plain_scalar_is_not_a_string(non_string), "{non_string}");
        }
        for string in [
            "v1", "1.2.3", "v1.10", "1.0-rc1", "latest", "1e", "e3", "0x", "sha-1", "1.2e3.4",
        ] {
            assert!(!plain_scalar_is_not_a_string(string), "{string}");
        }
    }
}
