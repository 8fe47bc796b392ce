//! The workspace's shape, as `cargo metadata` reads it: both tools stand on this library and
//! neither links the other (a binary crate is never another crate's library).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::Value;

fn workspace_packages() -> Vec<Value> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    metadata["packages"].as_array().unwrap().clone()
}

/// The normal (not dev) dependencies of `package` that are members of the workspace.
fn member_dependencies(packages: &[Value], package: &str) -> Vec<String> {
    let members: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let found = packages
        .iter()
        .find(|p| p["name"] == package)
        .unwrap_or_else(|| panic!("no package {package}"));
    let mut deps: Vec<String> = found["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"].is_null())
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .filter(|name| members.contains(&name.as_str()))
        .collect();
    deps.sort();
    deps
}

#[test]
fn both_tools_depend_on_the_library_and_not_on_each_other() {
    let packages = workspace_packages();
    assert_eq!(member_dependencies(&packages, "bootstrap"), ["lab-gitops"]);
    assert_eq!(
        member_dependencies(&packages, "gitops-bumper"),
        ["lab-gitops"]
    );
    assert_eq!(
        member_dependencies(&packages, "lab-gitops"),
        Vec::<String>::new()
    );
}

#[test]
fn the_library_waits_on_kubes_runtime() {
    let packages = workspace_packages();
    let library = packages.iter().find(|p| p["name"] == "lab-gitops").unwrap();
    let kube = library["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "kube")
        .unwrap();
    let features: Vec<&str> = kube["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(features.contains(&"runtime"), "{features:?}");
}
