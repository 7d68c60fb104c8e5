//! The robot-wide pause switch, kept in the data dir so it survives restarts.
//! Pausing stops every automatic action at once; approvals and read-only actions still work.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the pause state inside the data dir.
pub const PAUSE_FILE: &str = "robot_state.json";

/// Whether the robot is paused, by whom and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseState {
    pub paused: bool,
    #[serde(default)]
    pub changed_by: Option<String>,
    #[serde(default)]
    pub changed_at_ms: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Why the pause state cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("pause state {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("pause state {path} is not valid")]
    Malformed {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl model::Classify for StateError {
    fn class(&self) -> model::ErrorClass {
        model::ErrorClass::Internal
    }
}

/// Reads the pause state; a missing file means running (not paused).
pub fn load_pause(data_dir: &Path) -> Result<PauseState, StateError> {
    let path = data_dir.join(PAUSE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            serde_json::from_str(&text).map_err(|source| StateError::Malformed { path, source })
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(PauseState::default()),
        Err(source) => Err(StateError::Io { path, source }),
    }
}

/// Writes the pause state atomically (temporary file, sync, rename).
pub fn save_pause(data_dir: &Path, state: &PauseState) -> Result<(), StateError> {
    let path = data_dir.join(PAUSE_FILE);
    let tmp = data_dir.join(format!("{PAUSE_FILE}.tmp"));
    let io = |source| StateError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let text = serde_json::to_vec_pretty(state).map_err(|e| io(std::io::Error::other(e)))?;
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .map_err(io)?;
    }
    std::fs::rename(&tmp, &path).map_err(io)
}
