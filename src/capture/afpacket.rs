//! Live capture on Linux through our own rings: one AF_PACKET socket per worker, each with a
//! TPACKET_V3 receive ring mapped into our memory; with several, all join one PACKET_FANOUT
//! group so the kernel spreads packets over the rings by flow hash. One ring (one worker, the
//! default) joins no group.
//!
//! Why our own sockets instead of libpcap handles: libpcap has no fanout API, and owning the
//! ring lets us choose the block size and timeout. libpcap still compiles the filter (so tcpdump
//! expressions mean the same); the program is attached with SO_ATTACH_FILTER.
//!
//! Each ring has its own thread that copies frames into the same [`Batch`]es as the libpcap
//! path, so everything after the channel is unchanged. The kernel's fanout hash is meant to be
//! symmetric (both directions of a flow in one ring), but nothing downstream relies on it: the
//! accounting shards re-shard by address pair. To make the hash measurable, every ring remembers
//! the flows it saw (up to [`FLOWS_TRACKED`]) and the report says how many were split.
//!
//! This is the module of netlens with the most unsafe code: raw socket options, mmap and reading
//! the ring the kernel writes (the others: `mapped.rs` maps capture files, `live.rs` polls a
//! libpcap socket). Every unsafe block says why it is sound.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender};
use hashbrown::HashSet;
use wire::LinkType;

use super::filter::pcap_message;
use super::live::{
    Batch, CaptureReport, DropCounters, LiveError, LiveOptions, RingReport, BATCH_FRAMES,
    BATCH_MAX_AGE,
};
use super::IfaceId;
use crate::time::Timestamp;

/// Ring memory over all rings when `-B` is not given: large, because a full ring is where
/// kernel drops come from, and 64 MiB absorbs about 40 ms of a 10 Gbit/s link.
pub const DEFAULT_TOTAL_KIB: u32 = 64 * 1024;
/// How long the kernel may keep a partly filled block before handing it to us.
const BLOCK_TIMEOUT_MS: u32 = 10;
/// The same with `--immediate-mode`: packets show up within about a millisecond.
const IMMEDIATE_BLOCK_TIMEOUT_MS: u32 = 1;
/// Longest sleep in poll() before a ring thread looks at the stop flag again.
const POLL_INTERVAL_MS: i32 = 50;
/// How long a ring thread waits for room in the processing channel before it looks at `stop`.
const HANDOVER_WAIT: std::time::Duration = std::time::Duration::from_millis(50);
/// Flows each ring remembers for the symmetry figure; past this it stops adding (and says so).
pub const FLOWS_TRACKED: usize = 1 << 16;
/// `tp_frame_size`: TPACKET_V3 packs frames of any size into blocks, but the kernel still wants
/// a frame size that divides the block.
const FRAME_SIZE: u32 = 2048;

/// What one ring saw, for the report's `capture.rings[]`.
#[derive(Debug, Default)]
pub struct RingStats {
    pub packets: AtomicU64,
    /// Direction-independent keys of the flows seen in this ring (filled when the thread ends).
    pub flows: Mutex<HashSet<FlowKey>>,
    /// True when the ring saw more flows than it could remember.
    pub flows_capped: AtomicBool,
}

/// A flow key with its two endpoints in a fixed order, so both directions give the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    proto: u8,
    a: ([u8; 16], u16),
    b: ([u8; 16], u16),
}

/// One opened ring, not yet running.
pub struct Ring {
    fd: OwnedFd,
    map: Mapping,
    block_size: usize,
    block_count: usize,
    /// On loopback every packet passes the socket twice, sent and received; like libpcap,
    /// keep only the received copy.
    skip_outgoing: bool,
}

/// The ring's memory; unmapped on drop (before the socket closes, see field order in [`Ring`]).
struct Mapping {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain shared memory owned by exactly one `Ring`, which moves to exactly
// one thread; nothing else in this process holds the pointer.
unsafe impl Send for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what mmap returned and nothing borrows the memory any
        // more (frames were copied into batches).
        unsafe {
            libc::munmap(self.base.cast::<c_void>(), self.len);
        }
    }
}

/// Per-ring figures and how many flows the fanout hash split between rings.
pub fn report(rings: &[Arc<RingStats>], drops: &[Arc<DropCounters>]) -> CaptureReport {
    let mut rings_of: hashbrown::HashMap<FlowKey, u32> = hashbrown::HashMap::new();
    let mut out = Vec::with_capacity(rings.len());
    for (i, r) in rings.iter().enumerate() {
        let flows = r.flows.lock().map(|f| f.clone()).unwrap_or_default();
        for key in &flows {
            *rings_of.entry(*key).or_default() += 1;
        }
        out.push(RingReport {
            packets: r.packets.load(Ordering::Relaxed),
            kernel_drops: drops.get(i).map_or(0, |d| d.kernel.load(Ordering::Relaxed)),
            flows: flows.len() as u64,
            flows_capped: r.flows_capped.load(Ordering::Relaxed),
        });
    }
    CaptureReport {
        method: "afpacket",
        rings: out,
        flows_split: Some(rings_of.values().filter(|&&n| n > 1).count() as u64),
    }
}

/// The link type netlens would see on `name` through AF_PACKET, if it can decode it: SOCK_RAW
/// gives frames with the device's own header, and only Ethernet-framed devices (Ethernet, veth,
/// loopback, bridges) are handled here; everything else stays with libpcap.
pub fn link_type(name: &str) -> Option<LinkType> {
    // ARPHRD_ETHER and ARPHRD_LOOPBACK: both carry Ethernet headers on packet sockets.
    matches!(read_sys(name, "type")?, 1 | ARPHRD_LOOPBACK).then_some(LinkType::Ethernet)
}

const ARPHRD_LOOPBACK: u64 = 772;
const IFF_UP: u64 = 0x1;

/// Whether the interface is administratively up (`flags` in sysfs is hex, "0x1003"); true when
/// the flags cannot be read, so only a known-down interface is refused.
pub fn is_up(name: &str) -> bool {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return true;
    }
    std::fs::read_to_string(format!("/sys/class/net/{name}/flags"))
        .ok()
        .and_then(|f| u64::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
        .is_none_or(|flags| flags & IFF_UP != 0)
}
/// Where `sll_pkttype` is in a frame's header: the `sockaddr_ll` follows the tpacket3_hdr
/// (48 bytes, already TPACKET_ALIGNed), and the packet type is its byte 10.
const PKTTYPE_OFFSET: usize = 48 + 10;
/// `tp_status` bits (linux/if_packet.h): the NIC took an 802.1Q tag out of the frame and the
/// kernel left it in `tp_vlan_tci` (and its TPID in `tp_vlan_tpid`).
const TP_STATUS_VLAN_VALID: u32 = 0x10;
const TP_STATUS_VLAN_TPID_VALID: u32 = 0x40;
const ETH_P_8021Q: u16 = 0x8100;

fn read_sys(name: &str, file: &str) -> Option<u64> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return None;
    }
    std::fs::read_to_string(format!("/sys/class/net/{name}/{file}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Opens `rings` fanout rings on `name`; the memory (`-B` KiB, or [`DEFAULT_TOTAL_KIB`]) is
/// split evenly between them.
pub fn open(name: &str, opts: &LiveOptions, rings: usize) -> Result<Vec<Ring>, LiveError> {
    let open_err = |message: String| LiveError::Open {
        iface: name.to_string(),
        message,
    };
    if link_type(name).is_none() {
        return Err(open_err(
            "--capture afpacket handles Ethernet-framed interfaces only: use --capture libpcap"
                .into(),
        ));
    }
    let ifindex = read_sys(name, "ifindex")
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| open_err("no such interface (netlens -D lists them)".into()))?;
    // A packet socket binds to a down interface without complaint and then waits forever;
    // libpcap refuses, and so do we, with the same advice.
    if !is_up(name) {
        return Err(open_err(format!(
            "the interface is down; bring it up first (ip link set {name} up)"
        )));
    }
    let filter = match &opts.filter {
        Some(expr) => Some(compile(name, expr, opts.snaplen)?),
        None => None,
    };
    let loopback = read_sys(name, "type") == Some(ARPHRD_LOOPBACK);
    // On loopback the kernel refuses the sent copy of every packet before it takes ring space
    // (or counts as a kernel drop when the ring is full); the ring thread skips any that
    // still arrive.
    let filter = if loopback {
        Some(without_outgoing(filter))
    } else {
        filter
    };
    let rings = rings.max(1);
    let total = u64::from(opts.buffer_kib.unwrap_or(DEFAULT_TOTAL_KIB)) * 1024;
    let per_ring = (total / rings as u64).max(1);
    // Blocks of 1 MiB once rings are large (fewer wake-ups), 256 KiB for small ones; a block
    // must hold the largest frame (GRO can hand us 64 KiB), and a ring needs at least two.
    let block_size: u64 = if per_ring >= 8 << 20 {
        1 << 20
    } else {
        256 << 10
    };
    let block_count = (per_ring / block_size).clamp(2, 65_536);
    let timeout = if opts.immediate {
        IMMEDIATE_BLOCK_TIMEOUT_MS
    } else {
        BLOCK_TIMEOUT_MS
    };
    // The first ring asks the kernel for a group id no one else uses (a chosen id could join
    // another program's group and share its packets); the others join that group. A single
    // ring joins no group: it has nothing to share, and the group's defragment flag would hand
    // it reassembled datagrams instead of the fragments on the wire (libpcap sees fragments).
    let fanout = rings > 1;
    let mut fanout_id = None;
    let mut out = Vec::with_capacity(rings);
    for _ in 0..rings {
        let (mut ring, id) = open_ring(
            ifindex,
            filter.as_deref(),
            opts.promisc,
            block_size as u32,
            block_count as u32,
            timeout,
            fanout.then_some(fanout_id),
        )
        .map_err(|e| classify(name, e))?;
        fanout_id = Some(id);
        ring.skip_outgoing = loopback;
        out.push(ring);
    }
    Ok(out)
}

fn classify(iface: &str, e: std::io::Error) -> LiveError {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "netlens".to_string());
        LiveError::Permission {
            iface: iface.to_string(),
            exe,
        }
    } else {
        LiveError::Open {
            iface: iface.to_string(),
            message: e.to_string(),
        }
    }
}

/// Compiles a tcpdump expression for Ethernet frames on `name` with libpcap, as libpcap would
/// for its own capture there. The compiling handle is a short-lived libpcap capture on the
/// interface, not a dead handle: an activated Linux handle compiles `vlan` tests to read the tag
/// from the packet's metadata (SKF_AD_VLAN_TAG_PRESENT), which is where the kernel keeps it when
/// a packet socket sees the frame; a dead handle's program looks for the tag inside the frame
/// and `vlan 10` would match nothing. If that handle cannot be opened, a dead one compiles (and
/// opening the ring reports the real problem).
fn compile(name: &str, expr: &str, snaplen: i32) -> Result<Vec<libc::sock_filter>, LiveError> {
    let fail = |message: String| LiveError::Filter {
        expr: expr.to_string(),
        message,
    };
    let live = pcap::Capture::from_device(name).and_then(|c| {
        c.promisc(false)
            .snaplen(snaplen)
            .buffer_size(256 << 10)
            .open()
    });
    let program = match live {
        Ok(handle) => handle.compile(expr, true),
        Err(_) => {
            pcap::Capture::dead(pcap::Linktype::ETHERNET).and_then(|dead| dead.compile(expr, true))
        }
    }
    .map_err(|e| fail(pcap_message(e)))?;
    // The pcap crate keeps the instruction fields private but prints them as "code jt jf k",
    // which is exactly a `sock_filter`; parsing the text avoids reinterpreting its memory.
    program
        .get_instructions()
        .iter()
        .map(|i| {
            let text = i.to_string();
            let mut f = text.split(' ').map(|w| w.parse::<u32>().ok());
            match (f.next(), f.next(), f.next(), f.next()) {
                (Some(Some(code)), Some(Some(jt)), Some(Some(jf)), Some(Some(k))) => {
                    Ok(libc::sock_filter {
                        code: u16::try_from(code).map_err(|_| fail(text.clone()))?,
                        jt: u8::try_from(jt).map_err(|_| fail(text.clone()))?,
                        jf: u8::try_from(jf).map_err(|_| fail(text.clone()))?,
                        k,
                    })
                }
                _ => Err(fail(format!("unexpected BPF instruction '{text}'"))),
            }
        })
        .collect()
}

/// `program` (or "accept everything" when there is none) behind two instructions that drop
/// packets the host sent (`pkt_type` PACKET_OUTGOING, read from the packet's metadata). Jumps in
/// classic BPF are relative, so `program` runs unchanged after them.
fn without_outgoing(program: Option<Vec<libc::sock_filter>>) -> Vec<libc::sock_filter> {
    let op = |code: u32| u16::try_from(code).unwrap_or(0);
    let insn = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    let pkttype = (libc::SKF_AD_OFF + libc::SKF_AD_PKTTYPE) as u32;
    let mut out = vec![
        insn(
            op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS),
            0,
            0,
            pkttype,
        ),
        insn(
            op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K),
            0,
            1,
            u32::from(libc::PACKET_OUTGOING),
        ),
        insn(op(libc::BPF_RET | libc::BPF_K), 0, 0, 0),
    ];
    match program {
        Some(p) => out.extend(p),
        None => out.push(insn(op(libc::BPF_RET | libc::BPF_K), 0, 0, u32::MAX)),
    }
    out
}

fn check(ret: libc::c_int) -> std::io::Result<()> {
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `setsockopt` with a typed value.
fn set_option<T>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> std::io::Result<()> {
    // SAFETY: `value` points to a live, initialised `T` for the whole call and we pass its exact
    // size, so the kernel reads only memory we own; `fd` is an open socket.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast::<c_void>(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
}

fn open_ring(
    ifindex: i32,
    filter: Option<&[libc::sock_filter]>,
    promisc: bool,
    block_size: u32,
    block_count: u32,
    timeout_ms: u32,
    fanout: Option<Option<u16>>,
) -> std::io::Result<(Ring, u16)> {
    // Protocol 0: the socket receives nothing until bind() names a protocol, so no packet
    // arrives before the filter and the ring are in place.
    // SAFETY: plain syscall with constant arguments; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    check(raw)?;
    // SAFETY: `raw` is a new, valid descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
    set_option(&fd, libc::SOL_PACKET, libc::PACKET_VERSION, &version)?;
    if let Some(program) = filter {
        let prog = libc::sock_fprog {
            len: u16::try_from(program.len())
                .map_err(|_| std::io::Error::other("filter program too long"))?,
            // The kernel only reads the program (it copies it during the call).
            filter: program.as_ptr().cast_mut(),
        };
        set_option(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)?;
    }
    let req = libc::tpacket_req3 {
        tp_block_size: block_size,
        tp_block_nr: block_count,
        tp_frame_size: FRAME_SIZE,
        tp_frame_nr: block_size / FRAME_SIZE * block_count,
        tp_retire_blk_tov: timeout_ms,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    };
    set_option(&fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
    let len = block_size as usize * block_count as usize;
    // SAFETY: maps the ring the kernel just allocated for this socket; length and offset are the
    // ring's, and the result is checked against MAP_FAILED before use.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let map = Mapping {
        base: base.cast::<u8>(),
        len,
    };
    // SAFETY: sockaddr_ll is plain data for which all-zero bytes are a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = ifindex;
    // SAFETY: `addr` is a valid sockaddr_ll and we pass its exact size.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    if promisc {
        // Membership is reference-counted by the kernel and ends when the socket closes, so
        // the interface leaves promiscuous mode by itself when netlens exits.
        let mreq = libc::packet_mreq {
            mr_ifindex: ifindex,
            mr_type: libc::PACKET_MR_PROMISC as u16,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        set_option(&fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)?;
    }
    // `fanout`: None joins no group; Some(None) asks for a new group; Some(Some(id)) joins it.
    let id = match fanout {
        None => 0,
        Some(fanout_id) => {
            let mode = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG;
            let value = match fanout_id {
                Some(id) => (mode << 16) | u32::from(id),
                None => (mode | libc::PACKET_FANOUT_FLAG_UNIQUEID) << 16,
            };
            set_option(
                &fd,
                libc::SOL_PACKET,
                libc::PACKET_FANOUT,
                &(value as libc::c_int),
            )?;
            match fanout_id {
                Some(id) => id,
                None => joined_fanout_id(&fd)?,
            }
        }
    };
    let ring = Ring {
        fd,
        map,
        block_size: block_size as usize,
        block_count: block_count as usize,
        skip_outgoing: false,
    };
    Ok((ring, id))
}

/// The id of the fanout group the socket is in (getsockopt PACKET_FANOUT: id in the low 16 bits).
fn joined_fanout_id(fd: &OwnedFd) -> std::io::Result<u16> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and writable for the call, and `len` says how many
    // bytes the kernel may write into `value`.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_FANOUT,
            (&mut value as *mut libc::c_int).cast::<c_void>(),
            &mut len,
        )
    })?;
    Ok((value as u32 & 0xffff) as u16)
}

/// Kernel drops since the last call (PACKET_STATISTICS resets the counters when read).
fn take_drops(fd: &OwnedFd) -> u64 {
    let mut stats = libc::tpacket_stats_v3 {
        tp_packets: 0,
        tp_drops: 0,
        tp_freeze_q_cnt: 0,
    };
    let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
    // SAFETY: `stats` and `len` are live and writable for the call, and `len` says how many
    // bytes the kernel may write into `stats`.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut stats as *mut libc::tpacket_stats_v3).cast::<c_void>(),
            &mut len,
        )
    };
    if ret < 0 {
        0
    } else {
        u64::from(stats.tp_drops)
    }
}

/// Everything a ring thread needs besides its ring.
pub struct RingWorker {
    pub iface: IfaceId,
    pub snaplen: usize,
    pub tx: Sender<Batch>,
    pub recycle: Receiver<Batch>,
    pub stop: Arc<AtomicBool>,
    pub drops: Arc<DropCounters>,
    pub stats: Arc<RingStats>,
    /// Reads the interface's own drop counter (`rx_dropped`); only one ring does.
    pub interface_drops: Option<String>,
}

impl RingWorker {
    pub fn run(self, ring: Ring) {
        let if_drops_at_start = self.interface_drops.as_deref().and_then(rx_dropped);
        let mut flows: HashSet<FlowKey> = HashSet::new();
        let mut batch = self.fresh_batch();
        let mut batch_started = Instant::now();
        let mut block = 0usize;
        while !self.stop.load(Ordering::Relaxed) {
            let Some(status) = ring.block_status(block) else {
                break;
            };
            if status.load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
                // Nothing ready: hand over a partial batch, then sleep until the kernel
                // retires a block or the poll interval passes (to notice `stop`).
                if !batch.is_empty() {
                    self.send(&mut batch, &ring, if_drops_at_start);
                }
                self.read_stats(&ring, if_drops_at_start);
                ring.wait(POLL_INTERVAL_MS);
                continue;
            }
            if batch.is_empty() {
                batch_started = Instant::now();
            }
            let mut seen = 0u64;
            ring.for_each_frame(block, |ts, orig_len, data, vlan| {
                seen += 1;
                if flows.len() < FLOWS_TRACKED {
                    if let Some(key) = flow_key(data) {
                        flows.insert(key);
                    }
                } else {
                    self.stats.flows_capped.store(true, Ordering::Relaxed);
                }
                let data = data.get(..self.snaplen).unwrap_or(data);
                match vlan {
                    Some(tag) => batch.push_with_vlan(ts, orig_len, data, tag),
                    None => batch.push(ts, orig_len, data),
                }
                if batch.len() >= BATCH_FRAMES {
                    self.send(&mut batch, &ring, if_drops_at_start);
                    batch_started = Instant::now();
                }
            });
            self.stats.packets.fetch_add(seen, Ordering::Relaxed);
            // Give the block back to the kernel: every frame in it has been copied.
            status.store(libc::TP_STATUS_KERNEL, Ordering::Release);
            block = (block + 1) % ring.block_count;
            if !batch.is_empty() && batch_started.elapsed() >= BATCH_MAX_AGE {
                self.send(&mut batch, &ring, if_drops_at_start);
            }
        }
        if !batch.is_empty() {
            self.send(&mut batch, &ring, if_drops_at_start);
        }
        self.read_stats(&ring, if_drops_at_start);
        if let Ok(mut f) = self.stats.flows.lock() {
            *f = flows;
        }
    }

    fn fresh_batch(&self) -> Batch {
        match self.recycle.try_recv() {
            Ok(mut b) => {
                b.reset(self.iface, LinkType::Ethernet);
                b
            }
            Err(_) => Batch::new(self.iface, LinkType::Ethernet),
        }
    }

    /// Sends `batch` and puts an empty one in its place. When the processing side is full this
    /// waits, holding the ring block it is reading: the kernel goes on filling the other blocks,
    /// so a burst is absorbed by the whole ring (64 MiB), not by the channel's few thousand
    /// frames, and only a ring that overflows loses packets, counted by the kernel as drops
    /// (PACKET_STATISTICS), as tcpdump's buffer does. Frames still waiting when the run stops
    /// are counted as internal drops.
    fn send(&self, batch: &mut Batch, ring: &Ring, if_drops_at_start: Option<u64>) {
        self.read_stats(ring, if_drops_at_start);
        let mut full = std::mem::replace(batch, self.fresh_batch());
        loop {
            match self.tx.send_timeout(full, HANDOVER_WAIT) {
                Ok(()) => return,
                Err(SendTimeoutError::Timeout(b)) if !self.stop.load(Ordering::Relaxed) => {
                    self.read_stats(ring, if_drops_at_start);
                    full = b;
                }
                Err(SendTimeoutError::Timeout(b)) => {
                    self.drops
                        .internal
                        .fetch_add(b.len() as u64, Ordering::Relaxed);
                    return;
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    self.stop.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    fn read_stats(&self, ring: &Ring, if_drops_at_start: Option<u64>) {
        let dropped = take_drops(&ring.fd);
        if dropped > 0 {
            self.drops.kernel.fetch_add(dropped, Ordering::Relaxed);
        }
        if let (Some(name), Some(start)) = (&self.interface_drops, if_drops_at_start) {
            if let Some(now) = rx_dropped(name) {
                self.drops
                    .interface
                    .store(now.saturating_sub(start), Ordering::Relaxed);
            }
        }
    }
}

/// The interface's receive drops so far, as libpcap reports them for `ps_ifdrop` on Linux.
fn rx_dropped(name: &str) -> Option<u64> {
    read_sys(name, "statistics/rx_dropped")
}

impl Ring {
    /// The status word of block `i`, shared with the kernel.
    fn block_status(&self, i: usize) -> Option<&AtomicU32> {
        if i >= self.block_count {
            return None;
        }
        // SAFETY: block `i` lies inside the mapping (i < block_count, the mapping is
        // block_size * block_count bytes). `block_status` is the first field of the
        // page-aligned block header's union (offset 8, so 4-byte aligned), and the kernel
        // and we only ever access it atomically; the borrow of `self` keeps the mapping alive.
        unsafe {
            let desc = self
                .map
                .base
                .add(i * self.block_size)
                .cast::<libc::tpacket_block_desc>();
            let status = std::ptr::addr_of_mut!((*desc).hdr.bh1.block_status);
            Some(AtomicU32::from_ptr(status))
        }
    }

    /// Calls `f(timestamp, wire length, captured bytes, VLAN tag)` for each frame of a block the
    /// kernel has handed to us (its status has TP_STATUS_USER, read with Acquire ordering). The
    /// tag (TPID, TCI) is the one the NIC stripped, to be put back as libpcap does.
    fn for_each_frame(
        &self,
        i: usize,
        mut f: impl FnMut(Timestamp, u32, &[u8], Option<(u16, u16)>),
    ) {
        // SAFETY: the block belongs to us until we store TP_STATUS_KERNEL, so the kernel does
        // not write it meanwhile; it is `block_size` bytes inside the mapping (i was checked by
        // `block_status`). The slice lives only during this call, while `self` is borrowed.
        let block: &[u8] = unsafe {
            std::slice::from_raw_parts(self.map.base.add(i * self.block_size), self.block_size)
        };
        let (num_pkts, first) = match (read_u32(block, 12), read_u32(block, 16)) {
            (Some(n), Some(off)) => (n, off as usize),
            _ => return,
        };
        let mut at = first;
        for _ in 0..num_pkts {
            // tpacket3_hdr: next_offset 0, sec 4, nsec 8, snaplen 12, len 16, status 20, mac 24.
            let (Some(next), Some(sec), Some(nsec), Some(snap), Some(len), Some(mac)) = (
                read_u32(block, at),
                read_u32(block, at + 4),
                read_u32(block, at + 8),
                read_u32(block, at + 12),
                read_u32(block, at + 16),
                read_u16(block, at + 24),
            ) else {
                return;
            };
            let start = at + usize::from(mac);
            // tp_status at 20; hv1 (tpacket_hdr_variant1): tp_vlan_tci at 32, tp_vlan_tpid at
            // 36. libpcap's rule (pcap-linux.c, VLAN_VALID): a non-zero TCI, or the valid bit.
            let status = read_u32(block, at + 20).unwrap_or(0);
            let tci = read_u32(block, at + 32).unwrap_or(0);
            let vlan = (tci != 0 || status & TP_STATUS_VLAN_VALID != 0).then(|| {
                let tpid = match read_u16(block, at + 36) {
                    Some(t) if status & TP_STATUS_VLAN_TPID_VALID != 0 && t != 0 => t,
                    _ => ETH_P_8021Q,
                };
                (tpid, (tci & 0xFFFF) as u16)
            });
            let outgoing = block.get(at + PKTTYPE_OFFSET) == Some(&libc::PACKET_OUTGOING);
            // A frame outside the block would be a kernel bug; skip it rather than trust it.
            let data = block.get(start..start + snap as usize);
            if let (Some(data), false) = (data, outgoing && self.skip_outgoing) {
                f(
                    Timestamp::from_parts(i64::from(sec), u64::from(nsec), 1_000_000_000),
                    len,
                    data,
                    vlan,
                );
            }
            if next == 0 {
                return;
            }
            at += next as usize;
        }
    }

    /// Sleeps until the socket is readable (a block was retired) or `timeout_ms` passes.
    fn wait(&self, timeout_ms: i32) {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        };
        // SAFETY: `pfd` is a valid pollfd that lives across the call and the count is one; the
        // fd stays open because `self` is borrowed.
        let ready = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if ready > 0 && pfd.revents & libc::POLLERR != 0 {
            // The interface went down (ENETDOWN): the error stays pending, and poll() returns
            // at once, until it is read. Reading it clears it, so the thread sleeps again, and
            // the ring fills again when the interface comes back up.
            let mut err: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: `err` and `len` are live and writable for the call, and `len` says how
            // many bytes the kernel may write into `err`.
            let _ = unsafe {
                libc::getsockopt(
                    self.fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&mut err as *mut libc::c_int).cast::<c_void>(),
                    &mut len,
                )
            };
        }
    }
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_ne_bytes(bytes))
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    let bytes: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(u16::from_ne_bytes(bytes))
}

/// The direction-independent flow of an Ethernet frame (IPv4/IPv6 behind up to two VLAN tags;
/// ports for TCP and UDP), or None for anything else.
fn flow_key(frame: &[u8]) -> Option<FlowKey> {
    let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let mut at = 14;
    for _ in 0..2 {
        if ethertype == 0x8100 || ethertype == 0x88a8 {
            ethertype = u16::from_be_bytes([*frame.get(at + 2)?, *frame.get(at + 3)?]);
            at += 4;
        }
    }
    let ip = frame.get(at..)?;
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    let (proto, l4) = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            src[..4].copy_from_slice(ip.get(12..16)?);
            dst[..4].copy_from_slice(ip.get(16..20)?);
            // Later fragments carry no ports.
            let frag_offset = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x1fff;
            let l4 = if frag_offset == 0 {
                ip.get(ihl..)
            } else {
                None
            };
            (*ip.get(9)?, l4)
        }
        0x86dd => {
            src.copy_from_slice(ip.get(8..24)?);
            dst.copy_from_slice(ip.get(24..40)?);
            (*ip.get(6)?, ip.get(40..))
        }
        _ => return None,
    };
    let ports = match (proto, l4) {
        (6 | 17, Some(l4)) if l4.len() >= 4 => (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        ),
        _ => (0, 0),
    };
    let (a, b) = ((src, ports.0), (dst, ports.1));
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    Some(FlowKey { proto, a, b })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    fn udp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[14 + 9] = 17;
        f[14 + 12..14 + 16].copy_from_slice(&src);
        f[14 + 16..14 + 20].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    #[test]
    fn both_directions_give_one_flow_key() {
        let there = flow_key(&udp4([10, 0, 0, 1], 5000, [10, 0, 0, 2], 53));
        let back = flow_key(&udp4([10, 0, 0, 2], 53, [10, 0, 0, 1], 5000));
        let other = flow_key(&udp4([10, 0, 0, 2], 54, [10, 0, 0, 1], 5000));
        assert!(there.is_some());
        assert_eq!(there, back);
        assert_ne!(there, other);
    }

    #[test]
    fn short_or_foreign_frames_have_no_key() {
        assert_eq!(flow_key(&[]), None);
        assert_eq!(flow_key(&[0u8; 13]), None);
        let mut arp = vec![0u8; 60];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(flow_key(&arp), None);
        let cut = udp4([10, 0, 0, 1], 1, [10, 0, 0, 2], 2);
        assert_eq!(flow_key(&cut[..20]), None);
    }

    #[test]
    fn filters_compile_to_kernel_programs() {
        let program = compile("lo", "udp port 53", 262_144).expect("valid filter");
        assert!(program.len() > 2);
        assert!(matches!(
            compile("lo", "udp port banana", 262_144),
            Err(LiveError::Filter { .. })
        ));
    }
}
