//! The decoder's fast path for common frames (`wire/src/fast.rs`) against its general path
//! (etherparse): every frame of generated mixed traffic — the frames the fast path exists for —
//! must decode to exactly the same packet both ways. The tcpdump corpus, with its odd and broken
//! frames, gets the same comparison through `fuzzing::decode` in `fuzz_replay`. Both also check
//! that a packet put back together from its `wire::Layout` on a copy of the frame is the same,
//! and so is one decoded in place (`decode_apps_into`, the pipeline's way).

use std::io;

use netlens::capture::file;
use netlens::capture::{Flow, Frame};
use wire::packet::Apps;

#[test]
fn fast_and_general_decoders_agree_on_generated_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("mix.pcap");
    // IPv6, VLAN tags and the generator's fragments-free mix, with more of the rarer kinds.
    crate::util::generate_traffic(&pcap, 40_000, 5, &["--v6", "0.3", "--vlan", "0.2"]);
    let mut frames = 0u64;
    let mut with_transport = 0u64;
    let mut compare = |f: &Frame<'_>| -> io::Result<Flow> {
        let fast = wire::decode(f.link, f.data);
        let general = wire::packet::decode_general(f.link, f.data);
        assert_eq!(
            format!("{fast:?}"),
            format!("{general:?}"),
            "frame {frames} decodes differently"
        );
        let copy = f.data.to_vec();
        for apps in [Apps::All, Apps::Alerts] {
            let decoded = wire::packet::decode_apps(f.link, f.data, apps);
            let rebuilt = wire::Layout::of(&decoded, f.data, apps).and_then(|l| l.packet(&copy));
            assert_eq!(
                rebuilt.map(|p| format!("{p:?}")),
                Some(format!("{fast:?}")),
                "frame {frames} differs when put back together from its layout ({apps:?})"
            );
            // What the pipeline does: decode in place.
            let mut in_place = wire::packet::Packet::empty();
            wire::packet::decode_apps_into(&mut in_place, f.link, f.data, apps);
            assert_eq!(
                format!("{in_place:?}"),
                format!("{decoded:?}"),
                "frame {frames} decodes differently in place ({apps:?})"
            );
        }
        frames += 1;
        if fast.ports().is_some() {
            with_transport += 1;
        }
        Ok(Flow::Continue)
    };
    file::read(pcap.to_str().unwrap(), &mut compare).unwrap();
    assert_eq!(frames, 40_000);
    // The comparison covered real TCP/UDP traffic, not just frames both paths reject.
    assert!(
        with_transport > 30_000,
        "{with_transport} frames with ports"
    );
}
