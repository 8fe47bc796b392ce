//! Which workspace files go into an engine build's context: `.dockerignore` read as the
//! Docker CLI reads it, for the forms this repository uses (paths and `*`/`?` globs, a
//! pattern naming a directory excludes what is under it). Negations (`!`) and `**` are
//! refused by name rather than half-applied, so the context never differs silently from what
//! `docker build .` sends.

use super::SpecError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ignore {
    /// Each pattern split into path segments.
    patterns: Vec<Vec<String>>,
}

impl Ignore {
    pub(crate) fn parse(text: &str) -> Result<Self, SpecError> {
        let bad = |line: &str, why: &str| SpecError::Dockerfile {
            path: ".dockerignore".to_owned(),
            reason: format!("{line:?}: {why}"),
        };
        let mut patterns = Vec::new();
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('!') {
                return Err(bad(line, "exceptions (!) are not supported by bootstrap"));
            }
            if line.contains("**") {
                return Err(bad(line, "** is not supported by bootstrap"));
            }
            let segments: Vec<String> = line
                .split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .map(str::to_owned)
                .collect();
            if segments.iter().any(|s| s == "..") {
                return Err(bad(line, "a pattern cannot leave the context"));
            }
            if !segments.is_empty() {
                patterns.push(segments);
            }
        }
        Ok(Self { patterns })
    }

    /// `path` is relative to the context root, `/`-separated.
    pub(crate) fn excludes(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.patterns.iter().any(|p| {
            p.len() <= segments.len() && p.iter().zip(&segments).all(|(pat, seg)| glob(pat, seg))
        })
    }
}

/// `*` (any run within a segment) and `?` (one character).
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_file() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.dockerignore"))
                .expect("the workspace's .dockerignore");
        let ignore = Ignore::parse(&text).unwrap();
        for out in [
            "target",
            "target/debug/x",
            ".git/HEAD",
            ".cache/tools/zizmor",
        ] {
            assert!(ignore.excludes(out), "{out} must stay out of the context");
        }
        for kept in [
            "Cargo.toml",
            "Cargo.lock",
            ".cargo/static.toml",
            "echo-app/src/main.rs",
        ] {
            assert!(!ignore.excludes(kept), "{kept} must be in the context");
        }
    }

    #[test]
    fn paths_globs_and_directories() {
        let ignore = Ignore::parse("# comment\n\n/target/\n*.log\ndocs/?.md\n./p1/vm\n").unwrap();
        assert!(ignore.excludes("target/x"));
        assert!(ignore.excludes("build.log"));
        assert!(
            !ignore.excludes("logs/build.log"),
            "a top-level glob, as Docker reads it"
        );
        assert!(ignore.excludes("docs/a.md"));
        assert!(!ignore.excludes("docs/ab.md"));
        assert!(ignore.excludes("p1/vm/disk.img"));
        assert!(!ignore.excludes("p1/vmx"));
        assert!(!ignore.excludes("echo-app/target-notes.md"));
    }

    #[test]
    fn unsupported_forms_are_named() {
        let err = |t: &str| Ignore::parse(t).unwrap_err().to_string();
        assert!(err("target\n!target/keep\n").contains("exceptions (!)"));
        assert!(err("**/*.pem\n").contains("** is not supported"));
        assert!(err("../x\n").contains("cannot leave the context"));
        assert!(err("!x").starts_with(".dockerignore: "));
    }

    #[test]
    fn globs() {
        assert!(glob("*", "anything"));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a*c", "ac"));
        assert!(!glob("a*c", "acb"));
        assert!(glob("*.rs", "main.rs"));
        assert!(glob("?x", "ax"));
        assert!(!glob("?x", "x"));
    }
}
