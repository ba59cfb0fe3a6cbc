//! The history schema and its forward-only migrations.
//!
//! The version lives in `PRAGMA user_version` (0 = empty file); `PRAGMA application_id` marks the
//! file as netlens's so `file(1)`-like checks and our own readers can tell it from other SQLite
//! databases. Migration N takes version N to N+1 and is never edited once released: a change is a
//! new migration appended to [`MIGRATIONS`]. A file whose version is newer than this netlens
//! knows is refused, never touched.
//!
//! Times: `REAL` seconds since the Unix epoch (microsecond precision, so `datetime(ts,
//! 'unixepoch')` works in the `sqlite3` shell) for instants; `INTEGER` seconds for the start of a
//! series interval or host minute. Addresses are text as people write them.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// `PRAGMA application_id`: "NLNS" in ASCII.
pub const APPLICATION_ID: i64 = 0x4E4C_4E53;

/// Each entry takes the schema from its index to index + 1.
pub const MIGRATIONS: &[&str] = &[V1];

/// The version this netlens writes and reads.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Version 1: the first schema.
const V1: &str = "
-- One row per run of netlens that wrote here.
CREATE TABLE captures (
    id              INTEGER PRIMARY KEY,
    source          TEXT NOT NULL,      -- file path, or 'live: eth0, wlan0'
    filter          TEXT,
    interfaces      TEXT,               -- comma-separated names (live capture)
    started_at      REAL NOT NULL,      -- wall clock
    ended_at        REAL,               -- wall clock; NULL while running (or after a crash)
    first_ts        REAL,               -- first and last packet time
    last_ts         REAL,
    packets         INTEGER,
    bytes           INTEGER,
    drops_kernel    INTEGER,
    drops_interface INTEGER,
    drops_internal  INTEGER,
    store_dropped   INTEGER,            -- rows the writer could not keep up with
    netlens_version TEXT NOT NULL
);

-- One row per finished flow record (a long flow may be several slices: end_reason 'active').
CREATE TABLE flows (
    id              INTEGER PRIMARY KEY,
    capture_id      INTEGER NOT NULL,
    start_ts        REAL NOT NULL,
    end_ts          REAL NOT NULL,
    protocol        TEXT NOT NULL,      -- TCP, UDP, ICMP, ICMP6, ...
    ip_proto        INTEGER NOT NULL,
    vlan            INTEGER NOT NULL,   -- 0 when untagged
    client_ip       TEXT NOT NULL,      -- the initiator
    client_port     INTEGER NOT NULL,
    server_ip       TEXT NOT NULL,
    server_port     INTEGER NOT NULL,
    service_port    INTEGER,            -- the port naming the service (TCP/UDP), as in top ports
    app             TEXT NOT NULL,      -- application label (payload evidence, else by port)
    name            TEXT,               -- TLS SNI, HTTP Host or DNS question
    client_packets  INTEGER NOT NULL,
    client_bytes    INTEGER NOT NULL,
    server_packets  INTEGER NOT NULL,
    server_bytes    INTEGER NOT NULL,
    packets         INTEGER NOT NULL,
    bytes           INTEGER NOT NULL,
    tcp_state       TEXT NOT NULL,
    client_flags    TEXT,               -- union of TCP flags per direction, tcpdump letters
    server_flags    TEXT,
    retransmissions INTEGER NOT NULL,
    end_reason      TEXT NOT NULL,      -- idle, tcp_closed, dns_answered, echo_answered,
                                        -- ntp_answered, icmp_error, active, evicted,
                                        -- shutdown
    iface           TEXT                -- interface name, or its pcapng index
);
-- A record belongs to the time it ended (when it was emitted): ranges and retention use end_ts.
CREATE INDEX flows_end ON flows (end_ts);
CREATE INDEX flows_client ON flows (client_ip, end_ts);
CREATE INDEX flows_server ON flows (server_ip, end_ts);

-- One summary row per packet, only with --store-packets.
CREATE TABLE packets (
    id          INTEGER PRIMARY KEY,
    capture_id  INTEGER NOT NULL,
    timestamp   REAL NOT NULL,
    src_ip      TEXT,                   -- NULL for non-IP frames (ARP: sender/target address)
    dst_ip      TEXT,
    protocol    TEXT NOT NULL,          -- TCP, UDP, ICMP, ICMP6, ARP, other IP protocols, ...
    src_port    INTEGER,
    dst_port    INTEGER,
    length      INTEGER NOT NULL,       -- on the wire
    flags       TEXT,                   -- TCP flags, tcpdump letters
    app         TEXT                    -- dns, http, tls, ftp, ssh when the payload said so
);
CREATE INDEX packets_ts ON packets (timestamp);

-- Traffic per second and per minute, split by transport. Upserted while an interval fills.
CREATE TABLE traffic (
    capture_id  INTEGER NOT NULL,
    resolution  TEXT NOT NULL CHECK (resolution IN ('second', 'minute')),
    t           INTEGER NOT NULL,       -- interval start
    packets     INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    new_flows   INTEGER NOT NULL,
    tcp         INTEGER NOT NULL,
    udp         INTEGER NOT NULL,
    icmp        INTEGER NOT NULL,       -- ICMP and ICMPv6
    other       INTEGER NOT NULL,       -- other transports and non-IP frames
    PRIMARY KEY (resolution, t, capture_id)
) WITHOUT ROWID;

-- Per host and minute.
CREATE TABLE hosts (
    capture_id  INTEGER NOT NULL,
    minute      INTEGER NOT NULL,       -- minute start
    ip          TEXT NOT NULL,
    packets_in  INTEGER NOT NULL,
    bytes_in    INTEGER NOT NULL,
    packets_out INTEGER NOT NULL,
    bytes_out   INTEGER NOT NULL,
    names       TEXT,                   -- comma-separated, learned passively (DNS, SNI, Host)
    local       INTEGER NOT NULL,       -- 1 inside --home-net
    PRIMARY KEY (minute, ip, capture_id)
) WITHOUT ROWID;
CREATE INDEX hosts_ip ON hosts (ip, minute);

-- Filled by the detectors.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    capture_id  INTEGER NOT NULL,
    ts          REAL NOT NULL,
    detector    TEXT NOT NULL,
    severity    TEXT NOT NULL,
    src         TEXT,
    dst         TEXT,
    summary     TEXT NOT NULL,
    count       INTEGER NOT NULL DEFAULT 1,
    evidence    TEXT                    -- JSON
);
CREATE INDEX alerts_ts ON alerts (ts);
";

/// What a reader found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Current,
    /// An older netlens wrote it: migrate before reading.
    Old,
}

fn version(conn: &Connection, path: &Path) -> Result<(i64, i64, i64), StoreError> {
    let q = |sql: &str| -> Result<i64, StoreError> {
        conn.query_row(sql, [], |r| r.get(0))
            .map_err(|e| StoreError::sqlite(path, e))
    };
    let version = q("PRAGMA user_version")?;
    let app = q("PRAGMA application_id")?;
    let tables = q("SELECT count(*) FROM sqlite_schema WHERE type = 'table'")?;
    Ok((version, app, tables))
}

fn newer(path: &Path, found: i64) -> StoreError {
    StoreError::NewerSchema {
        path: path.display().to_string(),
        found,
        supported: VERSION,
    }
}

/// Checks a database for reading: netlens's, and a version this netlens knows.
pub fn check(conn: &Connection, path: &Path) -> Result<Status, StoreError> {
    let (v, app, _) = version(conn, path)?;
    if v == 0 || app != APPLICATION_ID {
        return Err(StoreError::NotNetlens {
            path: path.display().to_string(),
        });
    }
    if v > VERSION {
        return Err(newer(path, v));
    }
    Ok(if v < VERSION {
        Status::Old
    } else {
        Status::Current
    })
}

/// Brings the schema to [`VERSION`]: creates it in an empty file, applies the missing
/// migrations in one transaction (all or nothing), refuses newer versions and foreign files.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    // IMMEDIATE: take the write lock before reading the version, so two processes opening a
    // fresh file cannot both decide to create the tables.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let (v, app, tables) = version(&tx, path)?;
    if v > VERSION {
        return Err(newer(path, v));
    }
    if (v == 0 && tables > 0) || (v > 0 && app != APPLICATION_ID) {
        return Err(StoreError::NotNetlens {
            path: path.display().to_string(),
        });
    }
    if v == VERSION {
        return Ok(());
    }
    for sql in MIGRATIONS.iter().skip(v as usize) {
        tx.execute_batch(sql).map_err(err)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(err)?;
    tx.pragma_update(None, "user_version", VERSION)
        .map_err(err)?;
    tx.commit().map_err(err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn creates_then_is_idempotent_and_refuses_newer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &path).unwrap();
        assert_eq!(check(&conn, &path).unwrap(), Status::Current);
        migrate(&mut conn, &path).unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        let e = migrate(&mut conn, &path).unwrap_err().to_string();
        assert!(e.contains("newer netlens"), "{e}");
        let e = check(&conn, &path).unwrap_err().to_string();
        assert!(e.contains("newer netlens"), "{e}");
    }

    #[test]
    fn refuses_foreign_databases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        let e = migrate(&mut conn, &path).unwrap_err().to_string();
        assert!(e.contains("not one netlens wrote"), "{e}");
    }
}
