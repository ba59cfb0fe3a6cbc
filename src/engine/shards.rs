//! Several engines on several threads, each owning a share of the traffic, with results that
//! are identical to one engine's.
//!
//! How the identity holds:
//! - Packets are spread by a direction-symmetric hash of the address pair, so every flow, every
//!   fragment of a datagram and every IP pair (and so each host's peer count) lives in exactly
//!   one shard.
//! - Expiry follows packet time. A single engine expires flows when packet time enters a new
//!   second; the dispatcher sends that same tick to every shard at the same point in the
//!   stream, so each shard expires exactly the flows a single engine would.
//! - Every packet carries its position in the whole stream, which decides ties where order
//!   matters (the first MAC addresses and names seen for a host).
//! - At the end the shards' results are merged: sums, minimum/maximum times, unions.
//! - With `--jsonl`, each shard hands its ended flow records back to the dispatcher, which
//!   writes them with the packet and alert lines (one writer, whole lines).
//! - With a history database, each shard records its own engine (a [`Recorder`] on its
//!   thread, ticked at the same points as its engine). Its rows add to the other shards' in
//!   the database, so the database holds what one engine would have written.
//!
//! Frames go to the shards in batches (an index, recycled), so the hand-off costs one channel
//! operation per few hundred packets and no allocation per packet. A frame from a mapped
//! capture file stays where it lies: its batch holds the file's window (see
//! `capture::mapped`), and the shard reads it there. Other frames (live capture, standard
//! input) are copied into the batch's byte arena.

use std::net::IpAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use wire::packet::Apps;
use wire::{Layout, LinkType, Packet};

use super::flow::FlowRecord;
use super::snapshot::Part;
use super::{Engine, EngineConfig};
use crate::capture::mapped::{prefetch, Window};
use crate::capture::{Frame, IfaceId};
use crate::store::recorder::{Recorder, RecorderOptions};
use crate::store::writer::StoreSender;
use crate::time::Timestamp;

/// Entries per batch before it is handed to its shard.
const BATCH_ENTRIES: usize = 512;
/// How many entries ahead a shard asks for the payload it will parse.
const PREFETCH_AHEAD: usize = 4;
/// Batches in flight per shard: enough to keep a shard busy while the dispatcher fills the next.
const QUEUE_BATCHES: usize = 8;

enum Entry {
    /// Packet time entered a new second: run expiry.
    Tick(Timestamp),
    Frame {
        ts: Timestamp,
        orig_len: u32,
        link: LinkType,
        iface: IfaceId,
        /// Where the bytes are: in the batch's window, or its arena.
        mapped: bool,
        start: usize,
        len: usize,
        seq: u64,
        clock: Timestamp,
        /// The packet as the dispatcher decoded it: the shard puts it back together instead of
        /// decoding the frame again.
        layout: Option<Layout>,
    },
}

#[derive(Default)]
struct Batch {
    arena: Vec<u8>,
    /// The mapped window of the file that the batch's mapped frames lie in.
    window: Option<Arc<Window>>,
    entries: Vec<Entry>,
}

impl Batch {
    fn clear(&mut self) {
        self.arena.clear();
        self.window = None;
        self.entries.clear();
    }

    /// Asks the CPU for the payload `entry` will parse. The dispatcher read these bytes on
    /// another CPU, so the shard's first touch is a wait on memory; asked for a few entries
    /// ahead, it arrives while the entries before it are accounted.
    fn prefetch_payload(&self, entry: &Entry) {
        if let Entry::Frame {
            mapped,
            start,
            len,
            layout: Some(layout),
            ..
        } = entry
        {
            if let Some(at) = layout.payload_read() {
                let frame = self.bytes(*mapped, *start, *len);
                prefetch(frame.get(at..).unwrap_or(&[]));
            }
        }
    }

    fn bytes(&self, mapped: bool, start: usize, len: usize) -> &[u8] {
        let all = match (mapped, &self.window) {
            (true, Some(w)) => w.bytes(),
            (true, None) => &[],
            (false, _) => &self.arena,
        };
        all.get(start..start + len).unwrap_or(&[])
    }
}

enum Msg {
    Batch(Batch),
    /// Send a [`Part`] of a snapshot, with the names known for these addresses.
    View(Arc<[IpAddr]>, Sender<Part>),
    Finish,
}

pub struct Shards {
    senders: Vec<Sender<Msg>>,
    pending: Vec<Batch>,
    recycle: Receiver<Batch>,
    handles: Vec<JoinHandle<Engine>>,
    last_sec: Option<i64>,
    seq: u64,
    /// Latest packet time dispatched so far (see `Engine::process_seq`).
    clock: Timestamp,
    /// Records the shards ended, when an output on this thread takes them.
    records: Option<Receiver<Vec<FlowRecord>>>,
    /// The window of a mapped file that frames lie in now ([`Shards::share`]).
    window: Option<Arc<Window>>,
}

/// What the shards hand on besides their merged engine.
#[derive(Clone, Default)]
pub struct ShardOutputs {
    /// Record each shard's engine to the history database.
    pub store: Option<(StoreSender, RecorderOptions)>,
    /// Hand ended flow records back ([`Shards::take_records`]).
    pub records: bool,
}

impl Shards {
    /// Starts `n` shard threads (n ≥ 2 makes sense; 1 works and is used by tests). With
    /// `outputs.store`, each shard records its engine to the history database.
    pub fn start(n: usize, config: &EngineConfig, outputs: ShardOutputs) -> Self {
        let n = n.max(1);
        let (recycle_tx, recycle_rx) = crossbeam_channel::bounded(n * (QUEUE_BATCHES + 2));
        let mut senders = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        // Unbounded, so a shard never waits for the dispatcher while the dispatcher waits for
        // it. What it can hold is bounded all the same: a shard runs at most QUEUE_BATCHES
        // batches ahead, and at the end the records take the place of the flows they end.
        let (records_tx, records_rx) = crossbeam_channel::unbounded();
        for i in 0..n {
            let (tx, rx) = crossbeam_channel::bounded::<Msg>(QUEUE_BATCHES);
            let recycle = recycle_tx.clone();
            // Each shard may evict as a whole engine would: the limits are per shard.
            let mut engine = Engine::new(config.clone());
            let forward = outputs.records.then(|| records_tx.clone());
            if forward.is_some() {
                engine.keep_records();
            }
            let recorder = outputs.store.as_ref().map(|(out, options)| {
                let recorder = Recorder::start(out.clone(), &mut engine, *options);
                match &forward {
                    Some(to) => recorder.forwarding(to.clone()),
                    None => recorder,
                }
            });
            let sink = Sink { recorder, forward };
            let spawned = std::thread::Builder::new()
                .name(format!("engine-{i}"))
                .spawn(move || run_shard(engine, sink, &rx, &recycle));
            match spawned {
                Ok(h) => {
                    handles.push(h);
                    senders.push(tx);
                }
                // No thread: fewer shards. The hash spreads over those that started.
                Err(_) => break,
            }
        }
        let count = senders.len();
        Shards {
            senders,
            pending: (0..count).map(|_| Batch::default()).collect(),
            recycle: recycle_rx,
            handles,
            last_sec: None,
            seq: 0,
            clock: Timestamp(i64::MIN),
            records: outputs.records.then_some(records_rx),
            window: None,
        }
    }

    /// Asks every shard for its part of a snapshot, after the frames dispatched so far (see
    /// [`super::snapshot::Snapshot::from_parts`]); the parts arrive on the returned channel
    /// as the shards get to the request, [`Shards::len`] of them.
    pub fn request_parts(&mut self, wanted: Arc<[IpAddr]>) -> Receiver<Part> {
        let (tx, rx) = crossbeam_channel::bounded(self.senders.len());
        for i in 0..self.pending.len() {
            if !self.pending.get(i).is_some_and(|b| b.entries.is_empty()) {
                self.send(i);
            }
        }
        for shard in &self.senders {
            let _ = shard.send(Msg::View(Arc::clone(&wanted), tx.clone()));
        }
        rx
    }

    /// Records the shards have ended since the last call (with [`ShardOutputs::records`]).
    pub fn take_records(&self) -> Vec<Vec<FlowRecord>> {
        self.records
            .as_ref()
            .map_or_else(Vec::new, |rx| rx.try_iter().collect())
    }

    pub fn len(&self) -> usize {
        self.senders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// The frames that follow lie in `window` (called for every frame of a mapped file). When
    /// it is a new one, batches holding frames of the previous window are sent first, so a
    /// batch needs only one.
    pub fn share(&mut self, window: &Arc<Window>) {
        if self.window.as_ref().is_some_and(|w| Arc::ptr_eq(w, window)) {
            return;
        }
        for i in 0..self.pending.len() {
            if self.pending.get(i).is_some_and(|b| b.window.is_some()) {
                self.send(i);
            }
        }
        self.window = Some(Arc::clone(window));
    }

    /// Hands `frame`, decoded as `packet` with the parsers `apps` names, to its shard.
    pub fn dispatch(&mut self, frame: &Frame<'_>, packet: &Packet<'_>, apps: Apps) {
        let n = self.pending.len();
        if n == 0 {
            return;
        }
        let sec = frame.ts.0.div_euclid(Timestamp::NANOS_PER_SEC);
        if self.last_sec.is_none_or(|last| sec > last) {
            self.last_sec = Some(sec);
            for i in 0..n {
                self.push(i, Entry::Tick(frame.ts));
            }
        }
        // The high half of the hash scaled to n: no division per packet.
        let shard = packet.ip().map_or(0, |ip| {
            (((pair_hash(ip.src, ip.dst) >> 32) * n as u64) >> 32) as usize
        });
        let seq = self.seq;
        self.seq += 1;
        self.clock = self.clock.max(frame.ts);
        let clock = self.clock;
        if let Some(batch) = self.pending.get_mut(shard) {
            let in_window = self
                .window
                .as_ref()
                .and_then(|w| Some((w, w.start_of(frame.data)?)));
            let (mapped, start) = match in_window {
                Some((window, start)) => {
                    if batch.window.is_none() {
                        batch.window = Some(Arc::clone(window));
                    }
                    (true, start)
                }
                None => {
                    let start = batch.arena.len();
                    batch.arena.extend_from_slice(frame.data);
                    (false, start)
                }
            };
            batch.entries.push(Entry::Frame {
                ts: frame.ts,
                orig_len: frame.orig_len,
                link: frame.link,
                iface: frame.iface,
                mapped,
                start,
                len: frame.data.len(),
                seq,
                clock,
                layout: Layout::of(packet, frame.data, apps),
            });
            if batch.entries.len() >= BATCH_ENTRIES {
                self.send(shard);
            }
        }
    }

    fn push(&mut self, shard: usize, entry: Entry) {
        if let Some(batch) = self.pending.get_mut(shard) {
            batch.entries.push(entry);
            if batch.entries.len() >= BATCH_ENTRIES {
                self.send(shard);
            }
        }
    }

    fn send(&mut self, shard: usize) {
        let fresh = self.recycle.try_recv().unwrap_or_default();
        let Some(slot) = self.pending.get_mut(shard) else {
            return;
        };
        let full = std::mem::replace(slot, fresh);
        if let Some(tx) = self.senders.get(shard) {
            // Blocking: a file must be counted whole; live capture drops earlier, at the
            // capture threads' channel, where the loss is counted.
            let _ = tx.send(Msg::Batch(full));
        }
    }

    /// Flushes every shard, waits for them and merges their results into one engine. The
    /// records the shards end meanwhile go to `records` as they come (with
    /// [`ShardOutputs::records`]). Also returns how many shards failed (a bug: the panic
    /// message is on stderr, and their share of the traffic is missing from the engine).
    pub fn finish(mut self, records: &mut dyn FnMut(Vec<FlowRecord>)) -> (Option<Engine>, usize) {
        for i in 0..self.pending.len() {
            if !self.pending.get(i).is_some_and(|b| b.entries.is_empty()) {
                self.send(i);
            }
        }
        for tx in &self.senders {
            let _ = tx.send(Msg::Finish);
        }
        // Ends when every shard has finished and dropped its end of the channel.
        if let Some(rx) = self.records.take() {
            for batch in rx.iter() {
                records(batch);
            }
        }
        let mut failed = 0;
        let mut merged: Option<Engine> = None;
        for handle in self.handles.drain(..) {
            match (handle.join(), &mut merged) {
                (Ok(e), Some(m)) => m.merge(e),
                (Ok(e), None) => merged = Some(e),
                (Err(_), _) => failed += 1,
            }
        }
        (merged, failed)
    }
}

/// Where a shard's results go while it runs (besides its engine, returned at the end).
struct Sink {
    recorder: Option<Recorder>,
    forward: Option<Sender<Vec<FlowRecord>>>,
}

impl Sink {
    /// Hands ended records back, when no recorder does it as it takes them.
    fn forward(&self, engine: &mut Engine) {
        if let (None, Some(to)) = (&self.recorder, &self.forward) {
            if engine.has_records() {
                let _ = to.send(engine.take_records());
            }
        }
    }
}

fn run_shard(
    mut engine: Engine,
    mut sink: Sink,
    rx: &Receiver<Msg>,
    recycle: &Sender<Batch>,
) -> Engine {
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Batch(mut batch) => {
                for (i, entry) in batch.entries.iter().enumerate() {
                    if let Some(ahead) = batch.entries.get(i + PREFETCH_AHEAD) {
                        batch.prefetch_payload(ahead);
                    }
                    match *entry {
                        Entry::Tick(ts) => {
                            if let Some(r) = &mut sink.recorder {
                                r.on_time(ts, &mut engine);
                            }
                            engine.tick(ts);
                            sink.forward(&mut engine);
                        }
                        Entry::Frame {
                            ts,
                            orig_len,
                            link,
                            iface,
                            mapped,
                            start,
                            len,
                            seq,
                            clock,
                            ref layout,
                        } => {
                            let data = batch.bytes(mapped, start, len);
                            let frame = Frame {
                                ts,
                                orig_len,
                                link,
                                iface,
                                data,
                            };
                            // Borrowed where it was put back together: a packet is 176
                            // bytes, and unwrapping the option copied it once more.
                            let rebuilt = layout.as_ref().and_then(|l| l.packet(data));
                            let decoded;
                            let packet = match &rebuilt {
                                Some(p) => p,
                                None => {
                                    decoded = wire::decode(link, data);
                                    &decoded
                                }
                            };
                            engine.process_seq(&frame, packet, seq, clock);
                            if let Some(r) = &mut sink.recorder {
                                r.count(&frame, packet, &mut engine);
                            }
                            sink.forward(&mut engine);
                        }
                    }
                }
                batch.clear();
                let _ = recycle.try_send(batch);
            }
            Msg::View(wanted, reply) => {
                let _ = reply.send(Part::of(&engine, &wanted));
            }
            Msg::Finish => break,
        }
    }
    match sink.recorder.take() {
        Some(r) => r.flush(&mut engine),
        None => {
            // In chunks, each handed back before the next is made.
            while engine.finish_some(crate::store::recorder::BATCH) {
                sink.forward(&mut engine);
            }
            sink.forward(&mut engine);
        }
    }
    engine
}

/// Direction-symmetric hash of an address pair: both directions, and every fragment, of a
/// conversation go to the same shard. Each address is mixed on its own and the two added, so
/// the order does not matter and no comparison is needed: this runs on the dispatcher for
/// every packet.
fn pair_hash(a: IpAddr, b: IpAddr) -> u64 {
    mix(a).wrapping_add(mix(b))
}

/// An address folded to 64 bits, then spread over all of them (the finaliser of MurmurHash3).
fn mix(addr: IpAddr) -> u64 {
    let mut h = match addr {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let n = u128::from(v6);
            // Truncations keep the low and the high half.
            (n as u64) ^ ((n >> 64) as u64).rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15
        }
    };
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_hash_is_symmetric() {
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [192, 168, 1, 7].into();
        assert_eq!(pair_hash(a, b), pair_hash(b, a));
        assert_ne!(pair_hash(a, b), pair_hash(a, a));
        let v6 = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1u16]);
        assert_eq!(pair_hash(a, v6), pair_hash(v6, a));
    }

    /// Hosts of one subnet talking to one server spread evenly over the shards.
    #[test]
    fn pairs_spread_evenly() {
        let server: IpAddr = [192, 168, 1, 1].into();
        for n in [2u64, 3, 4] {
            let mut counts = vec![0u32; n as usize];
            for i in 0..30_000u32 {
                let client = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
                let shard = ((pair_hash(client, server) >> 32) * n) >> 32;
                if let Some(c) = counts.get_mut(shard as usize) {
                    *c += 1;
                }
            }
            let even = 30_000 / n as u32;
            assert!(
                counts.iter().all(|c| c.abs_diff(even) < even / 20),
                "{n} shards: {counts:?}"
            );
        }
    }
}
