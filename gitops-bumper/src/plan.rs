//! From a set of files to the bump they need: which targets, whether the choice is ambiguous,
//! the new texts, the diff and the commit message. Pure; no I/O.

use std::collections::BTreeSet;

use crate::diff;
use crate::message::{self, MessageVars, TemplateError};
use lab_gitops::edit::{self, EditError, Target};
use lab_gitops::git::SourceFile;
use lab_gitops::image::{ImageMatcher, ImageName, Tag};

/// One file's targets and, when any needs the new tag, its new text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePlan {
    /// Path relative to the repository root.
    pub path: String,
    /// Every target found in the file, in source order.
    pub targets: Vec<Target>,
    /// The text before the bump.
    pub(crate) old_text: String,
    /// The text after the bump; `None` when every target already has the tag.
    pub(crate) new_text: Option<String>,
}

/// What a bump to one tag changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The tag bumped to.
    pub tag: Tag,
    /// Files that hold at least one target, in the order they were given.
    pub files: Vec<FilePlan>,
    /// How many files were searched.
    pub files_searched: usize,
}

impl Plan {
    /// Nothing to change: every target already has the tag.
    pub(crate) fn is_noop(&self) -> bool {
        self.files.iter().all(|f| f.new_text.is_none())
    }

    /// Files whose text changes, with their new text.
    pub(crate) fn changes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files
            .iter()
            .filter_map(|f| Some((f.path.as_str(), f.new_text.as_deref()?)))
    }

    /// The distinct tags being replaced, in order of first appearance.
    pub fn old_tags(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for target in self.pending() {
            let old = target.old_tag.as_deref().unwrap_or("(untagged)").to_owned();
            if !seen.contains(&old) {
                seen.push(old);
            }
        }
        seen
    }

    fn pending(&self) -> impl Iterator<Item = &Target> {
        self.files
            .iter()
            .flat_map(|f| &f.targets)
            .filter(|t| !t.is_at(&self.tag))
    }

    /// The unified diff of every changed file.
    pub fn diff(&self) -> String {
        self.files
            .iter()
            .filter_map(|f| Some(diff::unified(&f.path, &f.old_text, f.new_text.as_deref()?)))
            .collect()
    }

    /// The commit message from `template` (see [`message::render`]).
    pub(crate) fn message(
        &self,
        template: &str,
        image: &ImageMatcher,
    ) -> Result<String, TemplateError> {
        message::render(
            template,
            &MessageVars {
                image: image.to_string(),
                old: self.old_tags().join(", "),
                new: self.tag.to_string(),
                files: self.changes().map(|(path, _)| path.to_owned()).collect(),
            },
        )
    }
}

/// Why no bump can be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A file could not be searched.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        source: EditError,
    },
    /// There were no YAML files to search.
    #[error("no YAML file under {}; pass --path with the directories Argo CD reads", .searched.join(", "))]
    NoFiles {
        /// The paths searched.
        searched: Vec<String>,
    },
    /// No file holds a tag of the image.
    #[error(
        "no tag of image `{image}` in the {files} YAML file(s) under {}; \
         check --image and --path", .searched.join(", ")
    )]
    NoMatch {
        /// The `--image` value.
        image: String,
        /// How many files were searched.
        files: usize,
        /// The paths searched.
        searched: Vec<String>,
    },
    /// The targets disagree on the current tag or on the image, so "the app" is unclear.
    #[error(
        "`{image}` matches different images or tags ({}); pass --all to set them all to \
         {tag}, or narrow --path / --image", .found.join("; ")
    )]
    Ambiguous {
        /// The `--image` value.
        image: String,
        /// The new tag.
        tag: String,
        /// `path line N: image:tag` for every target that would change.
        found: Vec<String>,
    },
}

/// Plans bumping every tag of `image` in `files` to `tag`.
///
/// Targets already at `tag` are left alone; the others must agree on one image and one old tag
/// unless `all` is set. `searched` names the paths the files came from (for messages).
pub(crate) fn plan(
    files: &[SourceFile],
    image: &ImageMatcher,
    tag: &Tag,
    all: bool,
    searched: &[String],
) -> Result<Plan, PlanError> {
    if files.is_empty() {
        return Err(PlanError::NoFiles {
            searched: searched.to_vec(),
        });
    }
    let mut planned = Vec::new();
    for file in files {
        let targets = edit::find_targets(&file.text, image).map_err(|source| PlanError::File {
            path: file.path.clone(),
            source,
        })?;
        if targets.is_empty() {
            continue;
        }
        let pending: Vec<Target> = targets.iter().filter(|t| !t.is_at(tag)).cloned().collect();
        let new_text = (!pending.is_empty()).then(|| edit::apply(&file.text, &pending, tag));
        planned.push(FilePlan {
            path: file.path.clone(),
            targets,
            old_text: file.text.clone(),
            new_text,
        });
    }
    if planned.is_empty() {
        return Err(PlanError::NoMatch {
            image: image.to_string(),
            files: files.len(),
            searched: searched.to_vec(),
        });
    }
    let plan = Plan {
        tag: tag.clone(),
        files: planned,
        files_searched: files.len(),
    };
    if !all {
        check_unambiguous(&plan, image)?;
    }
    Ok(plan)
}

fn check_unambiguous(plan: &Plan, image: &ImageMatcher) -> Result<(), PlanError> {
    let mut names = BTreeSet::new();
    let mut tags = BTreeSet::new();
    let mut found = Vec::new();
    for file in &plan.files {
        for target in file.targets.iter().filter(|t| !t.is_at(&plan.tag)) {
            // A Helm `image.tag` without repository is the chart's image: it takes no side.
            if let Some(name) = ImageName::parse(&target.repository) {
                names.insert(name);
            }
            tags.insert(target.old_tag.clone());
            let shown = match (target.repository.as_str(), target.old_tag.as_deref()) {
                ("", tag) => tag.unwrap_or("(untagged)").to_owned(),
                (repo, Some(tag)) => format!("{repo}:{tag}"),
                (repo, None) => format!("{repo} (untagged)"),
            };
            found.push(format!("{} line {}: {shown}", file.path, target.line));
        }
    }
    if names.len() > 1 || tags.len() > 1 {
        return Err(PlanError::Ambiguous {
            image: image.to_string(),
            tag: plan.tag.to_string(),
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.to_owned(),
            text: text.to_owned(),
        }
    }

    fn setup() -> (ImageMatcher, Tag, Vec<String>) {
        (
            ImageMatcher::parse("echo-app").unwrap(),
            Tag::parse("v2").unwrap(),
            vec!["p3/confs".to_owned(), "charts/p3".to_owned()],
        )
    }

    const MANIFEST: &str = "kind: Deployment\nspec:\n  containers:\n    - image: echo-app:v1\n";
    const VALUES: &str = "image:\n  repository: echo-app\n  tag: v1\n";
    const APPLICATION: &str = "kind: Application\nspec:\n  source:\n    path: p3/confs\n";

    #[test]
    fn manifest_and_values_at_one_tag_bump_together() {
        let (image, tag, searched) = setup();
        let files = [
            file("p3/confs/application.yaml", APPLICATION),
            file("p3/confs/playground.yaml", MANIFEST),
            file("charts/p3/values.yaml", VALUES),
        ];
        let plan = plan(&files, &image, &tag, false, &searched).unwrap();
        assert_eq!(plan.files_searched, 3);
        assert_eq!(plan.pending().count(), 2);
        assert_eq!(plan.old_tags(), ["v1"]);
        let changed: Vec<&str> = plan.changes().map(|(p, _)| p).collect();
        assert_eq!(
            changed,
            ["p3/confs/playground.yaml", "charts/p3/values.yaml"]
        );
        assert_eq!(
            plan.message(crate::message::DEFAULT_TEMPLATE, &image)
                .unwrap(),
            "chore(p3): bump echo-app v1 -> v2\n\n- p3/confs/playground.yaml\n\
             - charts/p3/values.yaml\n"
        );
        let diff = plan.diff();
        assert!(diff.contains("-    - image: echo-app:v1\n+    - image: echo-app:v2\n"));
        assert!(diff.contains("-  tag: v1\n+  tag: v2\n"));
    }

    #[test]
    fn everything_at_the_tag_already_is_a_noop() {
        let (image, tag, searched) = setup();
        let files = [file("a.yaml", &MANIFEST.replace("v1", "v2"))];
        let plan = plan(&files, &image, &tag, false, &searched).unwrap();
        assert!(plan.is_noop());
        assert_eq!(plan.diff(), "");
    }

    #[test]
    fn a_target_already_at_the_tag_does_not_make_it_ambiguous() {
        let (image, tag, searched) = setup();
        let files = [
            file("a.yaml", &MANIFEST.replace("v1", "v2")),
            file("b.yaml", VALUES),
        ];
        let plan = plan(&files, &image, &tag, false, &searched).unwrap();
        assert_eq!(plan.changes().count(), 1);
    }

    #[test]
    fn different_old_tags_or_images_need_all() {
        let (image, tag, searched) = setup();
        let files = [
            file("a.yaml", MANIFEST),
            file("b.yaml", &VALUES.replace("v1", "v3")),
        ];
        let err = plan(&files, &image, &tag, false, &searched).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`echo-app` matches different images or tags (a.yaml line 4: echo-app:v1; \
             b.yaml line 3: echo-app:v3); pass --all to set them all to v2, or narrow \
             --path / --image"
        );
        let all = plan(&files, &image, &tag, true, &searched).unwrap();
        assert_eq!(all.old_tags(), ["v1", "v3"]);

        let files = [
            file("a.yaml", MANIFEST),
            file(
                "b.yaml",
                &MANIFEST.replace("echo-app", "registry:5000/echo-app"),
            ),
        ];
        assert!(matches!(
            plan(&files, &image, &tag, false, &searched),
            Err(PlanError::Ambiguous { .. })
        ));
        // Docker Hub spellings of one image are one image.
        let files = [
            file("a.yaml", MANIFEST),
            file(
                "b.yaml",
                &MANIFEST.replace("echo-app", "docker.io/library/echo-app"),
            ),
        ];
        assert!(plan(&files, &image, &tag, false, &searched).is_ok());
    }

    #[test]
    fn no_match_no_files_and_bad_files_are_errors_naming_what_to_do() {
        let (image, tag, searched) = setup();
        let err = plan(
            &[file("a.yaml", APPLICATION)],
            &image,
            &tag,
            false,
            &searched,
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "no tag of image `echo-app` in the 1 YAML file(s) under p3/confs, charts/p3; \
             check --image and --path"
        );
        let err = plan(&[], &image, &tag, false, &searched).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("no YAML file under p3/confs, charts/p3;")
        );
        let err = plan(
            &[file("p3/confs/x.yaml", "a: [")],
            &image,
            &tag,
            false,
            &searched,
        );
        assert!(
            err.unwrap_err()
                .to_string()
                .starts_with("p3/confs/x.yaml: line 1, column ")
        );
    }
}
