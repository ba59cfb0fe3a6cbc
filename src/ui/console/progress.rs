//! The progress bar for reading a capture file: bytes read of the file's size, packets per
//! second and the time left, on stderr. Only for a person watching: stderr must be a terminal,
//! the file a regular file, and the bar appears at once for a large file (64 MiB or more), for
//! a smaller one only once reading has taken a second, so small files never flash one.

use std::io::{self, IsTerminal};
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
    started: Instant,
    shown: bool,
    large: bool,
    frames: u64,
}

impl Progress {
    /// A bar for a file of `size` bytes, when one should be shown at all; the reader says where
    /// it is with [`Progress::frame_at`]. `stdout_shared`: packet lines go to the same terminal
    /// (a bar would tear them).
    pub fn for_size(size: Option<u64>, stdout_shared: bool) -> Option<Progress> {
        let wanted = io::stderr().is_terminal() && !stdout_shared;
        match size {
            Some(size) if wanted && size > 0 => {
                let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::hidden());
                let style = ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {bytes}/{total_bytes} {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                Some(Progress {
                    bar,
                    started: Instant::now(),
                    shown: false,
                    large: size >= LARGE,
                    frames: 0,
                })
            }
            _ => None,
        }
    }

    /// Called once per frame, at byte `position` of the file.
    pub fn frame_at(&mut self, position: u64) {
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
        self.bar.set_position(position);
    }

    /// Removes the bar before the report is printed.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
