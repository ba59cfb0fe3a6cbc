//! DNS anomalies: query names that look like tunnelled data (very long, or a high-entropy
//! subdomain), and bursts of NXDOMAIN answers (malware walking generated domains).
//!
//! One odd name is not an alert (some CDNs and anti-virus lookups use long hashed labels):
//! it takes `suspicious_names` of them under one domain from one client within the window.
//! Names are rendered into a buffer on the stack, so a query costs no allocation.

use std::net::IpAddr;

use serde_json::json;
use wire::packet::App;

use super::bounded::Bounded;
use super::config::DnsConfig;
use super::window::{secs_ns, Tally};
use super::{Detector, Interest, Raise, Seen, Severity};

/// A dotted name is at most 253 characters, but dig-style escapes (`\DDD`) can make a hostile
/// one up to four times longer; anything past this is cut (and long enough to be suspicious).
const NAME_BUF: usize = 1024;

/// A fixed buffer that `fmt::Write` fills and silently cuts.
struct NameBuf {
    buf: [u8; NAME_BUF],
    len: usize,
}

impl NameBuf {
    fn new() -> Self {
        NameBuf {
            buf: [0; NAME_BUF],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        let bytes = self.buf.get(..self.len).unwrap_or(&[]);
        // Only whole `str`s are copied in, cut at a char boundary.
        std::str::from_utf8(bytes).unwrap_or("")
    }
}

impl std::fmt::Write for NameBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = NAME_BUF - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.len..self.len + take),
            s.as_bytes().get(..take),
        ) {
            dst.copy_from_slice(src);
            self.len += take;
        }
        Ok(())
    }
}

/// Shannon entropy of `s` in bits per byte.
fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Splits a name into the part a tunnel controls (the subdomain) and the domain it is sent to
/// (the last two labels; without the public suffix list, `co.uk` domains count one label short,
/// which only widens the grouping).
fn split_domain(name: &str) -> (&str, &str) {
    let mut dots = name.rmatch_indices('.').map(|(i, _)| i);
    let _tld = dots.next();
    match dots.next() {
        Some(i) => (
            name.get(..i).unwrap_or(""),
            name.get(i + 1..).unwrap_or(name),
        ),
        None => ("", name),
    }
}

/// DNS answers to one client in the current window.
#[derive(Default)]
struct Answers {
    all: Tally,
    nxdomain: u64,
}

#[derive(Default)]
struct Suspicious {
    tally: Tally,
    longest: usize,
    max_entropy: f64,
}

pub struct DnsAnomaly {
    c: DnsConfig,
    window_ns: i64,
    /// Suspicious names per (client, domain); the domain is a `String` made when the state is.
    names: Bounded<(IpAddr, String), Suspicious>,
    /// Answers per client, and how many of them were NXDOMAIN.
    nxdomain: Bounded<IpAddr, Answers>,
}

impl DnsAnomaly {
    pub fn new(c: &DnsConfig, max_tracked: usize) -> Self {
        DnsAnomaly {
            c: c.clone(),
            window_ns: secs_ns(c.window_secs),
            names: Bounded::new(max_tracked),
            nxdomain: Bounded::new(max_tracked),
        }
    }

    fn query(
        &mut self,
        client: IpAddr,
        server: IpAddr,
        name: &str,
        seen: &Seen<'_, '_>,
        out: &mut Vec<Raise>,
    ) {
        // Reverse lookups are long strings of digits by design.
        if name.ends_with(".arpa") || name.ends_with(".arpa.") {
            return;
        }
        let (sub, domain) = split_domain(name);
        let long = name.len() >= self.c.max_name_len;
        let e = if sub.len() >= self.c.entropy_min_len {
            entropy(sub)
        } else {
            0.0
        };
        if !long && e < self.c.max_entropy {
            return;
        }
        let now = seen.ts;
        let key = (client, domain.to_string());
        let s = self.names.entry(key, Suspicious::default);
        let n = s.tally.add(now, 1, self.window_ns);
        s.longest = s.longest.max(name.len());
        s.max_entropy = s.max_entropy.max(e);
        if n < self.c.suspicious_names {
            return;
        }
        let (longest, max_entropy) = (s.longest, s.max_entropy);
        s.tally.reset();
        s.longest = 0;
        s.max_entropy = 0.0;
        out.push(Raise {
            ts: now,
            detector: "dns",
            kind: "tunnel",
            severity: Severity::High,
            src: Some(client.to_string()),
            dst: Some(domain.to_string()),
            summary: format!(
                "possible DNS tunnel: {client} sent {n} long or high-entropy queries under {domain} within {} s",
                self.c.window_secs
            ),
            evidence: json!({
                "names": n,
                "longest": longest,
                "max_entropy": (max_entropy * 100.0).round() / 100.0,
                "server": server.to_string(),
                "window_secs": self.c.window_secs,
            }),
        });
    }
}

/// RCODE 3, "Name Error" (RFC 1035 §4.1.1).
const NXDOMAIN: u8 = 3;

impl Detector for DnsAnomaly {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn interest(&self) -> Interest {
        Interest::Dns
    }

    fn inspect(&mut self, seen: &Seen<'_, '_>, out: &mut Vec<Raise>) {
        let App::Dns(dns) = &seen.packet.app else {
            return;
        };
        let Some(ip) = seen.packet.ip() else {
            return;
        };
        if !dns.is_response {
            if let Some((qname, _)) = dns.question {
                let mut buf = NameBuf::new();
                // Straight to the buffer: through `write!` every query paid for `fmt::write`.
                let _ = qname.write_to(&mut buf);
                self.query(ip.src, ip.dst, buf.as_str(), seen, out);
            }
            return;
        }
        let client = ip.dst;
        let now = seen.ts;
        let answers = self.nxdomain.entry(client, Answers::default);
        if answers.all.add(now, 1, self.window_ns) == 1 {
            answers.nxdomain = 0;
        }
        if dns.rcode != NXDOMAIN {
            return;
        }
        answers.nxdomain += 1;
        let n = answers.nxdomain;
        if n >= self.c.nxdomain && n * 2 > answers.all.count {
            let all = answers.all.count;
            answers.all.reset();
            answers.nxdomain = 0;
            out.push(Raise {
                ts: now,
                detector: "dns",
                kind: "nxdomain_burst",
                severity: Severity::Medium,
                src: Some(client.to_string()),
                dst: None,
                summary: format!(
                    "NXDOMAIN burst: {client} got {n} non-existent-domain answers (of {all}) within {} s",
                    self.c.window_secs
                ),
                evidence: json!({
                    "nxdomain": n,
                    "answers": all,
                    "window_secs": self.c.window_secs,
                    "latest_server": ip.src.to_string(),
                }),
            });
        }
    }

    fn evictions(&self) -> u64 {
        self.names.evicted + self.nxdomain.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_words_is_lower_than_of_encoded_data() {
        assert!(entropy("mail.google") < 3.5);
        assert!(entropy("mzxw6ytboi2dsnrxgezdgnbvgy3tqojqgexbqmbtgq2") > 4.0);
    }

    #[test]
    fn domain_is_the_last_two_labels() {
        assert_eq!(split_domain("a.b.example.com"), ("a.b", "example.com"));
        assert_eq!(split_domain("example.com"), ("", "example.com"));
        assert_eq!(split_domain("localhost"), ("", "localhost"));
    }

    #[test]
    fn name_buffer_cuts_without_panicking() {
        use std::fmt::Write as _;
        let mut b = NameBuf::new();
        for _ in 0..300 {
            let _ = b.write_str("abcé");
        }
        assert!(b.as_str().len() <= NAME_BUF);
    }
}
