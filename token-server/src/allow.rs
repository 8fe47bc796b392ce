//! `--allow CIDR`: which peer addresses may talk to `serve` at all.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use thiserror::Error;

/// One network, e.g. `192.168.56.111/32`. A bare address means that host only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CidrError {
    #[error("{0:?} is not an address or ADDRESS/PREFIX network, e.g. 192.168.56.111/32")]
    Syntax(String),
    #[error("prefix /{prefix} is too long for {addr}: at most /{max}")]
    PrefixTooLong { addr: IpAddr, prefix: u8, max: u8 },
    #[error(
        "{given} has host bits set; write the network ({network}/{prefix}) or one host \
         ({addr}/{host_prefix})"
    )]
    HostBits {
        given: String,
        addr: IpAddr,
        network: IpAddr,
        prefix: u8,
        host_prefix: u8,
    },
}

impl Cidr {
    pub fn host(addr: IpAddr) -> Self {
        Self {
            network: addr,
            prefix: max_prefix(addr),
        }
    }

    /// Whether `ip` is inside this network. An IPv4 client seen through an IPv6 socket
    /// (`::ffff:a.b.c.d`) is compared as the IPv4 address it is.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_v4(u32::from(ip), self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_v6(u128::from(ip), self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, CidrError> {
        let syntax = || CidrError::Syntax(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => {
                let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
                if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(syntax());
                }
                let prefix: u8 = prefix.parse().unwrap_or(u8::MAX);
                (addr, prefix)
            }
            None => {
                let addr: IpAddr = s.parse().map_err(|_| syntax())?;
                (addr, max_prefix(addr))
            }
        };
        let addr = canonical(addr);
        let max = max_prefix(addr);
        if prefix > max {
            return Err(CidrError::PrefixTooLong { addr, prefix, max });
        }
        let network = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(mask_v4(u32::from(a), prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(mask_v6(u128::from(a), prefix))),
        };
        // A typo such as 192.168.56.111/24 would silently allow the whole subnet.
        if network != addr {
            return Err(CidrError::HostBits {
                given: s.to_owned(),
                addr,
                network,
                prefix,
                host_prefix: max,
            });
        }
        Ok(Self { network, prefix })
    }
}

/// The `--allow` list. Empty means every peer (the caller warns about it).
#[derive(Debug, Clone, Default)]
pub struct AllowList(Vec<Cidr>);

impl AllowList {
    pub fn new(cidrs: Vec<Cidr>) -> Self {
        Self(cidrs)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|c| c.contains(ip))
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("any address");
        }
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn mask_v4(addr: u32, prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => addr & (u32::MAX << (32 - u32::from(p))),
    }
}

fn mask_v6(addr: u128, prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => addr & (u128::MAX << (128 - u32::from(p))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_host_route_admits_that_host_only() {
        let c: Cidr = "127.0.0.111/32".parse().unwrap();
        assert!(c.contains(ip("127.0.0.111")));
        assert!(!c.contains(ip("127.0.0.112")));
        assert!(!c.contains(ip("127.0.0.110")));
        assert_eq!("127.0.0.111".parse::<Cidr>().unwrap(), c);
    }

    #[test]
    fn networks_admit_their_members() {
        let c: Cidr = "192.168.56.0/24".parse().unwrap();
        assert!(c.contains(ip("192.168.56.111")));
        assert!(c.contains(ip("192.168.56.0")));
        assert!(!c.contains(ip("192.168.57.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("198.51.100.7")));
        assert!(!all.contains(ip("::1")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_rules() {
        let c: Cidr = "127.0.0.111/32".parse().unwrap();
        assert!(c.contains(ip("::ffff:127.0.0.111")));
        assert!(!c.contains(ip("::ffff:127.0.0.112")));
    }

    #[test]
    fn typos_are_explained() {
        assert_eq!(
            "192.168.56.111/24".parse::<Cidr>().unwrap_err().to_string(),
            "192.168.56.111/24 has host bits set; write the network (192.168.56.0/24) or one \
             host (192.168.56.111/32)"
        );
        assert_eq!(
            "10.0.0.1/33".parse::<Cidr>().unwrap_err().to_string(),
            "prefix /33 is too long for 10.0.0.1: at most /32"
        );
        for bad in [
            "",
            "/32",
            "10.0.0.1/",
            "10.0.0.1/x",
            "10.0.0.1/+3",
            "host/32",
            "10.0.0",
        ] {
            assert!(
                matches!(bad.parse::<Cidr>(), Err(CidrError::Syntax(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_empty_list_permits_everyone_and_a_list_only_its_members() {
        assert!(AllowList::default().permits(ip("203.0.113.9")));
        let list = AllowList::new(vec![
            "127.0.0.111/32".parse().unwrap(),
            "10.1.0.0/16".parse().unwrap(),
        ]);
        assert!(list.permits(ip("127.0.0.111")));
        assert!(list.permits(ip("10.1.200.3")));
        assert!(!list.permits(ip("127.0.0.1")));
        assert_eq!(list.to_string(), "127.0.0.111/32, 10.1.0.0/16");
    }
}
