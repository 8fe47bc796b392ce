//! Preflight rules: facts about the Docker host in, one line per check out, each problem with
//! its fix. `bootstrap doctor` prints them; `cluster create` refuses to start on a failure.

use std::fmt::{self, Write as _};

use serde::Serialize;

use super::build_path::{BUILDER_IMAGE, BuildPath};
use super::ports::{HostBinding, Protocol};

/// Oldest Docker API bootstrap drives (Docker 19.03): `Init`, tmpfs and archive uploads all
/// work there.
pub(crate) const MIN_API_VERSION: (u32, u32) = (1, 40);

const MIB: u64 = 1024 * 1024;
/// K3s's documented minimums per node, and twice that as the comfortable size.
const MIN_SERVER: u64 = 512 * MIB;
const MIN_AGENT: u64 = 256 * MIB;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct EngineFacts {
    pub(crate) server_version: String,
    pub(crate) api_version: String,
    pub(crate) os: String,
    /// `/info`'s `OSType` (`linux`, `windows`) and `/version`'s `Arch` (`amd64`, `arm64`):
    /// what the workload images are built for.
    pub(crate) os_type: String,
    pub(crate) arch: String,
    /// The engine's `Name`: `colima` matters to the DNS fix.
    pub name: String,
    /// `"1"` or `"2"` as `docker info` reports it, when it does.
    pub(crate) cgroup_version: Option<String>,
    pub(crate) mem_total: u64,
    pub(crate) rootless: bool,
}

/// A host port the cluster wants, and who asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct WantedPort {
    pub(crate) owner: String,
    pub(crate) binding: HostBinding,
    pub(crate) protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) enum PortState {
    Free,
    InUse { holder: Option<String> },
    Unchecked { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) enum ImageState {
    Present,
    Pullable,
    Unavailable { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct DoctorFacts {
    /// Where Docker was looked for, and why there (`DOCKER_HOST` or the default).
    pub(crate) endpoint: String,
    pub(crate) engine: Result<EngineFacts, String>,
    /// `MemAvailable` of this machine, when Docker runs on it.
    pub(crate) host_memory_available: Option<u64>,
    pub ports: Vec<(WantedPort, PortState)>,
    pub(crate) images: Vec<(String, ImageState)>,
    pub servers: usize,
    pub agents: usize,
    /// Memory the workloads will take besides K3s (part 3: Argo CD and the Git server).
    pub workloads_memory_mib: u64,
    /// Where the workload images would be built, and for an engine build whether the engine
    /// has the builder image; `None` when not asked.
    pub(crate) image_build: Option<(BuildPath, Option<ImageState>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Finding {
    pub(crate) level: Level,
    pub(crate) subject: String,
    pub(crate) message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        write!(f, "{tag} {:<10} {}", self.subject, self.message)
    }
}

pub(crate) fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(out, "{f}");
    }
    out
}

pub(crate) fn failures(findings: &[Finding]) -> usize {
    findings.iter().filter(|f| f.level == Level::Fail).count()
}

fn finding(level: Level, subject: &str, message: String) -> Finding {
    Finding {
        level,
        subject: subject.to_owned(),
        message,
    }
}

/// The checks, in the order a user fixes them: Docker, its version, cgroups, memory, ports,
/// images.
pub(crate) fn evaluate(facts: &DoctorFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    let engine = match &facts.engine {
        Err(e) => {
            out.push(finding(
                Level::Fail,
                "docker",
                format!(
                    "cannot reach Docker at {} ({e}); start it (`sudo systemctl start docker`) or set DOCKER_HOST to a running engine",
                    facts.endpoint
                ),
            ));
            return out;
        }
        Ok(engine) => engine,
    };
    out.push(finding(
        Level::Ok,
        "docker",
        format!(
            "reachable at {}: Docker {} on {}",
            facts.endpoint, engine.server_version, engine.os
        ),
    ));

    match parse_version(&engine.api_version) {
        Some(v) if v >= MIN_API_VERSION => out.push(finding(
            Level::Ok,
            "api",
            format!("Docker API {}", engine.api_version),
        )),
        _ => out.push(finding(
            Level::Fail,
            "api",
            format!(
                "Docker API {} is older than {}.{}; upgrade Docker Engine to 19.03 or newer",
                engine.api_version, MIN_API_VERSION.0, MIN_API_VERSION.1
            ),
        )),
    }

    out.push(match engine.cgroup_version.as_deref() {
        Some("2") => finding(
            Level::Ok,
            "cgroup",
            "v2: nodes get the cgroupv2 entrypoint fix (K3D_FIX_CGROUPV2)".to_owned(),
        ),
        Some(v) => finding(Level::Ok, "cgroup", format!("v{v}")),
        None => finding(
            Level::Warn,
            "cgroup",
            "Docker does not report a cgroup version; if nodes fail with cgroup errors, set K3D_FIX_CGROUPV2=1".to_owned(),
        ),
    });
    if engine.rootless {
        out.push(finding(
            Level::Warn,
            "rootless",
            "Docker runs rootless; K3s nodes need cgroup v2 with delegated controllers (see K3s's rootless notes)".to_owned(),
        ));
    }

    let need = MIN_SERVER * facts.servers as u64
        + MIN_AGENT * facts.agents as u64
        + facts.workloads_memory_mib * MIB;
    let workloads = if facts.workloads_memory_mib > 0 {
        format!(" and their workloads {} MiB", facts.workloads_memory_mib)
    } else {
        String::new()
    };
    let (have, source) = match facts.host_memory_available {
        Some(avail) => (avail, "available on this machine"),
        None => (engine.mem_total, "in the Docker VM"),
    };
    out.push(if have < need {
        finding(
            Level::Fail,
            "memory",
            format!(
                "{} MiB {source}, but {} server(s) and {} agent(s){workloads} need at least {} MiB; free memory or create fewer nodes (--agents)",
                have / MIB, facts.servers, facts.agents, need / MIB
            ),
        )
    } else if have < 2 * need {
        finding(
            Level::Warn,
            "memory",
            format!(
                "{} MiB {source}; {} MiB is the minimum and {} MiB comfortable for this cluster",
                have / MIB, need / MIB, 2 * need / MIB
            ),
        )
    } else {
        finding(Level::Ok, "memory", format!("{} MiB {source}", have / MIB))
    });

    for (wanted, state) in &facts.ports {
        let addr = wanted.describe();
        out.push(match state {
            PortState::Free => finding(
                Level::Ok,
                "port",
                format!("{addr} is free ({})", wanted.owner),
            ),
            PortState::InUse { holder } => finding(
                Level::Fail,
                "port",
                format!(
                    "{addr} ({}) is already in use{}; stop that or choose another host port",
                    wanted.owner,
                    holder
                        .as_ref()
                        .map(|h| format!(" by {h}"))
                        .unwrap_or_default()
                ),
            ),
            PortState::Unchecked { reason } => finding(
                Level::Warn,
                "port",
                format!("{addr} ({}) not checked: {reason}", wanted.owner),
            ),
        });
    }

    for (image, state) in &facts.images {
        out.push(match state {
            ImageState::Present => finding(Level::Ok, "image", format!("{image} is present")),
            ImageState::Pullable => finding(
                Level::Ok,
                "image",
                format!("{image} is not present; it will be pulled"),
            ),
            ImageState::Unavailable { reason } => finding(
                Level::Fail,
                "image",
                format!(
                    "{image} is not present and cannot be pulled ({reason}); fix the registry access or `docker load` the image"
                ),
            ),
        });
    }
    if let Some((path, builder)) = &facts.image_build {
        out.push(image_build_finding(path, builder.as_ref()));
    }
    out
}

fn image_build_finding(path: &BuildPath, builder: Option<&ImageState>) -> Finding {
    match (path, builder) {
        (BuildPath::Host { target }, _) => finding(
            Level::Ok,
            "images",
            format!("built on the host ({target} present, cc finds a static libc)"),
        ),
        (BuildPath::Engine { reason }, Some(ImageState::Present)) => finding(
            Level::Ok,
            "images",
            format!("built inside the engine ({reason}); needs {BUILDER_IMAGE} (present)"),
        ),
        (BuildPath::Engine { reason }, Some(ImageState::Pullable)) => finding(
            Level::Ok,
            "images",
            format!("built inside the engine ({reason}); needs {BUILDER_IMAGE} (pullable)"),
        ),
        (BuildPath::Engine { reason }, Some(ImageState::Unavailable { reason: why })) => finding(
            Level::Fail,
            "images",
            format!(
                "built inside the engine ({reason}); needs {BUILDER_IMAGE} (not reachable: {why}); give the engine registry access or `docker load` that image"
            ),
        ),
        (BuildPath::Engine { reason }, None) => finding(
            Level::Warn,
            "images",
            format!(
                "built inside the engine ({reason}); whether it has {BUILDER_IMAGE} was not checked"
            ),
        ),
        (BuildPath::Unsupported { reason }, _) => {
            finding(Level::Fail, "images", format!("cannot be built: {reason}"))
        }
    }
}

fn display_binding(b: &HostBinding) -> String {
    let ip = if b.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        &b.host_ip
    };
    format!("{ip}:{}", b.host_port)
}

impl WantedPort {
    fn describe(&self) -> String {
        let addr = display_binding(&self.binding);
        match self.protocol {
            Protocol::Tcp => addr,
            other => format!("{addr}/{}", other.as_str()),
        }
    }
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * MIB;

    fn healthy() -> DoctorFacts {
        DoctorFacts {
            endpoint: "unix:///var/run/docker.sock (default)".into(),
            engine: Ok(EngineFacts {
                server_version: "20.10.24".into(),
                api_version: "1.41".into(),
                os: "Debian GNU/Linux 12".into(),
                os_type: "linux".into(),
                arch: "amd64".into(),
                name: "vm".into(),
                cgroup_version: Some("1".into()),
                mem_total: 8 * GIB,
                rootless: false,
            }),
            host_memory_available: Some(8 * GIB),
            ports: vec![(
                WantedPort {
                    owner: "--api-port".into(),
                    binding: HostBinding {
                        host_ip: "127.0.0.1".into(),
                        host_port: "6443".into(),
                    },
                    protocol: Protocol::Tcp,
                },
                PortState::Free,
            )],
            images: vec![("rancher/k3s:v1.35.5-k3s1".into(), ImageState::Present)],
            servers: 1,
            agents: 2,
            workloads_memory_mib: 0,
            image_build: Some((
                BuildPath::Host {
                    target: "x86_64-unknown-linux-gnu",
                },
                None,
            )),
        }
    }

    #[test]
    fn the_image_build_path_and_its_builder() {
        let line = |path: BuildPath, builder: Option<ImageState>| {
            let mut facts = healthy();
            facts.image_build = Some((path, builder));
            let f = evaluate(&facts);
            f.into_iter().find(|f| f.subject == "images").unwrap()
        };
        let host = line(
            BuildPath::Host {
                target: "x86_64-unknown-linux-gnu",
            },
            None,
        );
        assert_eq!(host.level, Level::Ok);
        assert_eq!(
            host.to_string(),
            "ok   images     built on the host (x86_64-unknown-linux-gnu present, cc finds a static libc)"
        );
        let engine = || BuildPath::Engine {
            reason: "arm64 engine, amd64 host".into(),
        };
        let pullable = line(engine(), Some(ImageState::Pullable));
        assert_eq!(pullable.level, Level::Ok);
        assert_eq!(
            pullable.message,
            format!(
                "built inside the engine (arm64 engine, amd64 host); needs {BUILDER_IMAGE} (pullable)"
            )
        );
        assert!(
            line(engine(), Some(ImageState::Present))
                .message
                .ends_with("(present)")
        );
        let unreachable = line(
            engine(),
            Some(ImageState::Unavailable {
                reason: "no such host".into(),
            }),
        );
        assert_eq!(unreachable.level, Level::Fail);
        assert!(
            unreachable
                .message
                .contains("(not reachable: no such host); give the engine registry access"),
            "{}",
            unreachable.message
        );
        let windows = line(
            BuildPath::Unsupported {
                reason: "the engine runs windows containers".into(),
            },
            None,
        );
        assert_eq!(windows.level, Level::Fail);
        let mut facts = healthy();
        facts.image_build = None;
        assert!(evaluate(&facts).iter().all(|f| f.subject != "images"));
    }

    #[test]
    fn a_healthy_host_passes() {
        let f = evaluate(&healthy());
        assert_eq!(failures(&f), 0, "{}", render(&f));
        assert!(f.iter().all(|f| f.level == Level::Ok), "{}", render(&f));
        let text = render(&f);
        assert!(text.contains(
            "ok   docker     reachable at unix:///var/run/docker.sock (default): Docker 20.10.24"
        ));
        assert!(text.contains("127.0.0.1:6443 is free (--api-port)"));
    }

    #[test]
    fn unreachable_docker_is_one_line_with_the_fix() {
        let mut facts = healthy();
        facts.engine = Err("connection refused".into());
        let f = evaluate(&facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].level, Level::Fail);
        assert!(f[0].message.contains("(connection refused); start it"));
    }

    #[test]
    fn the_workloads_memory_counts_with_the_nodes() {
        let mut facts = healthy();
        facts.agents = 0;
        facts.host_memory_available = Some(1200 * MIB);
        assert_eq!(failures(&evaluate(&facts)), 0);
        facts.workloads_memory_mib = 896;
        let f = evaluate(&facts);
        let memory = f.iter().find(|f| f.subject == "memory").unwrap();
        assert_eq!(memory.level, Level::Fail);
        assert!(
            memory.message.contains(
                "1200 MiB available on this machine, but 1 server(s) and 0 agent(s) and their \
                 workloads 896 MiB need at least 1408 MiB"
            ),
            "{}",
            memory.message
        );
    }

    #[test]
    fn each_problem_has_its_fix() {
        let mut facts = healthy();
        if let Ok(e) = facts.engine.as_mut() {
            e.api_version = "1.39".into();
            e.cgroup_version = Some("2".into());
        }
        facts.host_memory_available = Some(600 * MIB);
        facts.ports[0].1 = PortState::InUse {
            holder: Some("container web (docker)".into()),
        };
        facts.images[0].1 = ImageState::Unavailable {
            reason: "no such host".into(),
        };
        let f = evaluate(&facts);
        let text = render(&f);
        assert_eq!(failures(&f), 4, "{text}");
        assert!(text.contains("FAIL api        Docker API 1.39 is older than 1.40; upgrade"));
        assert!(text.contains("v2: nodes get the cgroupv2 entrypoint fix"));
        assert!(text.contains("600 MiB available on this machine, but 1 server(s) and 2 agent(s) need at least 1024 MiB"));
        assert!(text.contains(
            "127.0.0.1:6443 (--api-port) is already in use by container web (docker); stop that"
        ));
        assert!(text.contains("cannot be pulled (no such host); fix the registry access"));
    }

    #[test]
    fn warnings_do_not_fail() {
        let mut facts = healthy();
        facts.host_memory_available = Some(GIB + GIB / 2);
        facts.images[0].1 = ImageState::Pullable;
        facts.ports[0].1 = PortState::Unchecked {
            reason: "Docker is remote".into(),
        };
        let f = evaluate(&facts);
        assert_eq!(failures(&f), 0);
        assert!(
            f.iter()
                .any(|f| f.level == Level::Warn && f.subject == "memory")
        );
        assert!(render(&f).contains("it will be pulled"));
    }
}
