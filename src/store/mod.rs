//! History: one embedded SQLite file (rusqlite with SQLite bundled, so no system SQLite is
//! needed) that the `sqlite3` shell can open. A capture writes flow records, optional per-packet
//! summaries, traffic series, per-host-minute counters and one row per run through a dedicated
//! writer thread; `netlens report|chart|export` read it back.
//!
//! - [`schema`]: the tables, `PRAGMA user_version` and forward-only migrations;
//! - [`writer`]: [`StoreWriter`], the thread that batches rows into transactions;
//! - [`recorder`]: [`Recording`], a run being recorded, and [`Recorder`], what turns a running
//!   [`Engine`] into writer messages — the one path used by [`ingest_file`], by live capture and
//!   by each `--workers` shard;
//! - [`query`]: what the history commands ask; [`retention`]: deleting rows past `--retention`.
//!
//! Invariants: a second *writing* netlens on the same file fails at startup with one line (an
//! exclusive lock on `<db>-netlens.lock`, see [`open_writer`]); readers never take that lock and
//! work while a writer runs (WAL mode); a database from a newer schema is refused, never
//! modified.

pub mod query;
pub mod recorder;
pub mod retention;
pub mod schema;
pub mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use self::recorder::{Recorder, RecorderOptions, Recording};
pub use self::writer::{
    AlertRow, Backpressure, CaptureEnd, CaptureRow, HostMinute, PacketRow, Resolution, RowCounts,
    StoreMsg, StoreWriter, WriterOptions, WriterSummary,
};
use crate::capture::file::{self, FileError, ReadError};
use crate::capture::Flow;
use crate::engine::{Engine, EngineConfig};
use crate::ui::console::report::Drops;

/// How long a connection waits for another one's lock before giving up. Readers wait for a
/// writer's commit (short: one batch); the writer waits for a reader's checkpoint-blocking read.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// WAL pages (4 KiB each) between checkpoints: 64 MiB, a few seconds of packet rows.
pub const WAL_PAGES: i64 = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: no such database (a capture with --db FILE creates it)")]
    Missing { path: String },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("{path} is not an SQLite database")]
    NotSqlite { path: String },
    #[error("{path} is an SQLite database, but not one netlens wrote (no netlens schema in it)")]
    NotNetlens { path: String },
    #[error("{path} was written by a newer netlens (schema version {found}; this netlens knows up to {supported}): use that netlens or a newer one")]
    NewerSchema {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("another netlens is already writing to {path} (it holds {lock}): stop it, or give this one another --db")]
    Locked { path: String, lock: String },
    #[error("database {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("database {path}: writing failed: {message}")]
    Write { path: String, message: String },
    #[error("the database writer thread for {path} stopped unexpectedly")]
    WriterPanicked { path: String },
    #[error("{0}")]
    Capture(String),
}

impl StoreError {
    fn sqlite(path: &Path, source: rusqlite::Error) -> Self {
        // SQLITE_NOTADB surfaces on the first statement, not at open.
        if let rusqlite::Error::SqliteFailure(e, _) = &source {
            if e.code == rusqlite::ErrorCode::NotADatabase {
                return StoreError::NotSqlite {
                    path: path.display().to_string(),
                };
            }
        }
        StoreError::Sqlite {
            path: path.display().to_string(),
            source,
        }
    }
}

/// The lock file that keeps a second writer out: `<db>-netlens.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push("-netlens.lock");
    PathBuf::from(s)
}

/// Held for as long as a writer runs; dropping it releases the lock.
///
/// The lock is an SQLite database of its own opened with `locking_mode=EXCLUSIVE` and written
/// once: SQLite then keeps its exclusive file lock until the connection closes, and the operating
/// system releases it when the process dies, so a crash never leaves a stale lock. (The
/// std `File::try_lock` would do the same but needs a newer Rust than our MSRV, and `flock`
/// needs `unsafe`.) The lock file is left in place on exit: deleting it would let two writers
/// lock two different files of the same name.
pub struct WriterLock {
    _conn: Connection,
}

fn take_writer_lock(db: &Path) -> Result<WriterLock, StoreError> {
    let lock = lock_path(db);
    let locked = || StoreError::Locked {
        path: db.display().to_string(),
        lock: lock.display().to_string(),
    };
    let conn = Connection::open(&lock).map_err(|source| StoreError::Open {
        path: lock.display().to_string(),
        source,
    })?;
    let result = (|| -> rusqlite::Result<()> {
        conn.busy_timeout(Duration::ZERO)?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        // No journal: the lock file holds nothing worth recovering, and no journal file appears.
        let _: String = conn.query_row("PRAGMA journal_mode=OFF", [], |r| r.get(0))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS writer (pid INTEGER, since REAL);
             DELETE FROM writer;",
        )?;
        conn.execute(
            "INSERT INTO writer VALUES (?1, unixepoch('subsec'))",
            [std::process::id()],
        )?;
        Ok(())
    })();
    match result {
        Ok(()) => Ok(WriterLock { _conn: conn }),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Err(locked())
        }
        Err(source) => Err(StoreError::Sqlite {
            path: lock.display().to_string(),
            source,
        }),
    }
}

/// Opens (creating if needed) `path` for writing: takes the writer lock, sets WAL mode and
/// migrates the schema forward. Fails with one clear error for a second writer, a newer schema,
/// or a file that is not a netlens database.
pub fn open_writer(path: &Path) -> Result<(Connection, WriterLock), StoreError> {
    let lock = take_writer_lock(path)?;
    let mut conn = Connection::open(path).map_err(|source| StoreError::Open {
        path: path.display().to_string(),
        source,
    })?;
    let setup = |conn: &Connection| -> rusqlite::Result<()> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers (report, export) never block the writer and see committed batches.
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        // In WAL mode NORMAL never corrupts; a power cut may lose the last commits only.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Sorts and temporary tables stay in memory: a confined run may write only beside the
        // database (see `sandbox`), not in /tmp.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // With NORMAL the only fsyncs are at checkpoints, and on a plain disk they, not SQLite,
        // set the pace (the default checkpoint every 1000 pages halved the packet-row rate).
        // Checkpoint every WAL_PAGES pages instead, and trim the WAL back to that size after.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_PAGES)?;
        let _: i64 = conn.query_row(
            &format!("PRAGMA journal_size_limit = {}", WAL_PAGES * 4096),
            [],
            |r| r.get(0),
        )?;
        Ok(())
    };
    setup(&conn).map_err(|e| StoreError::sqlite(path, e))?;
    schema::migrate(&mut conn, path)?;
    Ok((conn, lock))
}

/// Opens `path` for reading (report, export, chart): never creates it, never takes the writer
/// lock, so it works while a capture writes. An older schema is migrated forward first.
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::Missing {
            path: path.display().to_string(),
        });
    }
    let open = |flags| {
        Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })
    };
    let conn = open(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| StoreError::sqlite(path, e))?;
    match schema::check(&conn, path)? {
        schema::Status::Current => Ok(conn),
        schema::Status::Old => {
            // Forward migrations need a read-write connection; then read as usual.
            drop(conn);
            let mut rw = open(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            rw.busy_timeout(BUSY_TIMEOUT)
                .map_err(|e| StoreError::sqlite(path, e))?;
            schema::migrate(&mut rw, path)?;
            Ok(rw)
        }
    }
}

/// Options of [`ingest_file_with`].
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// One `packets` row per frame (`--store-packets`).
    pub store_packets: bool,
    pub engine: EngineConfig,
    /// Delete rows older than this before the newest stored traffic.
    pub retention: Option<Duration>,
}

/// What an ingest did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Frames read from the capture.
    pub frames: u64,
    /// Flow records the engine emitted.
    pub records: u64,
    /// Rows written per table, and rows dropped.
    pub writer: WriterSummary,
    /// The capture was damaged or cut short after `frames` frames (what was read is stored).
    pub capture_error: Option<String>,
}

/// Reads the capture at `pcap` through the engine and stores everything, packets included, in
/// the database at `db` (created if needed). See [`ingest_file_with`].
pub fn ingest_file(pcap: &str, db: &Path) -> Result<Summary, StoreError> {
    ingest_file_with(
        pcap,
        db,
        &IngestOptions {
            store_packets: true,
            ..IngestOptions::default()
        },
    )
}

/// Reads the capture at `pcap` (`-` for standard input) with the same per-frame path as live
/// capture — decode, then [`Recorder::process`] (which runs [`Engine::process`]) — and stores
/// the result in `db`.
/// Files apply back-pressure instead of dropping rows: nothing is lost waiting for a file.
pub fn ingest_file_with(
    pcap: &str,
    db: &Path,
    options: &IngestOptions,
) -> Result<Summary, StoreError> {
    let writer = StoreWriter::open(
        db,
        WriterOptions {
            backpressure: Backpressure::Block,
            retention: options.retention,
            ..WriterOptions::default()
        },
    )?;
    let mut engine = Engine::new(options.engine.clone());
    let run = Recording::start(
        writer,
        CaptureRow {
            source: pcap.to_string(),
            filter: None,
            interfaces: Vec::new(),
        },
    );
    let mut recorder = Recorder::start(
        run.sender(),
        &mut engine,
        RecorderOptions {
            store_packets: options.store_packets,
        },
    );
    let mut frames = 0u64;
    let result = file::read(pcap, &mut |frame| {
        let packet = wire::decode(frame.link, frame.data);
        recorder.process(frame, &packet, &mut engine);
        frames += 1;
        Ok(Flow::Continue)
    });
    recorder.flush(&mut engine);
    let capture_error = match result {
        Ok(_) => None,
        Err(ReadError::File(
            e @ (FileError::Open { .. } | FileError::Empty(_) | FileError::NotACapture(_)),
        )) => {
            // Nothing was read: record the failed run anyway, so the database stays consistent.
            let _ = run.finish(&engine.stats, Drops::default());
            return Err(StoreError::Capture(e.to_string()));
        }
        Err(e) => Some(e.to_string()),
    };
    let writer = run.finish(&engine.stats, Drops::default())?;
    Ok(Summary {
        frames,
        records: engine.records_total,
        writer,
        capture_error,
    })
}
