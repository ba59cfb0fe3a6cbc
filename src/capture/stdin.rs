//! Standard input read on a thread of its own, so that Ctrl-C or SIGTERM ends a run even while
//! the pipe is idle (`tcpdump -w - | netlens -r -` with no traffic): a blocking `read` would
//! otherwise wait for the next byte before the stop could be seen.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};

/// Bytes per chunk handed over, and chunks in flight: 1 MiB of read-ahead at most.
const CHUNK: usize = 64 * 1024;
const CHUNKS: usize = 16;

pub struct StoppableStdin {
    chunks: Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
    stop: Arc<AtomicBool>,
}

impl StoppableStdin {
    /// Starts the reading thread. When `stop` is set and no data is waiting, reads return end
    /// of input.
    pub fn spawn(stop: Arc<AtomicBool>) -> StoppableStdin {
        let (tx, rx) = bounded(CHUNKS);
        // The thread ends at end of input, or when the receiver is gone after the next read
        // (a blocked read on a pipe keeps it until process exit, which is harmless).
        std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                let mut stdin = io::stdin().lock();
                loop {
                    let mut buf = vec![0u8; CHUNK];
                    match stdin.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            buf.truncate(n);
                            if tx.send(Ok(buf)).is_err() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            break;
                        }
                    }
                }
            })
            .ok();
        StoppableStdin {
            chunks: rx,
            current: Vec::new(),
            pos: 0,
            stop,
        }
    }
}

impl Read for StoppableStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.current.len() {
            match self.chunks.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
                Err(RecvTimeoutError::Timeout) => {
                    if self.stop.load(Ordering::Relaxed) {
                        return Ok(0);
                    }
                }
            }
        }
        let rest = self.current.get(self.pos..).unwrap_or(&[]);
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}
