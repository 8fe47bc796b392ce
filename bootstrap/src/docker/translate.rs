//! Specs → Docker API bodies (k3d's `TranslateNodeToContainer`), pure and unit-tested.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding, RestartPolicy, RestartPolicyNameEnum, VolumeCreateRequest,
};

use crate::spec::cluster::{NetworkSpec, NodeSecurity, NodeSpec, VolumeSpec};

/// The capability Docker itself lacks on hosts where privileged containers cannot start.
#[cfg(feature = "test-nodes")]
const CAP_MISSING_ON_TEST_HOSTS: &str = "SYS_RESOURCE";

pub(crate) fn container(node: &NodeSpec) -> ContainerCreateBody {
    let (privileged, cap_add, cap_drop) = match node.security {
        NodeSecurity::Privileged => (true, None, None),
        NodeSecurity::Unprivileged => (false, None, None),
        #[cfg(feature = "test-nodes")]
        NodeSecurity::TestWithoutPrivileged => (
            false,
            Some(vec!["ALL".to_owned()]),
            Some(vec![CAP_MISSING_ON_TEST_HOSTS.to_owned()]),
        ),
    };
    let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = node
        .ports
        .iter()
        .map(|(key, bindings)| {
            let b = bindings
                .iter()
                .map(|b| PortBinding {
                    host_ip: Some(b.host_ip.clone()),
                    host_port: Some(b.host_port.clone()),
                })
                .collect();
            (key.clone(), Some(b))
        })
        .collect();
    let restart = match node.restart_policy.as_str() {
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => RestartPolicyNameEnum::NO,
    };
    ContainerCreateBody {
        hostname: Some(node.hostname.clone()),
        image: Some(node.image.clone()),
        entrypoint: node.entrypoint.clone(),
        cmd: Some(node.cmd.clone()),
        env: Some(node.env.clone()),
        labels: Some(node.labels.clone().into_iter().collect()),
        exposed_ports: Some(node.ports.keys().cloned().collect()),
        host_config: Some(HostConfig {
            privileged: Some(privileged),
            cap_add,
            cap_drop,
            userns_mode: Some(node.userns_mode.clone()),
            init: Some(node.init),
            tmpfs: Some(node.tmpfs.clone().into_iter().collect()),
            binds: Some(node.binds.clone()),
            restart_policy: Some(RestartPolicy {
                name: Some(restart),
                maximum_retry_count: None,
            }),
            network_mode: Some(node.network.clone()),
            port_bindings: Some(port_bindings),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                node.network.clone(),
                EndpointSettings::default(),
            )])),
        }),
        ..Default::default()
    }
}

pub(crate) fn network(spec: &NetworkSpec) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: spec.name.clone(),
        driver: Some(spec.driver.clone()),
        options: Some(spec.options.clone().into_iter().collect()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        ..Default::default()
    }
}

pub(crate) fn volume(spec: &VolumeSpec) -> VolumeCreateRequest {
    VolumeCreateRequest {
        name: Some(spec.name.clone()),
        driver: Some(spec.driver.clone()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::spec::cluster::Role;
    use crate::spec::ports::HostBinding;

    fn node(security: NodeSecurity) -> NodeSpec {
        NodeSpec {
            name: "k3d-demo-serverlb".into(),
            role: Role::LoadBalancer,
            image: "lb:1".into(),
            hostname: "k3d-demo-serverlb".into(),
            entrypoint: None,
            cmd: vec![],
            env: vec!["A=1".into()],
            labels: BTreeMap::from([("app".into(), "k3d".into())]),
            binds: vec!["k3d-demo-images:/k3d/images".into()],
            tmpfs: BTreeMap::from([("/run".into(), String::new())]),
            security,
            init: true,
            userns_mode: "host".into(),
            restart_policy: "unless-stopped".into(),
            network: "k3d-demo".into(),
            ports: BTreeMap::from([(
                "6443/tcp".into(),
                vec![HostBinding {
                    host_ip: "127.0.0.1".into(),
                    host_port: "6550".into(),
                }],
            )]),
            files: vec![],
            ready_log: "x".into(),
        }
    }

    #[test]
    fn privileged_node() {
        let body = container(&node(NodeSecurity::Privileged));
        let hc = body.host_config.unwrap();
        assert_eq!(hc.privileged, Some(true));
        assert_eq!(hc.cap_add, None);
        assert_eq!(hc.userns_mode.as_deref(), Some("host"));
        assert_eq!(hc.init, Some(true));
        assert_eq!(hc.network_mode.as_deref(), Some("k3d-demo"));
        assert_eq!(
            hc.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        let pb = hc.port_bindings.unwrap();
        let b = pb["6443/tcp"].as_ref().unwrap();
        assert_eq!(b[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(b[0].host_port.as_deref(), Some("6550"));
        assert_eq!(body.exposed_ports, Some(vec!["6443/tcp".to_owned()]));
        assert_eq!(body.entrypoint, None, "the image's entrypoint stays");
        assert_eq!(body.cmd, Some(vec![]));
        assert!(
            body.networking_config
                .unwrap()
                .endpoints_config
                .unwrap()
                .contains_key("k3d-demo")
        );
    }

    #[cfg(feature = "test-nodes")]
    #[test]
    fn test_relaxation_drops_only_what_the_host_lacks() {
        let hc = container(&node(NodeSecurity::TestWithoutPrivileged))
            .host_config
            .unwrap();
        assert_eq!(hc.privileged, Some(false));
        assert_eq!(hc.cap_add, Some(vec!["ALL".to_owned()]));
        assert_eq!(hc.cap_drop, Some(vec!["SYS_RESOURCE".to_owned()]));
    }
}
