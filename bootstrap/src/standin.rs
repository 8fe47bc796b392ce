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

/// Debian's `docker-registry` (Distribution 2.8, the code of `registry:2`), dynamically linked.
const HOST_REGISTRY: &str = "/usr/bin/docker-registry";
/// What it needs of the host at run time (glibc), at the paths the binary names.
const HOST_REGISTRY_LIBS: [&str; 2] = [
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/ld-linux-x86-64.so.2",
];
/// The settings `registry:2` ships: files under /var/lib/registry, plain HTTP on :5000, no auth.
const REGISTRY_CONFIG: &str = "version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
";
const REGISTRY_DOCKERFILE: &str = "FROM scratch
COPY . /
VOLUME /var/lib/registry
EXPOSE 5000
ENTRYPOINT [\"/bin/registry\"]
CMD [\"serve\", \"/etc/docker/registry/config.yml\"]
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

/// Builds a stand-in for `registry:2` (the image of k3d's registries) as `image`, from the
/// host's Debian `docker-registry` and the glibc it links: the same program, serving the
/// registry API on :5000 and logging `listening on`, where `registry:2` cannot be pulled.
pub async fn build_registry(engine: &Engine, image: &str) -> Result<(), Error> {
    let read = |path: &str| {
        std::fs::read(path).map_err(Error::io(format!(
            "read {path} (install Debian's docker-registry)"
        )))
    };
    let mut items = vec![
        TarItem::File {
            path: "Dockerfile".to_owned(),
            mode: 0o644,
            data: REGISTRY_DOCKERFILE.as_bytes().to_vec(),
        },
        TarItem::File {
            path: "bin/registry".to_owned(),
            mode: 0o755,
            data: read(HOST_REGISTRY)?,
        },
        TarItem::File {
            path: "etc/docker/registry/config.yml".to_owned(),
            mode: 0o644,
            data: REGISTRY_CONFIG.as_bytes().to_vec(),
        },
    ];
    for lib in HOST_REGISTRY_LIBS {
        items.push(TarItem::File {
            path: lib.trim_start_matches('/').to_owned(),
            mode: 0o755,
            data: read(lib)?,
        });
    }
    let context = archive::build(&items)?;
    engine
        .build_image(context, image, &Default::default(), &|_| {})
        .await?;
    Ok(())
}
