//! The in-engine build path: BuildKit through bollard (a session, cache mounts that outlive a
//! build) on a builder image made here from the host's busybox, so it runs with no pull; and
//! the workloads' own Dockerfiles built inside the engine, which needs the rust builder image
//! (skipped where it cannot be pulled; .github/workflows/e2e.yml runs it with
//! IOT_E2E_REQUIRED=1, where a skip is a failure).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use bootstrap::recipes::images::{self, ImagesRequest};
use bootstrap::spec::archive::{self, TarItem};
use common::*;

const BUSYBOX: &str = "/bin/busybox";

/// `FROM scratch` with busybox and the applets the test's RUN uses.
async fn buildbox(engine: &bootstrap::docker::Engine, tag: &str) -> Result<(), String> {
    let busybox = std::fs::read(BUSYBOX).map_err(|e| format!("read {BUSYBOX}: {e}"))?;
    let mut items = vec![
        TarItem::File {
            path: "Dockerfile".into(),
            mode: 0o644,
            data: b"FROM scratch\nCOPY bin /bin\n".to_vec(),
        },
        TarItem::File {
            path: "bin/busybox".into(),
            mode: 0o755,
            data: busybox,
        },
    ];
    for applet in ["sh", "cat", "mkdir", "cp", "echo"] {
        items.push(TarItem::Symlink {
            path: format!("bin/{applet}"),
            target: "busybox".into(),
        });
    }
    let ctx = archive::build(&items).unwrap();
    engine
        .build_image(ctx, tag, &BTreeMap::new(), &|_| {})
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn buildkit_cache_mounts_outlive_a_build() {
    let test = "buildkit_cache_mounts_outlive_a_build";
    if !std::path::Path::new(BUSYBOX).is_file() {
        skip(
            test,
            &format!("{BUSYBOX} is absent (Debian's busybox-static)"),
        );
        return;
    }
    let engine = engine().await;
    let mut cleanup = Cleanup::default();
    let base = format!("{}:1", unique("iot-test-buildbox"));
    cleanup.images.push(base.clone());
    buildbox(&engine, &base).await.unwrap();

    // A cache id of its own, so no other build's cache is read or grown.
    let cache = unique("iot-test-cache");
    let dockerfile = format!(
        "FROM {base} AS builder\n\
         ARG RUN_ID\n\
         RUN --mount=type=cache,id={cache},target=/cache \\\n    \
             echo \"$RUN_ID\" >> /cache/runs && mkdir -p /out && cp /cache/runs /out/runs\n\
         FROM {base}\n\
         COPY --from=builder /out/runs /runs\n"
    );
    let ctx = archive::build(&[TarItem::File {
        path: "sub/Dockerfile".into(),
        mode: 0o644,
        data: dockerfile.into_bytes(),
    }])
    .unwrap();

    let image = format!("{}:1", unique("iot-test-bk"));
    cleanup.images.push(image.clone());
    let mut seen = Vec::new();
    for run in ["first", "second"] {
        let lines = std::sync::Mutex::new(Vec::new());
        engine
            .build_image_buildkit(
                ctx.clone(),
                "sub/Dockerfile",
                &image,
                &BTreeMap::from([("RUN_ID".to_owned(), run.to_owned())]),
                &|l| lines.lock().unwrap().push(l.to_owned()),
            )
            .await
            .unwrap_or_else(|e| panic!("BuildKit build through bollard ({run}): {e}"));
        let lines = lines.into_inner().unwrap();
        assert!(
            lines.iter().any(|l| l.contains("RUN --mount=type=cache")),
            "BuildKit's step names reach the progress: {lines:?}"
        );
        let (ok, out, err) = docker(&["run", "--rm", &image, "cat", "/runs"]);
        assert!(ok, "{err}");
        seen.push(out);
    }
    assert_eq!(seen[0], "first\n");
    assert_eq!(
        seen[1], "first\nsecond\n",
        "the second build saw the first one's cache"
    );
}

#[tokio::test]
async fn a_failing_buildkit_build_names_the_step() {
    let engine = engine().await;
    let ctx = archive::build(&[TarItem::File {
        path: "Dockerfile".into(),
        mode: 0o644,
        data: b"FROM scratch\nCOPY missing-file /x\n".to_vec(),
    }])
    .unwrap();
    let image = format!("{}:1", unique("iot-test-bk-fail"));
    let err = engine
        .build_image_buildkit(ctx, "Dockerfile", &image, &BTreeMap::new(), &|_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("build {image}")), "{err}");
    assert!(err.contains("missing-file"), "{err}");
}

#[tokio::test]
async fn the_workloads_build_inside_the_engine() {
    let test = "the_workloads_build_inside_the_engine";
    let engine = engine().await;
    let mut cleanup = Cleanup::default();
    let prefix = unique("iot-test");
    let req = ImagesRequest {
        workloads: vec!["echo-app".into(), "token-server".into()],
        repo_prefix: Some(prefix.clone()),
        workspace_dir: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR"))),
        in_engine: true,
        ..ImagesRequest::default()
    };
    let built = images::build(&engine, &req, &steps()).await;
    for b in built.iter().flatten() {
        cleanup.images.push(b.reference.clone());
    }
    let built = match built {
        Ok(b) => b,
        Err(e)
            if e.to_string().contains("cannot be pulled")
                && std::env::var_os("IOT_E2E_REQUIRED").is_none() =>
        {
            skip(test, &e.to_string());
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let (_, engine_arch, _) = docker(&["version", "--format", "{{.Server.Arch}}"]);
    assert_eq!(built.len(), 3, "echo-app v1, v2 and token-server");
    for b in &built {
        let v = inspect("image", &b.reference);
        assert_eq!(v["Architecture"], engine_arch.trim(), "{}", b.reference);
        assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 1);
        println!(
            "image {} ({}): {} bytes",
            b.reference,
            engine_arch.trim(),
            v["Size"]
        );
    }
    // The binary is static and runs in the scratch image: the playground answers its version.
    let name = unique("iot-test-echo");
    cleanup.containers.push(name.clone());
    let v2 = format!("{prefix}/echo-app:v2");
    let (ok, _, err) = docker(&["run", "-d", "--name", &name, "-p", "127.0.0.1::8888", &v2]);
    assert!(ok, "{err}");
    let (_, port, _) = docker(&["port", &name, "8888/tcp"]);
    let port: u16 = port
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap();
    let body = http_get(port);
    assert!(
        body.ends_with("{\"status\":\"ok\", \"message\": \"v2\"}"),
        "{body}"
    );
}

/// `GET /` on 127.0.0.1:`port` over HTTP/1.0, retried while the container starts.
fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")?;
            let mut raw = String::new();
            s.read_to_string(&mut raw)?;
            Ok(raw)
        })();
        match attempt {
            Ok(r) if r.contains("\r\n\r\n") => return r,
            _ if std::time::Instant::now() > deadline => panic!("no answer on 127.0.0.1:{port}"),
            _ => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}
