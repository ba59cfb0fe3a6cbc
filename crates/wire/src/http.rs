//! HTTP/1.x request and status lines (RFC 9112) at the start of a TCP payload.
//!
//! Uses `httparse` for the start line and headers, with a fixed array of headers on the stack,
//! and a hand-written line scanner where `httparse` gives nothing back: a message cut by the
//! segment end (`Status::Partial` does not expose the headers already read) or one with more
//! headers than the array holds.
//!
//! Invariants:
//! - Never panics on any byte slice; no heap allocation; every returned `&str` borrows the
//!   payload and is valid UTF-8.
//! - Work is linear in the payload length (one `httparse` pass plus at most one line scan).
//! - Only complete lines (ending in LF) are trusted for header values, so a Host cut by the
//!   segment end is never reported half-written.

/// Request methods we recognise at the very start of a payload (RFC 9110 §9 plus PATCH,
/// RFC 5789). Anything else is not treated as HTTP.
const METHODS: [&[u8]; 9] = [
    b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE",
];

/// Size of the on-stack header array handed to `httparse`.
const MAX_HEADERS: usize = 48;

/// What a monitor shows about an HTTP/1.x message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpSummary<'a> {
    Request {
        method: &'a str,
        path: &'a str,
        host: Option<&'a str>,
    },
    Response {
        status: u16,
        reason: &'a str,
    },
}

/// True when the payload starts with a known method followed by a space.
fn starts_with_method(payload: &[u8]) -> bool {
    // Most payloads tried here are not HTTP: one byte rules them out before nine comparisons.
    if !matches!(
        payload.first(),
        Some(b'G' | b'P' | b'D' | b'H' | b'O' | b'C' | b'T')
    ) {
        return false;
    }
    METHODS.iter().any(|m| {
        payload
            .strip_prefix(*m)
            .is_some_and(|rest| rest.first() == Some(&b' '))
    })
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    // Optional whitespace around a field value is SP / HTAB (RFC 9110 §5.6.3).
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Header lines after the start line, each without its line ending, up to the blank line that
/// ends the header section (RFC 9112 §2.1). With `partial_last`, a final line that the segment
/// cut (no LF yet) is yielded too.
fn header_lines(payload: &[u8], partial_last: bool) -> impl Iterator<Item = &[u8]> {
    let mut rest = payload
        .iter()
        .position(|&b| b == b'\n')
        .and_then(|nl| payload.get(nl + 1..));
    core::iter::from_fn(move || {
        let cur = rest?;
        let (line, next) = match cur.iter().position(|&b| b == b'\n') {
            Some(nl) => (cur.get(..nl)?, cur.get(nl + 1..)),
            None if partial_last && !cur.is_empty() => (cur, None),
            None => (&[][..], None),
        };
        rest = next;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            // End of the header section (or nothing usable left).
            rest = None;
            return None;
        }
        Some(line)
    })
}

/// Splits `Name: value` into the name and the trimmed value. Field names are followed directly by
/// the colon (RFC 9112 §5.1: no whitespace before it).
fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line.get(..colon)?;
    let value = line.get(colon + 1..)?;
    Some((name, trim_ows(value)))
}

/// First complete header line named `name` (case-insensitive, RFC 9110 §5.1).
fn scan_header<'a>(payload: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    header_lines(payload, false)
        .filter_map(split_header)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A Host value we are willing to show: non-empty UTF-8 without control characters.
fn host_value(v: &[u8]) -> Option<&str> {
    let v = trim_ows(v);
    if v.is_empty() || v.iter().any(|&b| b < 0x20 || b == 0x7F) {
        return None;
    }
    core::str::from_utf8(v).ok()
}

fn parse_request(payload: &[u8]) -> Option<HttpSummary<'_>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(payload);
    let (method, path) = (req.method?, req.path?);
    let host = match status {
        Ok(httparse::Status::Complete(_)) => req
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("host"))
            .and_then(|h| host_value(h.value)),
        // Partial: httparse keeps the headers it read to itself, so scan the complete lines.
        // TooManyHeaders / a bad header line: the request line was fine (httparse only looks at
        // headers after it), so scan by hand as well.
        Ok(httparse::Status::Partial)
        | Err(
            httparse::Error::TooManyHeaders
            | httparse::Error::HeaderName
            | httparse::Error::HeaderValue,
        ) => scan_header(payload, b"host").and_then(host_value),
        // The request line itself is malformed (bad version, bad newline...): not HTTP.
        Err(_) => return None,
    };
    Some(HttpSummary::Request { method, path, host })
}

fn parse_response(payload: &[u8]) -> Option<HttpSummary<'_>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    // Whatever happens in the headers, the status line is complete once `reason` is set
    // (httparse sets it only after the line ending).
    let _ = resp.parse(payload);
    Some(HttpSummary::Response {
        status: resp.code?,
        reason: resp.reason?,
    })
}

/// Parses the start of an HTTP/1.x message at the start of a TCP payload. Works on a cut segment
/// (returns method/path once the request target is complete, plus the host if the Host header
/// line was complete; for a response, the status once the status line is complete). None if it
/// is not HTTP: the payload must start with a known uppercase method followed by a space, or
/// with "HTTP/1.".
pub fn parse(payload: &[u8]) -> Option<HttpSummary<'_>> {
    if starts_with_method(payload) {
        parse_request(payload)
    } else if payload.starts_with(b"HTTP/1.") {
        parse_response(payload)
    } else {
        None
    }
}

/// [`parse`] for requests only: None for a response.
pub fn parse_request_only(payload: &[u8]) -> Option<HttpSummary<'_>> {
    if starts_with_method(payload) {
        parse_request(payload)
    } else {
        None
    }
}

/// True when the payload is a request carrying `Authorization: Basic` (or
/// `Proxy-Authorization: Basic`, RFC 7617 / RFC 9110 §11.6.2, §11.7.2) in its header section.
/// The scheme name is case-insensitive (RFC 9110 §11.1). The credentials are never looked at.
pub fn has_basic_auth(payload: &[u8]) -> bool {
    if !starts_with_method(payload) {
        return false;
    }
    header_lines(payload, true)
        .filter_map(split_header)
        .any(|(name, value)| {
            (name.eq_ignore_ascii_case(b"authorization")
                || name.eq_ignore_ascii_case(b"proxy-authorization"))
                && value
                    .get(..5)
                    .is_some_and(|s| s.eq_ignore_ascii_case(b"basic"))
                && matches!(value.get(5), Some(b' ' | b'\t'))
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const GET: &[u8] = b"GET /index.html?q=1 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: curl/8.5.0\r\n\
Accept: */*\r\n\
\r\n";

    const POST_CUT: &[u8] = b"POST /api/v1/login HTTP/1.1\r\n\
host:  api.example.com:8080 \r\n\
Content-Type: application/json\r\n\
Content-Len";

    const RESPONSE: &[u8] = b"HTTP/1.1 404 Not Found\r\n\
Content-Type: text/html\r\n\
Content-Length: 9\r\n\
\r\n\
not found";

    #[test]
    fn get_request() {
        assert_eq!(
            parse(GET),
            Some(HttpSummary::Request {
                method: "GET",
                path: "/index.html?q=1",
                host: Some("www.example.com"),
            })
        );
        assert!(!has_basic_auth(GET));
    }

    #[test]
    fn cut_request() {
        assert_eq!(
            parse(POST_CUT),
            Some(HttpSummary::Request {
                method: "POST",
                path: "/api/v1/login",
                host: Some("api.example.com:8080"),
            })
        );
        // Cut inside the Host line: no host.
        let cut = &GET[..40];
        assert_eq!(
            parse(cut),
            Some(HttpSummary::Request {
                method: "GET",
                path: "/index.html?q=1",
                host: None,
            })
        );
        // Cut inside the target: nothing to show.
        assert_eq!(parse(&GET[..8]), None);
        // Cut in the version: method and path are known.
        assert!(matches!(
            parse(&GET[..24]),
            Some(HttpSummary::Request { host: None, .. })
        ));
    }

    #[test]
    fn response() {
        assert_eq!(
            parse(RESPONSE),
            Some(HttpSummary::Response {
                status: 404,
                reason: "Not Found",
            })
        );
        // Status line complete, headers cut.
        assert_eq!(
            parse(&RESPONSE[..30]),
            Some(HttpSummary::Response {
                status: 404,
                reason: "Not Found",
            })
        );
        // Status line cut.
        assert_eq!(parse(&RESPONSE[..15]), None);
        // No reason phrase.
        assert_eq!(
            parse(b"HTTP/1.0 204\r\n\r\n"),
            Some(HttpSummary::Response {
                status: 204,
                reason: "",
            })
        );
    }

    #[test]
    fn too_many_headers_falls_back_to_scan() {
        let mut req = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..60 {
            req.extend_from_slice(format!("X-Filler-{i}: {i}\r\n").as_bytes());
        }
        req.extend_from_slice(b"HOST: late.example\r\n\r\n");
        assert_eq!(
            parse(&req),
            Some(HttpSummary::Request {
                method: "GET",
                path: "/",
                host: Some("late.example"),
            })
        );
        let mut resp = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..60 {
            resp.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        assert_eq!(
            parse(&resp),
            Some(HttpSummary::Response {
                status: 200,
                reason: "OK",
            })
        );
    }

    #[test]
    fn host_in_body_is_ignored() {
        let req = b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\nHost: body.example\r\n";
        assert_eq!(
            parse(&req[..40]),
            Some(HttpSummary::Request {
                method: "GET",
                path: "/",
                host: None,
            })
        );
        assert_eq!(scan_header(req, b"host"), None);
    }

    #[test]
    fn not_http() {
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"get / HTTP/1.1\r\n\r\n"), None);
        assert_eq!(parse(b"GETX / HTTP/1.1\r\n\r\n"), None);
        assert_eq!(parse(b"GET"), None);
        assert_eq!(parse(b"FOO / HTTP/1.1\r\n\r\n"), None);
        assert_eq!(parse(b"HTTP/2 200\r\n\r\n"), None);
        assert_eq!(parse(b"SSH-2.0-OpenSSH_9.6\r\n"), None);
        assert_eq!(parse(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 0, 0, 1, 0]), None);
        // Bad version in the request line.
        assert_eq!(parse(b"GET / FOO/1.1\r\n\r\n"), None);
        // Invalid UTF-8 in the host: dropped, request kept.
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n"),
            Some(HttpSummary::Request {
                method: "GET",
                path: "/",
                host: None,
            })
        );
    }

    #[test]
    fn basic_auth() {
        let req =
            b"GET /admin HTTP/1.1\r\nHost: router\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\n\r\n";
        assert!(has_basic_auth(req));
        assert!(has_basic_auth(
            b"GET / HTTP/1.1\r\nauthorization: basic YTpi\r\n\r\n"
        ));
        assert!(has_basic_auth(
            b"CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic YTpi\r\n\r\n"
        ));
        // Cut inside the credentials: the scheme is already visible.
        assert!(has_basic_auth(
            b"GET / HTTP/1.1\r\nAuthorization: Basic YWRt"
        ));
        assert!(!has_basic_auth(
            b"GET / HTTP/1.1\r\nAuthorization: Bearer abc.def\r\n\r\n"
        ));
        assert!(!has_basic_auth(
            b"GET / HTTP/1.1\r\nAuthorization: Basicx\r\n\r\n"
        ));
        // In the body, or in a response: not a request header.
        assert!(!has_basic_auth(
            b"POST / HTTP/1.1\r\n\r\nAuthorization: Basic YTpi\r\n"
        ));
        assert!(!has_basic_auth(
            b"HTTP/1.1 200 OK\r\nAuthorization: Basic YTpi\r\n\r\n"
        ));
    }

    #[test]
    fn every_prefix() {
        for msg in [GET, POST_CUT, RESPONSE] {
            for n in 0..=msg.len() {
                let _ = parse(&msg[..n]);
                let _ = has_basic_auth(&msg[..n]);
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"GET HTTP/1.1\r\n:Host: aA\xff\x00/";
        for round in 0..4000 {
            let len = (next() % 200) as usize;
            let mut buf: Vec<u8> = if round % 2 == 0 {
                (0..len).map(|_| next() as u8).collect()
            } else {
                (0..len)
                    .map(|_| alphabet[(next() as usize) % alphabet.len()])
                    .collect()
            };
            if round % 3 == 0 {
                let mut v = b"GET / HTTP/1.1\r\n".to_vec();
                v.append(&mut buf);
                buf = v;
            }
            if let Some(HttpSummary::Request { method, path, host }) = parse(&buf) {
                assert!(!method.is_empty() && !path.is_empty());
                assert!(host.is_none_or(|h| !h.is_empty()));
            }
            let _ = has_basic_auth(&buf);
        }
    }
}
