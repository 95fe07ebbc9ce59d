//! The root module a plugin exports, the objects it exchanges with the host, and the safe Rust
//! trait ([`Plugin`]) plugin authors implement.

use crate::panic::catch_quiet;
use crate::tensor::{DType, EventKey, Tensor, TensorData, TensorSpec, TensorView};
use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, RErr, ROk, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};

/// Version of the plugin contract. The host refuses a plugin built for another one, on top of
/// abi_stable's own checks of this crate's version and of every type's layout.
pub const PLUGIN_ABI_VERSION: u32 = 1;

/// Severity of a log message; the values are those of the C API's `hepinfer_log_level`.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace = 0,
    /// Debugging information.
    Debug = 1,
    /// Normal operation.
    Info = 2,
    /// Something unexpected that does not stop the job.
    Warn = 3,
    /// A failure.
    Error = 4,
}

/// A model a plugin needs: found through the conditions database by (record, label).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// The name the plugin uses for it in [`Call::run_model`].
    pub name: RString,
    /// Conditions record (e.g. `BTagRnnModelRcd`).
    pub record: RString,
    /// Default label within the record; an instance config may choose another.
    pub label: RString,
    /// Model inputs the plugin feeds (names as in the model file), for checks at load time.
    pub inputs: RVec<TensorSpec>,
    /// What the model is.
    pub doc: RString,
}

/// What a plugin declares about itself (`hepinfer plugins inspect NAME` prints it).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct PluginInfo {
    /// Unique name by which instances are created (`btag-rnn`).
    pub name: RString,
    /// Plugin version (semver).
    pub version: RString,
    /// One-paragraph description.
    pub description: RString,
    /// Inputs a call must provide.
    pub inputs: RVec<TensorSpec>,
    /// Outputs a call produces.
    pub outputs: RVec<TensorSpec>,
    /// Models the plugin runs.
    pub models: RVec<ModelSpec>,
    /// Description of the instance configuration keys (JSON object).
    pub config_doc: RString,
}

/// Category of a plugin failure; maps onto the C API status codes.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The inputs of the call are not acceptable.
    InvalidInput = 0,
    /// The instance configuration is not acceptable.
    InvalidConfig = 1,
    /// Running a model failed.
    Model = 2,
    /// The plugin panicked (caught inside the plugin).
    Panic = 3,
    /// Any other failure.
    Internal = 4,
    /// The conditions database could not say which model serves the event.
    Conditions = 5,
}

/// An error returned by a plugin across the boundary.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct PluginError {
    /// Category.
    pub kind: ErrorKind,
    /// Human-readable message naming what was wrong.
    pub message: RString,
}

impl PluginError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            message: RString::from(message.into()),
        }
    }

    /// Bad input.
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// Bad configuration.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig, message)
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PluginError {}

/// Services of the host that a plugin instance keeps for its whole life.
#[sabi_trait]
pub trait HostServices: Send + Sync {
    /// Sends a message to the framework's message service through the host.
    fn log(&self, level: LogLevel, message: RStr<'_>);
}

/// The per-call window into the host: the event, and running models for that event.
#[sabi_trait]
pub trait CallContext {
    /// The key of the event being processed.
    fn event(&self) -> EventKey;

    /// Runs the model the plugin calls `model` (a [`ModelSpec::name`]) for this event's interval
    /// of validity. Outputs come back in the model's output order.
    fn run_model(
        &self,
        model: RStr<'_>,
        inputs: RSlice<'_, TensorView<'_>>,
    ) -> RResult<RVec<Tensor>, PluginError>;

    /// Logs a message attributed to this call.
    fn log(&self, level: LogLevel, message: RStr<'_>);
}

/// A configured plugin instance, as the host holds it. `process` is called concurrently.
#[sabi_trait]
pub trait PluginInstance: Send + Sync {
    /// Processes one call: validated inputs in, outputs out.
    fn process(
        &self,
        ctx: CallContext_TO<'_, abi_stable::sabi_types::RRef<'_, ()>>,
        inputs: RSlice<'_, TensorView<'_>>,
    ) -> RResult<RVec<Tensor>, PluginError>;
}

/// An owned, type-erased plugin instance.
pub type PluginInstanceBox = PluginInstance_TO<'static, RBox<()>>;

/// The root module every plugin `.so` exports (through [`crate::export_plugin!`]).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// Must equal [`PLUGIN_ABI_VERSION`] of the host.
    pub abi_version: u32,
    /// The plugin's declarations.
    pub info: extern "C" fn() -> RResult<PluginInfo, PluginError>,
    /// Creates an instance from a JSON configuration.
    #[sabi(last_prefix_field)]
    pub create: extern "C" fn(
        config: RStr<'_>,
        host: HostServices_TO<'static, RBox<()>>,
    ) -> RResult<PluginInstanceBox, PluginError>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "hepinfer_plugin";
    const NAME: &'static str = "hepinfer_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// A logger a plugin instance keeps: forwards to the host's log callback.
pub struct PluginLogger {
    host: HostServices_TO<'static, RBox<()>>,
}

impl PluginLogger {
    /// Logs `message` at `level`.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.host.log(level, message.into());
    }
}

/// What plugin authors implement: plain Rust, no FFI. [`crate::export_plugin!`] does the rest.
pub trait Plugin: Sized + Send + Sync + 'static {
    /// The plugin's declarations. Inputs listed here are validated by the host before `process`
    /// is called (names, dtypes, ranks, fixed and named dimensions, offsets, finiteness).
    fn info() -> PluginInfo;

    /// Creates an instance from its JSON configuration (`"{}"` when none was given).
    fn create(config: &str, logger: PluginLogger) -> Result<Self, PluginError>;

    /// Processes one call. Called concurrently from many threads.
    fn process(&self, call: &mut Call<'_>) -> Result<(), PluginError>;
}

/// One call as a plugin sees it: typed access to the inputs, model execution, output collection.
pub struct Call<'a> {
    ctx: &'a dyn Context,
    inputs: RSlice<'a, TensorView<'a>>,
    outputs: Vec<Tensor>,
}

/// Object-safe view of [`CallContext_TO`] whatever its lifetimes, so [`Call`] needs only one.
trait Context {
    fn event(&self) -> EventKey;
    fn run_model(
        &self,
        model: RStr<'_>,
        inputs: RSlice<'_, TensorView<'_>>,
    ) -> RResult<RVec<Tensor>, PluginError>;
    fn log(&self, level: LogLevel, message: RStr<'_>);
}

impl Context for CallContext_TO<'_, abi_stable::sabi_types::RRef<'_, ()>> {
    fn event(&self) -> EventKey {
        CallContext::event(self)
    }
    fn run_model(
        &self,
        model: RStr<'_>,
        inputs: RSlice<'_, TensorView<'_>>,
    ) -> RResult<RVec<Tensor>, PluginError> {
        CallContext::run_model(self, model, inputs)
    }
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        CallContext::log(self, level, message)
    }
}

impl<'a> Call<'a> {
    /// The key of the event being processed.
    pub fn event(&self) -> EventKey {
        self.ctx.event()
    }

    /// The input named `name` (present after validation when it is declared).
    pub fn input(&self, name: &str) -> Result<&TensorView<'a>, PluginError> {
        self.inputs
            .iter()
            .find(|t| t.name.as_str() == name)
            .ok_or_else(|| PluginError::input(format!("missing input '{name}'")))
    }

    /// The elements of the `f32` input `name`.
    pub fn f32(&self, name: &str) -> Result<&'a [f32], PluginError> {
        match self.input(name)?.data {
            TensorData::F32(s) => Ok(s.as_slice()),
            other => Err(wrong_dtype(name, DType::F32, other.dtype())),
        }
    }

    /// The elements of the `i64` input `name`.
    pub fn i64(&self, name: &str) -> Result<&'a [i64], PluginError> {
        match self.input(name)?.data {
            TensorData::I64(s) => Ok(s.as_slice()),
            other => Err(wrong_dtype(name, DType::I64, other.dtype())),
        }
    }

    /// The elements of the `i32` input `name`.
    pub fn i32(&self, name: &str) -> Result<&'a [i32], PluginError> {
        match self.input(name)?.data {
            TensorData::I32(s) => Ok(s.as_slice()),
            other => Err(wrong_dtype(name, DType::I32, other.dtype())),
        }
    }

    /// The offsets of the jagged input `name`.
    pub fn offsets(&self, name: &str) -> Result<&'a [i64], PluginError> {
        Ok(self.input(name)?.offsets.as_slice())
    }

    /// Runs model `model` for this event; outputs come back in the model's output order.
    pub fn run_model(
        &self,
        model: &str,
        inputs: &[TensorView<'_>],
    ) -> Result<Vec<Tensor>, PluginError> {
        self.ctx
            .run_model(model.into(), inputs.into())
            .into_result()
            .map(RVec::into_vec)
    }

    /// The outputs added so far.
    pub fn outputs(&self) -> &[Tensor] {
        &self.outputs
    }

    /// Adds an output.
    pub fn output(&mut self, tensor: Tensor) {
        self.outputs.push(tensor);
    }

    /// Logs a message attributed to this call.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.ctx.log(level, message.into());
    }
}

fn wrong_dtype(name: &str, want: DType, got: DType) -> PluginError {
    PluginError::input(format!("input '{name}': expected dtype {want}, got {got}"))
}

fn panicked(what: &str, message: String) -> PluginError {
    PluginError::new(
        ErrorKind::Panic,
        format!("plugin panicked in {what}: {message}"),
    )
}

/// The [`PluginInstance`] wrapper around a [`Plugin`], catching panics inside the plugin.
struct Instance<P: Plugin>(P);

impl<P: Plugin> PluginInstance for Instance<P> {
    fn process(
        &self,
        ctx: CallContext_TO<'_, abi_stable::sabi_types::RRef<'_, ()>>,
        inputs: RSlice<'_, TensorView<'_>>,
    ) -> RResult<RVec<Tensor>, PluginError> {
        let result = catch_quiet(|| {
            let mut call = Call {
                ctx: &ctx,
                inputs,
                outputs: Vec::new(),
            };
            self.0.process(&mut call).map(|()| call.outputs)
        });
        match result {
            Ok(Ok(outputs)) => ROk(outputs.into()),
            Ok(Err(e)) => RErr(e),
            Err(message) => RErr(panicked("process", message)),
        }
    }
}

/// Implementation of [`PluginMod::info`] for `P` (used by [`crate::export_plugin!`]).
#[doc(hidden)]
pub extern "C" fn __info<P: Plugin>() -> RResult<PluginInfo, PluginError> {
    match catch_quiet(P::info) {
        Ok(info) => ROk(info),
        Err(message) => RErr(panicked("info", message)),
    }
}

/// Implementation of [`PluginMod::create`] for `P` (used by [`crate::export_plugin!`]).
#[doc(hidden)]
pub extern "C" fn __create<P: Plugin>(
    config: RStr<'_>,
    host: HostServices_TO<'static, RBox<()>>,
) -> RResult<PluginInstanceBox, PluginError> {
    let result = catch_quiet(|| P::create(config.as_str(), PluginLogger { host }));
    match result {
        Ok(Ok(plugin)) => ROk(PluginInstance_TO::from_value(
            Instance(plugin),
            abi_stable::sabi_trait::TD_Opaque,
        )),
        Ok(Err(e)) => RErr(e),
        Err(message) => RErr(panicked("create", message)),
    }
}
