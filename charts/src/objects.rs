//! Rendered YAML → typed k8s-openapi objects.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{PodTemplateSpec, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

/// Every kind the lab's charts render. A chart that starts rendering another kind fails
/// [`parse`] until it is added here, so that no object goes unchecked.
#[derive(Debug, Clone)]
pub enum Object {
    DaemonSet(Box<DaemonSet>),
    Deployment(Box<Deployment>),
    Ingress(Box<Ingress>),
    Service(Box<Service>),
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the rendered manifests are not valid YAML: {0}")]
    Yaml(String),
    #[error("rendered document {index} has no kind; every Kubernetes object needs one")]
    NoKind { index: usize },
    #[error(
        "rendered document {index} is a {kind}, a kind lab-charts does not check yet: add it \
         to lab_charts::Object"
    )]
    UnknownKind { index: usize, kind: String },
    #[error("rendered document {index} is not a valid {kind}: {source}")]
    Invalid {
        index: usize,
        kind: String,
        source: serde_json::Error,
    },
}

/// Parses a multi-document render (helm's `---`-separated output) into typed objects, in order.
pub fn parse(text: &str) -> Result<Vec<Object>, ParseError> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| ParseError::Yaml(e.to_string()))?;
    docs.into_iter()
        .enumerate()
        .map(|(index, doc)| {
            let kind = doc
                .get("kind")
                .and_then(|k| k.as_str())
                .ok_or(ParseError::NoKind { index })?
                .to_owned();
            let invalid = |source| ParseError::Invalid {
                index,
                kind: kind.clone(),
                source,
            };
            Ok(match kind.as_str() {
                "DaemonSet" => Object::DaemonSet(serde_json::from_value(doc).map_err(invalid)?),
                "Deployment" => Object::Deployment(serde_json::from_value(doc).map_err(invalid)?),
                "Ingress" => Object::Ingress(serde_json::from_value(doc).map_err(invalid)?),
                "Service" => Object::Service(serde_json::from_value(doc).map_err(invalid)?),
                _ => return Err(ParseError::UnknownKind { index, kind }),
            })
        })
        .collect()
}

impl Object {
    pub fn kind(&self) -> &'static str {
        match self {
            Object::DaemonSet(_) => "DaemonSet",
            Object::Deployment(_) => "Deployment",
            Object::Ingress(_) => "Ingress",
            Object::Service(_) => "Service",
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::DaemonSet(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or("")
    }

    /// The pods a workload runs, with the selector that is supposed to pick them.
    pub fn workload(&self) -> Option<Workload<'_>> {
        let (spec_selector, template) = match self {
            Object::DaemonSet(o) => o.spec.as_ref().map(|s| (&s.selector, &s.template))?,
            Object::Deployment(o) => o.spec.as_ref().map(|s| (&s.selector, &s.template))?,
            _ => return None,
        };
        Some(Workload {
            kind: self.kind(),
            name: self.name(),
            selector: spec_selector,
            template,
        })
    }
}

/// A Deployment or DaemonSet seen as what the rules care about.
#[derive(Debug, Clone, Copy)]
pub struct Workload<'a> {
    pub kind: &'static str,
    pub name: &'a str,
    pub selector: &'a LabelSelector,
    pub template: &'a PodTemplateSpec,
}

/// Typed views of a render, by kind.
pub trait Objects {
    fn deployments(&self) -> Vec<&Deployment>;
    fn daemon_sets(&self) -> Vec<&DaemonSet>;
    fn services(&self) -> Vec<&Service>;
    fn ingresses(&self) -> Vec<&Ingress>;
    fn workloads(&self) -> Vec<Workload<'_>>;
}

impl Objects for [Object] {
    fn deployments(&self) -> Vec<&Deployment> {
        of_kind(self, |o| {
            if let Object::Deployment(d) = o {
                Some(d)
            } else {
                None
            }
        })
    }
    fn daemon_sets(&self) -> Vec<&DaemonSet> {
        of_kind(self, |o| {
            if let Object::DaemonSet(d) = o {
                Some(d)
            } else {
                None
            }
        })
    }
    fn services(&self) -> Vec<&Service> {
        of_kind(self, |o| {
            if let Object::Service(s) = o {
                Some(s)
            } else {
                None
            }
        })
    }
    fn ingresses(&self) -> Vec<&Ingress> {
        of_kind(self, |o| {
            if let Object::Ingress(i) = o {
                Some(i)
            } else {
                None
            }
        })
    }
    fn workloads(&self) -> Vec<Workload<'_>> {
        self.iter().filter_map(Object::workload).collect()
    }
}

fn of_kind<'a, T>(
    objects: &'a [Object],
    pick: impl Fn(&'a Object) -> Option<&'a Box<T>>,
) -> Vec<&'a T> {
    objects.iter().filter_map(pick).map(Box::as_ref).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "---\n# Source: x\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n\
                       spec:\n  ports:\n    - port: 80\n      targetPort: http\n---\n\
                       apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  \
                       selector:\n    matchLabels: {app: a}\n  template:\n    metadata:\n      \
                       labels: {app: a}\n";

    #[test]
    fn documents_become_typed_objects_in_order() {
        let objects = parse(TWO).unwrap();
        let kinds: Vec<_> = objects.iter().map(|o| (o.kind(), o.name())).collect();
        assert_eq!(kinds, [("Service", "a"), ("Deployment", "a")]);
        assert_eq!(objects.workloads().len(), 1);
        assert_eq!(objects.services().len(), 1);
    }

    #[test]
    fn unknown_kinds_and_wrong_shapes_are_refused() {
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
        assert!(matches!(
            parse(cm),
            Err(ParseError::UnknownKind { index: 0, ref kind }) if kind == "ConfigMap"
        ));
        let bad = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: three\n";
        let err = parse(bad).unwrap_err();
        assert!(matches!(err, ParseError::Invalid { .. }), "{err}");
        assert!(matches!(
            parse("metadata: {}\n"),
            Err(ParseError::NoKind { index: 0 })
        ));
        assert!(matches!(parse("a: [\n"), Err(ParseError::Yaml(_))));
    }
}
