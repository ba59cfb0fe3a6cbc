//! Sources of frames: capture files (pcap, pcapng) and live interfaces (libpcap, or AF_PACKET
//! fanout rings on Linux).
//!
//! A source owns its buffers; a [`Frame`] borrows them for the duration of one call into the
//! pipeline. Sources never decode: they only say when, how long and on which link.

#[cfg(target_os = "linux")]
pub mod afpacket;
pub mod file;
pub mod filter;
pub mod interfaces;
pub mod live;
pub mod mapped;
pub mod pace;
pub mod stdin;

use wire::LinkType;

use crate::time::Timestamp;

/// Index of the interface a frame came from: the pcapng interface id, or the position of the `-i`
/// flag for live capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IfaceId(pub u32);

/// One captured frame, borrowed from its source's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub ts: Timestamp,
    /// Length on the wire; what tshark calls `frame.len`. Byte counters use this.
    pub orig_len: u32,
    pub link: LinkType,
    pub iface: IfaceId,
    /// The captured bytes (`caplen` of them).
    pub data: &'a [u8],
}

/// What the consumer of frames wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}
