//! Builds the stand-in node and load-balancer images (see `bootstrap::standin`) for the
//! benchmark script: `cargo run -p bootstrap --example standin -- REPO TAG` prints
//! `NODE_IMAGE LB_IMAGE`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, tag] = args.as_slice() else {
        eprintln!("usage: standin REPO TAG   (e.g. standin iot-bench-1234 1)");
        return ExitCode::from(2);
    };
    let result = async {
        let engine = bootstrap::docker::Engine::connect().await?;
        bootstrap::standin::build(&engine, repo, tag).await
    }
    .await;
    match result {
        Ok(images) => {
            println!("{} {}", images.node, images.loadbalancer);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
