//! `bootstrap doctor` on this machine: Docker facts, ports held by a process or a container
//! (and who holds them), images present or not pullable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;

fn doctor(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .arg("doctor")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn reports_each_problem_with_its_holder_and_fix() {
    let engine = engine().await;
    let mut cleanup = Cleanup::default();
    let images = standins(&engine).await;
    cleanup.standins(&images);

    // a port held by this test process, one published by a container, one free
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held_port = held.local_addr().unwrap().port();
    let container = unique("iot-test-holder");
    cleanup.containers.push(container.clone());
    let by_container = free_port();
    let (ok, _, err) = docker(&[
        "run",
        "-d",
        "--name",
        &container,
        "-p",
        &format!("127.0.0.1:{by_container}:80"),
        "--entrypoint",
        "/bin/sleep",
        &images.node,
        "600",
    ]);
    assert!(ok, "{err}");
    let free = free_port();
    // a registry on loopback that refuses: the check stays on this machine
    let absent = format!("127.0.0.1:1/{}/absent:0", unique("iot-test"));

    let (code, out, err) = doctor(&[
        "--api-port",
        &format!("127.0.0.1:{held_port}"),
        "-p",
        &format!("127.0.0.1:{by_container}:80@loadbalancer"),
        "-p",
        &format!("127.0.0.1:{free}:8888@loadbalancer"),
        "--image",
        &absent,
        "--lb-image",
        &images.loadbalancer,
    ]);
    assert_eq!(code, Some(1), "problems make doctor fail: {out}{err}");
    let line = |needle: &str| -> String {
        out.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{out}"))
            .to_owned()
    };
    assert!(
        line("docker ").starts_with("ok   docker     reachable at "),
        "{out}"
    );
    assert!(
        line("api ").starts_with("ok   api        Docker API 1."),
        "{out}"
    );
    assert!(line("cgroup").starts_with("ok   cgroup"), "{out}");
    let exe = std::env::current_exe().unwrap();
    let me = exe.file_name().unwrap().to_string_lossy();
    let held_line = line(&format!("127.0.0.1:{held_port} "));
    assert!(held_line.starts_with("FAIL port"), "{held_line}");
    assert!(
        held_line.contains(&format!(
            "is already in use by process {}",
            &me[..me.len().min(15)]
        )),
        "{held_line}"
    );
    assert!(
        held_line.ends_with("stop that or choose another host port"),
        "{held_line}"
    );
    let container_line = line(&format!("127.0.0.1:{by_container} "));
    assert!(
        container_line.contains(&format!("in use by container {container}")),
        "{container_line}"
    );
    assert!(
        line(&format!("127.0.0.1:{free} ")).starts_with("ok   port"),
        "{out}"
    );
    let image_line = line(&absent);
    assert!(image_line.starts_with("FAIL image"), "{image_line}");
    assert!(
        image_line.contains("is not present and cannot be pulled ("),
        "{image_line}"
    );
    assert!(line(&images.loadbalancer).contains("is present"), "{out}");
    // Where the workload images would be built: this machine (Linux x86_64, the rustup
    // target, gcc with glibc's libc.a) builds on the host; the line says so before anything
    // is created.
    let images_line = line("images ");
    let libc = std::process::Command::new("cc")
        .arg("-print-file-name=libc.a")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().starts_with('/'))
        .unwrap_or(false);
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) && libc {
        assert_eq!(
            images_line,
            "ok   images     built on the host (x86_64-unknown-linux-gnu present, cc finds a static libc)"
        );
    } else {
        assert!(
            images_line.contains("built inside the engine"),
            "{images_line}"
        );
    }
    assert_eq!(
        out.lines().filter(|l| l.starts_with("FAIL")).count(),
        3,
        "{out}"
    );
    drop(held);
}

#[test]
fn unreachable_docker_is_one_line_with_the_fix() {
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(["doctor"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with(
            "FAIL docker     cannot reach Docker at unix:///nonexistent/docker.sock (DOCKER_HOST)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("start it (`sudo systemctl start docker`) or set DOCKER_HOST"),
        "{stdout}"
    );
}
