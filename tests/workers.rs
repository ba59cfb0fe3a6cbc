//! One engine or several: `--workers 1` and `--workers 3` must give identical JSON reports, on
//! every file of the corpus and on generated mixed traffic (flows expiring mid-capture).

use std::sync::Mutex;

use crate::util::{corpus_dir, read_tsv, run};

fn report(path: &str, workers: &str, extra: &[&str]) -> Option<serde_json::Value> {
    let mut args = vec![
        "-r",
        path,
        "-q",
        "--report",
        "json",
        "--top",
        "50",
        "--workers",
        workers,
    ];
    args.extend_from_slice(extra);
    serde_json::from_slice(&run(&args).stdout).ok()
}

#[test]
fn one_and_three_workers_agree_on_every_corpus_file() {
    let dir = corpus_dir();
    let files: Vec<String> = read_tsv(&dir.join("MANIFEST.tsv"))
        .into_iter()
        .map(|r| r["file"].clone())
        .collect();
    let queue = Mutex::new(files);
    let differ = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(file) = queue.lock().unwrap().pop() else {
                    break;
                };
                let path = dir.join(&file);
                let p = path.to_str().unwrap();
                let (one, three) = (report(p, "1", &[]), report(p, "3", &[]));
                if one != three {
                    differ.lock().unwrap().push(file);
                }
            });
        }
    });
    let differ = differ.into_inner().unwrap();
    assert!(
        differ.is_empty(),
        "reports differ with 3 workers: {differ:?}"
    );
}

#[test]
fn one_and_three_workers_agree_on_generated_traffic_with_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("mix.pcap");
    // A low packet rate spreads 30k packets over minutes, so idle and closed timeouts fire.
    crate::util::generate_traffic(&pcap, 30_000, 4, &["--pps", "200"]);
    let p = pcap.to_str().unwrap();
    let extra = ["--idle-timeout", "10", "--active-timeout", "30"];
    let one = report(p, "1", &extra).unwrap();
    let three = report(p, "3", &extra).unwrap();
    assert!(
        one["flows"]["expired"].as_u64().unwrap() > 100,
        "timeouts fired: {}",
        one["flows"]
    );
    assert!(one["flows"]["active_timeout_slices"].as_u64().unwrap() > 0);
    assert_eq!(one, three);
}
