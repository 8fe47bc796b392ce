//! `bootstrap images`: echo-app:v1 and :v2 built from this workspace with no pull, run, and
//! spoken to over 127.0.0.1; their config and the saved tarballs checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bootstrap::recipes::images::{self, ImagesRequest};
use common::*;

/// `GET /` over HTTP/1.0 (no chunking), retried while the container starts.
fn get(port: u16) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let attempt = (|| -> std::io::Result<(u16, String)> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")?;
            let mut raw = String::new();
            s.read_to_string(&mut raw)?;
            let (head, body) = raw
                .split_once("\r\n\r\n")
                .ok_or(std::io::ErrorKind::UnexpectedEof)?;
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or(std::io::ErrorKind::InvalidData)?;
            Ok((status, body.to_owned()))
        })();
        match attempt {
            Ok(r) => return r,
            Err(e) if Instant::now() > deadline => panic!("GET 127.0.0.1:{port}/: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Runs `image` with `args`, publishing `port` on 127.0.0.1 only; returns the host port.
fn run(cleanup: &mut Cleanup, image: &str, port: u16, args: &[&str]) -> u16 {
    let name = unique("iot-test-echo");
    cleanup.containers.push(name.clone());
    let publish = format!("127.0.0.1::{port}");
    let mut cmd = vec!["run", "-d", "--name", &name, "-p", &publish, image];
    cmd.extend(args);
    let (ok, _, err) = docker(&cmd);
    assert!(ok, "docker run {image}: {err}");
    let (_, out, _) = docker(&["port", &name, &format!("{port}/tcp")]);
    let host = out.lines().next().unwrap().trim();
    assert!(
        host.starts_with("127.0.0.1:"),
        "published on 127.0.0.1 only: {host}"
    );
    host.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn echo_app_images_build_without_a_pull_and_answer() {
    let engine = engine().await;
    let mut cleanup = Cleanup::default();
    let prefix = unique("iot-test");
    let save = tempfile::tempdir().unwrap();
    let req = ImagesRequest {
        workloads: vec!["echo-app".into()],
        save_dir: Some(save.path().to_path_buf()),
        repo_prefix: Some(prefix.clone()),
        workspace_dir: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR"))),
        in_engine: false,
    };
    let built = images::build(&engine, &req, &steps()).await;
    let v1 = format!("{prefix}/echo-app:v1");
    let v2 = format!("{prefix}/echo-app:v2");
    cleanup.images.extend([v1.clone(), v2.clone()]);
    let built = built.unwrap();
    assert_eq!(
        built
            .iter()
            .map(|b| b.reference.as_str())
            .collect::<Vec<_>>(),
        [v1.as_str(), v2.as_str()]
    );

    for (image, version) in [(&v1, "v1"), (&v2, "v2")] {
        let port = run(&mut cleanup, image, 8888, &[]);
        let (status, body) = get(port);
        assert_eq!(status, 200);
        assert_eq!(
            body,
            format!("{{\"status\":\"ok\", \"message\": \"{version}\"}}")
        );

        let v = inspect("image", image);
        let config = &v["Config"];
        assert_eq!(config["User"], "65532:65532");
        assert_eq!(config["Entrypoint"], serde_json::json!(["/echo-app"]));
        let exposed: Vec<&String> = config["ExposedPorts"].as_object().unwrap().keys().collect();
        assert_eq!(exposed, ["5678/tcp", "8888/tcp"]);
        assert!(
            config["Env"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!(format!("APP_VERSION={version}")))
        );
        assert_eq!(
            config["Labels"]["org.opencontainers.image.title"],
            "echo-app"
        );
        let layers = v["RootFS"]["Layers"].as_array().unwrap().len();
        assert_eq!(layers, 1, "FROM scratch + one COPY");
        let size = v["Size"].as_u64().unwrap();
        println!(
            "image {image}: {size} bytes ({:.2} MiB)",
            size as f64 / 1048576.0
        );
        assert!(
            size < 20 * 1024 * 1024,
            "a static binary in a scratch image stays small"
        );
    }

    // http-echo personality of the same image
    let port = run(&mut cleanup, &v1, 5678, &["-text=hello"]);
    assert_eq!(get(port), (200, "hello\n".to_owned()));

    // the saved tarballs are docker-archive files of exactly those images
    for (file, image) in [("echo-app-v1.tar", &v1), ("echo-app-v2.tar", &v2)] {
        let path = save.path().join(file);
        let bytes = std::fs::read(&path).unwrap();
        let manifest = bootstrap::spec::archive::read_file(&bytes, "manifest.json").unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(manifest[0]["RepoTags"], serde_json::json!([image]));
    }
    let names: Vec<String> = std::fs::read_dir(save.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no partial files stay behind: {names:?}");
}
