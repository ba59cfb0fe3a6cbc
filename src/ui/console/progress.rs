//! The progress bar for reading a capture file: bytes read of the file's size, packets per
//! second and the time left, on stderr. Only for a person watching: stderr must be a terminal,
//! the file a regular file, and the bar appears at once for a large file (64 MiB or more), for
//! a smaller one only once reading has taken a second, so small files never flash one.

use std::io::{self, IsTerminal, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a read of a smaller file runs before the bar shows.
const DELAY: Duration = Duration::from_secs(1);
/// Files from this size on show the bar from the start.
const LARGE: u64 = 64 << 20;
/// Frames between updates: cheap enough to ignore, frequent enough to look smooth.
const EVERY: u64 = 4096;

pub struct Progress {
    bar: ProgressBar,
    read: Arc<AtomicU64>,
    started: Instant,
    shown: bool,
    large: bool,
    frames: u64,
}

/// Counts the bytes read through it.
pub struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Progress {
    /// A bar for a file of `size` bytes read through the returned reader, when one should be
    /// shown at all. `stdout_shared`: packet lines go to the same terminal (a bar would tear
    /// them).
    pub fn for_file<R: Read>(
        input: R,
        size: Option<u64>,
        stdout_shared: bool,
    ) -> (Counting<R>, Option<Progress>) {
        let read = Arc::new(AtomicU64::new(0));
        let counting = Counting {
            inner: input,
            read: Arc::clone(&read),
        };
        let wanted = io::stderr().is_terminal() && !stdout_shared;
        let progress = match size {
            Some(size) if wanted && size > 0 => {
                let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::hidden());
                let style = ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {bytes}/{total_bytes} {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                Some(Progress {
                    bar,
                    read,
                    started: Instant::now(),
                    shown: false,
                    large: size >= LARGE,
                    frames: 0,
                })
            }
            _ => None,
        };
        (counting, progress)
    }

    /// Called once per frame.
    pub fn frame(&mut self) {
        self.frames += 1;
        if self.frames % EVERY != 0 {
            return;
        }
        let elapsed = self.started.elapsed();
        if !self.shown {
            if elapsed < DELAY && !self.large {
                return;
            }
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        let pps = self.frames as f64 / elapsed.as_secs_f64().max(1e-3);
        self.bar.set_message(format!("{:.0} packets/s", pps));
        self.bar.set_position(self.read.load(Ordering::Relaxed));
    }

    /// Removes the bar before the report is printed.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
