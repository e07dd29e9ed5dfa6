//! Network prefixes for admission and diversity limits: an IPv4 address belongs to its /24,
//! an IPv6 address to its /48 (IPv4-mapped IPv6 addresses count as IPv4).

use std::net::IpAddr;

/// The network an address belongs to, for "at most N per network" rules.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum IpPrefix {
    /// The first three octets of an IPv4 address (its /24).
    V4([u8; 3]),
    /// The first six octets of an IPv6 address (its /48).
    V6([u8; 6]),
}

impl IpPrefix {
    /// The prefix of `ip`.
    pub fn of(ip: &IpAddr) -> IpPrefix {
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                let o = a.octets();
                IpPrefix::V4([o[0], o[1], o[2]])
            }
            IpAddr::V6(a) => {
                let o = a.octets();
                IpPrefix::V6([o[0], o[1], o[2], o[3], o[4], o[5]])
            }
        }
    }

    /// The prefix of `ip` for limiting, or `None` when the address is exempt: loopback
    /// addresses are exempt when `exempt_loopback` is set (local test networks).
    pub fn limited(ip: &IpAddr, exempt_loopback: bool) -> Option<IpPrefix> {
        if exempt_loopback && ip.to_canonical().is_loopback() { None } else { Some(IpPrefix::of(ip)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_slash_24_and_v6_slash_48() {
        assert_eq!(IpPrefix::of(&ip("10.1.2.3")), IpPrefix::of(&ip("10.1.2.200")));
        assert_ne!(IpPrefix::of(&ip("10.1.2.3")), IpPrefix::of(&ip("10.1.3.3")));
        assert_eq!(IpPrefix::of(&ip("2001:db8:1::1")), IpPrefix::of(&ip("2001:db8:1:ffff::9")));
        assert_ne!(IpPrefix::of(&ip("2001:db8:1::1")), IpPrefix::of(&ip("2001:db8:2::1")));
        assert_eq!(IpPrefix::of(&ip("::ffff:10.1.2.3")), IpPrefix::of(&ip("10.1.2.9")));
    }

    #[test]
    fn loopback_exemption_is_a_switch() {
        assert_eq!(IpPrefix::limited(&ip("127.0.0.5"), true), None);
        assert_eq!(IpPrefix::limited(&ip("::1"), true), None);
        assert!(IpPrefix::limited(&ip("127.0.0.5"), false).is_some());
        assert!(IpPrefix::limited(&ip("10.0.0.1"), true).is_some());
    }
}
