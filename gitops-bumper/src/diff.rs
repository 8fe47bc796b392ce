//! Unified diffs of in-place edits, for `--dry-run` and for showing what a bump commits.
//!
//! A tag edit never adds or removes a line break, so old and new lines correspond one to one
//! and no general diff algorithm is needed. Pure; no I/O.

/// Lines of context around each change, as `git diff` prints by default.
const CONTEXT: usize = 3;

/// The unified diff (`--- a/path`, `+++ b/path`, hunks) between two versions of a file whose
/// lines correspond one to one. Empty when the texts are equal.
pub(crate) fn unified(path: &str, old: &str, new: &str) -> String {
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    if old_lines.len() != new_lines.len() {
        // Not an in-place edit; show it as one replacement hunk rather than pretend.
        return render(path, &old_lines, &new_lines, &[(0, old_lines.len())], true);
    }
    let changed: Vec<usize> = (0..old_lines.len())
        .filter(|&i| old_lines[i] != new_lines[i])
        .collect();
    if changed.is_empty() {
        return String::new();
    }
    // Group changed lines whose contexts touch into hunks of [start, end).
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let start = i.saturating_sub(CONTEXT);
        let end = (i + 1 + CONTEXT).min(old_lines.len());
        match hunks.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => hunks.push((start, end)),
        }
    }
    render(path, &old_lines, &new_lines, &hunks, false)
}

fn render(
    path: &str,
    old: &[&str],
    new: &[&str],
    hunks: &[(usize, usize)],
    whole_file: bool,
) -> String {
    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    for &(start, end) in hunks {
        let (old_end, new_end) = if whole_file {
            (old.len(), new.len())
        } else {
            (end, end)
        };
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range_header(start, old_end - start),
            range_header(start, new_end - start)
        ));
        if whole_file {
            old.iter().for_each(|l| push_line(&mut out, '-', l));
            new.iter().for_each(|l| push_line(&mut out, '+', l));
            continue;
        }
        for i in start..end {
            if old[i] == new[i] {
                push_line(&mut out, ' ', old[i]);
            } else {
                push_line(&mut out, '-', old[i]);
                push_line(&mut out, '+', new[i]);
            }
        }
    }
    out
}

// `git diff` spells a one-line range as just its start and an empty one as `start-1,0`.
fn range_header(start: usize, len: usize) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

fn push_line(out: &mut String, marker: char, line: &str) {
    out.push(marker);
    match line.strip_suffix('\n') {
        Some(body) => {
            out.push_str(body.strip_suffix('\r').unwrap_or(body));
            out.push('\n');
        }
        None => {
            out.push_str(line);
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified("f", "a\nb\n", "a\nb\n"), "");
    }

    #[test]
    fn one_changed_line_with_three_lines_of_context() {
        let old = "1\n2\n3\n4\nimage: a:v1\n6\n7\n8\n9\n";
        let new = old.replace("a:v1", "a:v2");
        assert_eq!(
            unified("p3/confs/app.yaml", old, &new),
            "--- a/p3/confs/app.yaml\n+++ b/p3/confs/app.yaml\n@@ -2,7 +2,7 @@\n \
             2\n 3\n 4\n-image: a:v1\n+image: a:v2\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn distant_changes_get_separate_hunks_near_ones_share_one() {
        let old: String = (1..=20).map(|i| format!("l{i}\n")).collect();
        let new = old.replace("l2\n", "x2\n").replace("l18\n", "x18\n");
        let diff = unified("f", &old, &new);
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        assert!(diff.contains("@@ -1,5 +1,5 @@\n"), "{diff}");
        assert!(diff.contains("@@ -15,6 +15,6 @@\n"), "{diff}");

        let new = old.replace("l5\n", "x5\n").replace("l9\n", "x9\n");
        assert_eq!(unified("f", &old, &new).matches("@@ -").count(), 1);
    }

    #[test]
    fn single_line_file_without_newline_and_crlf() {
        assert_eq!(
            unified("f", "image: a:v1", "image: a:v2"),
            "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-image: a:v1\n\\ No newline at end of file\n\
             +image: a:v2\n\\ No newline at end of file\n"
        );
        assert_eq!(
            unified("f", "x: 1\r\nimage: a:v1\r\n", "x: 1\r\nimage: a:v2\r\n"),
            "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n x: 1\n-image: a:v1\n+image: a:v2\n"
        );
    }

    #[test]
    fn line_count_changes_fall_back_to_one_whole_file_hunk() {
        assert_eq!(
            unified("f", "a\n", "a\nb\n"),
            "--- a/f\n+++ b/f\n@@ -1 +1,2 @@\n-a\n+a\n+b\n"
        );
    }
}
