//! The root module a plugin exports, the objects it exchanges with the host, and the safe Rust
//! trait ([`Plugin`]) plugin authors implement.

use crate::panic::catch_quiet;
use crate::tensor::{DType, EventKey, Tensor, TensorData, TensorSpec, TensorView};
use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, RErr, ROk, ROption, RResult, RSlice, RStr, RString, RVec},
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

/// The first stage of a call split for cross-event batching (see [`Plugin::prepare`]): the model
/// inputs of this event, whose first dimension counts its rows, and whatever the last stage needs
/// besides the model's outputs. Both are owned: the framework's inputs may be gone by then.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
pub struct Prepared {
    /// Inputs of the batched model, by name, each `[rows, ...]`. Empty: the event needs no
    /// model call (e.g. no jets); [`Plugin::finish`] then gets no model outputs.
    pub inputs: RVec<Tensor>,
    /// Carried from `prepare` to `finish` unchanged.
    pub carry: RVec<Tensor>,
}

/// A configured plugin instance that can also run a call as three stages, prepare → model →
/// finish, so that the host may merge the model stage of many events into one model call.
/// Created through [`StagedMod::create_staged`] (plugin ABI 1.1).
#[sabi_trait]
pub trait StagedInstance: Send + Sync {
    /// Processes one call in one piece, exactly as [`PluginInstance::process`].
    fn process(
        &self,
        ctx: CallContext_TO<'_, abi_stable::sabi_types::RRef<'_, ()>>,
        inputs: RSlice<'_, TensorView<'_>>,
    ) -> RResult<RVec<Tensor>, PluginError>;

    /// The model (a [`ModelSpec::name`]) whose calls the host may merge across events, if any.
    fn batched_model(&self) -> ROption<RString>;

    /// First stage: validated inputs in, the batched model's inputs (and a carry) out.
    fn prepare(
        &self,
        ctx: CallContext_TO<'_, abi_stable::sabi_types::RRef<'_, ()>>,
        inputs: RSlice<'_, TensorView<'_>>,
    ) -> RResult<Prepared, PluginError>;

    /// Last stage: this event's rows of the model's outputs (in the model's output order) and
    /// the carry in, the call's outputs out. `ctx` has no inputs to offer.
    #[sabi(last_prefix_field)]
    fn finish(
        &self,
        ctx: CallContext_TO<'_, abi_stable::sabi_types::RRef<'_, ()>>,
        carry: RVec<Tensor>,
        model_outputs: RVec<Tensor>,
    ) -> RResult<RVec<Tensor>, PluginError>;
}

/// An owned, type-erased staged plugin instance.
pub type StagedInstanceBox = StagedInstance_TO<'static, RBox<()>>;

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

/// The optional second module of a plugin (plugin ABI 1.1): creation of instances that can run
/// a call as stages (cross-event batching). Exported by [`crate::export_plugin!`] through the
/// symbol [`STAGED_SYMBOL`], beside the root module, whose layout stays that of plugin ABI 1.0:
/// abi_stable refuses a library whose root module has fewer fields than the host's, so a field
/// added there would make the host refuse every plugin built before it. A plugin without the
/// symbol runs every call in one piece.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = StagedModRef)))]
#[sabi(missing_field(panic))]
pub struct StagedMod {
    /// Creates an instance from a JSON configuration, as [`PluginMod::create`].
    #[sabi(last_prefix_field)]
    pub create_staged: extern "C" fn(
        config: RStr<'_>,
        host: HostServices_TO<'static, RBox<()>>,
    ) -> RResult<StagedInstanceBox, PluginError>,
}

/// What the [`STAGED_SYMBOL`] function returns: the module and the layout of its type as the
/// plugin was built, which the host checks against its own before using the module.
#[repr(C)]
pub struct StagedExport {
    /// Layout of [`StagedModRef`] in the plugin.
    pub layout: &'static abi_stable::type_layout::TypeLayout,
    /// The module.
    pub module: StagedModRef,
}

/// Name of the `extern "C" fn() -> StagedExport` a plugin of ABI 1.1 exports.
pub const STAGED_SYMBOL: &[u8] = b"hepinfer_plugin_staged_v1\0";

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

    /// Opt-in to cross-event batching: the model (a [`ModelSpec::name`]) whose calls the host may
    /// merge across events. A plugin that returns `Some` implements [`Plugin::prepare`] and
    /// [`Plugin::finish`] such that `finish(prepare(x), model(prepare(x).inputs))` is what
    /// `process(x)` returns, and each row of the model's inputs depends on nothing but the
    /// corresponding row of its outputs (the model treats its first dimension as a batch).
    /// Default `None`: every call runs in one piece through [`Plugin::process`].
    fn batched_model(&self) -> Option<&str> {
        None
    }

    /// First stage of a batched call: the batched model's inputs for this event.
    fn prepare(&self, call: &Call<'_>) -> Result<Prepared, PluginError> {
        let _ = call;
        Err(not_staged())
    }

    /// Last stage of a batched call: add the call's outputs from this event's rows of the model
    /// outputs (`model_outputs`, empty when [`Prepared::inputs`] was) and the carry.
    fn finish(
        &self,
        call: &mut Call<'_>,
        carry: Vec<Tensor>,
        model_outputs: Vec<Tensor>,
    ) -> Result<(), PluginError> {
        let _ = (call, carry, model_outputs);
        Err(not_staged())
    }
}

fn not_staged() -> PluginError {
    PluginError::new(
        ErrorKind::Internal,
        "this plugin does not split its calls into stages (batched_model() is None)",
    )
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

impl<P: Plugin> Instance<P> {
    fn call<R>(
        &self,
        what: &str,
        ctx: &CallContext_TO<'_, abi_stable::sabi_types::RRef<'_, ()>>,
        inputs: RSlice<'_, TensorView<'_>>,
        f: impl FnOnce(&P, &mut Call<'_>) -> Result<R, PluginError>,
    ) -> RResult<R, PluginError> {
        let result = catch_quiet(|| {
            let mut call = Call {
                ctx,
                inputs,
                outputs: Vec::new(),
            };
            f(&self.0, &mut call)
        });
        match result {
            Ok(Ok(r)) => ROk(r),
            Ok(Err(e)) => RErr(e),
            Err(message) => RErr(panicked(what, message)),
        }
    }
}

impl<P: Plugin> StagedInstance for Instance<P> {
    fn process(
        &self,
        ctx: CallContext_TO<'_, abi_stable::sabi_types::RRef<'_, ()>>,
        inputs: RSlice<'_, TensorView<'_>>,
    ) -> RResult<RVec<Tensor>, PluginError> {
        PluginInstance::process(self, ctx, inputs)
    }

    fn batched_model(&self) -> ROption<RString> {
        match catch_quiet(|| self.0.batched_model().map(RString::from)) {
            Ok(m) => m.into(),
            // A plugin that cannot say is not batched.
            Err(_) => ROption::RNone,
        }
    }

    fn prepare(
        &self,
        ctx: CallContext_TO<'_, abi_stable::sabi_types::RRef<'_, ()>>,
        inputs: RSlice<'_, TensorView<'_>>,
    ) -> RResult<Prepared, PluginError> {
        self.call("prepare", &ctx, inputs, |p, call| p.prepare(call))
    }

    fn finish(
        &self,
        ctx: CallContext_TO<'_, abi_stable::sabi_types::RRef<'_, ()>>,
        carry: RVec<Tensor>,
        model_outputs: RVec<Tensor>,
    ) -> RResult<RVec<Tensor>, PluginError> {
        self.call("finish", &ctx, RSlice::from_slice(&[]), |p, call| {
            p.finish(call, carry.into_vec(), model_outputs.into_vec())?;
            Ok(std::mem::take(&mut call.outputs).into())
        })
    }
}

/// Implementation of [`StagedMod::create_staged`] for `P` (used by [`crate::export_plugin!`]).
#[doc(hidden)]
pub extern "C" fn __create_staged<P: Plugin>(
    config: RStr<'_>,
    host: HostServices_TO<'static, RBox<()>>,
) -> RResult<StagedInstanceBox, PluginError> {
    let result = catch_quiet(|| P::create(config.as_str(), PluginLogger { host }));
    match result {
        Ok(Ok(plugin)) => ROk(StagedInstance_TO::from_value(
            Instance(plugin),
            abi_stable::sabi_trait::TD_Opaque,
        )),
        Ok(Err(e)) => RErr(e),
        Err(message) => RErr(panicked("create", message)),
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
