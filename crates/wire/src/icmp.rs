//! ICMP and ICMPv6 message names, from type and code.
//!
//! Names are short, lowercase and hyphenated (in the style of tcpdump's and iptables'
//! `--icmp-type` names) and come from the IANA "ICMP Type Numbers" and "ICMPv6 Parameters"
//! registries and the RFCs cited below. Destination-unreachable messages are named by their
//! code (`port-unreach`, `admin-prohibited`, ...) because the code is what a reader needs;
//! other types are named by type alone. Anything unassigned, experimental or deprecated
//! without a well-known name is `"other"`.
//!
//! Invariants: total functions returning `&'static str`: no allocation, no panic.

/// The name of an ICMP (IPv4) message.
pub fn v4_name(ty: u8, code: u8) -> &'static str {
    match ty {
        0 => "echo-reply",
        // RFC 792; codes 6-12 RFC 1122 §3.2.2.1; 13-15 RFC 1812 §5.2.7.1.
        3 => match code {
            0 => "net-unreach",
            1 => "host-unreach",
            2 => "proto-unreach",
            3 => "port-unreach",
            4 => "frag-needed",
            5 => "srcroute-failed",
            6 => "net-unknown",
            7 => "host-unknown",
            8 => "host-isolated",
            9 => "net-prohibited",
            10 => "host-prohibited",
            11 => "net-tos-unreach",
            12 => "host-tos-unreach",
            13 => "admin-prohibited",
            14 => "host-precedence-violation",
            15 => "precedence-cutoff",
            _ => "dest-unreach",
        },
        4 => "source-quench", // deprecated by RFC 6633, still seen
        5 => "redirect",
        6 => "alt-host-addr",
        8 => "echo-request",
        9 => "router-advert",   // RFC 1256
        10 => "router-solicit", // RFC 1256
        11 => "time-exceeded",
        12 => "param-problem",
        13 => "timestamp",
        14 => "timestamp-reply",
        15 => "info-request",
        16 => "info-reply",
        17 => "mask-request",          // RFC 950
        18 => "mask-reply",            // RFC 950
        30 => "traceroute",            // RFC 1393
        40 => "photuris",              // RFC 2521
        42 => "extended-echo-request", // RFC 8335
        43 => "extended-echo-reply",   // RFC 8335
        _ => "other",
    }
}

/// The name of an ICMPv6 message.
pub fn v6_name(ty: u8, code: u8) -> &'static str {
    match ty {
        // RFC 4443 §3.1; codes 5-6 RFC 4443, 7 RFC 6554, 8 RFC 8883.
        1 => match code {
            0 => "no-route",
            1 => "admin-prohibited",
            2 => "beyond-scope",
            3 => "addr-unreach",
            4 => "port-unreach",
            5 => "policy-failed",
            6 => "reject-route",
            7 => "srcroute-error",
            8 => "headers-too-long",
            _ => "dest-unreach",
        },
        2 => "packet-too-big",
        3 => "time-exceeded",
        4 => "param-problem",
        128 => "echo-request",
        129 => "echo-reply",
        130 => "mld-query",  // RFC 2710 (and MLDv2 queries, RFC 3810)
        131 => "mld-report", // RFC 2710
        132 => "mld-done",   // RFC 2710
        // RFC 4861 neighbor discovery.
        133 => "router-solicit",
        134 => "router-advert",
        135 => "neighbor-solicit",
        136 => "neighbor-advert",
        137 => "redirect",
        138 => "router-renumbering", // RFC 2894
        139 => "node-info-query",    // RFC 4620
        140 => "node-info-reply",    // RFC 4620
        141 => "inverse-nd-solicit", // RFC 3122
        142 => "inverse-nd-advert",  // RFC 3122
        143 => "mldv2-report",       // RFC 3810
        // RFC 6275 mobile IPv6.
        144 => "haad-request",
        145 => "haad-reply",
        146 => "mobile-prefix-solicit",
        147 => "mobile-prefix-advert",
        148 => "cert-path-solicit", // RFC 3971
        149 => "cert-path-advert",  // RFC 3971
        151 => "mrd-advert",        // RFC 4286
        152 => "mrd-solicit",
        153 => "mrd-terminate",
        155 => "rpl-control",           // RFC 6550
        160 => "extended-echo-request", // RFC 8335
        161 => "extended-echo-reply",   // RFC 8335
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// (type, code) pairs as they appear in real packets: the first two bytes of the header.
    const V4: &[([u8; 2], &str)] = &[
        ([8, 0], "echo-request"),
        ([0, 0], "echo-reply"),
        ([3, 0], "net-unreach"),
        ([3, 1], "host-unreach"),
        ([3, 3], "port-unreach"),
        ([3, 4], "frag-needed"),
        ([3, 13], "admin-prohibited"),
        ([3, 99], "dest-unreach"),
        ([11, 0], "time-exceeded"),
        ([11, 1], "time-exceeded"),
        ([5, 1], "redirect"),
        ([4, 0], "source-quench"),
        ([12, 0], "param-problem"),
        ([13, 0], "timestamp"),
        ([14, 0], "timestamp-reply"),
        ([9, 0], "router-advert"),
        ([10, 0], "router-solicit"),
        ([42, 0], "extended-echo-request"),
        ([1, 0], "other"),
        ([255, 255], "other"),
    ];

    const V6: &[([u8; 2], &str)] = &[
        ([128, 0], "echo-request"),
        ([129, 0], "echo-reply"),
        ([1, 0], "no-route"),
        ([1, 1], "admin-prohibited"),
        ([1, 3], "addr-unreach"),
        ([1, 4], "port-unreach"),
        ([1, 200], "dest-unreach"),
        ([2, 0], "packet-too-big"),
        ([3, 0], "time-exceeded"),
        ([4, 1], "param-problem"),
        ([130, 0], "mld-query"),
        ([131, 0], "mld-report"),
        ([143, 0], "mldv2-report"),
        ([133, 0], "router-solicit"),
        ([134, 0], "router-advert"),
        ([135, 0], "neighbor-solicit"),
        ([136, 0], "neighbor-advert"),
        ([137, 0], "redirect"),
        ([0, 0], "other"),
        ([127, 0], "other"),
        ([255, 0], "other"),
    ];

    #[test]
    fn known_messages() {
        for &([ty, code], want) in V4 {
            assert_eq!(v4_name(ty, code), want, "icmp {ty}/{code}");
        }
        for &([ty, code], want) in V6 {
            assert_eq!(v6_name(ty, code), want, "icmp6 {ty}/{code}");
        }
    }

    /// Every (type, code) gives a non-empty lowercase name; only the unreachable types vary
    /// with the code.
    #[test]
    fn total_over_all_inputs() {
        for ty in 0..=u8::MAX {
            for code in 0..=u8::MAX {
                for n in [v4_name(ty, code), v6_name(ty, code)] {
                    assert!(!n.is_empty());
                    assert!(n
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                }
                if ty != 3 {
                    assert_eq!(v4_name(ty, code), v4_name(ty, 0));
                }
                if ty != 1 {
                    assert_eq!(v6_name(ty, code), v6_name(ty, 0));
                }
            }
        }
    }

    /// The first bytes of pseudo-random "packets", as a caller would pass them.
    #[test]
    fn no_panic_on_random_headers() {
        let mut x: u64 = 0xDEAD_BEEF_CAFE_F00D;
        let mut other = 0;
        for _ in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let [ty, code, ..] = x.to_le_bytes();
            if v4_name(ty, code) == "other" {
                other += 1;
            }
            let _ = v6_name(ty, code);
        }
        // Most of the type space is unassigned.
        assert!(other > 3000);
    }
}
