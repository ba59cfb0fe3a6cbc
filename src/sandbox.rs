//! File-system confinement with Landlock (Linux 5.13+): once the capture is open, netlens may
//! create and write files only in the folders of its outputs (`--db`, `-w`, `--jsonl`), and may
//! run no program at all. A bug in a decoder fed hostile packets then cannot overwrite a user's
//! files or start a shell.
//!
//! Reading stays open: everything netlens reads after set-up (the capture file, `/proc`,
//! `/sys/class/net` counters) is already named or open, and a read-only leak is not what this
//! guards against. SQLite needs its folder, not just its file: it creates and removes the `-wal`,
//! `-shm` and lock files beside the database.
//!
//! Landlock restricts the calling thread and the threads it starts afterwards. netlens confines
//! the main thread before it starts the writer, signal and shard threads; on kernels with
//! Landlock ABI 8 the rule also reaches threads started earlier (the web server's). Where the
//! kernel has no Landlock the run goes on unconfined, as it would on another OS.

use std::path::{Path, PathBuf};

use landlock::{
    path_beneath_rules, AccessFs, BitFlags, RestrictSelfAttr, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, ABI,
};

/// How far the confinement went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    /// Every requested restriction is in force.
    Full,
    /// The kernel knows an older Landlock: some rights (e.g. truncation before Linux 6.2) stay
    /// open.
    Partial,
    /// No Landlock in this kernel (or it is disabled at boot).
    Unsupported,
}

/// The folders an output at `path` writes in: its parent (the current folder for a bare name).
/// A `-G` name is a strftime pattern; its folders may change with time, so the rule goes on the
/// deepest folder whose name holds no `%`.
pub fn output_folder(path: &str) -> PathBuf {
    let mut folder = Path::new(path).parent().unwrap_or(Path::new(""));
    while folder.to_string_lossy().contains('%') {
        folder = folder.parent().unwrap_or(Path::new(""));
    }
    if folder.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        folder.to_path_buf()
    }
}

/// Confines file writes to beneath `writable` and forbids running programs, for this thread and
/// the threads it starts (all threads when the kernel can: pass `all_threads`). Folders that do
/// not exist are skipped: nothing can be created in them anyway.
pub fn confine(writable: &[PathBuf], all_threads: bool) -> Result<Confinement, String> {
    let fail = |e: landlock::RulesetError| format!("cannot confine file access (Landlock): {e}");
    // The newest ABI this code knows; the crate drops what the running kernel lacks.
    let abi = ABI::V3;
    let handled: BitFlags<AccessFs> = AccessFs::from_write(abi) | AccessFs::Execute;
    let allowed = AccessFs::from_write(abi);
    let status = Ruleset::default()
        .handle_access(handled)
        .map_err(fail)?
        .create()
        .map_err(fail)?
        .add_rules(path_beneath_rules(writable, allowed))
        .map_err(fail)?
        .all_threads(all_threads)
        .map_err(fail)?
        .restrict_self()
        .map_err(fail)?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Confinement::Full,
        RulesetStatus::PartiallyEnforced => Confinement::Partial,
        RulesetStatus::NotEnforced => Confinement::Unsupported,
    })
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn output_folders() {
        assert_eq!(output_folder("netlens.db"), PathBuf::from("."));
        assert_eq!(
            output_folder("/var/lib/netlens/h.db"),
            PathBuf::from("/var/lib/netlens")
        );
        assert_eq!(output_folder("caps/%Y/%m/x-%H.pcap"), PathBuf::from("caps"));
        assert_eq!(output_folder("%Y/x.pcap"), PathBuf::from("."));
    }

    /// On its own thread, so the rest of the test binary stays unconfined (without ABI 8,
    /// Landlock restricts only the calling thread).
    #[test]
    fn writes_only_beneath_the_output_folders() {
        let allowed = tempfile::tempdir().expect("tempdir");
        let other = tempfile::tempdir().expect("tempdir");
        let (a, o) = (allowed.path().to_path_buf(), other.path().to_path_buf());
        let outcome = std::thread::spawn(move || {
            let state = confine(std::slice::from_ref(&a), false).expect("confine");
            let inside = std::fs::write(a.join("ok.db"), b"x");
            let outside = std::fs::write(o.join("no.db"), b"x");
            let exec = std::process::Command::new("/bin/true").status();
            (state, inside.is_ok(), outside.err(), exec.err())
        })
        .join()
        .expect("thread");
        let (state, inside, outside, exec) = outcome;
        if state == Confinement::Unsupported {
            eprintln!("this kernel has no Landlock: nothing to check");
            return;
        }
        assert!(inside, "writing beneath the allowed folder must work");
        let denied = |e: Option<std::io::Error>| {
            e.is_some_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
        };
        assert!(denied(outside), "a write elsewhere must be refused");
        assert!(denied(exec), "running a program must be refused");
        // Only the confined thread was restricted.
        std::fs::write(other.path().join("free.db"), b"x").expect("main thread writes freely");
    }
}
