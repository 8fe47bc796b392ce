//! Writes `p3/confs/application.yaml`: the Application `bootstrap p3` applies, pointed at the
//! subject's kind of repository (a public fork; change the URL to yours).
//!
//!     cargo run -p bootstrap --example application-manifest [REPO_URL [REVISION]]

use bootstrap::gitops::application::{Source, manifest_text};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let source = Source {
        repo_url: args
            .next()
            .unwrap_or_else(|| "https://github.com/wil/iot-wil.git".to_owned()),
        revision: args.next().unwrap_or_else(|| "main".to_owned()),
    };
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../p3/confs/application.yaml");
    std::fs::write(&path, manifest_text(&source))?;
    println!("wrote {}", path.display());
    Ok(())
}
