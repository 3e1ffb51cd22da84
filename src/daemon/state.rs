//! What the daemon restores at start: the scheduler, mode and parameters
//! last started through it (or none after a stop), in a JSON file written
//! atomically (temporary file, fsync, rename, directory fsync).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::protocol::{DaemonError, Spec};

/// Where the state lives on an installed system.
pub const STATE_FILE: &str = "/var/lib/scxpack/daemon.json";

/// The saved state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedState {
    /// What to start at boot (None: nothing).
    pub scheduler: Option<Spec>,
}

/// Reads the state; a missing file is no state.
pub fn load(path: &Path) -> Result<SavedState, DaemonError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SavedState::default()),
        Err(e) => return Err(state_error(path, &e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| state_error(path, &e))
}

/// Writes the state atomically, creating its directory.
pub fn save(path: &Path, state: &SavedState) -> Result<(), DaemonError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| state_error(dir, &e))?;
    }
    let mut json = serde_json::to_vec_pretty(state).map_err(|e| state_error(path, &e))?;
    json.push(b'\n');
    crate::package::install::write_atomically(path, &json).map_err(|e| state_error(path, &e))
}

/// The scheduler and mode `/etc/default/scxpack` chooses
/// (`SCXPACK_SCHEDULER=NAME`, `--mode M` in `SCXPACK_ARGS`).
#[must_use]
pub fn parse_default(text: &str) -> Option<Spec> {
    let value = |key: &str| {
        text.lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
    };
    let scheduler = value("SCXPACK_SCHEDULER").filter(|s| !s.is_empty())?;
    let args = value("SCXPACK_ARGS").unwrap_or_default();
    let mut words = args.split_whitespace();
    let mut mode = None;
    while let Some(w) = words.next() {
        if w == "--mode" {
            mode = words.next().map(str::to_string);
        } else if let Some(m) = w.strip_prefix("--mode=") {
            mode = Some(m.to_string());
        }
    }
    Some(Spec {
        scheduler,
        mode,
        params: Vec::new(),
    })
}

fn state_error(path: &Path, e: &dyn std::fmt::Display) -> DaemonError {
    DaemonError::State {
        message: format!("{}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_file_names_scheduler_and_mode() {
        let shipped = include_str!("../../packaging/default-scxpack");
        let spec = parse_default(shipped).unwrap();
        assert_eq!(spec.scheduler, "fair");
        assert_eq!(spec.mode.as_deref(), Some("auto"));
        let spec =
            parse_default("SCXPACK_SCHEDULER='fifo'\nSCXPACK_ARGS=\"--mode=server\"").unwrap();
        assert_eq!(
            (spec.scheduler.as_str(), spec.mode.as_deref()),
            ("fifo", Some("server"))
        );
        assert_eq!(parse_default("# nothing\nSCXPACK_SCHEDULER=\n"), None);
    }

    #[test]
    fn saves_and_loads_atomically() {
        let dir = std::env::temp_dir().join(format!("scxpack-state-{}", std::process::id()));
        let path = dir.join("sub/daemon.json");
        assert_eq!(load(&path).unwrap(), SavedState::default());
        let state = SavedState {
            scheduler: Some(Spec {
                scheduler: "fair".into(),
                mode: Some("gaming".into()),
                params: vec!["slice_us=1000".into()],
            }),
        };
        save(&path, &state).unwrap();
        assert_eq!(load(&path).unwrap(), state);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["daemon.json"]);
        std::fs::write(&path, b"{").unwrap();
        assert!(matches!(load(&path), Err(DaemonError::State { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
