//! Finding the app's image tags in a YAML text and rewriting exactly those bytes.
//!
//! The text is parsed with a real YAML parser that reports byte spans, so comments, block
//! scalars, flow mappings and multi-document files are seen for what they are; the edit then
//! splices the original text, so every other byte (comments, key order, quoting, indentation,
//! line endings) stays as it was. Pure; no I/O.

use std::fmt;
use std::ops::Range;

use granit_parser::{Event, Parser, ScalarStyle, Span};

use crate::image::{ImageMatcher, Reference, Tag, plain_scalar_is_not_a_string};

/// Nesting deeper than this is refused instead of recursing without bound.
const MAX_DEPTH: usize = 256;

/// Where a tag was found and how to rewrite it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What kind of YAML node holds the tag.
    pub(crate) kind: TargetKind,
    /// 1-based line of the tag scalar.
    pub line: usize,
    /// 1-based column of the tag scalar.
    pub column: usize,
    /// 0-based index of the YAML document in a multi-document file.
    pub(crate) document: usize,
    /// Path of the scalar inside its document, e.g. `spec.template.spec.containers[0].image`.
    pub(crate) yaml_path: String,
    /// The repository as written (`echo-app`, `registry:5000/echo-app`); empty for a Helm
    /// `image.tag` whose repository is left to the chart's default.
    pub repository: String,
    /// The tag currently written; `None` for an untagged `image: echo-app`.
    pub old_tag: Option<String>,
    /// Bytes of the source to replace (empty for an insertion).
    range: Range<usize>,
    /// Untagged reference: the new tag is appended after a `:`.
    insert: bool,
    /// The tag is a whole plain scalar: quote it when YAML would read it as a non-string.
    standalone_plain: bool,
}

/// The two shapes of image reference the bumper rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetKind {
    /// `image: registry/echo-app:v1` in a manifest (container, init container, cron job…).
    ImageScalar,
    /// Helm values: `tag: v1` next to `repository: echo-app` (or a top-level `image.tag`).
    HelmTag,
}

impl Target {
    /// Does this target already carry `tag`?
    pub fn is_at(&self, tag: &Tag) -> bool {
        self.old_tag.as_deref() == Some(tag.as_str())
    }

    /// The text that replaces [`Target::range`] for `tag`.
    fn replacement(&self, tag: &Tag) -> String {
        if self.insert {
            format!(":{tag}")
        } else if self.standalone_plain && plain_scalar_is_not_a_string(tag.as_str()) {
            format!("\"{tag}\"")
        } else {
            tag.as_str().to_owned()
        }
    }

    /// Will writing `tag` add quotes (so that YAML keeps reading a string)?
    pub fn quotes(&self, tag: &Tag) -> bool {
        !self.insert && self.standalone_plain && plain_scalar_is_not_a_string(tag.as_str())
    }
}

impl Target {
    /// `spec.template.spec.containers[0].image: echo-app:v1` (with the document number in a
    /// multi-document file).
    pub fn summary(&self) -> String {
        let tag = self.old_tag.as_deref().unwrap_or("(untagged)");
        let document = if self.document > 0 {
            format!("(document {}) ", self.document + 1)
        } else {
            String::new()
        };
        let value = match (self.kind, self.repository.as_str()) {
            (TargetKind::ImageScalar, repo) => format!("{repo}:{tag}"),
            (TargetKind::HelmTag, "") => tag.to_owned(),
            (TargetKind::HelmTag, repo) => format!("{tag} (repository {repo})"),
        };
        format!("{document}{}: {value}", self.yaml_path)
    }
}

impl fmt::Display for Target {
    /// `line 21 spec.template.spec.containers[0].image: echo-app:v1`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} {}", self.line, self.summary())
    }
}

/// Why a text cannot be searched or edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The parser rejected the text.
    #[error("line {line}, column {column}: malformed YAML: {message}")]
    Malformed {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// The matching scalar is written in a form whose bytes are not its value.
    #[error(
        "line {line}: `{value}` is written with escapes, line folding or as a block scalar, \
         so it cannot be edited in place; write it as a one-line scalar and run again"
    )]
    NotEditableInPlace {
        /// 1-based line.
        line: usize,
        /// The scalar's value.
        value: String,
    },
    /// The reference pins a digest, which wins over any tag.
    #[error(
        "line {line}: `{value}` pins a digest, so changing its tag would change nothing; \
         remove the @digest or update it by hand"
    )]
    DigestPinned {
        /// 1-based line.
        line: usize,
        /// The reference.
        value: String,
    },
    /// Nesting deeper than 256 levels.
    #[error("line {line}: YAML nested more than {MAX_DEPTH} levels deep; refusing to walk it")]
    TooDeep {
        /// 1-based line.
        line: usize,
    },
}

/// Finds every place in `text` that holds a tag of the image `matcher` selects, in source order.
pub fn find_targets(text: &str, matcher: &ImageMatcher) -> Result<Vec<Target>, EditError> {
    let mut walker = Walker {
        source: text,
        parser: Parser::new_from_str(text),
        matcher,
        document: 0,
        targets: Vec::new(),
    };
    walker.stream()?;
    walker.targets.sort_by_key(|t| t.range.start);
    Ok(walker.targets)
}

/// Rewrites the tag of every target in `text` to `tag`, touching no other byte.
///
/// `targets` must come from [`find_targets`] on the same `text`.
pub fn apply(text: &str, targets: &[Target], tag: &Tag) -> String {
    let mut ordered: Vec<&Target> = targets.iter().collect();
    ordered.sort_by_key(|t| t.range.start);
    let mut out = String::with_capacity(text.len() + targets.len() * tag.as_str().len());
    let mut cursor = 0;
    for target in ordered {
        out.push_str(&text[cursor..target.range.start]);
        out.push_str(&target.replacement(tag));
        cursor = target.range.end;
    }
    out.push_str(&text[cursor..]);
    out
}

/// One segment of a YAML path.
#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

fn render_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A scalar as the walker hands it to its parent.
#[derive(Debug, Clone)]
struct Scalar {
    value: String,
    style: ScalarStyle,
    span: Span,
}

/// What a node turned out to be, as far as its parent cares.
#[derive(Debug)]
enum Node {
    Scalar(Scalar),
    Other,
}

struct Walker<'a, 'm> {
    source: &'a str,
    parser: Parser<'a, granit_parser::StrInput<'a>>,
    matcher: &'m ImageMatcher,
    document: usize,
    targets: Vec<Target>,
}

impl<'a> Walker<'a, '_> {
    /// The next structural event; comments are presentation only.
    fn next(&mut self) -> Result<(Event<'a>, Span), EditError> {
        loop {
            match self.parser.next() {
                Some(Ok((Event::Comment(..), _))) => continue,
                Some(Ok(pair)) => return Ok(pair),
                Some(Err(e)) => {
                    return Err(EditError::Malformed {
                        line: e.marker().line(),
                        column: e.marker().col() + 1,
                        message: e.info(),
                    });
                }
                None => {
                    return Err(EditError::Malformed {
                        line: self.source.lines().count().max(1),
                        column: 1,
                        message: "unexpected end of the event stream".to_owned(),
                    });
                }
            }
        }
    }

    fn stream(&mut self) -> Result<(), EditError> {
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd => {}
                Event::StreamEnd => return Ok(()),
                Event::DocumentStart(..) => {
                    let (root, root_span) = self.next()?;
                    self.node(root, root_span, &mut Vec::new())?;
                    self.document += 1;
                }
                _ => {
                    return Err(EditError::Malformed {
                        line: span.start.line(),
                        column: span.start.col() + 1,
                        message: "unexpected event outside a document".to_owned(),
                    });
                }
            }
        }
    }

    fn node(
        &mut self,
        event: Event<'a>,
        span: Span,
        path: &mut Vec<Segment>,
    ) -> Result<Node, EditError> {
        if path.len() > MAX_DEPTH {
            return Err(EditError::TooDeep {
                line: span.start.line(),
            });
        }
        match event {
            Event::Scalar(value, style, ..) => Ok(Node::Scalar(Scalar {
                value: value.into_owned(),
                style,
                span,
            })),
            Event::SequenceStart(..) => {
                let mut index = 0;
                loop {
                    let (item, item_span) = self.next()?;
                    if matches!(item, Event::SequenceEnd) {
                        return Ok(Node::Other);
                    }
                    path.push(Segment::Index(index));
                    self.node(item, item_span, path)?;
                    path.pop();
                    index += 1;
                }
            }
            Event::MappingStart(..) => self.mapping(path),
            // Aliases repeat a node defined elsewhere; that definition is what gets edited.
            _ => Ok(Node::Other),
        }
    }

    fn mapping(&mut self, path: &mut Vec<Segment>) -> Result<Node, EditError> {
        let mut repository: Option<Scalar> = None;
        let mut registry: Option<Scalar> = None;
        let mut tag: Option<(Scalar, String)> = None;
        loop {
            let (key_event, key_span) = self.next()?;
            if matches!(key_event, Event::MappingEnd) {
                break;
            }
            let key = match self.node(key_event, key_span, path)? {
                Node::Scalar(s) => Some(s.value),
                Node::Other => None,
            };
            let (value_event, value_span) = self.next()?;
            path.push(Segment::Key(key.clone().unwrap_or_else(|| "?".to_owned())));
            let value = self.node(value_event, value_span, path)?;
            if let (Some(key), Node::Scalar(scalar)) = (key.as_deref(), value) {
                match key {
                    "image" => self.image_scalar(&scalar, path)?,
                    "repository" => repository = Some(scalar),
                    "registry" => registry = Some(scalar),
                    "tag" => tag = Some((scalar, render_path(path))),
                    _ => {}
                }
            }
            path.pop();
        }
        if let Some((tag, tag_path)) = tag {
            self.helm_tag(tag, tag_path, repository, registry, path)?;
        }
        Ok(Node::Other)
    }

    /// `image: [registry/]repo[:tag]` — a manifest's container image.
    fn image_scalar(&mut self, scalar: &Scalar, path: &[Segment]) -> Result<(), EditError> {
        let Some(reference) = Reference::parse(&scalar.value) else {
            return Ok(());
        };
        if !self.matcher.matches(reference.name) {
            return Ok(());
        }
        let line = scalar.span.start.line();
        if reference.digest.is_some() {
            return Err(EditError::DigestPinned {
                line,
                value: scalar.value.clone(),
            });
        }
        let inner = self.value_bytes(scalar)?;
        let start = inner.start + reference.tag_offset();
        let end = start + reference.tag.map_or(0, str::len);
        let column = scalar.span.start.col() + 1 + (start - inner.start) + quote_len(scalar);
        self.targets.push(Target {
            kind: TargetKind::ImageScalar,
            line,
            column,
            document: self.document,
            yaml_path: render_path(path),
            repository: reference.name.to_owned(),
            old_tag: reference.tag.map(str::to_owned),
            range: start..end,
            insert: reference.tag.is_none(),
            standalone_plain: false,
        });
        Ok(())
    }

    /// Helm values: a mapping with `tag` and a matching `repository` (plus optional
    /// `registry`), or the chart's own top-level `image.tag` with no repository beside it.
    fn helm_tag(
        &mut self,
        tag: Scalar,
        tag_path: String,
        repository: Option<Scalar>,
        registry: Option<Scalar>,
        path: &[Segment],
    ) -> Result<(), EditError> {
        let repository = match (&repository, &registry) {
            (Some(repo), Some(reg)) if !reg.value.is_empty() => {
                format!("{}/{}", reg.value, repo.value)
            }
            (Some(repo), _) => repo.value.clone(),
            (None, _) => String::new(),
        };
        let chart_image = matches!(path, [Segment::Key(k)] if k == "image");
        let selected = if repository.is_empty() {
            chart_image
        } else {
            self.matcher.matches(&repository)
        };
        // An empty tag means "the chart's appVersion"; there is no tag to rewrite.
        if !selected || tag.value.is_empty() {
            return Ok(());
        }
        let range = self.value_bytes(&tag)?;
        self.targets.push(Target {
            kind: TargetKind::HelmTag,
            line: tag.span.start.line(),
            column: tag.span.start.col() + 1 + quote_len(&tag),
            document: self.document,
            yaml_path: tag_path,
            repository,
            old_tag: Some(tag.value.clone()),
            range,
            insert: false,
            standalone_plain: tag.style == ScalarStyle::Plain,
        });
        Ok(())
    }

    /// The source bytes that spell the scalar's value, quotes excluded. Refuses scalars whose
    /// source is not their value verbatim (escapes, folding, block styles): splicing those
    /// could not keep every other byte.
    fn value_bytes(&self, scalar: &Scalar) -> Result<Range<usize>, EditError> {
        let refuse = || EditError::NotEditableInPlace {
            line: scalar.span.start.line(),
            value: scalar.value.clone(),
        };
        let range = scalar.span.byte_range().ok_or_else(refuse)?;
        let inner = match scalar.style {
            ScalarStyle::Plain => range,
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted if range.len() >= 2 => {
                range.start + 1..range.end - 1
            }
            _ => return Err(refuse()),
        };
        if self.source.get(inner.clone()) == Some(scalar.value.as_str()) {
            Ok(inner)
        } else {
            Err(refuse())
        }
    }
}

fn quote_len(scalar: &Scalar) -> usize {
    usize::from(matches!(
        scalar.style,
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_app() -> ImageMatcher {
        ImageMatcher::parse("echo-app").unwrap()
    }

    fn tag(t: &str) -> Tag {
        Tag::parse(t).unwrap()
    }

    fn bump(text: &str, to: &str) -> String {
        let targets = find_targets(text, &echo_app()).unwrap();
        assert!(!targets.is_empty(), "no target in:\n{text}");
        apply(text, &targets, &tag(to))
    }

    const DEPLOYMENT: &str = "\
# The playground app (v1 -> v2 through Git)
apiVersion: apps/v1
kind: Deployment
metadata:
  name: playground   # keep this name
spec:
  template:
    spec:
      containers:
        - name: playground
          image: \"echo-app:v1\"   # bumped by gitops-bumper
          ports: [{containerPort: 8888}]
        - {name: sidecar, image: 'registry:5000/echo-app:v1'}
      initContainers:
        - name: wait
          image: busybox:v1
";

    #[test]
    fn finds_container_images_with_their_paths_and_positions() {
        let targets = find_targets(DEPLOYMENT, &echo_app()).unwrap();
        let found: Vec<String> = targets.iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "line 11 spec.template.spec.containers[0].image: echo-app:v1",
                "line 13 spec.template.spec.containers[1].image: registry:5000/echo-app:v1",
            ]
        );
        // Columns are 1-based and point at the tag itself.
        assert_eq!(targets[0].column, 28);
        assert_eq!(&DEPLOYMENT.lines().nth(10).unwrap()[27..29], "v1");
        assert_eq!(targets[1].column, 58);
        assert_eq!(&DEPLOYMENT.lines().nth(12).unwrap()[57..59], "v1");
    }

    #[test]
    fn the_edit_changes_only_the_tag_bytes() {
        let bumped = bump(DEPLOYMENT, "v2");
        let expected = DEPLOYMENT
            .replace("\"echo-app:v1\"", "\"echo-app:v2\"")
            .replace("'registry:5000/echo-app:v1'", "'registry:5000/echo-app:v2'");
        assert_eq!(bumped, expected);
        assert!(bumped.contains("busybox:v1"));
    }

    #[test]
    fn comments_block_scalars_and_other_keys_cannot_fool_it() {
        let text = "\
# image: echo-app:v1
kind: ConfigMap
data:
  notes: |
    image: echo-app:v1
  folded: >
    image: echo-app:v1
  other: echo-app:v1
  images: [echo-app:v1]
  quoted: \"image: echo-app:v1\"
";
        assert_eq!(find_targets(text, &echo_app()).unwrap(), []);
    }

    #[test]
    fn multi_document_files_report_the_document() {
        let text = "\
apiVersion: v1
kind: Service
---
kind: Deployment
spec:
  template:
    spec:
      containers:
        - image: echo-app:v1
";
        let targets = find_targets(text, &echo_app()).unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].document, 1);
        assert_eq!(
            targets[0].to_string(),
            "line 9 (document 2) spec.template.spec.containers[0].image: echo-app:v1"
        );
        assert_eq!(bump(text, "v2"), text.replace("echo-app:v1", "echo-app:v2"));
    }

    #[test]
    fn crlf_line_endings_survive() {
        let text = "a: 1\r\nimage: echo-app:v1\r\n# end\r\n";
        assert_eq!(bump(text, "v2"), "a: 1\r\nimage: echo-app:v2\r\n# end\r\n");
    }

    #[test]
    fn helm_values_repository_and_tag_pairs() {
        let text = "\
replicaCount: 1
image:
  repository: echo-app   # local image, imported into K3s
  tag: v1
  pullPolicy: IfNotPresent
redis:
  image: {registry: docker.io, repository: library/redis, tag: '7'}
";
        let targets = find_targets(text, &echo_app()).unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].kind, TargetKind::HelmTag);
        assert_eq!(
            targets[0].to_string(),
            "line 4 image.tag: v1 (repository echo-app)"
        );
        assert_eq!(
            apply(text, &targets, &tag("v2")),
            text.replace("tag: v1", "tag: v2")
        );
    }

    /// p3's names since the local registry (issue 13): the port's colon is no tag, in a
    /// manifest and in Helm values alike; only the tag changes.
    #[test]
    fn a_registry_with_a_port_keeps_its_port() {
        let manifest = "      containers:\n        - image: \"localhost:5111/echo-app:v1\"\n";
        let targets = find_targets(manifest, &echo_app()).unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].old_tag.as_deref(), Some("v1"));
        assert_eq!(
            bump(manifest, "v2"),
            "      containers:\n        - image: \"localhost:5111/echo-app:v2\"\n"
        );
        let values = "image:\n  repository: localhost:5111/echo-app\n  tag: v1\n";
        assert_eq!(
            bump(values, "v2"),
            "image:\n  repository: localhost:5111/echo-app\n  tag: v2\n"
        );
        let exact = ImageMatcher::parse("localhost:5111/echo-app").unwrap();
        assert_eq!(find_targets(manifest, &exact).unwrap().len(), 1);
        assert_eq!(
            find_targets("image: localhost:5112/echo-app:v1\n", &exact)
                .unwrap()
                .len(),
            0,
            "another port is another registry"
        );
    }

    #[test]
    fn helm_registry_plus_repository_and_nested_pairs() {
        let text = "\
app:
  image:
    registry: registry:5000
    repository: echo-app
    tag: \"v1\"
";
        let m = ImageMatcher::parse("registry:5000/echo-app").unwrap();
        let targets = find_targets(text, &m).unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].repository, "registry:5000/echo-app");
        assert_eq!(targets[0].yaml_path, "app.image.tag");
        assert_eq!(
            apply(text, &targets, &tag("v2")),
            text.replace("\"v1\"", "\"v2\"")
        );
    }

    #[test]
    fn top_level_image_tag_without_repository_is_the_charts_own_image() {
        let text = "image:\n  tag: v1\nother:\n  image:\n    tag: v1\n";
        let targets = find_targets(text, &echo_app()).unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].yaml_path, "image.tag");
        assert_eq!(targets[0].repository, "");
    }

    #[test]
    fn an_empty_helm_tag_means_app_version_and_is_not_a_target() {
        let text = "image:\n  repository: echo-app\n  tag: \"\"\n";
        assert_eq!(find_targets(text, &echo_app()).unwrap(), []);
    }

    #[test]
    fn a_numeric_looking_helm_tag_is_quoted_so_helm_keeps_a_string() {
        let text = "image:\n  repository: echo-app\n  tag: 1.9\n";
        let targets = find_targets(text, &echo_app()).unwrap();
        assert!(targets[0].quotes(&tag("1.10")));
        assert_eq!(
            apply(text, &targets, &tag("1.10")),
            "image:\n  repository: echo-app\n  tag: \"1.10\"\n"
        );
        assert!(!targets[0].quotes(&tag("v2")));
        assert_eq!(
            apply(text, &targets, &tag("v2")),
            "image:\n  repository: echo-app\n  tag: v2\n"
        );
        // Inside a reference a numeric tag is part of a string anyway.
        assert_eq!(
            bump("image: echo-app:v1\n", "1.10"),
            "image: echo-app:1.10\n"
        );
    }

    #[test]
    fn an_untagged_image_gets_the_tag_appended() {
        let text = "image: \"echo-app\" # latest\n";
        let targets = find_targets(text, &echo_app()).unwrap();
        assert_eq!(targets[0].old_tag, None);
        assert_eq!(
            apply(text, &targets, &tag("v2")),
            "image: \"echo-app:v2\" # latest\n"
        );
    }

    #[test]
    fn flow_mappings_anchors_and_aliases() {
        let text = "base: &img echo-app:v1\nc: [{image: *img}, {image: echo-app:v1, x: y}]\n";
        let targets = find_targets(text, &echo_app()).unwrap();
        assert_eq!(targets.len(), 1, "{targets:?}");
        assert_eq!(targets[0].yaml_path, "c[1].image");
        assert_eq!(
            apply(text, &targets, &tag("v2")),
            "base: &img echo-app:v1\nc: [{image: *img}, {image: echo-app:v2, x: y}]\n"
        );
    }

    #[test]
    fn scalars_that_are_not_their_source_bytes_are_refused() {
        for (text, line) in [
            ("image: \"echo-app:\\x761\"\n", 1),
            // A block scalar's span starts at its content.
            ("a: 1\nimage: >-\n  echo-app:v1\n", 3),
            // An escaped line break inside double quotes joins the lines.
            ("image: \"echo-app:\\\n  v1\"\n", 1),
        ] {
            let err = find_targets(text, &echo_app()).unwrap_err();
            assert!(
                matches!(err, EditError::NotEditableInPlace { line: l, .. } if l == line),
                "{text:?}: {err:?}"
            );
        }
    }

    #[test]
    fn a_pinned_digest_is_refused_with_the_reason() {
        let text = format!("image: echo-app:v1@sha256:{}\n", "b".repeat(64));
        let err = find_targets(&text, &echo_app()).unwrap_err();
        assert!(matches!(err, EditError::DigestPinned { line: 1, .. }));
        assert!(err.to_string().contains("pins a digest"));
    }

    #[test]
    fn malformed_yaml_is_an_error_with_its_position() {
        let err = find_targets("a: b\n c: d\n", &echo_app()).unwrap_err();
        let EditError::Malformed { line, column, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!((*line, *column), (2, 3));
        assert!(
            err.to_string()
                .starts_with("line 2, column 3: malformed YAML: ")
        );
        assert!(matches!(
            find_targets("a: [1, 2\n", &echo_app()),
            Err(EditError::Malformed { .. })
        ));
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed() {
        let text = format!("{}1{}", "[".repeat(300), "]".repeat(300));
        assert!(matches!(
            find_targets(&text, &echo_app()),
            Err(EditError::TooDeep { .. }) | Err(EditError::Malformed { .. })
        ));
    }

    #[test]
    fn non_ascii_text_before_the_target_keeps_byte_offsets_right() {
        let text = "# café ☕ — v1\nimage: echo-app:v1\n";
        assert_eq!(bump(text, "v2"), "# café ☕ — v1\nimage: echo-app:v2\n");
    }

    #[test]
    fn targets_at_the_new_tag_are_recognised() {
        let targets = find_targets("image: echo-app:v2\n", &echo_app()).unwrap();
        assert!(targets[0].is_at(&tag("v2")));
        assert!(!targets[0].is_at(&tag("v3")));
    }
}
