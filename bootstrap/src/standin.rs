//! Stand-in node and load-balancer images for tests and benchmarks on machines that cannot
//! pull `rancher/k3s` or `k3d-proxy`: `FROM scratch` + the host's static busybox + small
//! scripts (`bootstrap/standin/*.sh`) that behave like K3s and k3d-proxy where bootstrap
//! can see it: the log lines, the kubeconfig file, `ctr image import`, `iptables-save`.
//! They are no Kubernetes; a cluster of them only proves bootstrap's Docker side.

use std::path::Path;

use crate::Error;
use crate::docker::Engine;
use crate::spec::archive::{self, TarItem};

/// Where Debian's `busybox-static` puts the binary.
pub(crate) const HOST_BUSYBOX: &str = "/bin/busybox";

const K3S: &str = include_str!("../standin/k3s.sh");
const CTR: &str = include_str!("../standin/ctr.sh");
const IPTABLES_SAVE: &str = include_str!("../standin/iptables-save.sh");
const IPTABLES_RESTORE: &str = include_str!("../standin/iptables-restore.sh");
const NGINX_PROXY: &str = include_str!("../standin/nginx-proxy.sh");

const NODE_DOCKERFILE: &str = "FROM scratch
COPY bin /bin
# the volumes the K3s image declares, so removal of anonymous volumes is exercised too
VOLUME /var/lib/kubelet /var/lib/rancher/k3s /var/lib/cni /var/log
ENTRYPOINT [\"/bin/k3s\"]
CMD [\"agent\"]
";

const LB_DOCKERFILE: &str = "FROM scratch
COPY bin /bin
ENTRYPOINT [\"/bin/nginx-proxy\"]
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandinImages {
    pub node: String,
    pub loadbalancer: String,
}

/// Builds both images as `<repo>/k3s-standin:<tag>` and `<repo>/k3d-proxy-standin:<tag>`.
pub async fn build(engine: &Engine, repo: &str, tag: &str) -> Result<StandinImages, Error> {
    let busybox = std::fs::read(HOST_BUSYBOX).map_err(Error::io(format!(
        "read {HOST_BUSYBOX} (install Debian's busybox-static)"
    )))?;
    let applets = applets(Path::new(HOST_BUSYBOX)).await?;
    let images = StandinImages {
        node: format!("{repo}/k3s-standin:{tag}"),
        loadbalancer: format!("{repo}/k3d-proxy-standin:{tag}"),
    };
    let node_scripts = [
        ("k3s", K3S),
        ("ctr", CTR),
        ("iptables-save", IPTABLES_SAVE),
        ("iptables-restore", IPTABLES_RESTORE),
    ];
    let lb_scripts = [("nginx-proxy", NGINX_PROXY)];
    for (image, dockerfile, scripts) in [
        (&images.node, NODE_DOCKERFILE, &node_scripts[..]),
        (&images.loadbalancer, LB_DOCKERFILE, &lb_scripts[..]),
    ] {
        let context = context(dockerfile, &busybox, &applets, scripts)?;
        engine
            .build_image(context, image, &Default::default(), &|_| {})
            .await?;
    }
    Ok(images)
}

async fn applets(busybox: &Path) -> Result<Vec<String>, Error> {
    let out = tokio::process::Command::new(busybox)
        .arg("--list")
        .output()
        .await
        .map_err(Error::io(format!("run {} --list", busybox.display())))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|a| !a.is_empty() && !a.contains('/'))
        .collect())
}

fn context(
    dockerfile: &str,
    busybox: &[u8],
    applets: &[String],
    scripts: &[(&str, &str)],
) -> Result<Vec<u8>, Error> {
    let mut items = vec![
        TarItem::File {
            path: "Dockerfile".to_owned(),
            mode: 0o644,
            data: dockerfile.as_bytes().to_vec(),
        },
        TarItem::File {
            path: "bin/busybox".to_owned(),
            mode: 0o755,
            data: busybox.to_vec(),
        },
    ];
    for applet in applets
        .iter()
        .filter(|a| !scripts.iter().any(|(s, _)| s == &a.as_str()) && a.as_str() != "busybox")
    {
        items.push(TarItem::Symlink {
            path: format!("bin/{applet}"),
            target: "busybox".to_owned(),
        });
    }
    for (name, text) in scripts {
        items.push(TarItem::File {
            path: format!("bin/{name}"),
            mode: 0o755,
            data: text.as_bytes().to_vec(),
        });
    }
    Ok(archive::build(&items)?)
}

/// Where Debian's `docker-registry` (the CNCF distribution, as in `registry:2`) puts its binary.
pub(crate) const HOST_REGISTRY: &str = "/usr/bin/docker-registry";

/// The configuration `registry:2` ships, reduced to what a test uses: filesystem storage in
/// the image's volume, HTTP on :5000.
const REGISTRY_CONFIG: &str = "version: 0.1
log:
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
";

const REGISTRY_DOCKERFILE: &str = "FROM scratch
COPY root /
VOLUME /var/lib/registry
EXPOSE 5000
ENTRYPOINT [\"/bin/registry\", \"serve\", \"/etc/docker/registry/config.yml\"]
";

/// Builds a stand-in for `registry:2` as `image`: Debian's build of the same CNCF distribution
/// registry (install the `docker-registry` package), with the shared libraries it links, in an
/// image `FROM scratch`. It listens on :5000 and logs `listening on`, as `registry:2` does.
pub async fn build_registry(engine: &Engine, image: &str) -> Result<(), Error> {
    let binary = std::fs::read(HOST_REGISTRY).map_err(Error::io(format!(
        "read {HOST_REGISTRY} (install Debian's docker-registry)"
    )))?;
    let mut items = vec![
        TarItem::File {
            path: "Dockerfile".to_owned(),
            mode: 0o644,
            data: REGISTRY_DOCKERFILE.as_bytes().to_vec(),
        },
        TarItem::File {
            path: "root/bin/registry".to_owned(),
            mode: 0o755,
            data: binary,
        },
        TarItem::File {
            path: "root/etc/docker/registry/config.yml".to_owned(),
            mode: 0o644,
            data: REGISTRY_CONFIG.as_bytes().to_vec(),
        },
    ];
    for lib in linked_libraries(Path::new(HOST_REGISTRY)).await? {
        let data = std::fs::read(&lib).map_err(Error::io(format!("read {lib}")))?;
        items.push(TarItem::File {
            path: format!("root{lib}"),
            mode: 0o755,
            data,
        });
    }
    let context = archive::build(&items)?;
    engine
        .build_image(context, image, &Default::default(), &|_| {})
        .await?;
    Ok(())
}

/// The absolute paths `ldd` names for a dynamically linked binary.
async fn linked_libraries(binary: &Path) -> Result<Vec<String>, Error> {
    let out = tokio::process::Command::new("ldd")
        .arg(binary)
        .output()
        .await
        .map_err(Error::io(format!("run ldd {}", binary.display())))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-… (0x…)`
            let path = l.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| path.to_owned())
        })
        .collect())
}
