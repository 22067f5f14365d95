//! The detached mount daemon's logger: `log` records sent to syslog(3)
//! (facility daemon, ident "kmsfs", with the pid), since its stderr is
//! /dev/null once it has reported readiness. Levels map to priorities.

use std::ffi::CString;

/// Sends every record at or below `log::max_level()` to syslog.
struct Syslog;

static SYSLOG: Syslog = Syslog;

/// Installs the syslog logger at `level`; fails if a logger is already set.
pub fn install_syslog_logger(level: log::LevelFilter) -> Result<(), log::SetLoggerError> {
    // SAFETY: the ident is a static C string, as openlog requires (it keeps the pointer).
    unsafe { libc::openlog(c"kmsfs".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
    log::set_logger(&SYSLOG)?;
    log::set_max_level(level);
    Ok(())
}

fn priority(level: log::Level) -> libc::c_int {
    match level {
        log::Level::Error => libc::LOG_ERR,
        log::Level::Warn => libc::LOG_WARNING,
        log::Level::Info => libc::LOG_INFO,
        log::Level::Debug | log::Level::Trace => libc::LOG_DEBUG,
    }
}

impl log::Log for Syslog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // A NUL inside a message would cut it: show it as a replacement character.
        let text = record.args().to_string().replace('\0', "\u{fffd}");
        let Ok(message) = CString::new(text) else {
            return;
        };
        // SAFETY: a constant "%s" format with one valid C string argument.
        unsafe { libc::syslog(priority(record.level()), c"%s".as_ptr(), message.as_ptr()) };
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_distinct_priorities_most_severe_first() {
        let priorities: Vec<_> = [
            log::Level::Error,
            log::Level::Warn,
            log::Level::Info,
            log::Level::Debug,
        ]
        .into_iter()
        .map(priority)
        .collect();
        assert!(priorities.windows(2).all(|w| w[0] < w[1]), "{priorities:?}");
    }
}
