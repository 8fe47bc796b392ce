//! `render-confs`: rewrites every `pN/confs/*.yaml` that is generated from a chart.

use std::process::ExitCode;

use lab_charts::confs::{CONFS, Conf};

const USAGE: &str = "\
Usage: cargo run -p lab-charts --bin render-confs

Renders charts/p1, charts/p2 and charts/p3 with the pinned helm (installed by ./test.sh into
.cache/, or $HELM) and rewrites the plain manifests committed under p1/confs, p2/confs and
p3/confs. Nothing is written unless every chart renders.";

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("error: unexpected argument {other:?}; render-confs takes none\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // Render everything first, so a chart that fails leaves every file as it was.
    let rendered: Vec<(Conf, String)> = CONFS
        .iter()
        .map(|c| Ok((*c, c.expected()?)))
        .collect::<Result<_, lab_charts::Error>>()?;
    for (conf, text) in rendered {
        let path = conf.path();
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            println!("unchanged {}", conf.file);
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let tmp = path.with_extension("yaml.tmp");
        std::fs::write(&tmp, &text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
        println!("wrote     {}", conf.file);
    }
    Ok(())
}
