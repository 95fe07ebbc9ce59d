//! The host's error type and the status codes it maps to at the C boundary.

use hepinfer_plugin_api::{ErrorKind, PluginError};

/// Status of a C API call. Values are stable: they are part of the ABI.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum hepinfer_status {
    /// Success.
    HEPINFER_OK = 0,
    /// A required pointer argument was NULL, or a string was not UTF-8.
    HEPINFER_INVALID_ARGUMENT = 1,
    /// A JSON configuration could not be parsed or has a bad value.
    HEPINFER_INVALID_CONFIG = 2,
    /// The inputs of a call do not match what the plugin declares.
    HEPINFER_INVALID_INPUT = 3,
    /// No plugin of that name was found.
    HEPINFER_UNKNOWN_PLUGIN = 4,
    /// A plugin library could not be loaded (not a plugin, ABI mismatch, duplicate name).
    HEPINFER_PLUGIN_LOAD = 5,
    /// The inference runtime (ONNX Runtime) could not be loaded or failed.
    HEPINFER_RUNTIME = 6,
    /// A model could not be found, verified, loaded or run.
    HEPINFER_MODEL = 7,
    /// The conditions database could not answer.
    HEPINFER_CONDITIONS = 8,
    /// A panic was caught (in the host or in a plugin); the process carries on.
    HEPINFER_PANIC = 9,
    /// No such item (e.g. an output name).
    HEPINFER_NOT_FOUND = 10,
    /// Any other failure.
    HEPINFER_INTERNAL = 11,
    /// The library's ABI version is not compatible with the one the caller was built for
    /// (`hepinfer_abi_check`).
    HEPINFER_ABI_MISMATCH = 12,
}

/// Everything that can go wrong in the host.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad argument at the API boundary.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Bad configuration.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Bad input to a call.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// No plugin with this name.
    #[error("unknown plugin '{name}'; known plugins: {known}")]
    UnknownPlugin {
        /// Requested name.
        name: String,
        /// Comma-separated names that were found.
        known: String,
    },
    /// Plugin loading failed.
    #[error("plugin load failed: {0}")]
    PluginLoad(String),
    /// ONNX Runtime (or another runtime) is missing or failed.
    #[error("runtime: {0}")]
    Runtime(String),
    /// A model problem.
    #[error("model: {0}")]
    Model(String),
    /// A conditions database problem.
    #[error("conditions: {0}")]
    Conditions(String),
    /// A caught panic.
    #[error("panic: {0}")]
    Panic(String),
    /// No such item.
    #[error("not found: {0}")]
    NotFound(String),
    /// A plugin returned an error.
    #[error("plugin '{plugin}': {message}")]
    Plugin {
        /// Plugin name.
        plugin: String,
        /// Category.
        kind: ErrorKind,
        /// Message from the plugin.
        message: String,
    },
    /// Anything else.
    #[error("internal: {0}")]
    Internal(String),
    /// The caller was built for an ABI this library does not provide.
    #[error("ABI mismatch: {0}")]
    AbiMismatch(String),
}

impl Error {
    /// The C status code of this error.
    pub fn status(&self) -> hepinfer_status {
        use hepinfer_status::*;
        match self {
            Error::InvalidArgument(_) => HEPINFER_INVALID_ARGUMENT,
            Error::InvalidConfig(_) => HEPINFER_INVALID_CONFIG,
            Error::InvalidInput(_) => HEPINFER_INVALID_INPUT,
            Error::UnknownPlugin { .. } => HEPINFER_UNKNOWN_PLUGIN,
            Error::PluginLoad(_) => HEPINFER_PLUGIN_LOAD,
            Error::Runtime(_) => HEPINFER_RUNTIME,
            Error::Model(_) => HEPINFER_MODEL,
            Error::Conditions(_) => HEPINFER_CONDITIONS,
            Error::Panic(_) => HEPINFER_PANIC,
            Error::NotFound(_) => HEPINFER_NOT_FOUND,
            Error::Plugin { kind, .. } => match kind {
                ErrorKind::InvalidInput => HEPINFER_INVALID_INPUT,
                ErrorKind::InvalidConfig => HEPINFER_INVALID_CONFIG,
                ErrorKind::Model => HEPINFER_MODEL,
                ErrorKind::Panic => HEPINFER_PANIC,
                ErrorKind::Internal => HEPINFER_INTERNAL,
                ErrorKind::Conditions => HEPINFER_CONDITIONS,
            },
            Error::Internal(_) => HEPINFER_INTERNAL,
            Error::AbiMismatch(_) => HEPINFER_ABI_MISMATCH,
        }
    }

    /// Wraps an error a plugin returned.
    pub fn from_plugin(plugin: &str, e: PluginError) -> Self {
        // Errors the host produced on the plugin's behalf (model runs) come back through the
        // plugin; keep their message as is but attribute them.
        Error::Plugin {
            plugin: plugin.to_string(),
            kind: e.kind,
            message: e.message.into_string(),
        }
    }

    /// The error as a plugin-boundary error (for failures of host services called by a plugin).
    pub fn to_plugin_error(&self) -> PluginError {
        let kind = match self {
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Model(_) | Error::Runtime(_) => ErrorKind::Model,
            Error::Conditions(_) => ErrorKind::Conditions,
            Error::Panic(_) => ErrorKind::Panic,
            Error::Plugin { kind, .. } => *kind,
            _ => ErrorKind::Internal,
        };
        PluginError::new(kind, self.to_string())
    }
}

/// Result with the host's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs `f` behind a panic barrier: a panic becomes [`Error::Panic`] with its message and
/// location, and is not printed (see [`hepinfer_plugin_api::panic`]). Every entry point of the C
/// and C++ APIs and every host service a plugin calls runs inside one.
pub(crate) fn catch<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    hepinfer_plugin_api::panic::catch_quiet(f).unwrap_or_else(|message| Err(Error::Panic(message)))
}
