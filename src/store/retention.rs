//! Retention (`--retention 7d`): deletes rows older than the window, in the writer thread
//! between batches.
//!
//! "Older" is measured against the newest packet time stored, not the wall clock: while capture
//! runs the two agree, and a replayed file keeps its own history instead of being deleted as
//! soon as it is written. Deletes go in chunks of at most `chunk` rows per table so a large
//! backlog never holds the write lock for long; the caller comes back for the rest. Every
//! table is deleted through the index on its time column. Runs are kept (`captures` is one
//! row per run).

use rusqlite::{params, Connection};

/// One chunked delete per table, through the index on its time column: `?1` is the cutoff,
/// `?2` the chunk size. Interval tables (`traffic`, `hosts`) lose an interval only once all of
/// it is older than the cutoff (`start + step <= cutoff`); WITHOUT ROWID tables pick their
/// chunk by primary key as a row value.
const DELETES: [&str; 6] = [
    "DELETE FROM packets WHERE rowid IN
     (SELECT rowid FROM packets WHERE timestamp < ?1 LIMIT ?2)",
    "DELETE FROM flows WHERE rowid IN
     (SELECT rowid FROM flows WHERE end_ts < ?1 LIMIT ?2)",
    "DELETE FROM alerts WHERE rowid IN
     (SELECT rowid FROM alerts WHERE ts < ?1 LIMIT ?2)",
    "DELETE FROM traffic WHERE (resolution, t, capture_id) IN
     (SELECT resolution, t, capture_id FROM traffic
      WHERE resolution = 'second' AND t <= ?1 - 1 LIMIT ?2)",
    "DELETE FROM traffic WHERE (resolution, t, capture_id) IN
     (SELECT resolution, t, capture_id FROM traffic
      WHERE resolution = 'minute' AND t <= ?1 - 60 LIMIT ?2)",
    "DELETE FROM hosts WHERE (minute, ip, capture_id) IN
     (SELECT minute, ip, capture_id FROM hosts WHERE minute <= ?1 - 60 LIMIT ?2)",
];

/// Deletes up to `chunk` rows per table older than `cutoff` (seconds since the epoch), in one
/// transaction. Returns the rows deleted and whether any table may have more.
pub fn sweep(conn: &Connection, cutoff: f64, chunk: usize) -> rusqlite::Result<(u64, bool)> {
    let tx = conn.unchecked_transaction()?;
    let mut deleted = 0u64;
    let mut more = false;
    let limit = i64::try_from(chunk).unwrap_or(i64::MAX);
    for sql in DELETES {
        let n = tx.prepare_cached(sql)?.execute(params![cutoff, limit])?;
        deleted += n as u64;
        more |= n == chunk;
    }
    tx.commit()?;
    Ok((deleted, more))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn deletes_only_old_rows_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let mut conn = Connection::open(&path).unwrap();
        crate::store::schema::migrate(&mut conn, &path).unwrap();
        for t in 0..100 {
            conn.execute(
                "INSERT INTO packets (capture_id, timestamp, protocol, length) VALUES (1, ?1, 'TCP', 60)",
                [f64::from(t) * 100.0],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO traffic VALUES (1, 'minute', ?1, 1, 1, 0, 1, 0, 0, 0)",
                [t * 100],
            )
            .unwrap();
        }
        // Keep the last 1000 s of 0..9900.
        let cutoff = 9900.0 - 1000.0;
        let (n, more) = sweep(&conn, cutoff, 30).unwrap();
        assert!(more);
        assert_eq!(n, 60);
        while sweep(&conn, cutoff, 30).unwrap().1 {}
        let left: i64 = conn
            .query_row("SELECT count(*) FROM packets", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 11); // 8900..=9900
        let oldest: i64 = conn
            .query_row("SELECT min(t) FROM traffic", [], |r| r.get(0))
            .unwrap();
        // The interval starting at 8800 ended at 8860, before the cutoff; 8900 is still in.
        assert_eq!(oldest, 8900);
    }
}
