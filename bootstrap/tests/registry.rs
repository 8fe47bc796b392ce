//! k3d's local registry against the real Docker engine: `--registry-create` with stand-in
//! nodes and a stand-in `registry:2` built from Debian's `docker-registry` (the same CNCF
//! distribution registry); the container, registries.yaml and the ConfigMap file in every node
//! as the plan says; an image pushed through the Docker API and pulled back by the registry
//! reference with the same digest; a registry that another cluster uses kept by delete, then
//! removed when no cluster uses it. The nodes are stand-ins (no containerd): that they pull
//! through the mirror is not shown here, only that the mirror's endpoint answers from them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use bootstrap::recipes::cluster::{self, DeleteRequest, Deleted};
use bootstrap::spec::archive::{self, TarItem};
use bootstrap::spec::cluster::{ClusterPlan, RegistryOptions};
use bootstrap::spec::names::ClusterName;
use bootstrap::spec::registry::{Registry, RegistryCreateFlag};
use common::*;

const HOST_REGISTRY: &str = "/usr/bin/docker-registry";

/// A small image of its own content, so that its digest is this test's.
async fn tiny_image(engine: &bootstrap::docker::Engine, tag: &str) {
    let items = [
        TarItem::File {
            path: "Dockerfile".into(),
            mode: 0o644,
            data: b"FROM scratch\nCOPY hello /hello\n".to_vec(),
        },
        TarItem::File {
            path: "hello".into(),
            mode: 0o644,
            data: format!("hello from {tag}\n").into_bytes(),
        },
    ];
    engine
        .build_image(
            archive::build(&items).unwrap(),
            tag,
            &Default::default(),
            &|_| {},
        )
        .await
        .unwrap();
}

fn delete_request(name: &str) -> DeleteRequest {
    DeleteRequest {
        name: ClusterName::parse(name).unwrap(),
        kubeconfig: None,
        standalone_kubeconfig: None,
    }
}

fn exec(container: &str, args: &[&str]) -> String {
    let mut all = vec!["exec", container];
    all.extend_from_slice(args);
    let (ok, out, err) = docker(&all);
    assert!(ok, "docker exec {container} {args:?}: {err}");
    out
}

fn networks_of(container: &str) -> Vec<String> {
    let v = inspect("container", container);
    let mut n: Vec<String> = v["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn registry_create_push_pull_use_and_delete() {
    if !Path::new(HOST_REGISTRY).exists() {
        skip(
            "registry_create_push_pull_use_and_delete",
            "no /usr/bin/docker-registry (apt-get install docker-registry)",
        );
        return;
    }
    let mut f = fixture().await;
    let engine = &f.engine;
    let steps = steps();
    let registry_image = format!("{}:2", unique("iot-test-registry"));
    f.cleanup.images.push(registry_image.clone());
    bootstrap::standin::build_registry(engine, &registry_image)
        .await
        .expect("the registry stand-in builds");

    // cluster A creates the registry, on 127.0.0.1 only
    let reg_name = format!("k3d-{}-registry", f.name);
    f.cleanup.containers.push(reg_name.clone());
    let port = free_port();
    let flag = RegistryCreateFlag::parse(&format!("{reg_name}:127.0.0.1:{port}")).unwrap();
    let mut options = f.options();
    // The stand-ins' DNS fix points resolv.conf at a gateway that serves no DNS; without it
    // the nodes ask Docker's embedded resolver, which knows the registry's name.
    options.fixes.dns = false;
    options.registries = RegistryOptions {
        create: Some(Registry::created(&flag, "127.0.0.1", port)),
        image: registry_image.clone(),
        ..RegistryOptions::default()
    };
    let plan = ClusterPlan::new(options.clone()).unwrap();
    let want = plan.registry_container().unwrap();
    let req = request(options, f.kubeconfig(), Duration::from_secs(60));
    let created = create(engine, req, &steps).await.expect("cluster A is up");

    let v = inspect("container", &reg_name);
    assert_eq!(v["State"]["Running"], true, "the registry runs");
    assert_eq!(v["Config"]["Image"], registry_image);
    assert_eq!(labels_of(&v), want.labels, "k3d's labels");
    assert_eq!(labels_of(&v)["k3d.role"], "registry");
    assert_eq!(
        v["HostConfig"]["PortBindings"]["5000/tcp"],
        serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": port.to_string()}])
    );
    assert_eq!(v["HostConfig"]["Privileged"], false);
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
    assert_eq!(
        networks_of(&reg_name),
        ["bridge".to_owned(), format!("k3d-{}", f.name)],
        "created on bridge, connected to the cluster network"
    );

    let yaml = plan.registries_yaml().unwrap();
    let cm = plan.hosting_configmap().unwrap();
    assert!(yaml.contains(&format!("  {reg_name}:{port}:\n")), "{yaml}");
    for node in &created.nodes {
        if node.ends_with("-serverlb") {
            continue;
        }
        assert_eq!(
            exec(node, &["cat", "/etc/rancher/k3s/registries.yaml"]),
            yaml,
            "{node}"
        );
        assert_eq!(
            exec(node, &["cat", "/tmp/localRegistryHostingCM.yaml"]),
            cm,
            "{node}"
        );
    }
    // the mirror's endpoint answers from a node, by the registry's name on the cluster network
    let api = exec(
        &created.nodes[0],
        &["wget", "-qO-", &format!("http://{reg_name}:5000/v2/")],
    );
    assert_eq!(api.trim(), "{}");

    // push through the Docker API, drop the local image, pull it back by the reference
    let local = format!("{}:v1", unique("iot-test-echo"));
    let reference = format!("127.0.0.1:{port}/echo-app:v1");
    f.cleanup.images.push(local.clone());
    f.cleanup.images.push(reference.clone());
    tiny_image(engine, &local).await;
    let t = Instant::now();
    let pushed = engine.push_image(&local, &reference).await.expect("push");
    println!("push {reference}: {:?}", t.elapsed());
    assert!(pushed.starts_with("sha256:"), "{pushed:?}");
    for image in [&local, &reference] {
        let (ok, _, err) = docker(&["rmi", image]);
        assert!(ok, "{err}");
    }
    assert!(!docker(&["image", "inspect", &reference]).0, "gone locally");
    let t = Instant::now();
    let (ok, _, err) = docker(&["pull", "-q", &reference]);
    println!("pull {reference}: {:?}", t.elapsed());
    assert!(ok, "pull by the registry reference: {err}");
    let repo_digests = inspect("image", &reference)["RepoDigests"].clone();
    assert_eq!(
        repo_digests,
        serde_json::json!([format!("127.0.0.1:{port}/echo-app@{pushed}")]),
        "the digest pulled is the digest pushed"
    );

    // cluster B uses it (its ports read back from the container, as --registry-use does)
    let b = cluster_name();
    f.cleanup.clusters.push(b.clone());
    let mut options = options_b(&f, &b);
    options.registries.existing = vec![Registry {
        name: reg_name.clone(),
        host: String::new(),
        host_ip: "127.0.0.1".into(),
        host_port: port,
        internal_port: 5000,
    }];
    let plan_b = ClusterPlan::new(options.clone()).unwrap();
    assert!(plan_b.registry_container().is_none(), "B creates none");
    let kubeconfig_b = f.dir.path().join("config-b");
    let created_b = create(
        engine,
        request(options, kubeconfig_b, Duration::from_secs(60)),
        &steps,
    )
    .await
    .expect("cluster B is up");
    assert_eq!(
        exec(
            &created_b.nodes[0],
            &["cat", "/etc/rancher/k3s/registries.yaml"]
        ),
        plan_b.registries_yaml().unwrap()
    );
    assert_eq!(networks_of(&reg_name).len(), 3, "bridge, A's and B's");

    // deleting A keeps the registry B uses, and only disconnects it
    let deleted = cluster::delete(engine, &delete_request(&f.name), &steps)
        .await
        .unwrap();
    assert!(
        matches!(&deleted, Deleted::Removed { kept_registries, network: Some(_), .. } if kept_registries == std::slice::from_ref(&reg_name)),
        "{deleted:?}"
    );
    assert_eq!(
        networks_of(&reg_name),
        ["bridge".to_owned(), format!("k3d-{b}")]
    );
    assert_eq!(inspect("container", &reg_name)["State"]["Running"], true);

    // deleting B frees its network of the registry, which stays (it is A's)
    cluster::delete(engine, &delete_request(&b), &steps)
        .await
        .unwrap();
    assert_eq!(leftovers(&b), Vec::<String>::new());
    assert_eq!(networks_of(&reg_name), ["bridge".to_owned()]);

    // now no cluster uses it: deleting A's remains removes it
    let deleted = cluster::delete(engine, &delete_request(&f.name), &steps)
        .await
        .unwrap();
    assert!(
        matches!(&deleted, Deleted::Removed { containers: 1, kept_registries, .. } if kept_registries.is_empty()),
        "{deleted:?}"
    );
    assert!(!docker(&["container", "inspect", &reg_name]).0, "removed");
    assert_eq!(leftovers(&f.name), Vec::<String>::new());
}

/// A one-node stand-in cluster for B, on fresh ports.
fn options_b(f: &Fixture, name: &str) -> bootstrap::spec::cluster::ClusterOptions {
    let mut o = options(name, &f.images, free_port(), free_port());
    o.agents = 0;
    o
}

/// A cluster whose creation fails after the registry exists rolls the registry back too.
#[tokio::test]
async fn rollback_removes_the_registry() {
    if !Path::new(HOST_REGISTRY).exists() {
        skip(
            "rollback_removes_the_registry",
            "no /usr/bin/docker-registry (apt-get install docker-registry)",
        );
        return;
    }
    let mut f = fixture().await;
    let engine = &f.engine;
    let registry_image = format!("{}:2", unique("iot-test-registry"));
    f.cleanup.images.push(registry_image.clone());
    bootstrap::standin::build_registry(engine, &registry_image)
        .await
        .unwrap();
    let reg_name = format!("k3d-{}-registry", f.name);
    f.cleanup.containers.push(reg_name.clone());
    let port = free_port();
    let flag = RegistryCreateFlag::parse(&format!("{reg_name}:127.0.0.1:{port}")).unwrap();
    let mut options = f.options();
    options.registries = RegistryOptions {
        create: Some(Registry::created(&flag, "127.0.0.1", port)),
        image: registry_image,
        ..RegistryOptions::default()
    };
    // a container already holds the server's name: its creation fails after the registry's
    let squatter = format!("k3d-{}-server-0", f.name);
    f.cleanup.containers.push(squatter.clone());
    let (ok, _, err) = docker(&["create", "--name", &squatter, &f.images.node]);
    assert!(ok, "{err}");
    let mut req = request(options, f.kubeconfig(), Duration::from_secs(30));
    req.preflight = false;
    let err = create(engine, req, &steps()).await.unwrap_err();
    assert!(matches!(err, bootstrap::Error::RolledBack { .. }), "{err}");
    assert!(
        !docker(&["container", "inspect", &reg_name]).0,
        "rolled back"
    );
    assert_eq!(leftovers(&f.name), Vec::<String>::new());
    assert!(
        docker(&["container", "inspect", &squatter]).0,
        "not ours, kept"
    );
}
