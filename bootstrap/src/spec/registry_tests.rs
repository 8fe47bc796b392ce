use super::*;

fn demo() -> ClusterName {
    ClusterName::parse("demo").unwrap()
}

fn created(flag: &str, host_ip: &str, port: u16) -> Registry {
    Registry::created(&RegistryCreateFlag::parse(flag).unwrap(), host_ip, port)
}

#[test]
fn create_flag_as_k3d_parses_it() {
    let f = RegistryCreateFlag::parse("demo-registry:0.0.0.0:5111").unwrap();
    assert_eq!(
        f.name, "demo-registry",
        "k3d names the container exactly NAME"
    );
    assert_eq!(f.host.as_deref(), Some("0.0.0.0"));
    assert_eq!(f.port, Some(5111));
    let f = RegistryCreateFlag::parse("reg:5432").unwrap();
    assert_eq!((f.host, f.port), (None, Some(5432)));
    let f = RegistryCreateFlag::parse("reg").unwrap();
    assert_eq!((f.host, f.port), (None, None));
    let f = RegistryCreateFlag::parse("reg:localhost:random").unwrap();
    assert_eq!((f.host.as_deref(), f.port), (Some("localhost"), None));
}

#[test]
fn create_flag_errors_are_one_sentence() {
    for bad in [
        "",
        ":5000",
        "-reg:5000",
        "re g:5000",
        "reg:0.0.0.0",
        "reg:70000",
        "reg:0",
        "reg::5000",
        "reg:x:y",
    ] {
        let e = RegistryCreateFlag::parse(bad).unwrap_err().to_string();
        assert!(e.contains("--registry-create"), "{bad}: {e}");
        assert!(e.contains("NAME[:HOST]:PORT"), "{bad}: {e}");
        assert!(!e.contains('\n'), "{bad}: {e}");
    }
}

#[test]
fn use_flag() {
    for ok in [
        "k3d-demo-registry:5000",
        "http://reg:5000",
        "reg",
        "reg:5000:41234",
    ] {
        let f = RegistryUseFlag::parse(ok).unwrap();
        assert!(!f.name.contains(':'), "{ok}");
    }
    assert_eq!(RegistryUseFlag::parse("reg:5000").unwrap().name, "reg");
    for bad in ["", ":5000", "reg:abc", "reg:1:2:3", "a b"] {
        let e = RegistryUseFlag::parse(bad).unwrap_err().to_string();
        assert!(e.contains("--registry-use"), "{bad}: {e}");
    }
}

/// The container of `--registry-create demo-registry:0.0.0.0:5111` for cluster demo, field by
/// field against k3d's `RegistryCreate` (reference §7).
#[test]
fn container_field_by_field() {
    let r = created("demo-registry:0.0.0.0:5111", "0.0.0.0", 5111);
    let n = r.container(&demo(), REGISTRY_IMAGE, &BTreeMap::new());
    assert_eq!(n.name, "demo-registry");
    assert_eq!(n.hostname, "demo-registry");
    assert_eq!(n.image, "docker.io/library/registry:2");
    assert_eq!(n.role, Role::Registry);
    let want: BTreeMap<String, String> = [
        ("app", "k3d"),
        ("k3d.version", K3D_COMPAT_VERSION),
        ("k3d.role", "registry"),
        ("k3d.cluster", "demo"),
        ("k3d.registry.host", "0.0.0.0"),
        ("k3d.registry.hostIP", "0.0.0.0"),
        ("k3s.registry.port.external", "5111"),
        ("k3s.registry.port.internal", "5000"),
        ("io.iot-rs.bootstrap.version", env!("CARGO_PKG_VERSION")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(n.labels, want);
    assert_eq!(
        n.env,
        Vec::<String>::new(),
        "no proxy, no delete, no port match"
    );
    assert_eq!(n.cmd, Vec::<String>::new(), "the image's command");
    assert_eq!(n.entrypoint, None);
    assert_eq!(n.network, "bridge", "created on bridge, then connected");
    assert_eq!(
        n.ports,
        BTreeMap::from([(
            "5000/tcp".to_owned(),
            vec![HostBinding {
                host_ip: "0.0.0.0".into(),
                host_port: "5111".into()
            }]
        )])
    );
    assert!(n.binds.is_empty(), "k3d mounts no images volume into it");
    assert_eq!(n.restart_policy, "unless-stopped");
    assert!(n.init);
    assert_eq!(
        n.tmpfs.keys().collect::<Vec<_>>(),
        ["/run", "/var/run"].iter().collect::<Vec<_>>()
    );
    assert_eq!(n.ready_log, "listening on");
}

#[test]
fn container_without_host_defaults_to_k3ds_0_0_0_0() {
    let r = created("reg:5432", "0.0.0.0", 5432);
    assert_eq!(r.host, "0.0.0.0");
    let n = r.container(&demo(), REGISTRY_IMAGE, &BTreeMap::new());
    assert_eq!(n.labels["k3d.registry.host"], "0.0.0.0");
    // a hostname stays the label, its address is the binding
    let r = created("reg:localhost:5432", "127.0.0.1", 5432);
    let n = r.container(&demo(), REGISTRY_IMAGE, &BTreeMap::new());
    assert_eq!(n.labels["k3d.registry.host"], "localhost");
    assert_eq!(n.labels["k3d.registry.hostIP"], "127.0.0.1");
    assert_eq!(n.ports["5000/tcp"][0].host_ip, "127.0.0.1");
}

/// Byte for byte the reference's yaml.v2 rendering: two mirror keys, 5000 before 41234 (digit
/// runs compare as numbers), `rewrite: {}`, empty configs and auths.
#[test]
fn registries_yaml_as_k3d_writes_it() {
    let r = created("demo-registry:41234", "0.0.0.0", 41234);
    assert_eq!(
        registries_yaml(&[r], &[]),
        "mirrors:
  demo-registry:5000:
    endpoint:
    - http://demo-registry:5000
    rewrite: {}
  demo-registry:41234:
    endpoint:
    - http://demo-registry:5000
    rewrite: {}
configs: {}
auths: {}
"
    );
}

#[test]
fn registries_yaml_with_two_registries_and_an_alias() {
    let a = created("zreg:5111", "0.0.0.0", 5111);
    let b = created("areg:6000", "0.0.0.0", 6000);
    let text = registries_yaml(&[a, b], &["localhost:5111".to_owned()]);
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .collect();
    assert_eq!(
        keys,
        [
            "  areg:5000:",
            "  areg:6000:",
            "  localhost:5111:",
            "  zreg:5000:",
            "  zreg:5111:"
        ]
    );
    assert!(text.contains("  localhost:5111:\n    endpoint:\n    - http://zreg:5000\n"));
    // the same key twice is one mirror
    let r = created("reg:5000", "0.0.0.0", 5000);
    assert_eq!(registries_yaml(&[r], &[]).matches("reg:5000:").count(), 1);
}

#[test]
fn natural_order() {
    assert_eq!(natural_cmp("a:5000", "a:41234"), Ordering::Less);
    assert_eq!(natural_cmp("a:5000", "a:5000"), Ordering::Equal);
    assert_eq!(natural_cmp("a:50", "a:050"), Ordering::Equal);
    assert_eq!(natural_cmp("a", "a:1"), Ordering::Less);
    assert_eq!(natural_cmp("b:1", "a:2"), Ordering::Greater);
}

/// k3d's own test (`registry_test.go`) and the 0.0.0.0 → localhost rule.
#[test]
fn configmap_as_k3d_renders_it() {
    let r = Registry {
        name: "test-host".into(),
        host: "test-host".into(),
        host_ip: "0.0.0.0".into(),
        host_port: 5432,
        internal_port: 1234,
    };
    assert_eq!(
        hosting_configmap(&r),
        "apiVersion: v1
data:
  localRegistryHosting.v1: |
    help: https://k3d.io/stable/usage/registries/#using-a-local-registry
    host: test-host:5432
    hostFromClusterNetwork: test-host:1234
    hostFromContainerRuntime: test-host:1234
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
"
    );
    let r = created("demo-registry:0.0.0.0:5111", "0.0.0.0", 5111);
    let cm = hosting_configmap(&r);
    assert!(cm.contains("    host: localhost:5111\n"), "{cm}");
    assert!(cm.contains("    hostFromClusterNetwork: demo-registry:5000\n"));
    // a used registry has no host: its binding's address, 0.0.0.0 again as localhost
    let used = Registry {
        host: String::new(),
        host_ip: "127.0.0.1".into(),
        ..r
    };
    assert!(hosting_configmap(&used).contains("    host: 127.0.0.1:5111\n"));
}

#[test]
fn registry_read_back_from_its_container() {
    let ports = BTreeMap::from([(
        "5000/tcp".to_owned(),
        vec![HostBinding {
            host_ip: "127.0.0.1".into(),
            host_port: "5111".into(),
        }],
    )]);
    let r = registry_from_container("k3d-reg", &ports).unwrap();
    assert_eq!(
        (r.internal_port, r.host_port, r.host_ip.as_str()),
        (5000, 5111, "127.0.0.1")
    );
    assert!(registry_from_container("x", &BTreeMap::new()).is_err());
    let unpublished = BTreeMap::from([("5000/tcp".to_owned(), vec![])]);
    let e = registry_from_container("x", &unpublished).unwrap_err();
    assert!(e.contains("does not publish"), "{e}");
}
