//! The plan for k3d's reference command, field by field, against
//! `shared/reference/k3d-v5-internals.md`:
//! `k3d cluster create demo --servers 1 --agents 2 -p 8888:8888@loadbalancer --api-port 6443`.

use super::*;
use crate::spec::ports::ApiEndpoint;

const TOKEN: &str = "abcdefghijABCDEFGHIJ";

fn options() -> ClusterOptions {
    ClusterOptions {
        extra_labels: BTreeMap::new(),
        registries: Default::default(),
        name: ClusterName::parse("demo").unwrap(),
        servers: 1,
        agents: 2,
        image: crate::K3S_IMAGE.to_owned(),
        lb_image: crate::LB_IMAGE.to_owned(),
        api: ApiEndpoint {
            host: "0.0.0.0".into(),
            host_ip: "0.0.0.0".into(),
            port: 6443,
        },
        ports: vec![PortFlag::parse("8888:8888@loadbalancer").unwrap()],
        volumes: vec![],
        k3s_args: vec![],
        token: TOKEN.to_owned(),
        fixes: Fixes {
            cgroupv2: false,
            dns: true,
            mounts: true,
        },
        security: NodeSecurity::Privileged,
    }
}

fn facts() -> NetworkFacts {
    NetworkFacts {
        id: "net123".into(),
        subnet: "192.0.2.0/24".into(),
        gateway: Some("192.0.2.1".into()),
        external: false,
    }
}

fn nodes(o: ClusterOptions) -> Vec<NodeSpec> {
    ClusterPlan::new(o).unwrap().nodes(&facts())
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn network_and_volume() {
    let plan = ClusterPlan::new(options()).unwrap();
    assert_eq!(plan.network.name, "k3d-demo");
    assert_eq!(plan.network.driver, "bridge");
    assert_eq!(
        plan.network.options,
        map(&[("com.docker.network.bridge.enable_ip_masquerade", "true")])
    );
    assert_eq!(
        plan.network.labels,
        map(&[("app", "k3d")]),
        "the network has no cluster label"
    );
    assert_eq!(plan.image_volume.name, "k3d-demo-images");
    assert_eq!(plan.image_volume.driver, "local");
    assert_eq!(
        plan.image_volume.labels,
        map(&[
            ("app", "k3d"),
            ("k3d.cluster", "demo"),
            ("k3d.version", "v5.9.0"),
            (LABEL_CREATED_BY, env!("CARGO_PKG_VERSION")),
        ])
    );
}

#[test]
fn extra_labels_go_on_every_node_and_change_no_k3d_label() {
    let mut o = options();
    o.extra_labels = BTreeMap::from([("io.iot-rs.p3.app-port".to_owned(), "8888".to_owned())]);
    let plain = nodes(options());
    for (mut node, bare) in nodes(o).into_iter().zip(plain) {
        assert_eq!(
            node.labels.remove("io.iot-rs.p3.app-port").as_deref(),
            Some("8888"),
            "{}",
            node.name
        );
        assert_eq!(node.labels, bare.labels);
    }
}

#[test]
fn creation_order_and_names() {
    let n = nodes(options());
    let names: Vec<&str> = n.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "k3d-demo-server-0",
            "k3d-demo-agent-0",
            "k3d-demo-agent-1",
            "k3d-demo-serverlb"
        ]
    );
    for node in &n {
        assert_eq!(node.hostname, node.name);
        assert_eq!(node.network, "k3d-demo");
    }
}

#[test]
fn server_container() {
    let s = &nodes(options())[0];
    assert_eq!(s.role, Role::Server);
    assert_eq!(s.image, "rancher/k3s:v1.35.5-k3s1");
    assert_eq!(
        s.entrypoint,
        Some(vec!["/bin/k3d-entrypoint.sh".to_owned()])
    );
    assert_eq!(
        s.cmd,
        [
            "server",
            "--tls-san",
            "0.0.0.0",
            "--tls-san",
            "k3d-demo-serverlb"
        ]
    );
    assert_eq!(
        s.env,
        [
            format!("K3S_TOKEN={TOKEN}").as_str(),
            "K3S_KUBECONFIG_OUTPUT=/output/kubeconfig.yaml"
        ]
    );
    assert_eq!(
        s.security,
        NodeSecurity::Privileged,
        "real nodes are privileged"
    );
    assert_eq!(s.userns_mode, "host");
    assert!(s.init);
    assert_eq!(s.tmpfs, map(&[("/run", ""), ("/var/run", "")]));
    assert_eq!(s.binds, ["k3d-demo-images:/k3d/images"]);
    assert_eq!(s.restart_policy, "unless-stopped");
    assert!(
        s.ports.is_empty(),
        "the API is published on the load balancer only"
    );
    assert_eq!(s.ready_log, "k3s is up and running");
    assert_eq!(
        s.labels,
        map(&[
            ("app", "k3d"),
            ("k3d.cluster", "demo"),
            ("k3d.cluster.imageVolume", "k3d-demo-images"),
            ("k3d.cluster.network", "k3d-demo"),
            ("k3d.cluster.network.external", "false"),
            ("k3d.cluster.network.id", "net123"),
            ("k3d.cluster.network.iprange", "192.0.2.0/24"),
            ("k3d.cluster.token", TOKEN),
            ("k3d.cluster.url", "https://k3d-demo-server-0:6443"),
            ("k3d.role", "server"),
            ("k3d.server.api.host", "0.0.0.0"),
            ("k3d.server.api.hostIP", "0.0.0.0"),
            ("k3d.server.api.port", "6443"),
            ("k3d.server.loadbalancer", "k3d-demo-serverlb"),
            ("k3d.version", "v5.9.0"),
            (LABEL_CREATED_BY, env!("CARGO_PKG_VERSION")),
        ])
    );
    let paths: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/bin/k3d-entrypoint.sh",
            "/bin/k3d-entrypoint-dns.sh",
            "/bin/k3d-entrypoint-mounts.sh"
        ]
    );
    assert!(s.files[1].content.contains("gateway=\"192.0.2.1\""));
}

#[test]
fn agent_containers() {
    let n = nodes(options());
    for (i, a) in n[1..3].iter().enumerate() {
        assert_eq!(a.name, format!("k3d-demo-agent-{i}"));
        assert_eq!(a.role, Role::Agent);
        assert_eq!(a.cmd, ["agent"]);
        assert_eq!(
            a.env,
            [
                format!("K3S_TOKEN={TOKEN}").as_str(),
                "K3S_URL=https://k3d-demo-server-0:6443",
                "K3S_KUBECONFIG_OUTPUT=/output/kubeconfig.yaml"
            ]
        );
        assert_eq!(a.labels["k3d.role"], "agent");
        assert!(!a.labels.keys().any(|k| k.starts_with("k3d.server.api")));
        assert_eq!(a.security, NodeSecurity::Privileged);
        assert_eq!(a.ready_log, "Successfully registered node");
        assert_eq!(a.binds, ["k3d-demo-images:/k3d/images"]);
    }
}

#[test]
fn load_balancer_container() {
    let lb = nodes(options()).pop().unwrap();
    assert_eq!(lb.name, "k3d-demo-serverlb");
    assert_eq!(lb.role, Role::LoadBalancer);
    assert_eq!(lb.image, "ghcr.io/k3d-io/k3d-proxy:5.9.0");
    assert_eq!(lb.entrypoint, None);
    assert!(lb.cmd.is_empty());
    assert_eq!(lb.env, ["K3S_KUBECONFIG_OUTPUT=/output/kubeconfig.yaml"]);
    assert_eq!(lb.security, NodeSecurity::Privileged);
    assert!(lb.init);
    assert_eq!(lb.restart_policy, "unless-stopped");
    assert_eq!(lb.binds, ["k3d-demo-images:/k3d/images"]);
    assert_eq!(lb.labels["k3d.role"], "loadbalancer");
    assert!(!lb.labels.keys().any(|k| k.starts_with("k3d.server.api")));
    assert_eq!(lb.labels["k3d.cluster.token"], TOKEN);
    assert_eq!(
        lb.ports,
        BTreeMap::from([
            (
                "6443/tcp".to_owned(),
                vec![HostBinding {
                    host_ip: "0.0.0.0".into(),
                    host_port: "6443".into()
                }]
            ),
            (
                "8888/tcp".to_owned(),
                vec![HostBinding {
                    host_ip: String::new(),
                    host_port: "8888".into()
                }]
            ),
        ])
    );
    assert_eq!(lb.files.len(), 1);
    assert_eq!(lb.files[0].path, "/etc/confd/values.yaml");
    assert_eq!(lb.files[0].mode, 0o744);
    assert_eq!(
        lb.files[0].content,
        "ports:\n  6443.tcp:\n  - k3d-demo-server-0\n  8888.tcp:\n  - k3d-demo-server-0\n  - k3d-demo-agent-0\n  - k3d-demo-agent-1\nsettings:\n  workerConnections: 1024\n"
    );
    assert_eq!(lb.ready_log, "start worker processes");
}

#[test]
fn multi_server_init_and_join() {
    let mut o = options();
    o.servers = 3;
    let n = nodes(o);
    let init = &n[0];
    assert_eq!(
        init.cmd,
        [
            "server",
            "--cluster-init",
            "--tls-san",
            "0.0.0.0",
            "--tls-san",
            "k3d-demo-serverlb"
        ]
    );
    assert_eq!(init.labels["k3d.server.init"], "true");
    assert_eq!(init.ready_log, READY_INIT_SERVER_CREATE);
    assert!(!init.env.iter().any(|e| e.starts_with("K3S_URL=")));
    for s in &n[1..3] {
        assert_eq!(s.labels["k3d.server.init"], "false");
        assert!(
            s.env
                .contains(&"K3S_URL=https://k3d-demo-server-0:6443".to_owned())
        );
        assert_eq!(s.ready_log, READY_SERVER);
        assert_eq!(s.cmd[1], "--tls-san");
    }
    let lb = n.last().unwrap();
    assert!(lb.files[0].content.contains(
        "6443.tcp:\n  - k3d-demo-server-0\n  - k3d-demo-server-1\n  - k3d-demo-server-2\n"
    ));
}

#[test]
fn flags_reach_the_right_nodes() {
    let mut o = options();
    o.k3s_args = vec![
        K3sArgFlag::parse("--disable=traefik@server:0").unwrap(),
        K3sArgFlag::parse("--node-taint=x=y:NoSchedule@agent:1").unwrap(),
        K3sArgFlag::parse("--debug@all").unwrap(),
    ];
    o.volumes = vec![
        VolumeFlag::parse("/srv/data:/data@agent:0").unwrap(),
        VolumeFlag::parse("/etc/hosts.extra:/etc/extra:ro").unwrap(),
    ];
    o.ports = vec![
        PortFlag::parse("127.0.0.1:8080:80@agent:0").unwrap(),
        PortFlag::parse("127.0.0.1:9090:90@agent:1:direct").unwrap(),
    ];
    let n = nodes(o);
    assert_eq!(
        n[0].cmd,
        [
            "server",
            "--disable=traefik",
            "--debug",
            "--tls-san",
            "0.0.0.0",
            "--tls-san",
            "k3d-demo-serverlb"
        ]
    );
    assert_eq!(n[1].cmd, ["agent", "--debug"]);
    assert_eq!(
        n[2].cmd,
        ["agent", "--node-taint=x=y:NoSchedule", "--debug"]
    );
    assert!(
        n[3].cmd.is_empty(),
        "k3s args never reach the load balancer"
    );
    assert_eq!(
        n[1].binds,
        [
            "/srv/data:/data",
            "/etc/hosts.extra:/etc/extra:ro",
            "k3d-demo-images:/k3d/images"
        ]
    );
    assert_eq!(
        n[3].binds,
        [
            "/etc/hosts.extra:/etc/extra:ro",
            "k3d-demo-images:/k3d/images"
        ],
        "unfiltered volumes reach the LB too, as in k3d"
    );
    assert_eq!(
        n[2].ports,
        BTreeMap::from([(
            "90/tcp".to_owned(),
            vec![HostBinding {
                host_ip: "127.0.0.1".into(),
                host_port: "9090".into()
            }]
        )])
    );
    let lb = &n[3];
    assert_eq!(
        lb.ports["80/tcp"],
        [HostBinding {
            host_ip: "127.0.0.1".into(),
            host_port: "8080".into()
        }]
    );
    assert!(
        lb.files[0]
            .content
            .contains("80.tcp:\n  - k3d-demo-agent-0\n")
    );
    assert!(!lb.ports.contains_key("90/tcp"));
}

#[test]
fn flag_errors() {
    let with = |f: &dyn Fn(&mut ClusterOptions)| {
        let mut o = options();
        f(&mut o);
        ClusterPlan::new(o).unwrap_err().to_string()
    };
    assert!(with(&|o| o.servers = 0).contains("at least one server"));
    assert!(
        with(&|o| o.k3s_args = vec![K3sArgFlag::parse("--debug").unwrap()])
            .contains("lacks a node filter")
    );
    assert!(
        with(&|o| o.k3s_args = vec![K3sArgFlag::parse("--debug@loadbalancer").unwrap()])
            .contains("does not run K3s")
    );
    assert!(
        with(&|o| o.ports.push(PortFlag::parse("8888:8888@server:0").unwrap()))
            .contains("given twice")
    );
    assert!(
        with(&|o| o.ports = vec![PortFlag::parse("80:80@agents:*:direct").unwrap()])
            .contains("targets 2 nodes")
    );
    assert!(
        with(&|o| o.volumes = vec![VolumeFlag::parse("/x:/etc/resolv.conf@server:0").unwrap()])
            .contains("K3D_FIX_DNS=0")
    );
    assert!(
        with(&|o| o.ports = vec![PortFlag::parse("80:80@agent:5").unwrap()])
            .contains("index 5 is out of range")
    );
    assert!(
        VolumeFlag::parse("relative")
            .unwrap_err()
            .to_string()
            .contains("SOURCE:DESTINATION")
    );
    assert!(
        VolumeFlag::parse("/a:rel")
            .unwrap_err()
            .to_string()
            .contains("absolute")
    );
    assert!(
        VolumeFlag::parse("/a:/b:rx")
            .unwrap_err()
            .to_string()
            .contains("ro or rw")
    );
}

#[cfg(feature = "test-nodes")]
#[test]
fn test_relaxation_is_explicit() {
    let mut o = options();
    o.security = NodeSecurity::TestWithoutPrivileged;
    for n in nodes(o) {
        assert_eq!(n.security, NodeSecurity::TestWithoutPrivileged);
    }
}

#[test]
fn no_fixes_no_entrypoint() {
    let mut o = options();
    o.fixes = Fixes {
        cgroupv2: false,
        dns: false,
        mounts: false,
    };
    let s = &nodes(o)[0];
    assert_eq!(s.entrypoint, None);
    assert!(s.files.is_empty());
}

#[test]
fn printed_plans_hide_the_token() {
    let plan = ClusterPlan::new(options()).unwrap();
    let human = plan.render_human(&NetworkFacts::unknown(false));
    let json = plan.render_json(&NetworkFacts::unknown(false)).to_string();
    for text in [&human, &json] {
        assert!(!text.contains(TOKEN), "{text}");
        assert!(text.contains("<redacted>"));
    }
    assert!(
        human.contains("server k3d-demo-server-0: rancher/k3s:v1.35.5-k3s1"),
        "{human}"
    );
    assert!(
        human.contains("ports      0.0.0.0:6443->6443/tcp 0.0.0.0:8888->8888/tcp"),
        "{human}"
    );
    assert!(human.contains(
        "kubeconfig: context k3d-demo, user admin@k3d-demo, server https://0.0.0.0:6443"
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["nodes"][0]["cmd"][0], "server");
    assert_eq!(v["nodes"][3]["ports"]["8888/tcp"][0]["host_port"], "8888");
    assert_eq!(v["network"]["name"], "k3d-demo");
}

#[test]
fn tokens_are_twenty_unbiased_letters() {
    let bytes: Vec<u8> = (0..=255).collect();
    let t = token_from_random(&bytes).unwrap();
    assert_eq!(t.len(), 20);
    assert!(t.chars().all(|c| c.is_ascii_alphabetic()));
    assert_eq!(&t[..3], "abc");
    // bytes at or above 208 (= 4 * 52) are skipped, so nothing favours the first letters
    assert_eq!(token_from_random(&[208; 40]), None);
}
