//! Cleartext credentials in use: FTP `USER`/`PASS`, Telnet login prompts, HTTP Basic
//! authentication. The alert names the protocol and the flow; the user name and the secret
//! are never read into it.

use std::net::IpAddr;

use serde_json::json;
use wire::packet::{App, Transport};

use super::bounded::Bounded;
use super::synflood::endpoint;
use super::{Detector, Interest, Raise, Seen, Severity};

/// The Telnet port (RFC 854).
const TELNET: u16 = 23;
/// How far into a Telnet segment to look for a prompt: prompts are short lines.
const PROMPT_SCAN: usize = 256;

/// Which protocol gave the credentials away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Ftp,
    Telnet,
    HttpBasic,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ftp => "ftp",
            Kind::Telnet => "telnet",
            Kind::HttpBasic => "http_basic",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Kind::Ftp => "FTP login (USER/PASS)",
            Kind::Telnet => "Telnet login",
            Kind::HttpBasic => "HTTP Basic authentication",
        }
    }
}

/// (client, server, server port, kind).
type FlowKind = (IpAddr, IpAddr, u16, Kind);

pub struct Cleartext {
    /// Credential messages per flow already raised; a repeat is merged without new text.
    flows: Bounded<FlowKind, u64>,
}

impl Cleartext {
    pub fn new(max_tracked: usize) -> Self {
        Cleartext {
            flows: Bounded::new(max_tracked),
        }
    }
}

/// True when a Telnet server's segment asks for a password. Case-insensitive "assword" covers
/// "Password:" and "password:" without allocating.
fn telnet_password_prompt(payload: &[u8]) -> bool {
    let head = payload.get(..PROMPT_SCAN).unwrap_or(payload);
    head.windows(7).any(|w| w.eq_ignore_ascii_case(b"assword"))
}

impl Detector for Cleartext {
    fn name(&self) -> &'static str {
        "cleartext"
    }

    fn interest(&self) -> Interest {
        Interest::TcpData
    }

    fn inspect(&mut self, seen: &Seen<'_, '_>, out: &mut Vec<Raise>) {
        let p = seen.packet;
        let Transport::Tcp(tcp) = p.transport else {
            return;
        };
        if p.payload.is_empty() {
            return;
        }
        let Some(ip) = p.ip() else {
            return;
        };
        // (client, server, server port, kind, what the message was).
        let found = match &p.app {
            App::Ftp(cmd)
                if cmd.verb.eq_ignore_ascii_case("USER")
                    || cmd.verb.eq_ignore_ascii_case("PASS") =>
            {
                Some((ip.src, ip.dst, tcp.dst_port, Kind::Ftp, "USER/PASS command"))
            }
            App::Http(_) if wire::http::has_basic_auth(p.payload) => Some((
                ip.src,
                ip.dst,
                tcp.dst_port,
                Kind::HttpBasic,
                "Authorization: Basic header",
            )),
            App::None if tcp.src_port == TELNET && telnet_password_prompt(p.payload) => Some((
                ip.dst,
                ip.src,
                tcp.src_port,
                Kind::Telnet,
                "password prompt",
            )),
            _ => None,
        };
        let Some((client, server, port, kind, what)) = found else {
            return;
        };
        let n = self.flows.entry((client, server, port, kind), || 0);
        *n += 1;
        let messages = *n;
        out.push(Raise {
            ts: seen.ts,
            detector: "cleartext",
            kind: kind.name(),
            severity: Severity::Medium,
            src: Some(client.to_string()),
            dst: Some(endpoint(server, port)),
            summary: format!(
                "cleartext credentials: {} from {client} to {} (secret not shown)",
                kind.words(),
                endpoint(server, port)
            ),
            evidence: json!({ "protocol": kind.name(), "messages": messages, "latest": what }),
        });
    }

    fn evictions(&self) -> u64 {
        self.flows.evicted
    }
}
