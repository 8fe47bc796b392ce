//! k3d's node filters: the `@server:0`, `@agents:*`, `@loadbalancer`, `@all` suffixes of the
//! `-p`, `-v` and `--k3s-arg` flags, with their list (`0,2`), range (`1-`) and wildcard
//! subsets and the `:proxy` / `:direct` port suffixes.

use std::collections::BTreeMap;

use serde::Serialize;

use super::SpecError;

/// One node of a cluster, by role and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NodeRef {
    Server(usize),
    Agent(usize),
    LoadBalancer,
}

/// How many nodes of each role a cluster has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Topology {
    pub servers: usize,
    pub agents: usize,
    pub loadbalancer: bool,
}

impl Topology {
    /// Every node, in k3d's node-list order: the load balancer, the servers, the agents.
    pub(crate) fn all(&self) -> Vec<NodeRef> {
        let lb = self.loadbalancer.then_some(NodeRef::LoadBalancer);
        lb.into_iter()
            .chain((0..self.servers).map(NodeRef::Server))
            .chain((0..self.agents).map(NodeRef::Agent))
            .collect()
    }

    pub(crate) fn node_count(&self) -> usize {
        self.servers + self.agents + usize::from(self.loadbalancer)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Server,
    Agent,
    LoadBalancer,
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Subset {
    Unspecified,
    List(Vec<usize>),
    Range(Option<usize>, Option<usize>),
    Wildcard,
}

/// One parsed node filter such as `agents:0,1:direct`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFilter {
    text: String,
    group: Group,
    subset: Subset,
    suffix: Option<String>,
}

impl NodeFilter {
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let bad = |reason: &str| SpecError::InvalidNodeFilter {
            filter: text.to_owned(),
            reason: reason.to_owned(),
        };
        let mut parts = text.split(':');
        let group = match parts.next().unwrap_or_default() {
            "server" | "servers" => Group::Server,
            "agent" | "agents" => Group::Agent,
            "loadbalancer" => Group::LoadBalancer,
            "all" => Group::All,
            _ => {
                return Err(bad(
                    "it must start with server, servers, agent, agents, loadbalancer or all",
                ));
            }
        };
        let rest: Vec<&str> = parts.collect();
        let (subset, suffix) = match rest.as_slice() {
            [] => (Subset::Unspecified, None),
            [one] if !one.is_empty() && one.chars().all(|c| c.is_ascii_alphabetic()) => {
                (Subset::Unspecified, Some((*one).to_owned()))
            }
            [subset] => (parse_subset(subset).ok_or_else(|| bad(SUBSET_HELP))?, None),
            [subset, suffix]
                if !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_alphabetic()) =>
            {
                (
                    parse_subset(subset).ok_or_else(|| bad(SUBSET_HELP))?,
                    Some((*suffix).to_owned()),
                )
            }
            _ => {
                return Err(bad(
                    "it has too many ':' parts; the form is GROUP[:SUBSET][:SUFFIX]",
                ));
            }
        };
        Ok(Self {
            text: text.to_owned(),
            group,
            subset,
            suffix,
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    fn without_suffix_text(&self) -> String {
        match &self.suffix {
            Some(s) => self
                .text
                .trim_end_matches(s)
                .trim_end_matches(':')
                .to_owned(),
            None => self.text.clone(),
        }
    }

    /// The nodes this filter names (its suffix aside).
    fn nodes(&self, topo: &Topology) -> Result<Vec<NodeRef>, SpecError> {
        let out_of_range = |reason: String| SpecError::InvalidNodeFilter {
            filter: self.text.clone(),
            reason,
        };
        let (count, make): (usize, fn(usize) -> NodeRef) = match self.group {
            Group::All => return Ok(topo.all()),
            Group::LoadBalancer => {
                return if topo.loadbalancer {
                    Ok(vec![NodeRef::LoadBalancer])
                } else {
                    Err(out_of_range("this cluster has no load balancer".to_owned()))
                };
            }
            Group::Server => (topo.servers, NodeRef::Server),
            Group::Agent => (topo.agents, NodeRef::Agent),
        };
        let indices: Vec<usize> = match &self.subset {
            Subset::Unspecified => {
                return Err(out_of_range(format!(
                    "it names no subset; write {}:* for all of them or {}:0 for the first",
                    self.without_suffix_text(),
                    self.without_suffix_text()
                )));
            }
            Subset::Wildcard => (0..count).collect(),
            Subset::List(list) => list.clone(),
            Subset::Range(start, end) => {
                if count == 0 {
                    return Err(out_of_range("the cluster has no such nodes".to_owned()));
                }
                let start = start.unwrap_or(0);
                let end = end.unwrap_or(count - 1);
                if end < start {
                    return Err(out_of_range(format!(
                        "the range ends ({end}) before it starts ({start})"
                    )));
                }
                (start..=end).collect()
            }
        };
        if let Some(bad) = indices.iter().find(|i| **i >= count) {
            return Err(out_of_range(format!(
                "index {bad} is out of range: the cluster has {count} such node(s), numbered from 0"
            )));
        }
        Ok(indices.into_iter().map(make).collect())
    }
}

const SUBSET_HELP: &str =
    "its subset must be a list (0,2), a range (1-3, 1-, -2) or the wildcard *";

fn parse_subset(text: &str) -> Option<Subset> {
    if text == "*" {
        return Some(Subset::Wildcard);
    }
    if let Some((a, b)) = text.split_once('-') {
        let num = |s: &str| -> Option<Option<usize>> {
            if s.is_empty() {
                Some(None)
            } else {
                s.parse().ok().map(Some)
            }
        };
        return Some(Subset::Range(num(a)?, num(b)?));
    }
    let list: Option<Vec<usize>> = text
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect();
    list.filter(|l| !l.is_empty()).map(Subset::List)
}

/// Splits `VALUE@FILTER;FILTER` as k3d does; `\@` stands for a literal `@`.
pub(crate) fn split_filters(flag: &str) -> Result<(String, Vec<String>), SpecError> {
    let mut parts: Vec<String> = Vec::new();
    let mut buffer = String::new();
    let pieces: Vec<&str> = flag.split('@').collect();
    let last = pieces.len() - 1;
    for (i, piece) in pieces.iter().enumerate() {
        if i != last && piece.ends_with('\\') && !piece.ends_with("\\\\") {
            buffer.push_str(&piece[..piece.len() - 1]);
            buffer.push('@');
            continue;
        }
        let piece = if i != last && piece.ends_with("\\\\") {
            &piece[..piece.len() - 1]
        } else {
            piece
        };
        parts.push(format!("{buffer}{piece}"));
        buffer.clear();
    }
    match parts.as_slice() {
        [value] => Ok((value.clone(), Vec::new())),
        [value, filters] if !filters.is_empty() => Ok((
            value.clone(),
            filters.split(';').map(str::to_owned).collect(),
        )),
        [_, _] => Err(SpecError::InvalidFlag {
            flag: flag.to_owned(),
            reason: "it ends with '@' but names no node filter (escape a literal '@' as '\\@')"
                .to_owned(),
        }),
        _ => Err(SpecError::InvalidFlag {
            flag: flag.to_owned(),
            reason: "it has more than one unescaped '@' (escape a literal '@' as '\\@')".to_owned(),
        }),
    }
}

/// The nodes a list of suffix-free filters selects, each once, in filter order.
pub(crate) fn select(filters: &[NodeFilter], topo: &Topology) -> Result<Vec<NodeRef>, SpecError> {
    let mut out = Vec::new();
    for f in filters {
        if let Some(s) = &f.suffix {
            return Err(SpecError::InvalidNodeFilter {
                filter: f.text.clone(),
                reason: format!("the suffix ':{s}' is only allowed on port mappings"),
            });
        }
        for n in f.nodes(topo)? {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    Ok(out)
}

/// Port-mapping targets grouped by suffix (`proxy`, `direct`); unsuffixed filters mean proxy.
pub(crate) fn select_by_suffix(
    filters: &[NodeFilter],
    topo: &Topology,
) -> Result<BTreeMap<PortTarget, Vec<NodeRef>>, SpecError> {
    let mut out: BTreeMap<PortTarget, Vec<NodeRef>> = BTreeMap::new();
    for f in filters {
        let target = match f.suffix.as_deref() {
            None | Some("proxy") => PortTarget::Proxy,
            Some("direct") => PortTarget::Direct,
            Some(other) => {
                return Err(SpecError::InvalidNodeFilter {
                    filter: f.text.clone(),
                    reason: format!("unknown suffix ':{other}'; use :proxy or :direct"),
                });
            }
        };
        let entry = out.entry(target).or_default();
        for n in f.nodes(topo)? {
            if !entry.contains(&n) {
                entry.push(n);
            }
        }
    }
    Ok(out)
}

/// Where a port mapping lands: on the load balancer, which proxies to the nodes, or directly
/// on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PortTarget {
    Proxy,
    Direct,
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPO: Topology = Topology {
        servers: 1,
        agents: 2,
        loadbalancer: true,
    };

    fn sel(filters: &[&str]) -> Result<Vec<NodeRef>, SpecError> {
        let parsed: Vec<NodeFilter> = filters
            .iter()
            .map(|f| NodeFilter::parse(f))
            .collect::<Result<_, _>>()?;
        select(&parsed, &TOPO)
    }

    #[test]
    fn groups_subsets_and_order() {
        use NodeRef::*;
        assert_eq!(sel(&["server:0"]).unwrap(), vec![Server(0)]);
        assert_eq!(sel(&["agents:*"]).unwrap(), vec![Agent(0), Agent(1)]);
        assert_eq!(sel(&["agent:1,0"]).unwrap(), vec![Agent(1), Agent(0)]);
        assert_eq!(sel(&["agents:1-"]).unwrap(), vec![Agent(1)]);
        assert_eq!(sel(&["agents:-1"]).unwrap(), vec![Agent(0), Agent(1)]);
        assert_eq!(sel(&["loadbalancer"]).unwrap(), vec![LoadBalancer]);
        assert_eq!(
            sel(&["all"]).unwrap(),
            vec![LoadBalancer, Server(0), Agent(0), Agent(1)]
        );
        assert_eq!(
            sel(&["servers:*", "agents:*", "server:0"]).unwrap(),
            vec![Server(0), Agent(0), Agent(1)]
        );
    }

    #[test]
    fn bad_filters_say_why() {
        let err = |f: &str| sel(&[f]).unwrap_err().to_string();
        assert!(err("agent:2").contains("index 2 is out of range"));
        assert!(err("server").contains("names no subset"));
        assert!(err("worker:0").contains("must start with"));
        assert!(err("agent:1x").contains("subset must be"));
        assert!(err("agent:x").contains("the suffix ':x'"));
        assert!(err("agent:0:direct").contains("only allowed on port mappings"));
        assert!(err("agents:1-0").contains("ends (0) before it starts (1)"));
        let no_lb = Topology {
            loadbalancer: false,
            ..TOPO
        };
        let f = NodeFilter::parse("loadbalancer").unwrap();
        assert!(
            select(&[f], &no_lb)
                .unwrap_err()
                .to_string()
                .contains("no load balancer")
        );
    }

    #[test]
    fn port_suffixes() {
        let f = |s: &str| NodeFilter::parse(s).unwrap();
        let by = select_by_suffix(&[f("servers:*:proxy"), f("agents:*:proxy")], &TOPO).unwrap();
        assert_eq!(
            by[&PortTarget::Proxy],
            vec![NodeRef::Server(0), NodeRef::Agent(0), NodeRef::Agent(1)]
        );
        let by = select_by_suffix(&[f("agent:1:direct")], &TOPO).unwrap();
        assert_eq!(by[&PortTarget::Direct], vec![NodeRef::Agent(1)]);
        let by = select_by_suffix(&[f("agent:1")], &TOPO).unwrap();
        assert_eq!(by[&PortTarget::Proxy], vec![NodeRef::Agent(1)]);
        let err = select_by_suffix(&[f("agent:1:weird")], &TOPO).unwrap_err();
        assert!(err.to_string().contains("unknown suffix ':weird'"));
    }

    #[test]
    fn splitting_flags() {
        assert_eq!(
            split_filters("8080:80").unwrap(),
            ("8080:80".into(), vec![])
        );
        assert_eq!(
            split_filters("8080:80@server:0;agent:1").unwrap(),
            ("8080:80".into(), vec!["server:0".into(), "agent:1".into()])
        );
        assert_eq!(
            split_filters(r"--x=a\@b@server:0").unwrap(),
            ("--x=a@b".into(), vec!["server:0".into()])
        );
        assert!(
            split_filters("a@b@c")
                .unwrap_err()
                .to_string()
                .contains("more than one")
        );
        assert!(
            split_filters("a@")
                .unwrap_err()
                .to_string()
                .contains("names no node filter")
        );
    }
}
