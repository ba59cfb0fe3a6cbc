//! Snapshots of what a person reads: the packet log in each mode and the final report, on small
//! real captures. Output is deterministic because time comes from the packets (printed in UTC).
//! Numbers are judged against tshark elsewhere; these catch unintended changes of the text.

use crate::util::{corpus_dir, corpus_file, netlens, run, run_cmd};

fn log(file: &str, extra: &[&str]) -> String {
    let path = corpus_file(file);
    let mut args = vec![
        "-r",
        path.to_str().unwrap(),
        "--color",
        "never",
        "--report",
        "none",
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn compact_log_of_dns_http_arp_icmp() {
    for file in [
        "dns_udp.pcap",
        "dns_tcp.pcap",
        "ipv4_tcp_http_xml.pcap",
        "arcnet-rfc1051-arp-icmp-http.pcap",
        "icmp-rfc8335.pcap",
        "print-flags.pcap",
    ] {
        insta::assert_snapshot!(format!("compact__{file}"), log(file, &[]));
    }
}

#[test]
fn detailed_log_with_payload_hex() {
    insta::assert_snapshot!(
        "detailed__dns_udp",
        log("dns_udp.pcap", &["--mode", "detailed"])
    );
    insta::assert_snapshot!("hex_all__dns_udp", log("dns_udp.pcap", &["-X"]));
}

#[test]
fn minimal_log() {
    insta::assert_snapshot!(
        "minimal__print-flags",
        log("print-flags.pcap", &["--mode", "minimal"])
    );
}

#[test]
fn text_report() {
    // Run from the corpus folder so the report names the file, not this checkout's path.
    let out = run_cmd(netlens().current_dir(corpus_dir()).args([
        "-r",
        "ipv4_tcp_http_xml.pcap",
        "-q",
        "--color",
        "never",
    ]));
    assert!(out.status.success());
    insta::assert_snapshot!(
        "report__ipv4_tcp_http_xml",
        String::from_utf8(out.stderr).unwrap()
    );
}

#[test]
fn json_report() {
    let path = corpus_file("dns_udp.pcap");
    let out = run(&["-r", path.to_str().unwrap(), "--report", "json"]);
    assert!(out.status.success());
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The source path depends on where the repository is checked out.
    v["source"] = "dns_udp.pcap".into();
    insta::assert_snapshot!("json__dns_udp", serde_json::to_string_pretty(&v).unwrap());
}
