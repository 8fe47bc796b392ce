//! k3d's entrypoint fixes: shell scripts placed in each K3s node before it starts, chosen per
//! Docker host (cgroup v2 delegation, reaching Docker's DNS from pods, shared mounts).

use serde::Serialize;

use super::archive::FileSpec;

/// The node entrypoint when any fix is on; it runs the fixes, then `/bin/k3s`.
pub(crate) const ENTRYPOINT_PATH: &str = "/bin/k3d-entrypoint.sh";

/// k3d writes its scripts with this mode; kept so `docker diff` matches.
const SCRIPT_MODE: u32 = 0o744;

const ENTRYPOINT: &str = include_str!("../../assets/k3d-entrypoint.sh");
const CGROUPV2: &str = include_str!("../../assets/k3d-entrypoint-cgroupv2.sh");
const DNS: &str = include_str!("../../assets/k3d-entrypoint-dns.sh");
const MOUNTS: &str = include_str!("../../assets/k3d-entrypoint-mounts.sh");

/// The placeholder in the DNS script for the cluster network's gateway.
const GATEWAY_PLACEHOLDER: &str = "@GATEWAY_IP@";

/// Which fixes a cluster's nodes get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fixes {
    pub cgroupv2: bool,
    pub dns: bool,
    pub mounts: bool,
}

impl Fixes {
    /// k3d's rule: an explicit `K3D_FIX_CGROUPV2` / `K3D_FIX_DNS` / `K3D_FIX_MOUNTS` wins (read
    /// as Go's `strconv.ParseBool`; anything unparsable means off); otherwise cgroupv2 is on
    /// for a cgroup v2 Docker host, DNS is on except on Colima, mounts is always on.
    pub(crate) fn decide(
        env: impl Fn(&str) -> Option<String>,
        cgroup_version: Option<&str>,
        docker_name: &str,
    ) -> Self {
        let choose = |var: &str, default: bool| match env(var) {
            Some(v) => parse_go_bool(&v).unwrap_or(false),
            None => default,
        };
        Self {
            cgroupv2: choose("K3D_FIX_CGROUPV2", cgroup_version == Some("2")),
            dns: choose("K3D_FIX_DNS", docker_name != "colima"),
            mounts: choose("K3D_FIX_MOUNTS", true),
        }
    }

    pub(crate) fn any(&self) -> bool {
        self.cgroupv2 || self.dns || self.mounts
    }

    /// The scripts to upload into a server or agent; `gateway` is the cluster network's
    /// gateway IP, which the DNS fix needs (`None` in a dry run, before the network exists).
    pub fn files(&self, gateway: Option<&str>) -> Vec<FileSpec> {
        if !self.any() {
            return Vec::new();
        }
        let script = |path: &str, content: String| FileSpec {
            path: path.to_owned(),
            mode: SCRIPT_MODE,
            content,
        };
        let mut files = vec![script(ENTRYPOINT_PATH, ENTRYPOINT.to_owned())];
        if self.cgroupv2 {
            files.push(script(
                "/bin/k3d-entrypoint-cgroupv2.sh",
                CGROUPV2.to_owned(),
            ));
        }
        if self.dns {
            let gw = gateway.unwrap_or("<gateway of the cluster network>");
            files.push(script(
                "/bin/k3d-entrypoint-dns.sh",
                DNS.replace(GATEWAY_PLACEHOLDER, gw),
            ));
        }
        if self.mounts {
            files.push(script("/bin/k3d-entrypoint-mounts.sh", MOUNTS.to_owned()));
        }
        files
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_follow_the_docker_host() {
        let v1 = Fixes::decide(no_env, Some("1"), "vm");
        assert_eq!(
            v1,
            Fixes {
                cgroupv2: false,
                dns: true,
                mounts: true
            }
        );
        let v2 = Fixes::decide(no_env, Some("2"), "vm");
        assert!(v2.cgroupv2);
        let colima = Fixes::decide(no_env, Some("2"), "colima");
        assert!(!colima.dns);
    }

    #[test]
    fn environment_overrides_like_k3d() {
        let env = |k: &str| match k {
            "K3D_FIX_DNS" => Some("0".to_owned()),
            "K3D_FIX_CGROUPV2" => Some("TRUE".to_owned()),
            "K3D_FIX_MOUNTS" => Some("yes".to_owned()), // not a Go bool: off
            _ => None,
        };
        let f = Fixes::decide(env, Some("1"), "vm");
        assert_eq!(
            f,
            Fixes {
                cgroupv2: true,
                dns: false,
                mounts: false
            }
        );
        let none = Fixes {
            cgroupv2: false,
            dns: false,
            mounts: false,
        };
        assert!(!none.any());
        assert!(none.files(None).is_empty());
    }

    #[test]
    fn files_carry_the_gateway_and_mode() {
        let f = Fixes {
            cgroupv2: true,
            dns: true,
            mounts: true,
        };
        let files = f.files(Some("192.0.2.1"));
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/bin/k3d-entrypoint.sh",
                "/bin/k3d-entrypoint-cgroupv2.sh",
                "/bin/k3d-entrypoint-dns.sh",
                "/bin/k3d-entrypoint-mounts.sh"
            ]
        );
        assert!(
            files
                .iter()
                .all(|f| f.mode == 0o744 && f.content.starts_with("#!/bin/sh\n"))
        );
        let dns = &files[2].content;
        assert!(dns.contains("gateway=\"192.0.2.1\""));
        assert!(!dns.contains(GATEWAY_PLACEHOLDER));
        assert!(files[0].content.contains("exec /bin/k3s \"$@\""));
    }
}
