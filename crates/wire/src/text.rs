//! Line-based protocols: FTP control commands and replies (RFC 959 and its extensions) and the
//! SSH identification string (RFC 4253 §4.2).
//!
//! Invariants:
//! - Never panics on any byte slice; no heap allocation; returned strings borrow the payload and
//!   are valid UTF-8.
//! - Only the first line is looked at, and it must end within a fixed bound (512 bytes for FTP,
//!   255 for SSH), so work per payload is bounded whatever its size.
//! - A line without a terminator is accepted only when it is the whole payload (a segment cut
//!   mid-line, or a client that sent no CRLF) and fits the bound.

/// Longest FTP line we look for. RFC 959 sets no limit; 512 is generous for commands and replies
/// and keeps a misidentified binary stream from being scanned far.
const MAX_FTP_LINE: usize = 512;
/// The SSH identification string is at most 255 characters including CR LF (RFC 4253 §4.2).
const MAX_SSH_LINE: usize = 255;

/// Telnet IAC (RFC 854): FTP control runs over Telnet conventions (RFC 959 §4.1.3), so ABOR may
/// be preceded by IAC IP / IAC DM ("FF F4 FF F2").
const TELNET_IAC: u8 = 0xFF;
/// Telnet command codes that may follow IAC (SE 240 ..= DONT 254).
const TELNET_COMMANDS: core::ops::RangeInclusive<u8> = 0xF0..=0xFE;
/// How many leading Telnet commands we skip.
const MAX_TELNET_PREFIX: usize = 4;

/// FTP verbs we recognise: RFC 959 §4.1 / §5.3.1, RFC 2228 (AUTH, PBSZ, PROT, CCC), RFC 2389
/// (FEAT, OPTS), RFC 2428 (EPSV, EPRT), RFC 2640 (LANG), RFC 3659 (MLSD, MLST, SIZE, MDTM).
const FTP_VERBS: [&[u8]; 47] = [
    b"USER", b"PASS", b"ACCT", b"CWD", b"CDUP", b"SMNT", b"QUIT", b"REIN", b"PORT", b"PASV",
    b"TYPE", b"STRU", b"MODE", b"RETR", b"STOR", b"STOU", b"APPE", b"ALLO", b"REST", b"RNFR",
    b"RNTO", b"ABOR", b"DELE", b"RMD", b"MKD", b"PWD", b"LIST", b"NLST", b"SITE", b"SYST", b"STAT",
    b"HELP", b"NOOP", b"FEAT", b"OPTS", b"AUTH", b"PBSZ", b"PROT", b"EPSV", b"EPRT", b"MLSD",
    b"MLST", b"SIZE", b"MDTM", b"LANG", b"CCC", b"ADAT",
];

/// An FTP control command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FtpCommand<'a> {
    /// The verb as written (case preserved; matched case-insensitively, RFC 959 §5.3).
    pub verb: &'a str,
    /// Everything after the single space that follows the verb, up to CR/LF. None when absent,
    /// empty, not UTF-8 (RFC 2640 pathnames are UTF-8), or containing control characters.
    pub arg: Option<&'a str>,
}

/// The first line of `payload` without its CR LF / LF, if it ends within `max` bytes, or the
/// whole payload if it has no LF at all and fits in `max`.
fn first_line(payload: &[u8], max: usize) -> Option<&[u8]> {
    let window = payload.get(..max).unwrap_or(payload);
    let line = match window.iter().position(|&b| b == b'\n') {
        Some(nl) => window.get(..nl)?,
        None if payload.len() <= max && !payload.contains(&b'\n') => payload,
        None => return None,
    };
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

fn has_control(b: &[u8]) -> bool {
    b.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7F)
}

/// Skips leading Telnet commands (IAC + command byte), at most [`MAX_TELNET_PREFIX`] of them.
fn skip_telnet(mut p: &[u8]) -> &[u8] {
    for _ in 0..MAX_TELNET_PREFIX {
        match p {
            [TELNET_IAC, cmd, rest @ ..] if TELNET_COMMANDS.contains(cmd) => p = rest,
            _ => break,
        }
    }
    p
}

/// FTP control command (RFC 959 §4.1/§5.3.1, plus RFC 2228/2389/2428/2640/3659 verbs): a known
/// 3-4 letter verb (case-insensitive, returned as written), then optionally one space and an
/// argument up to CR/LF. The line must end within the first 512 bytes, or be the whole payload.
pub fn ftp_command(payload: &[u8]) -> Option<FtpCommand<'_>> {
    let line = first_line(skip_telnet(payload), MAX_FTP_LINE)?;
    let verb_len = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let verb = line.get(..verb_len)?;
    if !FTP_VERBS.iter().any(|v| v.eq_ignore_ascii_case(verb)) {
        return None;
    }
    // Only ASCII letters matched, so this cannot fail; stay panic-free anyway.
    let verb = core::str::from_utf8(verb).ok()?;
    let arg = line
        .get(verb_len + 1..)
        .filter(|a| !a.is_empty() && !has_control(a))
        .and_then(|a| core::str::from_utf8(a).ok());
    Some(FtpCommand { verb, arg })
}

/// FTP reply (RFC 959 §4.2): a 3-digit code (first digit 1-6: RFC 2228 adds 6yz protected
/// replies) followed by space, '-' (first line of a multi-line reply) or the end of the line,
/// then text. Returns (code, text up to CR/LF); text that is not UTF-8 is cut at the first
/// invalid byte.
pub fn ftp_reply(payload: &[u8]) -> Option<(u16, &str)> {
    let line = first_line(payload, MAX_FTP_LINE)?;
    let (code, rest) = match line {
        [a @ b'1'..=b'6', b @ b'0'..=b'9', c @ b'0'..=b'9', rest @ ..] => {
            let digit = |d: &u8| u16::from(d - b'0');
            (digit(a) * 100 + digit(b) * 10 + digit(c), rest)
        }
        _ => return None,
    };
    let text = match rest {
        [] => &[][..],
        [b' ' | b'-', text @ ..] => text,
        _ => return None,
    };
    let text = match core::str::from_utf8(text) {
        Ok(t) => t,
        Err(e) => core::str::from_utf8(text.get(..e.valid_up_to())?).ok()?,
    };
    Some((code, text))
}

/// SSH identification string (RFC 4253 §4.2): the payload starts with "SSH-"; returns the line
/// without CR/LF if it is printable ASCII (space included, for the comments part) and at most
/// 255 bytes.
pub fn ssh_banner(payload: &[u8]) -> Option<&str> {
    if !payload.starts_with(b"SSH-") {
        return None;
    }
    let line = first_line(payload, MAX_SSH_LINE)?;
    if !line.iter().all(|&c| (0x20..=0x7E).contains(&c)) {
        return None;
    }
    core::str::from_utf8(line).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn commands() {
        assert_eq!(
            ftp_command(b"USER anonymous\r\n"),
            Some(FtpCommand {
                verb: "USER",
                arg: Some("anonymous"),
            })
        );
        assert_eq!(
            ftp_command(b"pass s3cr3t pass\r\n"),
            Some(FtpCommand {
                verb: "pass",
                arg: Some("s3cr3t pass"),
            })
        );
        assert_eq!(
            ftp_command(b"PASV\r\n"),
            Some(FtpCommand {
                verb: "PASV",
                arg: None,
            })
        );
        assert_eq!(
            ftp_command(b"EPRT |2|2001:db8::1|6446|\r\n"),
            Some(FtpCommand {
                verb: "EPRT",
                arg: Some("|2|2001:db8::1|6446|"),
            })
        );
        assert_eq!(
            ftp_command(b"RETR /pub/caf\xc3\xa9.txt\n"),
            Some(FtpCommand {
                verb: "RETR",
                arg: Some("/pub/café.txt"),
            })
        );
        // No terminator but the whole payload.
        assert_eq!(
            ftp_command(b"AUTH TLS"),
            Some(FtpCommand {
                verb: "AUTH",
                arg: Some("TLS"),
            })
        );
        assert_eq!(
            ftp_command(b"CWD\r\n"),
            Some(FtpCommand {
                verb: "CWD",
                arg: None,
            })
        );
        // Telnet IP + Synch before ABOR (RFC 959 §4.1.3).
        assert_eq!(
            ftp_command(b"\xff\xf4\xff\xf2ABOR\r\n"),
            Some(FtpCommand {
                verb: "ABOR",
                arg: None,
            })
        );
        // Argument that is not UTF-8, or has control bytes: dropped.
        assert_eq!(ftp_command(b"STOR \xff\xfe\r\n").map(|c| c.arg), Some(None));
        assert_eq!(ftp_command(b"STOR a\x00b\r\n").map(|c| c.arg), Some(None));
        // Only the first line.
        assert_eq!(ftp_command(b"TYPE I\r\nPASV\r\n").unwrap().arg, Some("I"));
    }

    #[test]
    fn not_commands() {
        assert_eq!(ftp_command(b""), None);
        assert_eq!(ftp_command(b"\r\n"), None);
        assert_eq!(ftp_command(b"USERNAME bob\r\n"), None);
        assert_eq!(ftp_command(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(ftp_command(b"220 ready\r\n"), None);
        assert_eq!(ftp_command(b" USER bob\r\n"), None);
        assert_eq!(ftp_command(b"\xff\xff\xff"), None);
        // Line longer than 512 bytes.
        let mut long = b"USER ".to_vec();
        long.extend_from_slice(&[b'a'; 600]);
        assert_eq!(ftp_command(&long), None);
        long.extend_from_slice(b"\r\n");
        assert_eq!(ftp_command(&long), None);
        // Unterminated, and not the whole payload (LF beyond 512).
        let mut long = b"NOOP".to_vec();
        long.extend_from_slice(&[b' '; 600]);
        long.push(b'\n');
        assert_eq!(ftp_command(&long), None);
    }

    #[test]
    fn replies() {
        assert_eq!(
            ftp_reply(b"220 (vsFTPd 3.0.5)\r\n"),
            Some((220, "(vsFTPd 3.0.5)"))
        );
        assert_eq!(
            ftp_reply(b"230-Welcome\r\n230 Login successful.\r\n"),
            Some((230, "Welcome"))
        );
        assert_eq!(
            ftp_reply(b"227 Entering Passive Mode (192,168,1,2,195,80).\r\n"),
            Some((227, "Entering Passive Mode (192,168,1,2,195,80)."))
        );
        assert_eq!(ftp_reply(b"631 base64data\r\n"), Some((631, "base64data")));
        assert_eq!(ftp_reply(b"200\r\n"), Some((200, "")));
        assert_eq!(ftp_reply(b"550 caf\xe9\r\n"), Some((550, "caf")));
        assert_eq!(ftp_reply(b"150 Opening"), Some((150, "Opening")));
    }

    #[test]
    fn not_replies() {
        assert_eq!(ftp_reply(b""), None);
        assert_eq!(ftp_reply(b"22"), None);
        assert_eq!(ftp_reply(b"2200 x\r\n"), None);
        assert_eq!(ftp_reply(b"020 x\r\n"), None);
        assert_eq!(ftp_reply(b"720 x\r\n"), None);
        assert_eq!(ftp_reply(b"22a x\r\n"), None);
        assert_eq!(ftp_reply(b"USER bob\r\n"), None);
    }

    #[test]
    fn ssh() {
        assert_eq!(
            ssh_banner(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n"),
            Some("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5")
        );
        // Old implementations end with LF only (RFC 4253 §4.2 tolerates it).
        assert_eq!(
            ssh_banner(b"SSH-1.99-Cisco-1.25\n"),
            Some("SSH-1.99-Cisco-1.25")
        );
        // Followed by the binary KEXINIT in the same segment.
        assert_eq!(
            ssh_banner(b"SSH-2.0-dropbear_2022.83\r\n\x00\x00\x01\x14\x0a\x14"),
            Some("SSH-2.0-dropbear_2022.83")
        );
        // Cut, whole payload.
        assert_eq!(ssh_banner(b"SSH-2.0-Go"), Some("SSH-2.0-Go"));
    }

    #[test]
    fn not_ssh() {
        assert_eq!(ssh_banner(b""), None);
        assert_eq!(ssh_banner(b"SSH"), None);
        assert_eq!(ssh_banner(b"ssh-2.0-x\r\n"), None);
        assert_eq!(ssh_banner(b"SSH-2.0-\x01x\r\n"), None);
        assert_eq!(ssh_banner(b"SSH-2.0-caf\xc3\xa9\r\n"), None);
        let mut long = b"SSH-2.0-".to_vec();
        long.extend_from_slice(&[b'x'; 300]);
        assert_eq!(ssh_banner(&long), None);
        long.extend_from_slice(b"\r\n");
        assert_eq!(ssh_banner(&long), None);
    }

    #[test]
    fn every_prefix() {
        let msgs: [&[u8]; 4] = [
            b"USER anonymous\r\n",
            b"\xff\xf4\xff\xf2ABOR\r\n",
            b"230-Welcome\r\n230 Login successful.\r\n",
            b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n",
        ];
        for msg in msgs {
            for n in 0..=msg.len() {
                let p = &msg[..n];
                let _ = (ftp_command(p), ftp_reply(p), ssh_banner(p));
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut state: u64 = 0x0123_4567_89ab_cdef;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"USERPASS SSH-2.0 220-\r\n\xff\xf4\xc3\x00";
        for round in 0..4000 {
            let len = (next() % 700) as usize;
            let buf: Vec<u8> = if round % 2 == 0 {
                (0..len).map(|_| next() as u8).collect()
            } else {
                (0..len)
                    .map(|_| alphabet[(next() as usize) % alphabet.len()])
                    .collect()
            };
            if let Some(c) = ftp_command(&buf) {
                assert!((3..=4).contains(&c.verb.len()));
            }
            if let Some((code, _)) = ftp_reply(&buf) {
                assert!((100..700).contains(&code));
            }
            if let Some(b) = ssh_banner(&buf) {
                assert!(b.len() <= MAX_SSH_LINE);
            }
        }
    }
}
