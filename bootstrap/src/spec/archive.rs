//! Tar archives in memory: what Docker's archive API takes (file uploads into containers,
//! image build contexts) and gives back (files read out of containers).

use std::io::Read;

use serde::Serialize;

use super::SpecError;

/// A file to place in a container before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSpec {
    /// Absolute path inside the container.
    pub path: String,
    pub(crate) mode: u32,
    pub content: String,
}

/// One member of an archive built here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarItem {
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    Symlink {
        path: String,
        target: String,
    },
}

impl From<&FileSpec> for TarItem {
    fn from(f: &FileSpec) -> Self {
        TarItem::File {
            path: f.path.clone(),
            mode: f.mode,
            data: f.content.clone().into_bytes(),
        }
    }
}

/// Builds an uncompressed tar. Member paths are made relative (Docker extracts relative to the
/// upload path, which is `/` for absolute destinations). Owner root and a fixed mtime make the
/// same input give the same bytes, so image builds are reproducible.
pub fn build(items: &[TarItem]) -> Result<Vec<u8>, SpecError> {
    let mut builder = tar::Builder::new(Vec::new());
    for item in items {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        let result = match item {
            TarItem::File { path, mode, data } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, path.trim_start_matches('/'), data.as_slice())
            }
            TarItem::Symlink { path, target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path.trim_start_matches('/'), target)
            }
        };
        result.map_err(|e| SpecError::Archive(format!("cannot add {item:?}: {e}")))?;
    }
    builder
        .into_inner()
        .map_err(|e| SpecError::Archive(format!("cannot finish the archive: {e}")))
}

/// The content of the regular file named `file_name` (its last path component) in `archive`,
/// as Docker's `GET /containers/{id}/archive` returns a single file.
pub fn read_file(archive: &[u8], file_name: &str) -> Result<Vec<u8>, SpecError> {
    let mut tar = tar::Archive::new(archive);
    let entries = tar
        .entries()
        .map_err(|e| SpecError::Archive(format!("unreadable tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| SpecError::Archive(format!("unreadable tar: {e}")))?;
        let matches = entry
            .path()
            .ok()
            .and_then(|p| p.file_name().map(|n| n == file_name))
            .unwrap_or(false);
        if matches && entry.header().entry_type().is_file() {
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .map_err(|e| SpecError::Archive(format!("unreadable tar member: {e}")))?;
            return Ok(data);
        }
    }
    Err(SpecError::Archive(format!(
        "the archive holds no file named {file_name}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_modes() {
        let items = vec![
            TarItem::File {
                path: "/etc/confd/values.yaml".into(),
                mode: 0o744,
                data: b"ports: {}\n".to_vec(),
            },
            TarItem::Symlink {
                path: "bin/sh".into(),
                target: "busybox".into(),
            },
        ];
        let bytes = build(&items).unwrap();
        assert_eq!(bytes, build(&items).unwrap(), "same input, same bytes");
        assert_eq!(read_file(&bytes, "values.yaml").unwrap(), b"ports: {}\n");
        let mut tar = tar::Archive::new(bytes.as_slice());
        let seen: Vec<(String, u32, bool)> = tar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                    e.header().entry_type().is_symlink(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("etc/confd/values.yaml".to_owned(), 0o744, false),
                ("bin/sh".to_owned(), 0o777, true)
            ]
        );
    }

    #[test]
    fn missing_file_is_an_error() {
        let bytes = build(&[]).unwrap();
        let err = read_file(&bytes, "kubeconfig.yaml").unwrap_err();
        assert!(err.to_string().contains("no file named kubeconfig.yaml"));
        assert!(read_file(b"not a tar at all, just some bytes", "x").is_err());
    }
}
