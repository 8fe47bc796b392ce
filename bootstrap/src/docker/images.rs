//! Images: presence, pulls with progress, builds from in-memory contexts, `docker save`.

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::{DockerError, Engine, is_not_found, message_of};

/// Pull progress summed over layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullProgress {
    pub(crate) current: u64,
    pub(crate) total: u64,
}

/// A finished build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOutcome {
    pub(crate) image_id: String,
    pub(crate) size: u64,
}

impl Engine {
    pub(crate) async fn image_present(&self, image: &str) -> Result<bool, DockerError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(DockerError::api(format!("inspect image {image}"))(e)),
        }
    }

    /// `docker image inspect`, for callers that check an image's config.
    pub(crate) async fn inspect_image(
        &self,
        image: &str,
    ) -> Result<bollard::models::ImageInspect, DockerError> {
        self.docker
            .inspect_image(image)
            .await
            .map_err(DockerError::api(format!("inspect image {image}")))
    }

    /// Asks the registry for the image's manifest without pulling it.
    pub(crate) async fn registry_has(&self, image: &str) -> Result<(), String> {
        self.docker
            .inspect_registry_image(image, None)
            .await
            .map(drop)
            .map_err(|e| message_of(&e))
    }

    /// Pulls `image`, reporting summed layer progress.
    pub(crate) async fn pull(
        &self,
        image: &str,
        progress: &(dyn Fn(PullProgress) + Sync),
    ) -> Result<(), DockerError> {
        let (repo, tag) = split_reference(image);
        let opts = CreateImageOptionsBuilder::default()
            .from_image(repo)
            .tag(tag)
            .build();
        let mut stream = self.docker.create_image(Some(opts), None, None);
        let mut layers: BTreeMap<String, PullProgress> = BTreeMap::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(DockerError::api(format!("pull {image}")))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerError::Api {
                    action: format!("pull {image}"),
                    message: err,
                });
            }
            if let (Some(id), Some(detail)) = (info.id, info.progress_detail) {
                let entry = layers.entry(id).or_default();
                if let Some(total) = detail.total.and_then(|t| u64::try_from(t).ok()) {
                    entry.total = total;
                }
                if let Some(cur) = detail.current.and_then(|c| u64::try_from(c).ok()) {
                    entry.current = cur;
                }
                progress(
                    layers
                        .values()
                        .fold(PullProgress::default(), |a, l| PullProgress {
                            current: a.current + l.current,
                            total: a.total + l.total,
                        }),
                );
            }
        }
        Ok(())
    }

    /// Builds `tag` from an in-memory tar context (classic builder; nothing is pulled when
    /// the Dockerfile starts `FROM scratch`).
    pub async fn build_image(
        &self,
        context: Vec<u8>,
        tag: &str,
        build_args: &BTreeMap<String, String>,
        on_line: &(dyn Fn(&str) + Sync),
    ) -> Result<BuildOutcome, DockerError> {
        let args: HashMap<String, String> = build_args.clone().into_iter().collect();
        let opts = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            .buildargs(&args)
            .build();
        let mut stream =
            self.docker
                .build_image(opts, None, Some(bollard::body_full(Bytes::from(context))));
        let mut last = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(DockerError::api(format!("build {tag}")))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerError::Api {
                    action: format!("build {tag}"),
                    message: format!("{err}\n{}", last.join("\n")),
                });
            }
            if let Some(text) = info.stream {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    on_line(line.trim());
                    last.push(line.trim().to_owned());
                    if last.len() > 10 {
                        last.remove(0);
                    }
                }
            }
        }
        self.built(tag).await
    }

    /// Builds `tag` with BuildKit from an in-memory tar context holding the whole workspace;
    /// `dockerfile` is its path inside the context. BuildKit is what gives `RUN --mount=type=
    /// cache`, and the engine wants a session (bollard serves it over `/session`) for any
    /// BuildKit build. `on_line` gets each step's name as it starts and the build's output.
    pub async fn build_image_buildkit(
        &self,
        context: Vec<u8>,
        dockerfile: &str,
        tag: &str,
        build_args: &BTreeMap<String, String>,
        on_line: &(dyn Fn(&str) + Sync),
    ) -> Result<BuildOutcome, DockerError> {
        use bollard::models::BuildInfoAux;
        use bollard::query_parameters::BuilderVersion;

        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|e| DockerError::Api {
            action: format!("build {tag}"),
            message: format!("no randomness for the BuildKit session id: {e}"),
        })?;
        let session: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let args: HashMap<String, String> = build_args.clone().into_iter().collect();
        let opts = BuildImageOptionsBuilder::default()
            .dockerfile(dockerfile)
            .t(tag)
            .rm(true)
            .forcerm(true)
            .buildargs(&args)
            .version(BuilderVersion::BuilderBuildKit)
            .session(&format!("bootstrap-{session}"))
            .build();
        let mut stream =
            self.docker
                .build_image(opts, None, Some(bollard::body_full(Bytes::from(context))));
        let mut last: Vec<String> = Vec::new();
        let mut keep = |line: String| {
            on_line(&line);
            last.push(line);
            if last.len() > 20 {
                last.remove(0);
            }
        };
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(e) => {
                    return Err(DockerError::Api {
                        action: format!("build {tag}"),
                        message: format!("{}\n{}", message_of(&e), last.join("\n")),
                    });
                }
            };
            if let Some(BuildInfoAux::BuildKit(status)) = info.aux {
                for v in status.vertexes {
                    if !v.error.is_empty() {
                        keep(format!("{}: {}", v.name, v.error));
                    } else if v.started.is_some() && v.completed.is_none() {
                        keep(v.name);
                    }
                }
                for log in status.logs {
                    for line in String::from_utf8_lossy(&log.msg).lines() {
                        if !line.trim().is_empty() {
                            keep(line.trim().to_owned());
                        }
                    }
                }
            } else if let Some(text) = info.stream {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    keep(line.trim().to_owned());
                }
            }
        }
        self.built(tag).await
    }

    /// What a finished build made: the image's id and size.
    async fn built(&self, tag: &str) -> Result<BuildOutcome, DockerError> {
        let inspect = self.inspect_image(tag).await?;
        Ok(BuildOutcome {
            image_id: inspect.id.unwrap_or_default(),
            size: inspect
                .size
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(0),
        })
    }

    /// `docker save IMAGE...` as a byte stream (a docker-archive tarball).
    pub(crate) fn export_images<'a>(
        &'a self,
        images: &'a [&'a str],
    ) -> impl Stream<Item = Result<Bytes, DockerError>> + 'a {
        self.docker
            .export_images(images)
            .map(|r| r.map_err(DockerError::api("export the images")))
    }
}

/// `repo[:tag]` → (repo, tag), where a registry port is not a tag (`host:5000/app`).
fn split_reference(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references() {
        assert_eq!(
            split_reference("rancher/k3s:v1.35.5-k3s1"),
            ("rancher/k3s", "v1.35.5-k3s1")
        );
        assert_eq!(split_reference("busybox"), ("busybox", "latest"));
        assert_eq!(
            split_reference("host:5000/app"),
            ("host:5000/app", "latest")
        );
        assert_eq!(split_reference("host:5000/app:v2"), ("host:5000/app", "v2"));
    }
}
