//! `bootstrap image import`: the `docker save` stream arrives intact in every server and
//! agent (the stand-in `ctr` keeps what it reads); bad requests change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bootstrap::Error;
use bootstrap::recipes::import;
use bootstrap::spec::archive::{self, TarItem};
use bootstrap::spec::names::ClusterName;
use common::*;

/// sha256 and length of `docker save IMAGE`, computed by the docker CLI and coreutils.
fn sha256_of_save(image: &str) -> (String, u64) {
    let script = format!("docker save {image} | sha256sum && docker save {image} | wc -c");
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let sha = lines
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let len = lines.next().unwrap().trim().parse().unwrap();
    (sha, len)
}

#[tokio::test]
async fn every_node_receives_the_whole_image() {
    let mut f = fixture().await;
    let (engine, images, name) = (&f.engine, &f.images, f.name.clone());

    // an image with 8 MiB of incompressible data, so the stream spans many chunks
    let payload_image = format!("{}/payload:1", unique("iot-test"));
    f.cleanup.images.push(payload_image.clone());
    let mut payload = vec![0u8; 8 * 1024 * 1024];
    getrandom::fill(&mut payload).unwrap();
    let context = archive::build(&[
        TarItem::File {
            path: "Dockerfile".into(),
            mode: 0o644,
            data: b"FROM scratch\nCOPY payload /payload\n".to_vec(),
        },
        TarItem::File {
            path: "payload".into(),
            mode: 0o644,
            data: payload,
        },
    ])
    .unwrap();
    engine
        .build_image(context, &payload_image, &Default::default(), &|_| {})
        .await
        .unwrap();

    let steps = steps();
    create(
        engine,
        request(
            options(&name, images, free_port(), free_port()),
            f.dir.path().join("config"),
            Duration::from_secs(60),
        ),
        &steps,
    )
    .await
    .unwrap();

    let cluster = ClusterName::parse(&name).unwrap();
    let report = import::import(
        engine,
        &cluster,
        std::slice::from_ref(&payload_image),
        &steps,
    )
    .await
    .unwrap();
    assert_eq!(
        report.nodes,
        [
            format!("k3d-{name}-agent-0"),
            format!("k3d-{name}-agent-1"),
            format!("k3d-{name}-server-0")
        ]
    );
    let (sha, len) = sha256_of_save(&payload_image);
    assert_eq!(report.bytes, len, "the whole docker save stream was sent");
    for node in &report.nodes {
        let (ok, out, err) = docker(&[
            "exec",
            node,
            "sh",
            "-c",
            "sha256sum /var/lib/standin-images/*.tar; cat /var/lib/standin-images/*.tar | wc -c",
        ]);
        assert!(ok, "{err}");
        let mut lines = out.lines();
        assert_eq!(
            lines.next().unwrap().split_whitespace().next().unwrap(),
            sha,
            "{node} got the same bytes"
        );
        assert_eq!(lines.next().unwrap().trim().parse::<u64>().unwrap(), len);
    }
    println!(
        "imported {len} bytes into {} nodes in {:.3}s ({:.1} MiB/s per node)",
        report.nodes.len(),
        report.elapsed.as_secs_f64(),
        len as f64 / 1048576.0 / report.elapsed.as_secs_f64()
    );

    // an image that is not there is refused before anything is sent
    let err = import::import(
        engine,
        &cluster,
        &["iot-test-absent/none:0".to_owned()],
        &steps,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::ImageMissing(_)), "{err}");
    let (_, out, _) = docker(&[
        "exec",
        &format!("k3d-{name}-server-0"),
        "sh",
        "-c",
        "ls /var/lib/standin-images | wc -l",
    ]);
    assert_eq!(out.trim(), "1");

    // a stopped cluster has nobody to import into
    bootstrap::recipes::cluster::stop(engine, &cluster, &steps)
        .await
        .unwrap();
    let err = import::import(
        engine,
        &cluster,
        std::slice::from_ref(&payload_image),
        &steps,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("has no running server or agent; start it"),
        "{err}"
    );
}
