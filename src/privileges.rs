//! Least privilege: once the capture is open, netlens needs no special rights, so it gives them
//! up before it reads a single packet — as tcpdump does with `-Z`.
//!
//! - Started as root: switch to `-Z USER` (or, under sudo, to the user who ran sudo, from
//!   `SUDO_UID`/`SUDO_GID`), with that user's groups. `-Z root` keeps root. The switch changes the
//!   real, effective and saved IDs, so it cannot be undone, and the kernel clears every
//!   capability with it. Output files (`--db`, `-w`, `--jsonl`) are opened after the switch, so
//!   they belong to that user.
//! - Not root but with file capabilities (`setcap cap_net_raw,cap_net_admin=eip netlens`): the
//!   capabilities are cleared.
//! - Either way `no_new_privs` is set: nothing netlens could start would gain privileges.

use std::ffi::CString;

use caps::CapSet;
use nix::unistd::{self, Gid, Uid, User};

/// Who to become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `-Z USER`.
    Named(String),
    /// The user who ran sudo.
    Sudo { uid: u32, gid: u32 },
    /// `-Z root`, or not started as root: keep the user.
    Stay,
}

/// What was done, for the start-up banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// Now running as this user.
    To {
        user: String,
        uid: u32,
    },
    /// Capabilities cleared, user unchanged.
    Capabilities,
    Nothing,
}

/// The target from `-Z` and the environment.
pub fn target(flag: Option<&str>) -> Target {
    match flag {
        Some("root") => Target::Stay,
        Some(user) => Target::Named(user.to_string()),
        None => {
            let id = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
            match (id("SUDO_UID"), id("SUDO_GID")) {
                (Some(uid), Some(gid)) if uid != 0 => Target::Sudo { uid, gid },
                _ => Target::Stay,
            }
        }
    }
}

/// Checks a `-Z` user before anything is opened, so a typo fails at once.
pub fn check(target: &Target) -> Result<(), String> {
    if let Target::Named(name) = target {
        lookup(name)?;
    }
    Ok(())
}

fn lookup(name: &str) -> Result<User, String> {
    match User::from_name(name) {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(format!(
            "-Z {name}: no such user (give an existing account, e.g. nobody; -Z root keeps root)"
        )),
        Err(e) => Err(format!("-Z {name}: cannot look the user up: {e}")),
    }
}

/// Gives up privileges (see the module comment). Call after the capture is open and before any
/// output file is.
pub fn drop_privileges(target: &Target) -> Result<Dropped, String> {
    let dropped = if unistd::geteuid().is_root() {
        match target {
            Target::Stay => Dropped::Nothing,
            Target::Named(name) => {
                let user = lookup(name)?;
                switch(&user.name, user.uid, user.gid)?
            }
            Target::Sudo { uid, gid } => {
                let uid = Uid::from_raw(*uid);
                let name = match User::from_uid(uid) {
                    Ok(Some(u)) => u.name,
                    _ => uid.to_string(),
                };
                switch(&name, uid, Gid::from_raw(*gid))?
            }
        }
    } else if has_capabilities() {
        for set in [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable] {
            caps::clear(None, set).map_err(|e| format!("cannot drop capabilities: {e}"))?;
        }
        Dropped::Capabilities
    } else {
        Dropped::Nothing
    };
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("cannot set no_new_privs: {e}"))?;
    Ok(dropped)
}

fn has_capabilities() -> bool {
    caps::read(None, CapSet::Permitted).is_ok_and(|set| !set.is_empty())
}

fn switch(name: &str, uid: Uid, gid: Gid) -> Result<Dropped, String> {
    let fail = |what: &str, e: nix::Error| format!("cannot switch to user {name}: {what}: {e}");
    // The user's own supplementary groups (e.g. a `pcap` group), else just its primary group.
    let groups = CString::new(name).ok();
    match groups {
        Some(c) if User::from_name(name).ok().flatten().is_some() => {
            unistd::initgroups(&c, gid).map_err(|e| fail("initgroups", e))?
        }
        _ => unistd::setgroups(&[gid]).map_err(|e| fail("setgroups", e))?,
    }
    unistd::setgid(gid).map_err(|e| fail("setgid", e))?;
    unistd::setuid(uid).map_err(|e| fail("setuid", e))?;
    // setuid from root sets the saved ID too; prove there is no way back.
    if unistd::setuid(Uid::from_raw(0)).is_ok() || unistd::geteuid() != uid {
        return Err(format!(
            "cannot switch to user {name}: root could be regained"
        ));
    }
    Ok(Dropped::To {
        user: name.to_string(),
        uid: uid.as_raw(),
    })
}

impl Dropped {
    /// The banner line, if anything changed.
    pub fn banner(&self) -> Option<String> {
        match self {
            Dropped::To { user, uid } => Some(format!(
                "netlens: running as {user} (uid {uid}) from here on; -Z root keeps root"
            )),
            Dropped::Capabilities => {
                Some("netlens: capture open; capabilities dropped".to_string())
            }
            Dropped::Nothing => None,
        }
    }
}
