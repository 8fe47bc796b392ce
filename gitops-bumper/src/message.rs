//! The commit message: a small template with named placeholders. Pure; no I/O.

/// The default `--message` template.
pub const DEFAULT_TEMPLATE: &str = "chore(p3): bump {image} {old} -> {new}\n\n{files}";

/// What a template is filled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageVars {
    /// The image as `--image` names it.
    pub image: String,
    /// The tags being replaced, comma-separated when `--all` bumps several.
    pub(crate) old: String,
    /// The new tag.
    pub(crate) new: String,
    /// The files changed, one `- path` line each.
    pub files: Vec<String>,
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` with an unknown name.
    #[error(
        "unknown placeholder `{{{0}}}` in the message template; use {{image}}, {{old}}, \
         {{new}}, {{files}} (write {{{{ and }}}} for literal braces)"
    )]
    UnknownPlaceholder(String),
    /// A `{` without its `}` or a lone `}`.
    #[error("unbalanced brace in the message template; write {{{{ and }}}} for literal braces")]
    Unbalanced,
    /// Nothing but whitespace once filled in.
    #[error("the message template gives an empty commit message")]
    Empty,
}

/// Checks a template without filling it (for argument parsing).
pub fn validate(template: &str) -> Result<(), TemplateError> {
    let vars = MessageVars {
        image: "image".to_owned(),
        old: "v1".to_owned(),
        new: "v2".to_owned(),
        files: vec!["file".to_owned()],
    };
    render(template, &vars).map(drop)
}

/// Fills `template`; `{{` and `}}` stand for literal braces. The result ends with one newline.
pub(crate) fn render(template: &str, vars: &MessageVars) -> Result<String, TemplateError> {
    let files = vars
        .files
        .iter()
        .map(|f| format!("- {f}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::with_capacity(template.len() + files.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '}' => return Err(TemplateError::Unbalanced),
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') | None => return Err(TemplateError::Unbalanced),
                        Some(c) => name.push(c),
                    }
                }
                out.push_str(match name.as_str() {
                    "image" => &vars.image,
                    "old" => &vars.old,
                    "new" => &vars.new,
                    "files" => &files,
                    _ => return Err(TemplateError::UnknownPlaceholder(name)),
                });
            }
            c => out.push(c),
        }
    }
    let trimmed = out.trim_end();
    if trimmed.trim().is_empty() {
        return Err(TemplateError::Empty);
    }
    Ok(format!("{trimmed}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> MessageVars {
        MessageVars {
            image: "echo-app".to_owned(),
            old: "v1".to_owned(),
            new: "v2".to_owned(),
            files: vec![
                "p3/confs/playground.yaml".to_owned(),
                "charts/p3/values.yaml".to_owned(),
            ],
        }
    }

    #[test]
    fn default_message_has_the_subject_and_lists_the_files() {
        assert_eq!(
            render(DEFAULT_TEMPLATE, &vars()).unwrap(),
            "chore(p3): bump echo-app v1 -> v2\n\n\
             - p3/confs/playground.yaml\n- charts/p3/values.yaml\n"
        );
    }

    #[test]
    fn braces_escape_and_errors() {
        assert_eq!(
            render("deploy {new} {{not a var}}", &vars()).unwrap(),
            "deploy v2 {not a var}\n"
        );
        assert_eq!(
            validate("bump {tag}"),
            Err(TemplateError::UnknownPlaceholder("tag".to_owned()))
        );
        assert_eq!(validate("bump {new"), Err(TemplateError::Unbalanced));
        assert_eq!(validate("bump new}"), Err(TemplateError::Unbalanced));
        assert_eq!(validate(" \n "), Err(TemplateError::Empty));
        assert_eq!(validate(DEFAULT_TEMPLATE), Ok(()));
        assert!(
            TemplateError::UnknownPlaceholder("tag".to_owned())
                .to_string()
                .starts_with("unknown placeholder `{tag}`")
        );
    }
}
