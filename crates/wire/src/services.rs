//! Service names by transport port, and which side of a connection is the service.
//!
//! The table is `data/services.tsv` (Debian netbase's `/etc/services`, derived from the IANA
//! Service Name and Transport Protocol Port Number Registry, with friendly display names for
//! common ports), compiled by `build.rs` into a static array sorted by (port, protocol).
//!
//! Invariants: lookups are a binary search over that static array: no allocation, no
//! initialisation, no panic. TCP and UDP are separate namespaces (RFC 6335 §5: a service name
//! is assigned per transport protocol), so a name registered only for TCP is not returned for
//! UDP; the data file lists both protocols where a common service is meant for both.

/// The transport protocol a port belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L4 {
    Tcp,
    Udp,
}

impl L4 {
    /// The IP protocol number (IANA protocol-numbers), as stored in the generated table.
    const fn ip_proto(self) -> u8 {
        match self {
            L4::Tcp => 6,
            L4::Udp => 17,
        }
    }
}

// `static SERVICES: [(u16 port, u8 IP protocol, &str name); N]`, sorted by (port, protocol).
include!(concat!(env!("OUT_DIR"), "/services_table.rs"));

/// A service of the table, held as its place there: two bytes where its name's reference takes
/// sixteen (every flow holds one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service(u16);

impl Service {
    /// The service registered for `port` over `l4`, if any.
    pub fn of(port: u16, l4: L4) -> Option<Service> {
        let key = (port, l4.ip_proto());
        let i = SERVICES
            .binary_search_by(|&(p, proto, _)| (p, proto).cmp(&key))
            .ok()?;
        u16::try_from(i).ok().map(Service)
    }

    pub fn name(self) -> &'static str {
        SERVICES
            .get(usize::from(self.0))
            .map_or("", |&(_, _, name)| name)
    }
}

/// The service name registered for `port` over `l4`, if any.
pub fn name(port: u16, l4: L4) -> Option<&'static str> {
    Service::of(port, l4).map(Service::name)
}

/// Whether `port` has a service name (a bit test, for the per-packet path).
pub fn has_name(port: u16, l4: L4) -> bool {
    let table = usize::from(l4 == L4::Udp);
    NAMED[table][usize::from(port) / 64] & (1 << (port % 64)) != 0
}

/// The service side's port alone (see [`service_side`]), without looking up its name.
pub fn service_port(src: u16, dst: u16, l4: L4) -> u16 {
    match (has_name(src, l4), has_name(dst, l4)) {
        (true, false) => src,
        (false, true) => dst,
        _ => src.min(dst),
    }
}

/// Which port of a connection is the service side: the port with a known name if only one has
/// one; if both or neither, the lower port (ties → dst), since clients usually pick ephemeral
/// ports from the high range (RFC 6335 §6: 49152–65535). Returns the service port and its
/// service, if it has one. The side is chosen by the bitmap, so only a named side is searched
/// for in the table (every new flow asks, and most have one named port at most).
pub fn service_side(src: u16, dst: u16, l4: L4) -> (u16, Option<Service>) {
    let port = service_port(src, dst, l4);
    let service = has_name(port, l4).then(|| Service::of(port, l4)).flatten();
    (port, service)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(SERVICES.len() > 300);
        assert!(
            SERVICES.len() <= usize::from(u16::MAX),
            "a Service holds its place in a u16"
        );
        for w in SERVICES.windows(2) {
            assert!((w[0].0, w[0].1) < (w[1].0, w[1].1), "{:?}", w);
        }
        for &(_, proto, name) in SERVICES.iter() {
            assert!(proto == 6 || proto == 17);
            assert!(!name.is_empty());
        }
    }

    #[test]
    fn friendly_names() {
        let both: &[(u16, &str)] = &[
            (20, "FTP-DATA"),
            (21, "FTP"),
            (22, "SSH"),
            (23, "Telnet"),
            (25, "SMTP"),
            (53, "DNS"),
            (67, "DHCP"),
            (68, "DHCP"),
            (69, "TFTP"),
            (80, "HTTP"),
            (110, "POP3"),
            (111, "RPC"),
            (123, "NTP"),
            (137, "NetBIOS"),
            (138, "NetBIOS"),
            (139, "NetBIOS"),
            (143, "IMAP"),
            (161, "SNMP"),
            (162, "SNMP"),
            (179, "BGP"),
            (389, "LDAP"),
            (445, "SMB"),
            (465, "SMTPS"),
            (514, "Syslog"),
            (587, "Submission"),
            (636, "LDAPS"),
            (993, "IMAPS"),
            (995, "POP3S"),
            (1194, "OpenVPN"),
            (1433, "MSSQL"),
            (1521, "Oracle"),
            (1883, "MQTT"),
            (1900, "SSDP"),
            (2049, "NFS"),
            (3306, "MySQL"),
            (3389, "RDP"),
            (4789, "VXLAN"),
            (5060, "SIP"),
            (5353, "mDNS"),
            (5355, "LLMNR"),
            (5432, "PostgreSQL"),
            (5672, "AMQP"),
            (5900, "VNC"),
            (6379, "Redis"),
            (8080, "HTTP-Proxy"),
            (8443, "HTTPS-Alt"),
            (9092, "Kafka"),
            (9200, "Elasticsearch"),
            (11211, "Memcached"),
            (27017, "MongoDB"),
        ];
        for &(port, want) in both {
            assert_eq!(name(port, L4::Tcp), Some(want), "{port}/tcp");
            assert_eq!(name(port, L4::Udp), Some(want), "{port}/udp");
        }
        assert_eq!(name(443, L4::Tcp), Some("HTTPS"));
        assert_eq!(name(443, L4::Udp), Some("QUIC"));
    }

    #[test]
    fn registry_names_and_separate_protocols() {
        // Names straight from /etc/services.
        assert_eq!(name(7, L4::Tcp), Some("echo"));
        assert_eq!(name(7, L4::Udp), Some("echo"));
        assert_eq!(name(1, L4::Tcp), Some("tcpmux"));
        assert_eq!(name(4460, L4::Tcp), Some("ntske"));
        // tcpmux is TCP-only: no fallback to the other protocol.
        assert_eq!(name(1, L4::Udp), None);
        assert_eq!(name(0, L4::Tcp), None);
        assert_eq!(name(65535, L4::Udp), None);
        assert_eq!(name(49999, L4::Tcp), None);
    }

    #[test]
    fn bits_agree_with_the_table() {
        for port in 0..=u16::MAX {
            for l4 in [L4::Tcp, L4::Udp] {
                assert_eq!(has_name(port, l4), name(port, l4).is_some(), "{port}");
            }
        }
        for (s, d) in [(51000, 443), (53, 53), (1, 2), (65000, 60000), (80, 8080)] {
            for l4 in [L4::Tcp, L4::Udp] {
                assert_eq!(service_port(s, d, l4), service_side(s, d, l4).0);
            }
        }
    }

    /// The side as the rule says it, each port's name looked up: what `service_side` must give.
    #[test]
    fn service_side_follows_the_rule_on_every_kind_of_pair() {
        let rule = |src: u16, dst: u16, l4: L4| match (Service::of(src, l4), Service::of(dst, l4)) {
            (Some(s), None) => (src, Some(s)),
            (None, Some(d)) => (dst, Some(d)),
            (s, d) if src < dst => (src, s),
            (_, d) => (dst, d),
        };
        // Named and unnamed ports, low and high, and equal pairs.
        let ports: Vec<u16> = (0..1100).chain([5353, 8080, 40000, 49152, 65535]).collect();
        for l4 in [L4::Tcp, L4::Udp] {
            for &s in &ports {
                for d in [s, 21, 53, 80, 443, 1023, 1024, 8080, 50000] {
                    assert_eq!(service_side(s, d, l4), rule(s, d, l4), "{s} {d} {l4:?}");
                    assert_eq!(service_side(d, s, l4), rule(d, s, l4), "{d} {s} {l4:?}");
                }
            }
        }
    }

    #[test]
    fn service_side_rules() {
        let named = |(port, service): (u16, Option<Service>)| (port, service.map(Service::name));
        // Only one side named.
        assert_eq!(
            named(service_side(51000, 443, L4::Tcp)),
            (443, Some("HTTPS"))
        );
        assert_eq!(
            named(service_side(443, 51000, L4::Tcp)),
            (443, Some("HTTPS"))
        );
        // A named high port beats an unnamed low one.
        assert_eq!(
            named(service_side(1023, 5432, L4::Tcp)),
            (5432, Some("PostgreSQL"))
        );
        // Both named: the lower.
        assert_eq!(named(service_side(8080, 80, L4::Tcp)), (80, Some("HTTP")));
        assert_eq!(named(service_side(53, 5353, L4::Udp)), (53, Some("DNS")));
        // Neither named: the lower; ties go to dst.
        assert_eq!(named(service_side(50001, 50000, L4::Udp)), (50000, None));
        assert_eq!(named(service_side(40000, 50000, L4::Udp)), (40000, None));
        assert_eq!(named(service_side(53, 53, L4::Udp)), (53, Some("DNS")));
        assert_eq!(named(service_side(50000, 50000, L4::Tcp)), (50000, None));
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn lookups_agree_with_linear_scan() {
        let linear = |port: u16, l4: L4| {
            SERVICES
                .iter()
                .find(|&&(p, proto, _)| p == port && proto == l4.ip_proto())
                .map(|&(_, _, n)| n)
        };
        // Every port below 1024, plus pseudo-random ones.
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let random: Vec<u16> = (0..4000).map(|_| rng.next() as u16).collect();
        for port in (0..1024u16).chain(random) {
            for l4 in [L4::Tcp, L4::Udp] {
                assert_eq!(name(port, l4), linear(port, l4), "{port}");
                let other = rng.next() as u16;
                let (side, n) = service_side(port, other, l4);
                assert!(side == port || side == other);
                assert_eq!(n.map(Service::name), name(side, l4));
            }
        }
    }
}
