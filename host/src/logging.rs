//! Routing of host and plugin log messages to the framework's message service.

use crate::abi::{c_string, hepinfer_log_callback};
use crate::error::{Error, Result};
use hepinfer_plugin_api::LogLevel;
use std::ffi::c_void;

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

/// Where log messages go.
pub enum LogSink {
    /// Standard error (no callback registered).
    Stderr,
    /// The C API's callback with its `user_data`.
    C {
        /// The callback (never `None` here).
        callback: hepinfer_log_callback,
        /// Its argument, as an address (the framework vouches for its thread-safety).
        user_data: usize,
    },
    /// A Rust function (the C++ API's `std::function` arrives this way).
    Func(Box<LogFn>),
}

/// A Rust log function: `(level, message)`, called from any thread.
pub type LogFn = dyn Fn(LogLevel, &str) + Send + Sync;

impl LogSink {
    /// The sink of a C callback (`Stderr` for NULL).
    pub fn from_c(callback: hepinfer_log_callback, user_data: *mut c_void) -> Self {
        match callback {
            Some(_) => LogSink::C {
                callback,
                user_data: user_data as usize,
            },
            None => LogSink::Stderr,
        }
    }
}

/// Sends messages at or above a level to a sink.
pub struct Logger {
    min: LogLevel,
    sink: LogSink,
}

impl Logger {
    /// A logger with minimum level `min`.
    pub fn new(min: LogLevel, sink: LogSink) -> Self {
        Logger { min, sink }
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
        match &self.sink {
            LogSink::C {
                callback: Some(callback),
                user_data,
            } => {
                let c = c_string(message);
                // SAFETY: the framework registered this callback for any thread and any number
                // of concurrent calls, with this user_data (documented on hepinfer_host_create).
                // A C function cannot unwind into us.
                unsafe { callback(level as u32, c.as_ptr(), *user_data as *mut c_void) };
            }
            LogSink::Func(f) => f(level, message),
            LogSink::Stderr | LogSink::C { callback: None, .. } => {
                eprintln!("hepinfer [{}] {message}", level_name(level))
            }
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
