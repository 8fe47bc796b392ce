//! Where the workload images are built: on the host (`cargo static`, then a `FROM scratch`
//! image around the binary) when the host can link a static binary the engine can run, else
//! inside the engine from the crate's multi-stage Dockerfile. The choice is a function of
//! facts about both sides, so every case is a table row.

/// The rust image the Dockerfiles' builder stage starts from: what an engine build pulls.
/// A test checks each workload Dockerfile names exactly this reference.
/// Pinned by the digest of the tag's multi-arch index (amd64 and arm64 share it), so an
/// engine of either arch pulls the same toolchain.
pub(crate) const BUILDER_IMAGE: &str = "docker.io/library/rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1";

/// What bootstrap knows about the machine it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostFacts {
    /// `std::env::consts::OS`: `linux`, `macos`, `windows`.
    pub(crate) os: String,
    /// `std::env::consts::ARCH`: `x86_64`, `aarch64`.
    pub(crate) arch: String,
    /// The standard library of [`static_target`] for this arch is in the toolchain's sysroot.
    pub(crate) static_target_installed: bool,
    /// A C compiler driver that finds a static libc (`cc -print-file-name=libc.a`): what
    /// `cargo static`'s `+crt-static` link needs.
    pub(crate) linker_present: bool,
}

/// What the Docker engine reports: `/info`'s `OSType` and `/version`'s `Arch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EngineArch {
    pub(crate) os: String,
    pub(crate) arch: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) enum BuildPath {
    /// `cargo static --target <target>` on the host, the image around the binary.
    Host { target: &'static str },
    /// The crate's Dockerfile built by the engine (BuildKit), for `reason`.
    Engine { reason: String },
    /// Neither can give an image this engine runs.
    Unsupported { reason: String },
}

/// The Go architecture name (`amd64`, `arm64`) for a Rust or Go one; others unchanged.
pub(crate) fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "amd64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        other => other,
    }
}

/// The glibc target `cargo static` links statically for a host arch (see
/// `.cargo/static.toml`, which carries the flags of each).
pub(crate) fn static_target(arch: &str) -> Option<&'static str> {
    match go_arch(arch) {
        "amd64" => Some("x86_64-unknown-linux-gnu"),
        "arm64" => Some("aarch64-unknown-linux-gnu"),
        _ => None,
    }
}

pub(crate) fn build_path(host: &HostFacts, engine: &EngineArch) -> BuildPath {
    if !engine.os.eq_ignore_ascii_case("linux") {
        return BuildPath::Unsupported {
            reason: format!(
                "the engine runs {} containers; the workload images are Linux images (switch it to Linux containers)",
                engine.os
            ),
        };
    }
    let engine_arch = go_arch(&engine.arch);
    if static_target(engine_arch).is_none() {
        return BuildPath::Unsupported {
            reason: format!(
                "the engine is {engine_arch}; the workload images are built for amd64 and arm64 only"
            ),
        };
    }
    let host_arch = go_arch(&host.arch);
    let reason = if host.os != "linux" {
        format!(
            "{engine_arch} engine, {} host: a static Linux binary needs a Linux linker",
            host.os
        )
    } else if host_arch != engine_arch {
        format!("{engine_arch} engine, {host_arch} host")
    } else if let Some(target) = static_target(host_arch) {
        if !host.static_target_installed {
            format!("the static target {target} is not installed (`rustup target add {target}`)")
        } else if !host.linker_present {
            format!(
                "no C linker with a static libc for {target} (`cc -print-file-name=libc.a`; on Debian: apt install gcc libc6-dev)"
            )
        } else {
            return BuildPath::Host { target };
        }
    } else {
        format!("{engine_arch} engine, {host_arch} host")
    };
    BuildPath::Engine { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(os: &str, arch: &str, target: bool, linker: bool) -> HostFacts {
        HostFacts {
            os: os.into(),
            arch: arch.into(),
            static_target_installed: target,
            linker_present: linker,
        }
    }

    fn engine(os: &str, arch: &str) -> EngineArch {
        EngineArch {
            os: os.into(),
            arch: arch.into(),
        }
    }

    #[test]
    fn the_table() {
        let host_build = |t| BuildPath::Host { target: t };
        let in_engine = |r: &str| BuildPath::Engine { reason: r.into() };
        let rows: &[(HostFacts, EngineArch, BuildPath)] = &[
            // linux/amd64 on both sides, target and linker present
            (
                host("linux", "x86_64", true, true),
                engine("linux", "amd64"),
                host_build("x86_64-unknown-linux-gnu"),
            ),
            // the engine may say x86_64 (`/info`'s Architecture) too
            (
                host("linux", "x86_64", true, true),
                engine("linux", "x86_64"),
                host_build("x86_64-unknown-linux-gnu"),
            ),
            // an arm64 Linux host with an arm64 engine builds on the host as well
            (
                host("linux", "aarch64", true, true),
                engine("linux", "arm64"),
                host_build("aarch64-unknown-linux-gnu"),
            ),
            // macOS (Docker Desktop on Apple silicon): no Linux linker
            (
                host("macos", "aarch64", true, true),
                engine("linux", "arm64"),
                in_engine("arm64 engine, macos host: a static Linux binary needs a Linux linker"),
            ),
            (
                host("macos", "x86_64", false, false),
                engine("linux", "amd64"),
                in_engine("amd64 engine, macos host: a static Linux binary needs a Linux linker"),
            ),
            // linux/amd64 host driving an arm64 engine (remote DOCKER_HOST)
            (
                host("linux", "x86_64", true, true),
                engine("linux", "arm64"),
                in_engine("arm64 engine, amd64 host"),
            ),
            // the static target missing
            (
                host("linux", "x86_64", false, true),
                engine("linux", "amd64"),
                in_engine(
                    "the static target x86_64-unknown-linux-gnu is not installed (`rustup target add x86_64-unknown-linux-gnu`)",
                ),
            ),
            // the linker (or its static libc) missing
            (
                host("linux", "x86_64", true, false),
                engine("linux", "amd64"),
                in_engine(
                    "no C linker with a static libc for x86_64-unknown-linux-gnu (`cc -print-file-name=libc.a`; on Debian: apt install gcc libc6-dev)",
                ),
            ),
            // a host arch with no static target of ours
            (
                host("linux", "riscv64", true, true),
                engine("linux", "amd64"),
                in_engine("amd64 engine, riscv64 host"),
            ),
            (
                host("linux", "x86_64", true, true),
                engine("windows", "amd64"),
                BuildPath::Unsupported {
                    reason: "the engine runs windows containers; the workload images are Linux images (switch it to Linux containers)".into(),
                },
            ),
            (
                host("linux", "x86_64", true, true),
                engine("linux", "s390x"),
                BuildPath::Unsupported {
                    reason: "the engine is s390x; the workload images are built for amd64 and arm64 only".into(),
                },
            ),
        ];
        for (h, e, want) in rows {
            assert_eq!(&build_path(h, e), want, "host {h:?}, engine {e:?}");
        }
    }

    #[test]
    fn the_dockerfiles_start_from_the_builder_image() {
        for krate in ["echo-app", "token-server"] {
            let path = format!("{}/../{krate}/Dockerfile", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).expect("the workload's Dockerfile");
            let froms: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with("FROM "))
                .filter_map(|l| l.split_whitespace().nth(1))
                .collect();
            assert_eq!(froms, [BUILDER_IMAGE, "scratch"], "{path}");
        }
    }
}
