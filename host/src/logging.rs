//! Routing of host and plugin log messages to the framework's message service.

use crate::error::{Error, Result};
use hepinfer_plugin_api::LogLevel;
use std::ffi::{c_char, c_void, CString};

/// The framework's log callback: `(level, NUL-terminated message, user_data)`. It may be called
/// from any thread, concurrently; the message is valid only during the call.
pub type LogCallback =
    unsafe extern "C" fn(level: u32, message: *const c_char, user_data: *mut c_void);

/// Parses a level name.
pub fn parse_level(name: &str) -> Result<LogLevel> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "trace" => LogLevel::Trace,
        "debug" => LogLevel::Debug,
        "info" => LogLevel::Info,
        "warn" | "warning" => LogLevel::Warn,
        "error" => LogLevel::Error,
        other => {
            return Err(Error::InvalidConfig(format!(
                "unknown log level '{other}' (expected trace, debug, info, warn or error)"
            )))
        }
    })
}

/// Sends messages at or above a level to a callback, or to stderr when there is none.
pub struct Logger {
    min: LogLevel,
    sink: Option<(LogCallback, usize)>,
}

// SAFETY: the framework promises, by registering the callback, that it may be called from any
// thread with its user_data (documented on `hepinfer_host_create`).
unsafe impl Send for Logger {}
unsafe impl Sync for Logger {}

impl Logger {
    /// A logger with minimum level `min` sending to `callback` (stderr when `None`).
    pub fn new(min: LogLevel, callback: Option<LogCallback>, user_data: *mut c_void) -> Self {
        Logger {
            min,
            sink: callback.map(|cb| (cb, user_data as usize)),
        }
    }

    /// Whether a message at `level` would be delivered.
    pub fn enabled(&self, level: LogLevel) -> bool {
        level >= self.min
    }

    /// Delivers `message` at `level`.
    pub fn log(&self, level: LogLevel, message: &str) {
        if !self.enabled(level) {
            return;
        }
        match self.sink {
            Some((cb, user_data)) => {
                // Interior NULs would truncate the message in C; replace them.
                let c = CString::new(message.replace('\0', "\u{FFFD}")).unwrap_or_default();
                // A panic unwinding out of a foreign callback is impossible (it is C), and a
                // panic of ours cannot happen here; the call is a plain FFI call.
                unsafe { cb(level as u32, c.as_ptr(), user_data as *mut c_void) };
            }
            None => eprintln!("hepinfer [{}] {message}", level_name(level)),
        }
    }
}

/// Lower-case name of a level.
pub fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}
