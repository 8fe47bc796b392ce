//! `cluster create → wait → kubeconfig → list → stop/start → delete` against the real Docker
//! engine, with stand-in node images; each created container is compared with the plan
//! through `docker inspect`. Rollback is proven by failing at every step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use bootstrap::Error;
use bootstrap::docker::DockerError;
use bootstrap::recipes::cluster::{self, DeleteRequest, Deleted};
use bootstrap::spec::cluster::{ClusterPlan, K3sArgFlag, NodeSpec, Role};
use bootstrap::spec::kubeconfig::Kubeconfig;
use bootstrap::spec::names::ClusterName;
use common::*;

const ENTRYPOINT: &str = include_str!("../assets/k3d-entrypoint.sh");

fn env_without_path(v: &serde_json::Value) -> Vec<String> {
    serde_json::from_value::<Vec<String>>(v["Config"]["Env"].clone())
        .unwrap()
        .into_iter()
        .filter(|e| !e.starts_with("PATH="))
        .collect()
}

/// Every field bootstrap sets, as Docker reports it back.
fn assert_matches_spec(node: &NodeSpec, v: &serde_json::Value) {
    let who = &node.name;
    let hc = &v["HostConfig"];
    assert_eq!(v["Name"], format!("/{who}"));
    assert_eq!(v["Config"]["Hostname"], node.hostname, "{who} hostname");
    assert_eq!(v["Config"]["Image"], node.image, "{who} image");
    assert_eq!(labels_of(v), node.labels, "{who} labels");
    assert_eq!(env_without_path(v), node.env, "{who} env");
    assert_eq!(
        serde_json::from_value::<Vec<String>>(v["Config"]["Cmd"].clone()).unwrap_or_default(),
        node.cmd,
        "{who} cmd"
    );
    if let Some(ep) = &node.entrypoint {
        assert_eq!(
            v["Config"]["Entrypoint"],
            serde_json::json!(ep),
            "{who} entrypoint"
        );
    }
    let exposed: Vec<String> = v["Config"]["ExposedPorts"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(
        exposed,
        node.ports.keys().cloned().collect::<Vec<_>>(),
        "{who} exposed ports"
    );
    assert_eq!(hc["Binds"], serde_json::json!(node.binds), "{who} binds");
    assert_eq!(hc["Tmpfs"], serde_json::json!(node.tmpfs), "{who} tmpfs");
    assert_eq!(hc["Init"], true, "{who} init");
    assert_eq!(hc["UsernsMode"], "host", "{who} userns");
    assert_eq!(
        hc["RestartPolicy"]["Name"], "unless-stopped",
        "{who} restart policy"
    );
    assert_eq!(hc["NetworkMode"], node.network, "{who} network mode");
    // the clearly named test relaxation: no privileged, every capability but SYS_RESOURCE
    assert_eq!(hc["Privileged"], false, "{who} privileged");
    assert_eq!(hc["CapAdd"], serde_json::json!(["ALL"]), "{who} cap add");
    assert_eq!(
        hc["CapDrop"],
        serde_json::json!(["SYS_RESOURCE"]),
        "{who} cap drop"
    );
    let bindings: BTreeMap<String, Vec<(String, String)>> = node
        .ports
        .iter()
        .map(|(k, bs)| {
            (
                k.clone(),
                bs.iter()
                    .map(|b| (b.host_ip.clone(), b.host_port.clone()))
                    .collect(),
            )
        })
        .collect();
    let actual: BTreeMap<String, Vec<(String, String)>> = hc["PortBindings"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, bs)| {
                    let list = bs
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|b| {
                            (
                                b["HostIp"].as_str().unwrap().to_owned(),
                                b["HostPort"].as_str().unwrap().to_owned(),
                            )
                        })
                        .collect();
                    (k.clone(), list)
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(actual, bindings, "{who} port bindings");
    let networks: Vec<&String> = v["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        networks,
        [&node.network],
        "{who} is attached to the cluster network only"
    );
    let images_mount = v["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/k3d/images")
        .unwrap_or_else(|| panic!("{who} mounts the images volume"));
    assert_eq!(images_mount["Type"], "volume");
}

fn exec(container: &str, cmd: &[&str]) -> String {
    let mut args = vec!["exec", container];
    args.extend(cmd);
    let (ok, out, err) = docker(&args);
    assert!(ok, "docker exec {container} {cmd:?}: {err}");
    out
}

#[tokio::test]
async fn create_matches_the_spec_and_delete_leaves_nothing() {
    let f = fixture().await;
    let (engine, images, name) = (&f.engine, &f.images, f.name.clone());
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join(".kube/config");
    let (api_port, app_port) = (free_port(), free_port());
    let opts = options(&name, images, api_port, app_port);
    let plan = ClusterPlan::new(opts.clone()).unwrap();
    let steps = steps();

    let created = create(
        engine,
        request(opts, kubeconfig.clone(), Duration::from_secs(60)),
        &steps,
    )
    .await
    .unwrap();
    assert_eq!(created.nodes.len(), 4);

    // the network and the images volume
    let net = inspect("network", &format!("k3d-{name}"));
    assert_eq!(net["Driver"], "bridge");
    assert_eq!(net["Labels"], serde_json::json!({"app": "k3d"}));
    assert_eq!(
        net["Options"]["com.docker.network.bridge.enable_ip_masquerade"],
        "true"
    );
    let vol = inspect("volume", &format!("k3d-{name}-images"));
    assert_eq!(vol["Labels"], serde_json::json!(plan.image_volume.labels));

    // every container, field by field
    let facts = engine
        .network(&format!("k3d-{name}"))
        .await
        .unwrap()
        .unwrap();
    let facts = bootstrap::spec::cluster::NetworkFacts {
        external: false,
        ..facts
    };
    let gateway = facts.gateway.clone().unwrap();
    let mut anonymous_volumes = Vec::new();
    for node in plan.nodes(&facts) {
        let v = inspect("container", &node.name);
        assert_eq!(v["State"]["Running"], true, "{} runs", node.name);
        assert_matches_spec(&node, &v);
        for m in v["Mounts"].as_array().unwrap() {
            if m["Type"] == "volume" && m["Destination"] != "/k3d/images" {
                anonymous_volumes.push(m["Name"].as_str().unwrap().to_owned());
            }
        }
        match node.role {
            Role::LoadBalancer => {
                let conf = exec(&node.name, &["cat", "/etc/confd/values.yaml"]);
                assert_eq!(conf, plan.lb_config.to_yaml());
                assert!(conf.contains(&format!("8888.tcp:\n  - k3d-{name}-server-0\n  - k3d-{name}-agent-0\n  - k3d-{name}-agent-1\n")));
            }
            _ => {
                assert_eq!(
                    exec(&node.name, &["cat", "/bin/k3d-entrypoint.sh"]),
                    ENTRYPOINT
                );
                // the DNS fix ran on Docker's rules and pointed resolv.conf at the gateway
                let rules = exec(&node.name, &["cat", "/var/log/iptables-restored"]);
                assert!(
                    rules.contains(&format!("-A PREROUTING -d {gateway}/32 -j DOCKER_OUTPUT")),
                    "{rules}"
                );
                assert!(
                    rules.contains(&format!("--to-source {gateway}:53")),
                    "{rules}"
                );
                assert!(
                    exec(&node.name, &["cat", "/etc/resolv.conf"])
                        .contains(&format!("nameserver {gateway}"))
                );
                let hosts = exec(&node.name, &["cat", "/etc/hosts"]);
                assert!(
                    hosts.contains(&format!("{gateway} host.k3d.internal")),
                    "{hosts}"
                );
            }
        }
    }
    assert!(
        !anonymous_volumes.is_empty(),
        "the stand-in declares VOLUMEs like the K3s image"
    );
    let (_, port, _) = docker(&["port", &format!("k3d-{name}-serverlb"), "6443/tcp"]);
    assert_eq!(port.trim(), format!("127.0.0.1:{api_port}"));
    let (_, port, _) = docker(&["port", &format!("k3d-{name}-serverlb"), "8888/tcp"]);
    assert_eq!(port.trim(), format!("127.0.0.1:{app_port}"));

    // the kubeconfig: k3d's names, the published address, private
    let kc = Kubeconfig::parse(&std::fs::read_to_string(&kubeconfig).unwrap(), "test").unwrap();
    assert_eq!(kc.current_context, format!("k3d-{name}"));
    assert_eq!(
        kc.server(&format!("k3d-{name}")),
        Some(format!("https://127.0.0.1:{api_port}").as_str())
    );
    assert_eq!(kc.users[0].name, format!("admin@k3d-{name}"));
    assert_eq!(
        std::fs::metadata(&kubeconfig).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = cluster::kubeconfig(
        engine,
        &ClusterName::parse(&name).unwrap(),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(again, created.kubeconfig);

    // list sees it as bootstrap's
    let listed = cluster::list(engine).await.unwrap();
    let row = listed.iter().find(|c| c.name == name).expect("listed");
    assert_eq!(
        (
            row.servers_running,
            row.servers,
            row.agents_running,
            row.agents
        ),
        (1, 1, 2, 2)
    );
    assert!(row.loadbalancer);
    assert_eq!(
        row.api.as_deref(),
        Some(format!("https://127.0.0.1:{api_port}").as_str())
    );
    assert!(row.created_by.starts_with("bootstrap "));

    // delete removes exactly that, and is idempotent
    let req = DeleteRequest {
        name: ClusterName::parse(&name).unwrap(),
        kubeconfig: Some(kubeconfig.clone()),
        standalone_kubeconfig: None,
    };
    let deleted = cluster::delete(engine, &req, &steps).await.unwrap();
    assert_eq!(
        deleted,
        Deleted::Removed {
            containers: 4,
            network: Some(format!("k3d-{name}")),
            volumes: 1,
            kubeconfig: true,
            kept_registries: vec![],
        }
    );
    assert_eq!(leftovers(&name), Vec::<String>::new());
    for v in &anonymous_volumes {
        assert!(
            !docker(&["volume", "inspect", v]).0,
            "anonymous volume {v} was removed"
        );
    }
    let kc = Kubeconfig::parse(&std::fs::read_to_string(&kubeconfig).unwrap(), "test").unwrap();
    assert!(kc.clusters.is_empty() && kc.current_context.is_empty());
    assert_eq!(
        cluster::delete(engine, &req, &steps).await.unwrap(),
        Deleted::NotFound
    );
    println!("{}", steps.summary());
}

#[tokio::test]
async fn stop_start_and_an_existing_name() {
    let f = fixture().await;
    let (engine, images, name) = (&f.engine, &f.images, f.name.clone());
    let kubeconfig = f.dir.path().join("config");
    let opts = options(&name, images, free_port(), free_port());
    let steps = steps();
    create(
        engine,
        request(opts.clone(), kubeconfig.clone(), Duration::from_secs(60)),
        &steps,
    )
    .await
    .unwrap();

    // a second create with the same name refuses before touching anything
    let err = create(
        engine,
        request(opts, kubeconfig, Duration::from_secs(60)),
        &steps,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::ClusterExists(_)), "{err}");
    assert!(
        err.to_string()
            .contains("already exists; delete it with `bootstrap cluster delete")
    );
    assert_eq!(
        leftovers(&name).len(),
        6,
        "the first cluster is untouched: 4 containers, volume, network"
    );

    let cluster_name = ClusterName::parse(&name).unwrap();
    cluster::stop(engine, &cluster_name, &steps).await.unwrap();
    let (_, running, _) = docker(&["ps", "-q", "--filter", &format!("label=k3d.cluster={name}")]);
    assert_eq!(running.lines().count(), 0);
    // restarted nodes must print their ready line again: old lines do not count
    cluster::start(engine, &cluster_name, Duration::from_secs(30), &steps)
        .await
        .unwrap();
    let (_, running, _) = docker(&["ps", "-q", "--filter", &format!("label=k3d.cluster={name}")]);
    assert_eq!(running.lines().count(), 4);
    let (_, logs, _) = docker(&["logs", &format!("k3d-{name}-server-0")]);
    assert_eq!(logs.matches("k3s is up and running").count(), 2);
}

#[tokio::test]
async fn an_existing_network_is_reused_and_kept() {
    let mut f = fixture().await;
    let (engine, images, name) = (&f.engine, &f.images, f.name.clone());
    let net = format!("k3d-{name}");
    f.cleanup.networks.push(net.clone());
    assert!(docker(&["network", "create", &net]).0);
    let steps = steps();
    let opts = options(&name, images, free_port(), free_port());
    create(
        engine,
        request(opts, f.dir.path().join("config"), Duration::from_secs(60)),
        &steps,
    )
    .await
    .unwrap();
    let v = inspect("container", &format!("k3d-{name}-server-0"));
    assert_eq!(labels_of(&v)["k3d.cluster.network.external"], "true");
    let req = DeleteRequest {
        name: ClusterName::parse(&name).unwrap(),
        kubeconfig: None,
        standalone_kubeconfig: None,
    };
    let deleted = cluster::delete(engine, &req, &steps).await.unwrap();
    assert!(
        matches!(deleted, Deleted::Removed { network: None, .. }),
        "{deleted:?}"
    );
    assert_eq!(
        leftovers(&name),
        [format!("network {net}")],
        "only the pre-existing network stays"
    );
}

#[tokio::test]
async fn a_bound_port_fails_preflight_or_rolls_back_at_start() {
    let f = fixture().await;
    let (engine, images, name) = (&f.engine, &f.images, f.name.clone());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let steps = steps();

    // preflight names the port and who holds it, and nothing is created
    let opts = options(&name, images, port, free_port());
    let err = create(
        engine,
        request(
            opts.clone(),
            f.dir.path().join("config"),
            Duration::from_secs(30),
        ),
        &steps,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Preflight(1)), "{err}");
    assert_eq!(leftovers(&name), Vec::<String>::new());

    // without preflight Docker refuses at start; everything is rolled back
    let mut req = request(opts, f.dir.path().join("config"), Duration::from_secs(30));
    req.preflight = false;
    let err = create(engine, req, &steps).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::RolledBack { .. }), "{text}");
    assert!(
        text.contains(&format!("start k3d-{name}-serverlb")),
        "{text}"
    );
    assert!(
        text.contains("everything this run created was removed again"),
        "{text}"
    );
    assert!(
        text.contains("free that host port or choose another"),
        "{text}"
    );
    assert_eq!(leftovers(&name), Vec::<String>::new());
    assert!(
        !f.dir.path().join("config").exists(),
        "no kubeconfig was written"
    );
    drop(taken);
}

#[tokio::test]
async fn a_node_that_never_logs_ready_is_rolled_back_with_its_last_lines() {
    let f = fixture().await;
    let (engine, images, name) = (&f.engine, &f.images, f.name.clone());
    let mut opts = options(&name, images, free_port(), free_port());
    opts.k3s_args = vec![K3sArgFlag::parse("--standin-never-ready@server:0").unwrap()];
    let err = create(
        engine,
        request(opts, f.dir.path().join("config"), Duration::from_secs(3)),
        &steps(),
    )
    .await
    .unwrap_err();
    let Error::RolledBack { error } = &err else {
        panic!("{err}")
    };
    let Error::Docker(DockerError::NotReady {
        node,
        waited_s,
        tail,
        ..
    }) = error.as_ref()
    else {
        panic!("{err}")
    };
    assert_eq!(node, &format!("k3d-{name}-server-0"));
    assert_eq!(*waited_s, 3);
    assert!(tail.contains("never becoming ready, as asked"), "{tail}");
    assert_eq!(leftovers(&name), Vec::<String>::new());
}

#[tokio::test]
async fn a_node_killed_while_starting_is_rolled_back() {
    let f = fixture().await;
    let (engine, images, name) = (&f.engine, &f.images, f.name.clone());
    let mut opts = options(&name, images, free_port(), free_port());
    opts.k3s_args = vec![K3sArgFlag::parse("--standin-never-ready@server:0").unwrap()];
    let server = format!("k3d-{name}-server-0");
    let killer = {
        let server = server.clone();
        tokio::spawn(async move {
            for _ in 0..200 {
                let (_, state, _) = docker(&["inspect", "-f", "{{.State.Running}}", &server]);
                if state.trim() == "true" {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    return docker(&["kill", &server]).0;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        })
    };
    let err = create(
        engine,
        request(opts, f.dir.path().join("config"), Duration::from_secs(60)),
        &steps(),
    )
    .await
    .unwrap_err();
    assert!(killer.await.unwrap(), "the server was killed mid-wait");
    let text = err.to_string();
    assert!(text.contains(&format!("node {server} stopped")), "{text}");
    assert!(text.contains("removed again"), "{text}");
    assert_eq!(leftovers(&name), Vec::<String>::new());
}

#[tokio::test]
async fn a_failure_after_any_step_rolls_everything_back() {
    let f = fixture().await;
    let (engine, images, name) = (&f.engine, &f.images, f.name.clone());
    let kubeconfig = f.dir.path().join("config");
    let steps_of_a_create = [
        "network".to_owned(),
        "volume".to_owned(),
        format!("create k3d-{name}-server-0"),
        format!("create k3d-{name}-agent-0"),
        format!("create k3d-{name}-agent-1"),
        format!("create k3d-{name}-serverlb"),
        format!("start k3d-{name}-server-0"),
        format!("start k3d-{name}-agent-0"),
        format!("start k3d-{name}-agent-1"),
        format!("start k3d-{name}-serverlb"),
        "add host.k3d.internal".to_owned(),
        "kubeconfig".to_owned(),
    ];
    for step in &steps_of_a_create {
        let opts = options(&name, images, free_port(), free_port());
        let steps = steps().fail_after(step);
        let err = create(
            engine,
            request(opts, kubeconfig.clone(), Duration::from_secs(30)),
            &steps,
        )
        .await
        .unwrap_err();
        let Error::RolledBack { error } = &err else {
            panic!("after {step}: {err}")
        };
        assert!(
            matches!(error.as_ref(), Error::Injected(i) if i.after_step.starts_with(step.as_str())),
            "{err}"
        );
        assert_eq!(
            leftovers(&name),
            Vec::<String>::new(),
            "after a failure following {step:?}"
        );
        if kubeconfig.exists() {
            let kc =
                Kubeconfig::parse(&std::fs::read_to_string(&kubeconfig).unwrap(), "t").unwrap();
            assert!(
                kc.contexts.is_empty(),
                "kubeconfig entries removed after {step:?}"
            );
        }
    }
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_stops_before_anything_exists() {
    let f = fixture().await;
    let (engine, images, name) = (&f.engine, &f.images, f.name.clone());
    let mut opts = options(&name, images, free_port(), free_port());
    // a registry on loopback that refuses: the pull fails without leaving this machine
    opts.image = format!("127.0.0.1:1/{}/k3s:none", unique("iot-test"));
    let mut req = request(opts, f.dir.path().join("config"), Duration::from_secs(30));
    req.preflight = false;
    let err = create(engine, req, &steps()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("Docker could not pull 127.0.0.1:1/"),
        "{text}"
    );
    assert_eq!(leftovers(&name), Vec::<String>::new());
}

/// The DNS fix as k3d v5.9 does it, whichever address Docker's embedded resolver has: before
/// Docker 29 (`nameserver 127.0.0.11`) and since (the network's gateway). In both, the rules of
/// Docker's resolver are hooked into PREROUTING so that pods' queries reach it; resolv.conf is
/// rewritten only when it named the loopback-only 127.0.0.11. Run in the stand-in node image
/// (busybox, and an iptables-save that prints Docker's rules for the address resolv.conf names).
#[tokio::test]
async fn the_dns_fix_serves_pods_before_and_since_docker_29() {
    let f = fixture().await;
    let gateway = "172.30.0.1";
    let fixes = bootstrap::spec::fixes::Fixes {
        cgroupv2: false,
        dns: true,
        mounts: false,
    };
    let script = fixes
        .files(Some(gateway))
        .into_iter()
        .find(|file| file.path == "/bin/k3d-entrypoint-dns.sh")
        .unwrap()
        .content;
    let dir = f.dir.path();
    std::fs::write(dir.join("dns.sh"), script).unwrap();
    for (engine, nameserver) in [("before 29", "127.0.0.11"), ("29", gateway)] {
        let resolv = dir.join(format!("resolv-{nameserver}.conf"));
        std::fs::write(
            &resolv,
            format!("nameserver {nameserver}\noptions ndots:0\n"),
        )
        .unwrap();
        let (ok, out, err) = docker(&[
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            "-v",
            &format!("{}:/etc/resolv.conf", resolv.display()),
            "-v",
            &format!("{}:/dns.sh:ro", dir.join("dns.sh").display()),
            &f.images.node,
            "-c",
            "sh /dns.sh >/dev/null && cat /var/log/iptables-restored && echo --- && cat /etc/resolv.conf",
        ]);
        assert!(ok, "Docker {engine}: {err}");
        let (rules, resolv_after) = out.split_once("---\n").unwrap();
        for wanted in [
            format!("-A OUTPUT -d {gateway}/32 -j DOCKER_OUTPUT"),
            format!("-A PREROUTING -d {gateway}/32 -j DOCKER_OUTPUT"),
            format!("-A DOCKER_OUTPUT -d {gateway}/32 -p udp -m udp --dport 53 -j DNAT"),
            format!("--to-source {gateway}:53"),
        ] {
            assert!(
                rules.contains(&wanted),
                "Docker {engine}: no {wanted:?} in\n{rules}"
            );
        }
        // Matches the gateway only; the DNAT still leads to where the resolver listens.
        assert!(
            !rules.contains("-d 127.0.0.11"),
            "Docker {engine}:\n{rules}"
        );
        assert!(
            resolv_after.starts_with(&format!("nameserver {gateway}\n")),
            "Docker {engine}: {resolv_after}"
        );
    }
}
