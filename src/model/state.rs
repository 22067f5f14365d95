//! Key states, as AWS KMS names them.

use std::fmt;
use std::str::FromStr;

use super::ParseError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
    /// The deletion date passed and the material was erased; only metadata remains.
    Destroyed,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::Destroyed => "Destroyed",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyState {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<KeyState, ParseError> {
        [
            KeyState::Enabled,
            KeyState::Disabled,
            KeyState::PendingDeletion,
            KeyState::Destroyed,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| ParseError(format!("unknown key state '{s}'")))
    }
}
