//! Who may read the dashboard, and the headers every response carries.
//!
//! With a token (any non-loopback address, or `--web-token`), a request must carry it: header
//! `Authorization: Bearer TOKEN` or `X-Netlens-Token: TOKEN`, cookie `netlens_token`, or
//! `?token=TOKEN` (which also sets the cookie, so the page's own requests and the event stream
//! carry it without putting it in every URL). Without a token (loopback), the `Host` header
//! must name loopback or an IP address: a web page on another origin that points its own DNS
//! name at 127.0.0.1 (DNS rebinding) gets 403 instead of the traffic summary.

use std::collections::HashMap;
use std::io::Read;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

const COOKIE: &str = "netlens_token";

/// 128 random bits from the kernel, as hex (URL- and cookie-safe).
pub fn generate_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares without stopping at the first difference, so timing does not reveal a prefix.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn header_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-netlens-token").and_then(|v| v.to_str().ok()) {
        return Some(v);
    }
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(v);
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// Whether `Host` names this machine by loopback name or by an address.
fn host_is_address(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        // HTTP/1.0 clients may omit it; they are not browsers carrying another origin.
        return true;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(token) = state.token.as_deref() else {
        if !host_is_address(req.headers()) {
            return (
                StatusCode::FORBIDDEN,
                "netlens: open the dashboard by address (http://127.0.0.1:PORT/)\n",
            )
                .into_response();
        }
        return next.run(req).await;
    };
    if header_token(req.headers()).is_some_and(|t| same(t, token)) {
        return next.run(req).await;
    }
    let from_query = Query::<HashMap<String, String>>::try_from_uri(req.uri())
        .ok()
        .and_then(|q| q.0.get("token").cloned());
    if from_query.is_some_and(|t| same(&t, token)) {
        let mut response = next.run(req).await;
        let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, v);
        }
        return response;
    }
    (
        StatusCode::UNAUTHORIZED,
        "netlens: this dashboard needs its token (the URL printed at start, or header X-Netlens-Token)\n",
    )
        .into_response()
}

/// No CORS headers at all (other origins cannot read responses); the page may run only its own
/// scripts; nothing is cached or framed.
pub async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
             frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }

    #[test]
    fn host_must_be_an_address_or_localhost() {
        let with = |h: &'static str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_static(h));
            host_is_address(&m)
        };
        assert!(with("127.0.0.1:8787"));
        assert!(with("[::1]:8787"));
        assert!(with("localhost:8787"));
        assert!(!with("evil.example:8787"));
        assert!(!with("evil.example"));
    }

    #[test]
    fn generated_tokens_differ() {
        let a = generate_token().unwrap_or_default();
        let b = generate_token().unwrap_or_default();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
