//! The committed plain manifests (`pN/confs/*.yaml`) are exactly what the charts render.
#![allow(clippy::unwrap_used)]

use lab_charts::confs::{CONFS, REGENERATE};
use lab_charts::objects::parse;

#[test]
fn committed_confs_are_the_charts_renders() {
    let mut stale = Vec::new();
    for conf in CONFS {
        let expected = conf.expected().unwrap_or_else(|e| panic!("{e}"));
        match std::fs::read_to_string(conf.path()) {
            Ok(committed) if committed == expected => {}
            Ok(committed) => {
                let (line, (want, got)) = expected
                    .lines()
                    .zip(committed.lines())
                    .enumerate()
                    .find(|(_, (a, b))| a != b)
                    .unwrap_or((
                        expected.lines().count().min(committed.lines().count()),
                        ("<end of file>", "<end of file>"),
                    ));
                stale.push(format!(
                    "{} differs from charts/{} at line {}: expected {want:?}, found {got:?}",
                    conf.file,
                    conf.chart.name(),
                    line + 1
                ));
            }
            Err(e) => stale.push(format!("{} cannot be read: {e}", conf.file)),
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nrun `{REGENERATE}` and commit the result",
        stale.join("\n")
    );
}

#[test]
fn committed_confs_are_in_their_namespace() {
    for conf in CONFS {
        let text = std::fs::read_to_string(conf.path()).unwrap();
        let objects = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", conf.file));
        assert!(!objects.is_empty(), "{}", conf.file);
        for o in &objects {
            assert_eq!(
                o.metadata().namespace.as_deref(),
                Some(conf.namespace),
                "{} {}",
                conf.file,
                o.name()
            );
        }
    }
}
