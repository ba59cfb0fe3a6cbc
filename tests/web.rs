//! The web dashboard (issue #5): the JSON API against the `--report json` of the same capture,
//! the event stream, tokens and headers, history, errors, a capture whose names are HTML
//! attacks, and the page itself in headless chromium.
//!
//! Every server listens on 127.0.0.1 port 0 (the banner names the port the system chose); no
//! test sends anything outside loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{corpus_file, generate_traffic, json_report, netlens};

/// A netlens process serving the dashboard.
struct Server {
    child: Child,
    /// The banner's URL (with `?token=` when there is one).
    url: String,
    /// `http://127.0.0.1:PORT` (a wildcard bind is reached through loopback).
    base: String,
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = netlens()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn netlens");
        let mut out = child.stdout.take().expect("stdout");
        let stdout = std::thread::spawn(move || {
            let mut v = Vec::new();
            out.read_to_end(&mut v).ok();
            v
        });
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split("dashboard at ").nth(1) {
                        break rest.split_whitespace().next().expect("url").to_string();
                    }
                    seen.push(line);
                }
                Err(_) => {
                    child.kill().ok();
                    panic!("no dashboard banner from netlens {args:?}; stderr: {seen:?}");
                }
            }
        };
        let authority = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .expect("authority");
        let port = authority.rsplit(':').next().expect("port");
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            url,
            stdout: Some(stdout),
            stderr: rx,
        }
    }

    fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = http_get(&format!("{}{path}", self.base), &[]);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// Polls `/api/summary` until the run has finished (the file was read to the end).
    fn wait_finished(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.get("/api/summary");
            if s["state"] == "finished" {
                return s;
            }
            assert!(Instant::now() < deadline, "still not finished: {s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM (what Ctrl-C does), then the exit status, stdout and the rest of stderr.
    fn stop(mut self) -> (ExitStatus, Vec<u8>, Vec<String>) {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                self.child.kill().ok();
                panic!("netlens did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = self.stdout.take().expect("stdout").join().expect("stdout");
        // The reader thread ends at EOF, now that the process has exited.
        let err = self.stderr.iter().collect();
        (status, out, err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

/// netlens reading `file` quietly with the dashboard on a free loopback port; `extra`: more flags.
fn reading(file: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["-r", path_str(file), "-q", "--web", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// Status and body of a GET with extra headers.
fn http_get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, _, body) = http_get_full(url, headers);
    (status, body)
}

fn http_get_full(url: &str, headers: &[(&str, &str)]) -> (u16, ureq::http::HeaderMap, String) {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (status, headers, body)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn by_name(list: &Value) -> std::collections::BTreeMap<String, (u64, u64)> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_string(),
                (n["packets"].as_u64().unwrap(), n["bytes"].as_u64().unwrap()),
            )
        })
        .collect()
}

/// The API of a finished file equals the JSON report of the same file: totals, duration, the
/// protocol and application mix, host count and every host's counters and names. `extra`:
/// more netlens flags for the dashboard's run (the report is always one engine's).
fn api_matches_report(file: &Path, extra: &[&str]) {
    let report = json_report(&["-r", path_str(file)]);
    let mut args = vec!["-r", path_str(file), "-q", "--web", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let server = Server::start(&args);
    let s = server.wait_finished();
    let name = file.display();
    assert_eq!(s["packets"], report["packets"], "{name}: packets");
    assert_eq!(s["bytes"], report["bytes"], "{name}: bytes");
    let close = |a: &Value, b: &Value| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-6;
    assert!(
        close(&s["duration_secs"], &report["duration_secs"]),
        "{name}: duration"
    );
    assert!(close(&s["pps"], &report["avg_pps"]), "{name}: pps");
    assert!(close(&s["bps"], &report["avg_bps"]), "{name}: bps");
    for (proto, (packets, bytes)) in by_name(&s["protocols"]) {
        assert_eq!(
            packets, report["protocols"][&proto],
            "{name}: {proto} packets"
        );
        assert_eq!(
            bytes, report["protocol_bytes"][&proto],
            "{name}: {proto} bytes"
        );
    }
    for (app, (packets, _)) in by_name(&s["apps"]) {
        assert_eq!(packets, report["apps"][&app], "{name}: app {app}");
    }
    let report_hosts = report["hosts"].as_object().expect("hosts");
    assert_eq!(s["hosts"], report_hosts.len(), "{name}: host count");

    let hosts = server.get("/api/hosts");
    let rows = hosts["hosts"].as_array().unwrap();
    assert_eq!(rows.len(), report_hosts.len().min(500), "{name}: host rows");
    for row in rows {
        let ip = row["ip"].as_str().unwrap();
        let r = &report_hosts[ip];
        for k in [
            "packets_in",
            "bytes_in",
            "packets_out",
            "bytes_out",
            "flows_initiated",
            "flows_accepted",
            "peers",
            "local",
            "names",
        ] {
            assert_eq!(row[k], r[k], "{name}: host {ip} {k}");
        }
    }
    // Rows come largest first (bytes in + out), as the page shows them.
    let totals: Vec<u64> = rows
        .iter()
        .map(|r| r["bytes_in"].as_u64().unwrap() + r["bytes_out"].as_u64().unwrap())
        .collect();
    assert!(
        totals.windows(2).all(|w| w[0] >= w[1]),
        "{name}: host order"
    );
    // Top sources: the hosts that sent the most, as the report's hosts say.
    let mut senders: Vec<u64> = report_hosts
        .values()
        .map(|h| h["bytes_out"].as_u64().unwrap())
        .collect();
    senders.sort_unstable_by(|a, b| b.cmp(a));
    let top: Vec<u64> = s["top_sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["bytes_out"].as_u64().unwrap())
        .collect();
    assert_eq!(
        top,
        senders.into_iter().take(top.len()).collect::<Vec<_>>(),
        "{name}"
    );

    // The recent packets end with the file's last packet.
    let packets = server.get("/api/packets");
    let lines = packets["packets"].as_array().unwrap();
    let total = report["packets"].as_u64().unwrap();
    assert_eq!(lines.len() as u64, total.min(200), "{name}: packet lines");
    if let Some(newest) = lines.first() {
        assert!(close(&newest["ts"], &report["last_ts"]), "{name}: newest");
    }
    // The per-second series adds up to the total when the capture is shorter than it.
    let series = server.get("/api/series");
    if report["duration_secs"].as_f64().unwrap() < 290.0 {
        let sum: u64 = series["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["packets"].as_u64().unwrap())
            .sum();
        assert_eq!(sum, total, "{name}: series");
    }
    assert_eq!(server.get("/api/alerts")["alerts"], serde_json::json!([]));
    let (status, out, _) = server.stop();
    assert!(status.success(), "{name}: exit {status:?}");
    assert!(out.is_empty(), "-q prints no packet lines");
}

#[test]
fn api_equals_report_on_corpus_captures() {
    for f in ["dns_udp.pcap", "afs.pcap", "ipv4_tcp_http_xml.pcap"] {
        api_matches_report(&corpus_file(f), &[]);
    }
}

#[test]
fn api_equals_report_on_generated_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.pcap");
    generate_traffic(&file, 20_000, 5, &["--hosts", "300"]);
    api_matches_report(&file, &[]);
}

/// With shards the page shows, while the run goes on, views merged from the shards' parts
/// (tests/live_view.rs checks they equal one engine's); the final, merged snapshot equals one
/// engine's report.
#[test]
fn api_equals_report_with_workers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.pcap");
    generate_traffic(&file, 1_000, 6, &["--pps", "500"]);
    api_matches_report(&file, &["--workers", "2"]);

    let server = Server::start(&[
        "-r",
        path_str(&file),
        "-q",
        "--web",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--pace",
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let running = loop {
        let s = server.get("/api/summary");
        assert_ne!(s["state"], "finished", "no view while running: {s}");
        if s["state"] == "running" && s["partial"] == false {
            break s;
        }
        assert!(Instant::now() < deadline, "never a view: {s}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(running["hosts"].as_u64().unwrap() > 0, "{running}");
    assert!(running["active_flows"].as_u64().unwrap() > 0, "{running}");
    assert!(running["packets"].as_u64().unwrap() < 1_000, "{running}");
    let finished = server.wait_finished();
    assert_eq!(finished["partial"], false);
    assert_eq!(finished["packets"], 1_000);
    server.stop();
}

#[test]
fn flows_and_map_describe_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.pcap");
    generate_traffic(&file, 5_000, 9, &[]);
    let server = reading(&file, &[]);
    server.wait_finished();
    let flows = server.get("/api/flows");
    let rows = flows["flows"].as_array().unwrap();
    assert!(!rows.is_empty() && rows.len() <= 300);
    let bytes: Vec<u64> = rows.iter().map(|f| f["bytes"].as_u64().unwrap()).collect();
    assert!(
        bytes.windows(2).all(|w| w[0] >= w[1]),
        "largest flows first"
    );
    for f in rows {
        assert_eq!(
            f["bytes"].as_u64().unwrap(),
            f["bytes_to_server"].as_u64().unwrap() + f["bytes_to_client"].as_u64().unwrap()
        );
    }
    // The text filter keeps exactly the rows that mention the term.
    let https = server.get("/api/flows?q=443&limit=1000");
    let kept = https["flows"].as_array().unwrap();
    assert!(!kept.is_empty() && kept.len() < rows.len());
    for f in kept {
        assert!(f.to_string().contains("443"), "{f}");
    }
    let map = server.get("/api/map");
    let edges = map["edges"].as_array().unwrap();
    assert!(!edges.is_empty() && edges.len() <= 40);
    assert!(edges.iter().any(|e| e["a_local"] != e["b_local"]));
    // Sorting hosts by bytes out.
    let hosts = server.get("/api/hosts?sort=bytes_out&limit=20");
    let out: Vec<u64> = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["bytes_out"].as_u64().unwrap())
        .collect();
    assert!(out.windows(2).all(|w| w[0] >= w[1]));
    let (status, body) = http_get(&format!("{}/api/hosts?sort=nonsense", server.base), &[]);
    assert_eq!(status, 400, "{body}");
}

#[test]
fn stream_pushes_growing_snapshots_while_paced() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("paced.pcap");
    // 1500 packets at 300 per second: five seconds at recorded speed.
    generate_traffic(&file, 1_500, 3, &["--pps", "300"]);
    let server = reading(&file, &["--pace"]);
    let mut resp = agent()
        .get(&format!("{}/api/stream", server.base))
        .call()
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let reader = BufReader::new(resp.body_mut().as_reader());
    let mut snapshots = Vec::new();
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            let v: Value = serde_json::from_str(data).unwrap();
            if v["state"] == "starting" {
                continue;
            }
            snapshots.push((
                v["seq"].as_u64().unwrap(),
                v["packets"].as_u64().unwrap(),
                v["state"].as_str().unwrap().to_string(),
            ));
            if snapshots.len() == 3 {
                break;
            }
        }
    }
    let seqs: Vec<u64> = snapshots.iter().map(|s| s.0).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{snapshots:?}");
    let packets: Vec<u64> = snapshots.iter().map(|s| s.1).collect();
    assert!(packets.windows(2).all(|w| w[0] < w[1]), "{snapshots:?}");
    assert!(snapshots.iter().all(|s| s.2 == "running"), "{snapshots:?}");
    // Paced: after ~2 s, far from all 1500 packets.
    assert!(packets[2] < 1_400, "{snapshots:?}");
    let s = server.wait_finished();
    assert_eq!(s["packets"], 1_500);
    server.stop();
}

#[test]
fn a_token_guards_every_address_but_loopback() {
    let file = corpus_file("dns_udp.pcap");
    // Binding all addresses: a token is generated and printed once, in the URL.
    let server = Server::start(&["-r", path_str(&file), "-q", "--web", "0.0.0.0:0"]);
    let token = server
        .url
        .split("?token=")
        .nth(1)
        .expect("token in the URL")
        .to_string();
    assert_eq!(token.len(), 32);
    let api = format!("{}/api/summary", server.base);
    assert_eq!(http_get(&api, &[]).0, 401);
    assert_eq!(http_get(&format!("{}/", server.base), &[]).0, 401);
    assert_eq!(http_get(&api, &[("X-Netlens-Token", "wrong")]).0, 401);
    assert_eq!(http_get(&api, &[("X-Netlens-Token", &token)]).0, 200);
    let bearer = format!("Bearer {token}");
    assert_eq!(http_get(&api, &[("Authorization", &bearer)]).0, 200);
    // ?token= sets a cookie, which then suffices alone.
    let (status, headers, _) = http_get_full(&format!("{api}?token={token}"), &[]);
    assert_eq!(status, 200);
    let cookie = headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(http_get(&api, &[("Cookie", pair)]).0, 200);
    // No CORS: another origin's page cannot read the answers.
    let (_, headers, _) = http_get_full(
        &api,
        &[
            ("X-Netlens-Token", &token),
            ("Origin", "http://evil.example"),
        ],
    );
    assert!(headers.get("access-control-allow-origin").is_none());
    assert!(headers.get("content-security-policy").is_some());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http_get(&api, &[("X-Netlens-Token", &token)])
        .1
        .contains("\"finished\"")
    {
        assert!(Instant::now() < deadline, "never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (status, out, err) = server.stop();
    assert!(status.success());
    assert!(out.is_empty());
    // The token is printed once (in the banner), not again in later lines.
    assert!(err.iter().any(|l| l.contains("is done")), "{err:?}");
    assert!(!err.iter().any(|l| l.contains(&token)), "{err:?}");

    // On loopback a given token is required too.
    let server = Server::start(&[
        "-r",
        path_str(&file),
        "-q",
        "--web",
        "127.0.0.1:0",
        "--web-token",
        "s3cret",
    ]);
    let api = format!("{}/api/summary", server.base);
    assert_eq!(http_get(&api, &[]).0, 401);
    assert_eq!(http_get(&api, &[("X-Netlens-Token", "s3cret")]).0, 200);
    server.stop();
}

/// A raw request, so the Host header can be anything.
fn raw_status(port: u16, host: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /api/summary HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).ok();
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn loopback_without_token_refuses_foreign_host_names() {
    let file = corpus_file("dns_udp.pcap");
    let server = reading(&file, &[]);
    let port = server.port();
    assert_eq!(raw_status(port, &format!("127.0.0.1:{port}")), 200);
    assert_eq!(raw_status(port, &format!("localhost:{port}")), 200);
    // DNS rebinding: a page on evil.example that resolves its name to 127.0.0.1.
    assert_eq!(raw_status(port, &format!("evil.example:{port}")), 403);
    server.stop();
}

#[test]
fn page_and_assets_are_served_from_the_binary() {
    let file = corpus_file("dns_udp.pcap");
    let server = reading(&file, &[]);
    let (status, headers, page) = http_get_full(&format!("{}/", server.base), &[]);
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.contains("vendor/uPlot.iife.min.js") && page.contains("app.js"));
    for (path, kind) in [
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/vendor/uPlot.iife.min.js", "text/javascript"),
        ("/vendor/uPlot.min.css", "text/css"),
        ("/vendor/uPlot.LICENSE", "text/plain"),
    ] {
        let (status, headers, body) = http_get_full(&format!("{}{path}", server.base), &[]);
        assert_eq!(status, 200, "{path}");
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        assert!(!body.is_empty(), "{path}");
    }
    let (_, _, js) = http_get_full(&format!("{}/app.js", server.base), &[]);
    // Packet text is set with textContent only; the page has no HTML sink at all.
    assert!(
        !js.contains(".innerHTML")
            && !js.contains("outerHTML")
            && !js.contains("insertAdjacentHTML")
    );
    assert_eq!(http_get(&format!("{}/nope.js", server.base), &[]).0, 404);
    // No database: /api/history says so.
    let (status, body) = http_get(&format!("{}/api/history", server.base), &[]);
    assert_eq!(status, 404, "{body}");
    server.stop();
}

/// A history database in `dir` of generated traffic (`pps`: its mean packet rate).
fn history_db(dir: &Path, packets: u32, seed: u32, pps: &str) -> PathBuf {
    let file = dir.join("traffic.pcap");
    let db = dir.join("history.db");
    generate_traffic(&file, packets, seed, &["--pps", pps]);
    let out = crate::util::run(&[
        "-r",
        path_str(&file),
        "-q",
        "--db",
        path_str(&db),
        "--report",
        "none",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

#[test]
fn serve_shows_a_history_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = history_db(dir.path(), 4_000, 11, "50");
    let report = crate::util::run(&["report", "--db", path_str(&db), "--format", "json"]);
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();

    let server = Server::start(&["serve", "--db", path_str(&db), "--web", "127.0.0.1:0"]);
    let s = server.get("/api/summary");
    assert_eq!(s["state"], "history");
    assert_eq!(s["history"], true);
    let h = server.get("/api/history");
    assert_eq!(h["packets"], report["packets"]);
    assert_eq!(h["bytes"], report["bytes"]);
    assert_eq!(h["top_talkers"], report["top_talkers"]);
    assert_eq!(h["series"], report["series"]);
    // A range: the last 10 s of an 80 s capture hold fewer packets; epoch seconds work too.
    let last = server.get("/api/history?since=10s");
    let n = last["packets"].as_u64().unwrap();
    assert!(n > 0 && n < report["packets"].as_u64().unwrap(), "{n}");
    let first_ts = report["first_ts"].as_f64().unwrap();
    let all = server.get(&format!("/api/history?since={first_ts}"));
    assert_eq!(all["packets"], report["packets"]);
    let (status, _) = http_get(
        &format!("{}/api/history?since=yesterday-ish", server.base),
        &[],
    );
    assert_eq!(status, 400);
    let (status, _, _) = server.stop();
    assert!(status.success());

    // A missing database: one line, exit 1.
    let out = crate::util::run(&["serve", "--db", "/nonexistent/x.db", "--web", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn web_command_line_errors() {
    let file = corpus_file("dns_udp.pcap");
    let f = path_str(&file);
    // The port is taken: one line naming it, exit 1 (the system refused), before reading.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let out = crate::util::run(&["-r", f, "--web", &addr]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&addr) && err.contains("in use"), "{err}");
    assert!(out.stdout.is_empty());
    // Bad values are usage errors: exit 2, one line.
    for args in [
        vec!["-r", f, "--web", "not-an-address"],
        vec!["-r", f, "--pace", "fast"],
        vec!["-r", f, "--pace", "x0"],
        vec!["-i", "lo", "--pace"],
        vec!["-r", f, "--web-token", "t"],
        vec!["-r", f, "--web", "127.0.0.1:0", "--web-token", ""],
    ] {
        let out = crate::util::run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

// ---- a capture whose names attack the page --------------------------------------------------

/// Strings a hostile network puts where names go.
const SCRIPT: &str = "<script>window.__pwned=1</script>";
const IMG: &str = "\"><img src=x onerror=window.__pwned=1>";
const SNI: &str = "<img/src=x/onerror=window.__pwned=1>";

fn dns_response(name: &str, addr: [u8; 4]) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    // Answer: pointer to the question name, A, IN, TTL 60, 4 bytes.
    m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
    m.extend_from_slice(&addr);
    m
}

fn client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut ext = Vec::new();
    let list_len = name.len() + 3;
    ext.extend_from_slice(&[0, 0]); // server_name
    ext.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
    ext.extend_from_slice(&(list_len as u16).to_be_bytes());
    ext.push(0); // host_name
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// Writes a pcap (Ethernet) of DNS answers, HTTP requests and TLS ClientHellos carrying the
/// strings above, one round every half second for `rounds` rounds.
pub fn write_xss_capture(path: &Path, rounds: u32) {
    use etherparse::PacketBuilder;
    let mac_a = [2, 0, 0, 0, 0, 1];
    let mac_b = [2, 0, 0, 0, 0, 2];
    let client = [192, 168, 7, 10];
    let mut frames: Vec<(u32, u32, Vec<u8>)> = Vec::new();
    for i in 0..rounds {
        let (sec, usec) = (1_700_000_000 + i / 2, (i % 2) * 500_000);
        let sport = 40_000 + i as u16;
        let mut push = |b: Vec<u8>| frames.push((sec, usec, b));
        for (name, addr) in [(SCRIPT, [10, 9, 9, 1]), (IMG, [10, 9, 9, 4])] {
            let payload = dns_response(name, addr);
            let mut buf = Vec::new();
            PacketBuilder::ethernet2(mac_b, mac_a)
                .ipv4([10, 9, 9, 53], client, 64)
                .udp(53, sport)
                .write(&mut buf, &payload)
                .unwrap();
            push(buf);
            // The named address then carries traffic, so it is a host in the table.
            let mut buf = Vec::new();
            PacketBuilder::ethernet2(mac_a, mac_b)
                .ipv4(client, addr, 64)
                .tcp(sport, 8443, 1, 64_000)
                .syn()
                .write(&mut buf, &[])
                .unwrap();
            push(buf);
        }
        let request = format!("GET /{SCRIPT} HTTP/1.1\r\nHost: {IMG}\r\nUser-Agent: x\r\n\r\n");
        let mut buf = Vec::new();
        PacketBuilder::ethernet2(mac_a, mac_b)
            .ipv4(client, [10, 9, 9, 2], 64)
            .tcp(sport, 80, 1000, 64_000)
            .ack(1)
            .psh()
            .write(&mut buf, request.as_bytes())
            .unwrap();
        push(buf);
        let mut buf = Vec::new();
        PacketBuilder::ethernet2(mac_a, mac_b)
            .ipv4(client, [10, 9, 9, 3], 64)
            .tcp(sport, 443, 1000, 64_000)
            .ack(1)
            .psh()
            .write(&mut buf, &client_hello(SNI))
            .unwrap();
        push(buf);
    }
    let mut out = Vec::new();
    // pcap header: microseconds, version 2.4, snaplen 65535, Ethernet.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (sec, usec, data) in frames {
        out.extend_from_slice(&sec.to_le_bytes());
        out.extend_from_slice(&usec.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn hostile_names_reach_the_api_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("xss.pcap");
    write_xss_capture(&file, 4);
    let server = reading(&file, &[]);
    server.wait_finished();
    let hosts = server.get("/api/hosts?limit=100");
    let names = |ip: &str| -> Vec<String> {
        hosts["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["ip"] == ip)
            .unwrap_or_else(|| panic!("no host {ip}: {hosts}"))["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    };
    // The decoder learned each name; the API returns it as data (JSON strings), unescaped:
    // escaping is the page's job, and the page never parses it as HTML.
    assert_eq!(names("10.9.9.1"), vec![SCRIPT.to_string()]);
    assert_eq!(names("10.9.9.2"), vec![IMG.to_string()]);
    assert_eq!(names("10.9.9.3"), vec![SNI.to_string()]);
    let packets = server.get("/api/packets?q=script");
    assert!(!packets["packets"].as_array().unwrap().is_empty());
    server.stop();
}

// ---- the page in a real browser ----------------------------------------------------------

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Runs tests/browser/e2e.mjs against `url`; returns what it saw (JSON).
fn run_browser(url: &str, screenshot: &Path, extra: &[&str]) -> Value {
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && browser_dir().join("node_modules/playwright-core").exists(),
        "the browser test needs Debian's chromium and tests/browser/node_modules: run .ci/install"
    );
    let out = crate::util::run_cmd(
        std::process::Command::new("node")
            .current_dir(browser_dir())
            .arg("e2e.mjs")
            .arg(url)
            .arg(screenshot)
            .args(extra),
    );
    assert!(
        out.status.success(),
        "browser check failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("e2e prints JSON")
}

fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target")
}

#[test]
fn browser_shows_a_paced_capture_and_updates() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.pcap");
    // Ten seconds of traffic at its recorded speed.
    generate_traffic(&file, 3_000, 1, &["--pps", "300"]);
    let server = reading(&file, &["--pace"]);
    let shot = target_dir().join("web-e2e.png");
    let seen = run_browser(&server.url, &shot, &["--filter-term", "TCP"]);
    assert_ne!(seen["packets_first"], seen["packets_later"]);
    assert!(seen["hosts-body"].as_u64().unwrap() > 10, "{seen}");
    assert!(shot.exists());
    server.stop();
}

#[test]
fn browser_renders_hostile_names_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("xss.pcap");
    // Thirty seconds of rounds, paced, so the page also sees the numbers move, even when a
    // loaded machine takes several seconds to start the browser.
    write_xss_capture(&file, 60);
    let server = reading(&file, &["--pace"]);
    let shot = target_dir().join("web-e2e-xss.png");
    let seen = run_browser(
        &server.url,
        &shot,
        &[
            "--expect-text",
            SCRIPT,
            "--expect-text",
            IMG,
            "--expect-text",
            SNI,
        ],
    );
    assert_eq!(seen["pwned"], "undefined");
    assert_eq!(seen["expected_texts"], 3);
    server.stop();
}

/// Live capture on loopback (needs root, as CI has): the dashboard's own HTTP traffic on lo is
/// the traffic, so the published snapshots must show it growing and name its connection.
#[test]
fn live_capture_publishes_snapshots() {
    let server = Server::start(&[
        "-i",
        "lo",
        "--immediate-mode",
        "--no-db",
        "-q",
        "--web",
        "127.0.0.1:0",
    ]);
    let port = server.port();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut counts = Vec::new();
    loop {
        let s = server.get("/api/summary");
        // "starting" until the capture is open and first publishes.
        assert!(s["state"] == "running" || s["state"] == "starting", "{s}");
        counts.push(s["packets"].as_u64().unwrap());
        let flows = server.get(&format!("/api/flows?q=:{port}"));
        let ours = flows["flows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["server_port"] == port && f["protocol"] == "TCP");
        if ours && counts.windows(2).any(|w| w[0] < w[1]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no dashboard traffic seen: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let (status, _, _) = server.stop();
    assert!(status.success(), "{status:?}");
}

#[test]
fn browser_shows_history_with_a_range_picker() {
    let dir = tempfile::tempdir().unwrap();
    // About 33 minutes of traffic, so "last 15 minutes" is a real part of it.
    let db = history_db(dir.path(), 20_000, 2, "10");
    let server = Server::start(&["serve", "--db", path_str(&db), "--web", "127.0.0.1:0"]);
    let shot = target_dir().join("web-e2e-history.png");
    let seen = run_browser(&server.url, &shot, &["--history"]);
    assert_eq!(seen["packets"], "20,000", "{seen}");
    assert!(seen["range_points"].as_u64().unwrap() < seen["all_points"].as_u64().unwrap());
    server.stop();
}

/// The detectors' alerts reach the dashboard: a capture with a SYN flood (from the alerts
/// tests) shows one merged alert in `/api/alerts`, as in `--report json`.
#[test]
fn alerts_reach_the_dashboard() {
    let dir = crate::alerts::scratch();
    let pcap = crate::alerts::handshakes(false).save(&dir, "flood.pcap");
    let report = json_report(&["-r", path_str(&pcap)]);
    let expected = report["alerts"].as_array().unwrap();
    assert_eq!(expected.len(), 1);
    let server = reading(&pcap, &[]);
    server.wait_finished();
    let api = server.get("/api/alerts");
    let alerts = api["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{api}");
    assert_eq!(alerts[0]["detector"], expected[0]["detector"]);
    assert_eq!(alerts[0]["count"], expected[0]["count"]);
    assert_eq!(alerts[0]["src"], expected[0]["src"]);
    assert_eq!(server.get("/api/summary")["alerts"], 1);
    server.stop();
}
