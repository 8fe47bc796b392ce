//! Kubeconfig files on disk: where the default one is, and atomic, private writes.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::spec::SpecError;
use crate::spec::kubeconfig::Kubeconfig;
use crate::spec::names::ClusterName;

#[derive(Debug, Error)]
pub enum KubeconfigFileError {
    #[error(
        "KUBECONFIG names {count} files; set it to exactly one file (or unset it) so bootstrap knows which to update"
    )]
    ManyFiles { count: usize },

    #[error("cannot find the home directory to place ~/.kube/config; set HOME or KUBECONFIG")]
    NoHome,

    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Spec(#[from] SpecError),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KubeconfigFileError {
    let path = path.to_path_buf();
    move |source| KubeconfigFileError::Io {
        action,
        path,
        source,
    }
}

/// client-go's default: `$KUBECONFIG` when it names exactly one file, else `~/.kube/config`.
pub(crate) fn default_path(
    kubeconfig: Option<OsString>,
    home: Option<PathBuf>,
) -> Result<PathBuf, KubeconfigFileError> {
    if let Some(value) = kubeconfig.filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        return match paths.as_slice() {
            [one] => Ok(one.clone()),
            [] => default_path(None, home),
            many => Err(KubeconfigFileError::ManyFiles { count: many.len() }),
        };
    }
    let home = home
        .filter(|h| !h.as_os_str().is_empty())
        .ok_or(KubeconfigFileError::NoHome)?;
    Ok(home.join(".kube").join("config"))
}

/// The default path from this process's environment.
pub(crate) fn default_path_from_env() -> Result<PathBuf, KubeconfigFileError> {
    default_path(
        std::env::var_os("KUBECONFIG"),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

/// Reads a kubeconfig; a missing file is an empty kubeconfig.
pub(crate) fn load(path: &Path) -> Result<Kubeconfig, KubeconfigFileError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Kubeconfig::parse(&text, &format!("at {}", path.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Kubeconfig::default()),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// Writes `kc` to `path` so that readers see the old or the new file, never half of one:
/// a private (0600) temporary file next to the target (after following symlinks), synced,
/// then renamed over it. Missing directories are created 0700.
pub(crate) fn write_atomic(path: &Path, kc: &Kubeconfig) -> Result<(), KubeconfigFileError> {
    let target = resolve_symlinks(path)?;
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io("restrict", dir))?;
    }
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut tmp_name = target
        .file_name()
        .map(OsString::from)
        .unwrap_or_else(|| "config".into());
    tmp_name.push(format!(".bootstrap_{stamp}"));
    let tmp = dir.join(tmp_name);
    let text = kc.to_yaml()?;
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        Ok(())
    };
    if let Err(e) = write().and_then(|()| fs::rename(&tmp, &target)) {
        let _ = fs::remove_file(&tmp);
        return Err(io("write", &target)(e));
    }
    Ok(())
}

fn resolve_symlinks(path: &Path) -> Result<PathBuf, KubeconfigFileError> {
    match fs::canonicalize(path) {
        Ok(p) => Ok(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling symlink still names where the file belongs.
            match fs::read_link(path) {
                Ok(link) if link.is_absolute() => Ok(link),
                Ok(link) => Ok(path.parent().unwrap_or(Path::new(".")).join(link)),
                Err(_) => Ok(path.to_path_buf()),
            }
        }
        Err(e) => Err(io("resolve", path)(e)),
    }
}

/// Merges `new` into the kubeconfig at `path` (k3d's rules, see [`Kubeconfig::merge`]).
pub(crate) fn merge_into(
    path: &Path,
    new: &Kubeconfig,
    switch_context: bool,
) -> Result<(), KubeconfigFileError> {
    let mut kc = load(path)?;
    kc.merge(new, switch_context);
    write_atomic(path, &kc)
}

/// Removes a cluster's entries from the kubeconfig at `path`; returns whether it changed.
/// A missing file is left missing.
pub(crate) fn remove_cluster(
    path: &Path,
    cluster: &ClusterName,
) -> Result<bool, KubeconfigFileError> {
    if !path.exists() {
        return Ok(false);
    }
    let mut kc = load(path)?;
    if !kc.remove_cluster(cluster) {
        return Ok(false);
    }
    write_atomic(path, &kc)?;
    Ok(true)
}

/// k3d's per-cluster kubeconfig file, `$XDG_CONFIG_HOME/k3d/kubeconfig-<name>.yaml`.
pub(crate) fn standalone_path(
    xdg_config_home: Option<PathBuf>,
    home: Option<PathBuf>,
    cluster: &ClusterName,
) -> Option<PathBuf> {
    let base = xdg_config_home
        .filter(|p| !p.as_os_str().is_empty())
        .or_else(|| home.map(|h| h.join(".config")))?;
    Some(base.join("k3d").join(format!("kubeconfig-{cluster}.yaml")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ports::ApiEndpoint;

    fn kc(name: &str) -> Kubeconfig {
        let api = ApiEndpoint {
            host: "127.0.0.1".into(),
            host_ip: "127.0.0.1".into(),
            port: 6550,
        };
        Kubeconfig::from_k3s(
            crate::spec::kubeconfig::tests::K3S_KUBECONFIG,
            &ClusterName::parse(name).unwrap(),
            &api,
        )
        .unwrap()
    }

    #[test]
    fn default_path_rules() {
        let home = Some(PathBuf::from("/home/u"));
        assert_eq!(
            default_path(None, home.clone()).unwrap(),
            PathBuf::from("/home/u/.kube/config")
        );
        assert_eq!(
            default_path(Some("/k/one".into()), home.clone()).unwrap(),
            PathBuf::from("/k/one")
        );
        assert_eq!(
            default_path(Some("".into()), home.clone()).unwrap(),
            PathBuf::from("/home/u/.kube/config")
        );
        let err = default_path(Some("/a:/b".into()), home).unwrap_err();
        assert!(err.to_string().contains("names 2 files"), "{err}");
        assert!(
            default_path(None, None)
                .unwrap_err()
                .to_string()
                .contains("set HOME")
        );
    }

    #[test]
    fn merge_creates_a_private_file_and_keeps_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/config");
        merge_into(&path, &kc("one"), true).unwrap();
        merge_into(&path, &kc("two"), false).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.current_context, "k3d-one");
        assert_eq!(loaded.contexts.len(), 2);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files stay behind");

        assert!(remove_cluster(&path, &ClusterName::parse("one").unwrap()).unwrap());
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.current_context, "k3d-two");
        assert!(
            !remove_cluster(
                &dir.path().join("absent"),
                &ClusterName::parse("one").unwrap()
            )
            .unwrap()
        );
        assert!(!dir.path().join("absent").exists());
    }

    #[test]
    fn writes_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real-config");
        let link = dir.path().join("config");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        merge_into(&link, &kc("one"), true).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link stays a link"
        );
        assert_eq!(load(&real).unwrap().current_context, "k3d-one");
    }

    #[test]
    fn a_broken_file_is_reported_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        fs::write(&path, "clusters: [oops").unwrap();
        let err = merge_into(&path, &kc("one"), true).unwrap_err().to_string();
        assert!(err.contains("is not a valid kubeconfig"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "clusters: [oops");
    }

    #[test]
    fn standalone_file_location() {
        let c = ClusterName::parse("demo").unwrap();
        assert_eq!(
            standalone_path(Some("/x".into()), Some("/h".into()), &c),
            Some(PathBuf::from("/x/k3d/kubeconfig-demo.yaml"))
        );
        assert_eq!(
            standalone_path(None, Some("/h".into()), &c),
            Some(PathBuf::from("/h/.config/k3d/kubeconfig-demo.yaml"))
        );
    }
}
