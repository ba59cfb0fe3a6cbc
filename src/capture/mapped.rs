//! A capture file read through memory maps, a window at a time.
//!
//! Reading with `read()` copies every byte of the file from the page cache into a buffer, and the
//! worker shards copied each frame once more into their batches. Mapped, the file's pages are
//! the buffer: only the bytes that are decoded are touched, and a shard reads its frames where
//! they lie (a batch holds its window, see `engine::shards`).
//!
//! The file is mapped in windows of [`WINDOW`] bytes (plus room for one block that starts
//! inside and ends after it), so what stays mapped, and counts as resident, is a few windows
//! however large the file: a window is unmapped when the reader and every batch holding it are
//! done with it.
//!
//! Mapping a window's pages is the kernel's work on the first touch of each (a fault every
//! 64 KiB, about a tenth of a reader's time on a 700 MB file). [`Windows`] has a thread of its
//! own map the next window and fill in its page tables while the reader is in the current one.
//!
//! The one hazard of a map: if another program truncates the file while netlens reads it, the
//! kernel stops the process (SIGBUS) when a page past the new end is touched. Before each window
//! is mapped the file's size is checked again, so a file that shrank ends the read with an error
//! instead; a truncation within the few milliseconds between that check and the end of the
//! window's reading (two windows' time, as the next one is mapped ahead) is not caught. A file that grows
//! (a capture still being written) is read up to its size when it was opened, as with tcpdump.

use std::fs::File;
use std::io;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use memmap2::{Advice, Mmap, MmapOptions};

/// Bytes of the file each window starts blocks in. The reader's window and the one mapped ahead
/// are both resident, so a window costs twice its size in RSS; each costs a map, a populate and
/// an unmap, with the wake-ups and TLB shootdowns they bring. Against 4 MiB, 2 MiB windows
/// saved 6 MB of peak RSS and took 2% longer on mix-1m-s1, 3% on mix-10m-s1 (5% more CPU).
pub const WINDOW: usize = 4 << 20;
/// Extra bytes mapped past a window, so a block that starts inside it is whole in it: the largest
/// block the reader accepts (16 MiB, Wireshark's limit) and its header.
const SPILL: usize = (16 << 20) + 4096;
/// Windows start on a page boundary; 64 KiB is a multiple of every page size Linux uses for
/// file maps on the common architectures.
const ALIGN: u64 = 64 << 10;

/// A regular file opened for reading through maps.
pub struct MappedFile {
    file: File,
    size: u64,
}

/// One mapped stretch of a file.
pub struct Window {
    map: Mmap,
    /// Where in the file the map starts.
    offset: u64,
}

impl MappedFile {
    /// `file` if it can be mapped: a regular file, not empty, on a file system that maps
    /// files (the first window is tried; some FUSE and virtual file systems refuse).
    pub fn new(file: File) -> Result<MappedFile, File> {
        let mapped = match file.metadata() {
            Ok(m) if m.is_file() && m.len() > 0 => MappedFile {
                size: m.len(),
                file,
            },
            _ => return Err(file),
        };
        match mapped.window_at(0) {
            Ok(_) => Ok(mapped),
            Err(_) => Err(mapped.file),
        }
    }

    /// The file's size when it was opened: what is read.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Maps the window that starts blocks at `pos`: from the page boundary at or before `pos`,
    /// [`WINDOW`] bytes plus [`SPILL`], cut at the end of the file.
    pub fn window_at(&self, pos: u64) -> io::Result<Arc<Window>> {
        let now = self.file.metadata()?.len();
        if now < self.size {
            return Err(io::Error::other(format!(
                "the file shrank from {} to {now} bytes while it was read (another program truncated it)",
                self.size
            )));
        }
        let offset = pos - pos % ALIGN;
        let end = self
            .size
            .min(offset.saturating_add((WINDOW + SPILL) as u64));
        let len = usize::try_from(end.saturating_sub(offset))
            .map_err(|_| io::Error::other("window larger than the address space"))?;
        let map = map(&self.file, offset, len)?;
        // Readahead ahead of the reader and early reuse of the pages behind it.
        let _ = map.advise(Advice::Sequential);
        Ok(Arc::new(Window { map, offset }))
    }
}

/// Maps `len` bytes of `file` from `offset`, read-only.
#[allow(unsafe_code)]
fn map(file: &File, offset: u64, len: usize) -> io::Result<Mmap> {
    // SAFETY: the map is read-only and netlens never writes the file. Another program could
    // still change or truncate it while it is mapped: a change shows as changed bytes, which
    // the parsers treat like any input; a truncation past a page in use raises SIGBUS,
    // narrowed by the size check in `window_at` (see the module comment).
    unsafe { MmapOptions::new().offset(offset).len(len).map(file) }
}

/// The windows of a file, in order, each mapped ahead of the reader on a thread of its own when
/// the file has more than one (and the thread could be started).
pub struct Windows<'f> {
    file: &'f MappedFile,
    ahead: Option<Ahead>,
}

/// What the thread that maps ahead is asked to do.
enum Job {
    /// Map the window at this offset.
    Map(u64),
    /// Drop the reader's hold on a window it is done with (unmapping it, if it was the last).
    Retire(Arc<Window>),
}

/// The thread that maps the next window, and what was asked of it.
struct Ahead {
    requests: Sender<Job>,
    ready: Receiver<(u64, io::Result<Arc<Window>>)>,
    /// The offset of the window asked for and not yet taken.
    asked: Option<u64>,
}

impl<'f> Windows<'f> {
    pub fn new(file: &'f MappedFile) -> Self {
        let ahead = (file.size > WINDOW as u64)
            .then(|| Ahead::start(file))
            .flatten();
        Windows { file, ahead }
    }

    /// The first window, that starts blocks at `pos` (see [`MappedFile::window_at`]); the window
    /// after it is asked for.
    pub fn at(&mut self, pos: u64) -> io::Result<Arc<Window>> {
        let window = self.take(pos)?;
        self.ask_after(&window);
        Ok(window)
    }

    /// Moves the reader from `done` to the window that starts blocks at `pos`. `done` is let go
    /// of before the window after the new one is asked for: the thread that maps ahead then
    /// unmaps it before it maps and fills in that one, so two windows are resident, not three.
    pub fn advance(&mut self, done: Arc<Window>, pos: u64) -> io::Result<Arc<Window>> {
        let window = self.take(pos)?;
        self.retire(done);
        self.ask_after(&window);
        Ok(window)
    }

    /// The window that starts blocks at `pos`: the one mapped ahead when it is that one, else
    /// mapped now.
    fn take(&mut self, pos: u64) -> io::Result<Arc<Window>> {
        let offset = pos - pos % ALIGN;
        match self.ahead.as_mut().and_then(|a| a.take(offset)) {
            Some(mapped) => mapped,
            None => self.file.window_at(pos),
        }
    }

    fn ask_after(&mut self, window: &Window) {
        let next = window.offset + WINDOW as u64;
        if let Some(ahead) = &mut self.ahead {
            if next < self.file.size {
                ahead.ask(next);
            }
        }
    }

    /// Lets go of a window the reader is done with. When the reader's is the last hold on it,
    /// the thread that maps ahead drops it, so that unmapping it is not the reader's work
    /// either. (When batches for the shards still hold it, the last of them unmaps it; waking
    /// the thread for nothing measured slower.)
    fn retire(&self, done: Arc<Window>) {
        if let (Some(ahead), 1) = (&self.ahead, Arc::strong_count(&done)) {
            // Sent on, or dropped here if the thread is gone.
            let _ = ahead.requests.send(Job::Retire(done));
        }
    }
}

impl Ahead {
    /// None when the file cannot be opened again or the thread cannot start: the reader then
    /// maps each window itself.
    fn start(file: &MappedFile) -> Option<Ahead> {
        let own = MappedFile {
            file: file.file.try_clone().ok()?,
            size: file.size,
        };
        let (requests, jobs) = crossbeam_channel::bounded::<Job>(2);
        let (done, ready) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name("map-ahead".into())
            .spawn(move || {
                for job in jobs {
                    let offset = match job {
                        Job::Map(offset) => offset,
                        Job::Retire(window) => {
                            drop(window);
                            continue;
                        }
                    };
                    let window = own.window_at(offset);
                    // Handed over before it is populated: a reader that gets there first
                    // maps the pages it touches itself rather than wait for the rest.
                    let populate = window.as_ref().ok().map(Arc::clone);
                    if done.send((offset, window)).is_err() {
                        break;
                    }
                    if let Some(w) = populate {
                        w.populate();
                    }
                }
            })
            .ok()?;
        Some(Ahead {
            requests,
            ready,
            asked: None,
        })
    }

    fn ask(&mut self, offset: u64) {
        if self.asked.is_none() && self.requests.send(Job::Map(offset)).is_ok() {
            self.asked = Some(offset);
        }
    }

    /// The window at `offset` if that is the one asked for (waiting for it if it is not ready
    /// yet). A window asked for and not wanted (a block ran past the next window's start) is
    /// dropped.
    fn take(&mut self, offset: u64) -> Option<io::Result<Arc<Window>>> {
        self.asked.take()?;
        let (mapped_at, window) = self.ready.recv().ok()?;
        (mapped_at == offset).then_some(window)
    }
}

impl Window {
    /// Fills in the page tables of the part blocks start in, reading from disk what the page
    /// cache does not hold; the pages past it are mapped when touched. Only a hint: where the
    /// kernel cannot (before Linux 5.14, or a page past a new end of the file) the pages are
    /// mapped when touched, as without it.
    fn populate(&self) {
        #[cfg(target_os = "linux")]
        let _ = self
            .map
            .advise_range(Advice::PopulateRead, 0, self.map.len().min(WINDOW));
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Where in the file the window starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Where `part`, a slice of this window, starts within it; None for any other slice.
    pub fn start_of(&self, part: &[u8]) -> Option<usize> {
        let base = self.map.as_ptr() as usize;
        let start = (part.as_ptr() as usize).checked_sub(base)?;
        (start.checked_add(part.len())? <= self.map.len()).then_some(start)
    }

    /// Where `part`, a slice of this window, starts in the file.
    pub fn position_of(&self, part: &[u8]) -> Option<u64> {
        Some(self.offset + self.start_of(part)? as u64)
    }
}

/// Asks the CPU to load the start of `next` (a record's header and the packet headers after it)
/// while the record before it is processed. A mapped file is not streamed through the cache as
/// `read()` copies it, so without this every record's first bytes are a wait on memory.
pub fn prefetch(next: &[u8]) {
    prefetch_line(next);
    prefetch_line(next.get(64..).unwrap_or(&[]));
}

/// Asks the CPU to load the cache line `next` starts in.
#[allow(unsafe_code)]
pub fn prefetch_line(next: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of x86_64 itself, and a prefetch is only a hint: it never faults,
        // whatever the address.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(next.as_ptr().cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = next;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::io::Write;

    #[test]
    fn windows_cover_the_file_from_a_page_boundary() {
        let mut tmp = tempfile::NamedTempFile::new().expect("temp file");
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        tmp.write_all(&data).expect("write");
        let file = MappedFile::new(tmp.reopen().expect("reopen")).unwrap_or_else(|_| panic!());
        assert_eq!(file.size(), 200_000);
        let w = file.window_at(70_000).expect("map");
        assert_eq!(w.offset(), 65_536);
        assert_eq!(w.bytes().len(), 200_000 - 65_536);
        assert_eq!(w.bytes().first(), Some(&(65_536u32 as u8)));
        let inside = &w.bytes()[10..20];
        assert_eq!(w.start_of(inside), Some(10));
        assert_eq!(w.start_of(&data[10..20]), None);
    }

    /// The windows mapped ahead are the ones the reader would map itself, also when a block
    /// ran past the start of the one asked for; the bytes are the file's.
    #[test]
    fn windows_mapped_ahead_are_the_ones_asked_for() {
        let mut tmp = tempfile::NamedTempFile::new().expect("temp file");
        let size = 3 * WINDOW + 300_000;
        let data: Vec<u8> = (0..size as u32).map(|i| (i / 7) as u8).collect();
        tmp.write_all(&data).expect("write");
        let file = MappedFile::new(tmp.reopen().expect("reopen")).unwrap_or_else(|_| panic!());
        let mut windows = Windows::new(&file);
        assert!(
            windows.ahead.is_some(),
            "a file of several windows is mapped ahead"
        );
        let w = WINDOW as u64;
        let check = |window: &Window, pos: u64| {
            let offset = pos - pos % ALIGN;
            assert_eq!(window.offset(), offset, "at {pos}");
            let start = offset as usize;
            let end = (start + WINDOW + SPILL).min(size);
            assert!(window.bytes() == &data[start..end], "bytes at {pos}");
        };
        let mut window = windows.at(0).expect("map");
        check(&window, 0);
        // In order; then a block that ran 100,000 bytes past the third window's start. Every
        // other window is still held elsewhere (as batches for the shards hold them) when the
        // reader moves on, the others are unmapped by the thread.
        let mut held = Vec::new();
        for (i, pos) in [w, 2 * w + 100_000, 3 * w + 1, 3 * w + 250_000]
            .into_iter()
            .enumerate()
        {
            if i % 2 == 0 {
                held.push(Arc::clone(&window));
            }
            window = windows.advance(window, pos).expect("map");
            check(&window, pos);
        }
        for (done, pos) in held.iter().zip([0, 2 * w + 100_000]) {
            check(done, pos);
        }
        drop(held);
        assert_eq!(window.bytes().first(), data.get(3 * WINDOW + 196_608));
    }

    /// A file that shrinks while it is read: the thread that maps ahead finds it and the
    /// reader gets its error for the window it asks for next.
    #[test]
    fn a_file_that_shrank_is_an_error_from_the_window_mapped_ahead() {
        let mut tmp = tempfile::NamedTempFile::new().expect("temp file");
        tmp.write_all(&vec![1u8; 3 * WINDOW]).expect("write");
        let file = MappedFile::new(tmp.reopen().expect("reopen")).unwrap_or_else(|_| panic!());
        let mut windows = Windows::new(&file);
        let first = windows.at(0).expect("map");
        tmp.as_file()
            .set_len(WINDOW as u64 + 100)
            .expect("truncate");
        // The second window may have been mapped before the truncation (its bytes are not
        // touched here); the third is mapped after it.
        let second = windows.at(WINDOW as u64);
        let third = windows.at(2 * WINDOW as u64);
        let e = third.err().expect("shrank");
        assert!(e.to_string().contains("shrank"), "{e}");
        drop((first, second));
    }

    #[test]
    fn a_file_that_shrank_is_an_error_not_a_signal() {
        let mut tmp = tempfile::NamedTempFile::new().expect("temp file");
        tmp.write_all(&[1u8; 10_000]).expect("write");
        let file = MappedFile::new(tmp.reopen().expect("reopen")).unwrap_or_else(|_| panic!());
        tmp.as_file().set_len(100).expect("truncate");
        let e = file.window_at(0).err().expect("shrank");
        assert!(e.to_string().contains("shrank"), "{e}");
    }

    #[test]
    fn empty_files_and_pipes_are_not_mapped() {
        let tmp = tempfile::NamedTempFile::new().expect("temp file");
        assert!(MappedFile::new(tmp.reopen().expect("reopen")).is_err());
    }
}
