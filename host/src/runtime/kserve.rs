//! KServe v2 backend: a model served by a remote inference server (Triton, KServe, Seldon MLServer)
//! over the KServe v2 gRPC protocol, behind the same [`Model`] interface as local models.
//!
//! # The payload
//! A payload of object type `kserve` is a small JSON document ([`KServePayload`]):
//! ```json
//! {"servers": ["http://triton-a.example:8001", "http://triton-b.example:8001"],
//!  "model": "btag-rnn", "version": "1", "timeout_ms": 2000, "retries": 2,
//!  "sha256": "<SHA-256 of the model file the server must be serving>",
//!  "fallback": "<payload hash of a local model of the same network>"}
//! ```
//! A global tag moves a record from local to remote by mapping it to a tag whose IOVs hold such a
//! payload; plugins do not notice.
//!
//! # Identity
//! The served model must declare the SHA-256 of its model file as the model-config parameter
//! `hepinfer_sha256` (Triton: `parameters { key: "hepinfer_sha256" value { string_value: "…" } }`).
//! Each server is checked (ModelMetadata + ModelConfig) before its first inference and again after
//! any transport failure (a restarted server may serve something else); a server declaring another
//! hash, or none, is refused with an error naming both hashes.
//!
//! # Faults
//! `timeout_ms` bounds a whole call: every attempt, retry and failover. Transient gRPC errors
//! (UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, DEADLINE_EXCEEDED of an attempt) are retried on the
//! same server `retries` times with exponential backoff (5 ms doubling), then the next server is
//! tried. When every server failed, a payload with a `fallback` runs the call on that local model
//! (the first time logged at warning level; every such call counted in [`RemoteStats`]); without
//! one, the call fails with a `HEPINFER_MODEL` error naming each server's last error. The job and
//! the other calls go on. gRPC channels reconnect by themselves: a server that comes back is used
//! again by the next call. A reply whose outputs have another name, dtype, shape or byte size than
//! the model's metadata promised is refused, never handed to a plugin.
//!
//! # The client runtime
//! gRPC needs an async runtime; framework threads must not need one. The host owns one tokio
//! runtime for all KServe models of the process, created on first use: two worker threads named
//! `hepinfer-kserve` (they only move bytes; the inference runs on the server). A call is spawned
//! onto it and the calling thread waits on a channel, so calls work from any thread — including
//! threads that run a tokio runtime of their own.

use super::{check_inputs, Model, ModelPort, Served};
use crate::error::{Error, Result};
use hepinfer_plugin_api::{DType, Tensor, TensorBuf, TensorData, TensorView};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

/// Messages and client generated from `proto/kserve_v2.proto` (package `inference`).
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("inference");
}

use proto::grpc_inference_service_client::GrpcInferenceServiceClient;

/// The model-config parameter in which a served model declares the SHA-256 of its model file.
pub const SHA256_PARAMETER: &str = "hepinfer_sha256";

/// Longest `timeout_ms` a payload may ask for (10 minutes).
const MAX_TIMEOUT_MS: u64 = 600_000;
/// Most retries per server a payload may ask for.
const MAX_RETRIES: u32 = 10;
/// Most servers in one payload.
const MAX_SERVERS: usize = 16;

fn default_timeout_ms() -> u64 {
    5000
}

fn default_retries() -> u32 {
    2
}

/// The JSON document of a `kserve` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KServePayload {
    /// gRPC endpoints, tried in this order: `http://host:port` or `host:port` (plaintext HTTP/2).
    pub servers: Vec<String>,
    /// Model name on the server.
    pub model: String,
    /// Model version; empty: the server's choice (its version policy).
    #[serde(default)]
    pub version: String,
    /// Deadline of one call, all retries and failovers included, in milliseconds (default 5000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries per server after a transient error (default 2).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// SHA-256 (hex) of the model file the server must declare in `hepinfer_sha256`.
    pub sha256: String,
    /// Payload hash of a local model (`onnx`, `torchscript`) of the same network, run when every
    /// server is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `http://host:port` for a server entry, or why it is not one.
fn endpoint_url(server: &str) -> std::result::Result<String, String> {
    let url = if server.contains("://") {
        server.to_string()
    } else {
        format!("http://{server}")
    };
    let uri: tonic::codegen::http::Uri = url
        .parse()
        .map_err(|e| format!("server '{server}' is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("grpc") => {}
        Some(other) => {
            return Err(format!(
                "server '{server}': scheme '{other}' is not supported (use http://host:port; \
                 TLS is not built in)"
            ))
        }
        None => return Err(format!("server '{server}' has no scheme")),
    }
    let auth = uri
        .authority()
        .ok_or_else(|| format!("server '{server}' has no host"))?;
    if auth.port_u16().is_none() {
        return Err(format!(
            "server '{server}' has no port (the gRPC port, Triton's default 8001)"
        ));
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        return Err(format!("server '{server}' must not have a path"));
    }
    Ok(format!("http://{auth}"))
}

/// Parses and checks a `kserve` payload: what `hepinfer conddb upload` runs before storing one,
/// and what the host runs before using one. Every problem is named.
pub fn validate_payload(bytes: &[u8]) -> Result<KServePayload> {
    let bad = |m: String| Error::Model(format!("kserve payload: {m}"));
    let p: KServePayload =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not a valid document: {e}")))?;
    if p.servers.is_empty() {
        return Err(bad(
            "'servers' is empty: name at least one gRPC endpoint".into()
        ));
    }
    if p.servers.len() > MAX_SERVERS {
        return Err(bad(format!(
            "{} servers, at most {MAX_SERVERS}",
            p.servers.len()
        )));
    }
    for s in &p.servers {
        endpoint_url(s).map_err(bad)?;
    }
    if p.model.trim().is_empty() {
        return Err(bad("'model' is empty".into()));
    }
    if !(1..=MAX_TIMEOUT_MS).contains(&p.timeout_ms) {
        return Err(bad(format!(
            "timeout_ms {} is outside 1..={MAX_TIMEOUT_MS}",
            p.timeout_ms
        )));
    }
    if p.retries > MAX_RETRIES {
        return Err(bad(format!(
            "retries {} is more than {MAX_RETRIES}",
            p.retries
        )));
    }
    if !is_sha256(&p.sha256) {
        return Err(bad(format!(
            "'sha256' must be 64 lower-case hex digits, got '{}'",
            p.sha256
        )));
    }
    if let Some(f) = &p.fallback {
        if !is_sha256(f) {
            return Err(bad(format!(
                "'fallback' must be a payload hash (64 lower-case hex digits), got '{f}'"
            )));
        }
    }
    Ok(p)
}

/// The process's client runtime (see the module documentation).
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hepinfer-kserve")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Error::Runtime(format!("cannot start the KServe client runtime: {e}")))
}

/// Runs `fut` on the client runtime and waits for it on this thread.
fn block_on<T: Send + 'static>(
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T> {
    let rt = runtime()?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| Error::Internal("the KServe client task ended without an answer".into()))
}

/// Counters of a remote model, for tests, benchmarks and operators.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RemoteStats {
    /// Calls answered by a server.
    pub remote_calls: u64,
    /// Calls that ran on the local fallback model because no server answered.
    pub fallback_calls: u64,
    /// Calls that failed.
    pub failed_calls: u64,
    /// Attempts retried after a transient error.
    pub retries: u64,
    /// Calls that moved on from a server to the next one.
    pub failovers: u64,
    /// Identity checks of a server (at its first use and after each transport failure).
    pub verifications: u64,
    /// Calls answered, per server (in payload order).
    pub per_server: Vec<(String, u64)>,
}

#[derive(Clone)]
struct WirePort {
    /// KServe datatype name (`FP32`, `INT64`...).
    datatype: &'static str,
    /// Shape the server takes, per item when `batched`: the config's `dims` when it reshapes.
    dims: Option<Vec<i64>>,
}

struct Server {
    url: String,
    /// This server as provenance of a call.
    served: Served,
    client: GrpcInferenceServiceClient<Channel>,
    /// Identity checked since the last transport failure.
    verified: AtomicBool,
    answered: AtomicU64,
}

/// What a server says about the model: its signature and declared hash.
struct Described {
    inputs: Vec<ModelPort>,
    outputs: Vec<ModelPort>,
    wire: Vec<WirePort>,
    batched: bool,
}

/// A model served by KServe v2 servers.
pub struct KServeModel {
    spec: KServePayload,
    servers: Vec<Server>,
    inputs: Vec<ModelPort>,
    outputs: Vec<ModelPort>,
    wire: Vec<WirePort>,
    batched: bool,
    fallback: Option<Arc<dyn Model>>,
    /// The fallback as provenance of a call.
    fallback_served: Option<Served>,
    fallback_logged: AtomicBool,
    /// Server that answered last: calls start there.
    preferred: AtomicUsize,
    stats: Mutex<RemoteStats>,
    description: String,
    log: Option<super::WarnFn>,
}

fn kserve_dtype(d: DType) -> &'static str {
    match d {
        DType::F32 => "FP32",
        DType::F64 => "FP64",
        DType::I32 => "INT32",
        DType::I64 => "INT64",
        DType::U8 => "UINT8",
    }
}

fn dtype_of(s: &str) -> Option<DType> {
    Some(match s {
        "FP32" => DType::F32,
        "FP64" => DType::F64,
        "INT32" => DType::I32,
        "INT64" => DType::I64,
        "UINT8" => DType::U8,
        _ => return None,
    })
}

/// Whether a failed call may succeed when tried again (here or on another server).
fn is_transient(s: &tonic::Status) -> bool {
    match s.code() {
        Code::Unavailable | Code::ResourceExhausted | Code::Aborted | Code::DeadlineExceeded => {
            true
        }
        // A connection that broke under a call in flight (server killed) comes back from the
        // client's transport as UNKNOWN "transport error" or, when the connection task ends
        // first, as CANCELLED "operation was canceled" — never from the server.
        Code::Unknown | Code::Cancelled => is_transport_failure(s),
        _ => false,
    }
}

/// A failure of the connection rather than an answer of the server. The client never cancels
/// its own calls (its deadline is DEADLINE_EXCEEDED), so CANCELLED means the transport gave up.
fn is_transport_failure(s: &tonic::Status) -> bool {
    match s.code() {
        Code::Unavailable | Code::Cancelled => true,
        Code::Unknown => s.message().contains("transport error"),
        _ => false,
    }
}

fn status_text(s: &tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

/// A request carrying a gRPC deadline (`grpc-timeout`), so the server gives up when we do.
fn timed<T>(message: T, left: Duration) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.set_timeout(left.max(Duration::from_millis(1)));
    r
}

/// Asks `client` for the model's metadata and configuration and checks its declared hash.
async fn describe(
    url: &str,
    mut client: GrpcInferenceServiceClient<Channel>,
    spec: &KServePayload,
    deadline: Instant,
) -> std::result::Result<Described, (bool, String)> {
    let left = || deadline.saturating_duration_since(Instant::now());
    let who = format!("server {url} model '{}'", spec.model);
    let transient = |s: tonic::Status| (is_transient(&s), format!("{who}: {}", status_text(&s)));
    let meta = tokio::time::timeout(
        left(),
        client.model_metadata(timed(
            proto::ModelMetadataRequest {
                name: spec.model.clone(),
                version: spec.version.clone(),
            },
            left(),
        )),
    )
    .await
    .map_err(|_| (true, format!("{who}: no answer before the deadline")))?
    .map_err(transient)?
    .into_inner();
    let config = tokio::time::timeout(
        left(),
        client.model_config(timed(
            proto::ModelConfigRequest {
                name: spec.model.clone(),
                version: spec.version.clone(),
            },
            left(),
        )),
    )
    .await
    .map_err(|_| (true, format!("{who}: no answer before the deadline")))?
    .map_err(transient)?
    .into_inner()
    .config
    .ok_or_else(|| {
        (
            false,
            format!("{who}: ModelConfig returned no configuration"),
        )
    })?;
    // Identity first: a wrong model is refused whatever its signature.
    let declared = config
        .parameters
        .get(SHA256_PARAMETER)
        .map(|p| p.string_value.trim().to_ascii_lowercase());
    match declared {
        Some(h) if h == spec.sha256 => {}
        Some(h) => {
            return Err((
                false,
                format!(
                    "{who} declares SHA-256 {h}, the payload expects {}; refusing to use it",
                    spec.sha256
                ),
            ))
        }
        None => {
            return Err((
                false,
                format!(
                    "{who} declares no '{SHA256_PARAMETER}' parameter in its configuration, so its \
                     identity cannot be verified (the payload expects SHA-256 {}); refusing to use it",
                    spec.sha256
                ),
            ))
        }
    }
    let batched = config.max_batch_size > 0;
    let port = |t: &proto::model_metadata_response::TensorMetadata| {
        dtype_of(&t.datatype)
            .map(|dtype| ModelPort {
                name: t.name.clone(),
                dtype,
                shape: t.shape.clone(),
            })
            .ok_or_else(|| {
                (
                    false,
                    format!(
                        "{who}: tensor '{}' has datatype {}, which hepinfer does not support",
                        t.name, t.datatype
                    ),
                )
            })
    };
    let mut inputs = Vec::new();
    let mut wire = Vec::new();
    for t in &meta.inputs {
        let mut p = port(t)?;
        let mut dims = None;
        // A reshaping input takes `dims` on the wire and `reshape` in the model: the model-side
        // shape is the signature plugins feed (e.g. a per-item scalar configured as dims [1]).
        if let Some(c) = config.input.iter().find(|c| c.name == t.name) {
            if let Some(r) = &c.reshape {
                let mut shape = Vec::new();
                if batched {
                    shape.push(-1);
                }
                shape.extend(&r.shape);
                p.shape = shape;
                dims = Some(c.dims.clone());
            }
        }
        wire.push(WirePort {
            datatype: kserve_dtype(p.dtype),
            dims,
        });
        inputs.push(p);
    }
    let outputs = meta
        .outputs
        .iter()
        .map(port)
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Described {
        inputs,
        outputs,
        wire,
        batched,
    })
}

fn same_signature(a: &Described, inputs: &[ModelPort], outputs: &[ModelPort]) -> bool {
    a.inputs == inputs && a.outputs == outputs
}

fn port_list(ports: &[ModelPort]) -> String {
    ports
        .iter()
        .map(|p| format!("{} {} {:?}", p.name, p.dtype, p.shape))
        .collect::<Vec<_>>()
        .join(", ")
}

fn raw_bytes(d: &TensorData<'_>) -> Vec<u8> {
    // KServe raw contents are little-endian; so is every target hepinfer builds for (checked below).
    fn bytes<T: Copy>(s: &[T]) -> Vec<u8> {
        // SAFETY: T is a plain number type (f32, f64, i32, i64, u8) with no padding; the slice
        // is valid for size_of_val(s) bytes.
        unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<u8>(), std::mem::size_of_val(s)) }
            .to_vec()
    }
    match d {
        TensorData::F32(s) => bytes(s.as_slice()),
        TensorData::F64(s) => bytes(s.as_slice()),
        TensorData::I32(s) => bytes(s.as_slice()),
        TensorData::I64(s) => bytes(s.as_slice()),
        TensorData::U8(s) => bytes(s.as_slice()),
    }
}

#[cfg(not(target_endian = "little"))]
compile_error!("the KServe backend sends raw tensor bytes as little-endian");

fn decode(dtype: DType, raw: &[u8]) -> TensorBuf {
    macro_rules! take {
        ($t:ty, $v:ident) => {
            TensorBuf::$v(
                raw.chunks_exact(std::mem::size_of::<$t>())
                    .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk size")))
                    .collect::<Vec<$t>>()
                    .into(),
            )
        };
    }
    match dtype {
        DType::F32 => take!(f32, F32),
        DType::F64 => take!(f64, F64),
        DType::I32 => take!(i32, I32),
        DType::I64 => take!(i64, I64),
        DType::U8 => TensorBuf::U8(raw.to_vec().into()),
    }
}

/// Checks a reply of server `url` for `model` against the promised `outputs` (first dimension
/// `batch` when `batched`) and turns it into tensors: anything else is refused.
fn outputs_of(
    model: &str,
    outputs: &[ModelPort],
    batched: bool,
    url: &str,
    batch: i64,
    r: proto::ModelInferResponse,
) -> Result<Vec<Tensor>> {
    let refuse = |m: String| {
        Err(Error::Model(format!(
            "kserve server {url} model '{}' sent a bad reply, refused: {m}",
            model
        )))
    };
    if r.raw_output_contents.len() != r.outputs.len() {
        return refuse(format!(
            "{} outputs but {} raw contents (hepinfer needs raw binary outputs)",
            r.outputs.len(),
            r.raw_output_contents.len()
        ));
    }
    let mut out = Vec::with_capacity(outputs.len());
    for p in outputs {
        let Some(i) = r.outputs.iter().position(|o| o.name == p.name) else {
            return refuse(format!("output '{}' is missing", p.name));
        };
        let o = &r.outputs[i];
        if dtype_of(&o.datatype) != Some(p.dtype) {
            return refuse(format!(
                "output '{}' has datatype {}, expected {}",
                p.name,
                o.datatype,
                kserve_dtype(p.dtype)
            ));
        }
        let fits = o.shape.len() == p.shape.len()
            && o.shape
                .iter()
                .zip(&p.shape)
                .all(|(&g, &w)| g >= 0 && (w < 0 || g == w))
            && (!batched || o.shape.first() == Some(&batch));
        if !fits {
            return refuse(format!(
                "output '{}' has shape {:?}, expected {:?} with batch {batch}",
                p.name, o.shape, p.shape
            ));
        }
        let n: i64 = o.shape.iter().product();
        let raw = &r.raw_output_contents[i];
        if raw.len() as u64 != n as u64 * p.dtype.size() as u64 {
            return refuse(format!(
                "output '{}' of shape {:?} needs {} bytes, the reply has {}",
                p.name,
                o.shape,
                n as u64 * p.dtype.size() as u64,
                raw.len()
            ));
        }
        out.push(Tensor::new(&p.name, o.shape.clone(), decode(p.dtype, raw)));
    }
    Ok(out)
}

/// Why one server could not answer a call.
struct Failure {
    transient: bool,
    message: String,
}

impl KServeModel {
    /// Connects to the servers of `payload` (already validated) and reads the model's signature
    /// from the first that answers, verifying its identity. `fallback` is the loaded local model
    /// the payload names, if any; `log` receives warnings (fallback used, server refused).
    pub fn new(
        payload: KServePayload,
        fallback: Option<Arc<dyn Model>>,
        log: Option<super::WarnFn>,
    ) -> Result<Self> {
        let rt = runtime()?;
        let mut servers = Vec::new();
        {
            // Channels spawn their connection task on the current runtime.
            let _guard = rt.enter();
            for s in &payload.servers {
                let url =
                    endpoint_url(s).map_err(|e| Error::Model(format!("kserve payload: {e}")))?;
                let ep = Endpoint::from_shared(url.clone())
                    .map_err(|e| Error::Model(format!("kserve server '{s}': {e}")))?
                    .connect_timeout(Duration::from_millis(payload.timeout_ms))
                    .tcp_nodelay(true);
                servers.push(Server {
                    served: Served {
                        description: format!(
                            "kserve server {url} model '{}' version '{}' (server-reported SHA-256 {})",
                            payload.model, payload.version, payload.sha256
                        )
                        .into(),
                        payload: None,
                    },
                    url,
                    client: GrpcInferenceServiceClient::new(ep.connect_lazy())
                        .max_decoding_message_size(1 << 30)
                        .max_encoding_message_size(1 << 30),
                    verified: AtomicBool::new(false),
                    answered: AtomicU64::new(0),
                });
            }
        }
        let fallback_served = payload.fallback.as_ref().map(|h| Served {
            description: format!(
                "local fallback payload {h} of kserve model '{}' (no server answered)",
                payload.model
            )
            .into(),
            payload: Some(h.as_str().into()),
        });
        let mut model = KServeModel {
            description: String::new(),
            spec: payload,
            servers,
            inputs: Vec::new(),
            outputs: Vec::new(),
            wire: Vec::new(),
            batched: false,
            fallback_served,
            fallback,
            fallback_logged: AtomicBool::new(false),
            preferred: AtomicUsize::new(0),
            stats: Mutex::new(RemoteStats::default()),
            log,
        };
        // The signature comes from the first server that answers and proves its identity. A
        // server with the wrong model is a configuration error: refused at once.
        let mut errors = Vec::new();
        let mut found = None;
        for (i, s) in model.servers.iter().enumerate() {
            let deadline = Instant::now() + Duration::from_millis(model.spec.timeout_ms);
            let (url, client, spec) = (s.url.clone(), s.client.clone(), model.spec.clone());
            match block_on(async move { describe(&url, client, &spec, deadline).await })? {
                Ok(d) => {
                    s.verified.store(true, Relaxed);
                    model.stats.lock().verifications += 1;
                    found = Some((i, d));
                    break;
                }
                Err((true, m)) => errors.push(m),
                Err((false, m)) => return Err(Error::Model(m)),
            }
        }
        match found {
            Some((i, d)) => {
                if let Some(f) = &model.fallback {
                    if f.inputs() != d.inputs.as_slice() || f.outputs() != d.outputs.as_slice() {
                        return Err(Error::Model(format!(
                            "kserve model '{}': the fallback model's signature (inputs {}; outputs {}) \
                             differs from the served model's (inputs {}; outputs {})",
                            model.spec.model,
                            port_list(f.inputs()),
                            port_list(f.outputs()),
                            port_list(&d.inputs),
                            port_list(&d.outputs)
                        )));
                    }
                }
                model.preferred.store(i, Relaxed);
                model.inputs = d.inputs;
                model.outputs = d.outputs;
                model.wire = d.wire;
                model.batched = d.batched;
            }
            None => {
                // Every server is down now. With a fallback the job can start: the signature is
                // the local model's, and each server is verified against it when it comes up.
                let Some(f) = &model.fallback else {
                    return Err(Error::Model(format!(
                        "kserve model '{}': no server answered and the payload names no fallback: {}",
                        model.spec.model,
                        errors.join("; ")
                    )));
                };
                model.inputs = f.inputs().to_vec();
                model.outputs = f.outputs().to_vec();
                model.wire = model
                    .inputs
                    .iter()
                    .map(|p| WirePort {
                        datatype: kserve_dtype(p.dtype),
                        dims: None,
                    })
                    .collect();
                model.batched = true;
                model.warn(&format!(
                    "kserve model '{}': no server answered at load ({}); calls run on the local \
                     fallback {} until one does",
                    model.spec.model,
                    errors.join("; "),
                    model.spec.fallback.as_deref().unwrap_or("")
                ));
                model.fallback_logged.store(true, Relaxed);
            }
        }
        model.stats.lock().per_server = model.servers.iter().map(|s| (s.url.clone(), 0)).collect();
        model.description = format!(
            "kserve model '{}' version '{}' (server-verified SHA-256 {}) on {}{}",
            model.spec.model,
            model.spec.version,
            model.spec.sha256,
            model
                .servers
                .iter()
                .map(|s| s.url.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            match &model.spec.fallback {
                Some(f) => format!("; fallback payload {f}"),
                None => String::new(),
            }
        );
        Ok(model)
    }

    /// The payload this model was made from.
    pub fn payload(&self) -> &KServePayload {
        &self.spec
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> RemoteStats {
        let mut s = self.stats.lock().clone();
        for (slot, server) in s.per_server.iter_mut().zip(&self.servers) {
            slot.1 = server.answered.load(Relaxed);
        }
        s
    }

    fn warn(&self, m: &str) {
        if let Some(log) = &self.log {
            log(m);
        }
    }

    fn request(&self, inputs: &[TensorView<'_>]) -> Result<(proto::ModelInferRequest, i64)> {
        let mut req = proto::ModelInferRequest {
            model_name: self.spec.model.clone(),
            model_version: self.spec.version.clone(),
            ..Default::default()
        };
        let mut batch = -1;
        for (p, w) in self.inputs.iter().zip(&self.wire) {
            let t = inputs
                .iter()
                .find(|t| t.name.as_str() == p.name)
                .ok_or_else(|| Error::Model(format!("missing model input '{}'", p.name)))?;
            let shape = t.shape.as_slice();
            if self.batched {
                let n = shape.first().copied().unwrap_or(0);
                if batch >= 0 && n != batch {
                    return Err(Error::Model(format!(
                        "kserve model '{}': inputs disagree on the batch size ({batch} and {n} in '{}')",
                        self.spec.model, p.name
                    )));
                }
                batch = n;
            }
            let wire_shape = match &w.dims {
                Some(dims) if self.batched => {
                    std::iter::once(batch).chain(dims.iter().copied()).collect()
                }
                Some(dims) => dims.clone(),
                None => shape.to_vec(),
            };
            req.inputs
                .push(proto::model_infer_request::InferInputTensor {
                    name: p.name.clone(),
                    datatype: w.datatype.to_string(),
                    shape: wire_shape,
                });
            req.raw_input_contents.push(raw_bytes(&t.data).into());
        }
        for p in &self.outputs {
            req.outputs
                .push(proto::model_infer_request::InferRequestedOutputTensor {
                    name: p.name.clone(),
                });
        }
        Ok((req, batch))
    }

    /// One attempt on server `i`: verify it if needed, then ModelInfer.
    fn attempt(
        &self,
        i: usize,
        req: &proto::ModelInferRequest,
        batch: i64,
        deadline: Instant,
    ) -> std::result::Result<Vec<Tensor>, Failure> {
        let s = &self.servers[i];
        if !s.verified.load(Relaxed) {
            let (url, client, spec) = (s.url.clone(), s.client.clone(), self.spec.clone());
            let d = block_on(async move { describe(&url, client, &spec, deadline).await })
                .map_err(|e| Failure {
                    transient: false,
                    message: e.to_string(),
                })?
                .map_err(|(transient, message)| Failure { transient, message })?;
            self.stats.lock().verifications += 1;
            if !same_signature(&d, &self.inputs, &self.outputs) {
                return Err(Failure {
                    transient: false,
                    message: format!(
                        "server {} model '{}' has inputs {} and outputs {}, expected inputs {} and outputs {}",
                        s.url,
                        self.spec.model,
                        port_list(&d.inputs),
                        port_list(&d.outputs),
                        port_list(&self.inputs),
                        port_list(&self.outputs)
                    ),
                });
            }
            s.verified.store(true, Relaxed);
        }
        let mut client = s.client.clone();
        let left = deadline.saturating_duration_since(Instant::now());
        let r = timed(req.clone(), left);
        let reply =
            block_on(async move { tokio::time::timeout(left, client.model_infer(r)).await })
                .map_err(|e| Failure {
                    transient: false,
                    message: e.to_string(),
                })?;
        match reply {
            Err(_) => Err(Failure {
                transient: true,
                message: format!("server {}: no answer before the deadline", s.url),
            }),
            Ok(Err(status)) => {
                let transient = is_transient(&status);
                if is_transport_failure(&status) {
                    // The server may come back as another process: check it again then.
                    s.verified.store(false, Relaxed);
                }
                Err(Failure {
                    transient,
                    message: format!("server {}: {}", s.url, status_text(&status)),
                })
            }
            Ok(Ok(resp)) => outputs_of(
                &self.spec.model,
                &self.outputs,
                self.batched,
                &s.url,
                batch,
                resp.into_inner(),
            )
            .map_err(|e| Failure {
                transient: false,
                message: e.to_string(),
            }),
        }
    }

    /// Runs the call on the servers. Errors come with whether every server was down (rather
    /// than one refusing the call), which is when the fallback may step in.
    fn run_remote(
        &self,
        inputs: &[TensorView<'_>],
    ) -> std::result::Result<(Vec<Tensor>, usize), (bool, Error)> {
        let (req, batch) = self.request(inputs).map_err(|e| (false, e))?;
        let deadline = Instant::now() + Duration::from_millis(self.spec.timeout_ms);
        let n = self.servers.len();
        let first = self.preferred.load(Relaxed) % n;
        let mut errors = Vec::new();
        for k in 0..n {
            let i = (first + k) % n;
            if k > 0 {
                self.stats.lock().failovers += 1;
            }
            let mut backoff = Duration::from_millis(5);
            for attempt in 0..=self.spec.retries {
                if Instant::now() >= deadline {
                    break;
                }
                match self.attempt(i, &req, batch, deadline) {
                    Ok(t) => {
                        self.servers[i].answered.fetch_add(1, Relaxed);
                        self.preferred.store(i, Relaxed);
                        return Ok((t, i));
                    }
                    Err(f) => {
                        let last = attempt == self.spec.retries;
                        let transient = f.transient;
                        errors.push(f.message);
                        if !transient {
                            // A deterministic refusal (bad reply, wrong model, invalid
                            // argument) is the answer: another server would give the same one
                            // or must not be trusted with it either.
                            return Err((false, Error::Model(errors.pop().unwrap_or_default())));
                        }
                        if last {
                            break;
                        }
                        self.stats.lock().retries += 1;
                        let left = deadline.saturating_duration_since(Instant::now());
                        std::thread::sleep(backoff.min(left));
                        backoff *= 2;
                    }
                }
            }
        }
        if errors.is_empty() {
            errors.push("the deadline passed before any server could be tried".into());
        }
        Err((
            true,
            Error::Model(format!(
                "kserve model '{}': no server answered within {} ms: {}",
                self.spec.model,
                self.spec.timeout_ms,
                errors.join("; ")
            )),
        ))
    }
}

impl Model for KServeModel {
    fn run(&self, inputs: &[TensorView<'_>]) -> Result<Vec<Tensor>> {
        self.run_traced(inputs).map(|(t, _)| t)
    }

    fn run_traced(&self, inputs: &[TensorView<'_>]) -> Result<(Vec<Tensor>, Option<Served>)> {
        check_inputs(&self.inputs, inputs)?;
        match self.run_remote(inputs) {
            Ok((t, server)) => {
                self.stats.lock().remote_calls += 1;
                Ok((t, Some(self.servers[server].served.clone())))
            }
            Err((down, e)) => match (&self.fallback, down) {
                (Some(f), true) => {
                    if !self.fallback_logged.swap(true, Relaxed) {
                        self.warn(&format!(
                            "{e}; running this and later such calls on the local fallback payload {}",
                            self.spec.fallback.as_deref().unwrap_or("")
                        ));
                    }
                    let r = f.run(inputs);
                    let mut s = self.stats.lock();
                    if r.is_ok() {
                        s.fallback_calls += 1;
                    } else {
                        s.failed_calls += 1;
                    }
                    drop(s);
                    Ok((r?, self.fallback_served.clone()))
                }
                _ => {
                    self.stats.lock().failed_calls += 1;
                    Err(e)
                }
            },
        }
    }

    fn inputs(&self) -> &[ModelPort] {
        &self.inputs
    }

    fn outputs(&self) -> &[ModelPort] {
        &self.outputs
    }

    fn backend(&self) -> &'static str {
        "kserve"
    }

    fn describe(&self) -> Option<String> {
        Some(self.description.clone())
    }

    fn remote_stats(&self) -> Option<RemoteStats> {
        Some(self.stats())
    }
}

/// Whether the server at `url` says it is ready (KServe ServerReady), asked within `timeout`.
/// For scripts, tests and benchmarks that start servers.
pub fn server_ready(url: &str, timeout: Duration) -> bool {
    let Ok(url) = endpoint_url(url) else {
        return false;
    };
    block_on(async move {
        let Ok(ep) = Endpoint::from_shared(url) else {
            return false;
        };
        let Ok(Ok(ch)) = tokio::time::timeout(timeout, ep.connect_timeout(timeout).connect()).await
        else {
            return false;
        };
        let mut c = GrpcInferenceServiceClient::new(ch);
        matches!(
            tokio::time::timeout(timeout, c.server_ready(timed(proto::ServerReadyRequest {}, timeout))).await,
            Ok(Ok(r)) if r.get_ref().ready
        )
    })
    .unwrap_or(false)
}

/// Asks the server at `url` for the cumulative statistics of `model`: (successful requests,
/// executions). With dynamic batching one execution serves several requests. For tests and
/// benchmarks.
pub fn model_statistics(url: &str, model: &str, timeout: Duration) -> Result<(u64, u64)> {
    let url = endpoint_url(url).map_err(Error::Model)?;
    let model = model.to_string();
    let what = format!("statistics of '{model}' from {url}");
    block_on(async move {
        let ep = Endpoint::from_shared(url.clone()).map_err(|e| e.to_string())?;
        let mut c = GrpcInferenceServiceClient::new(
            ep.connect_timeout(timeout)
                .connect()
                .await
                .map_err(|e| e.to_string())?,
        );
        let r = timed(
            proto::ModelStatisticsRequest {
                name: model.clone(),
                version: String::new(),
            },
            timeout,
        );
        let s = c
            .model_statistics(r)
            .await
            .map_err(|e| status_text(&e))?
            .into_inner();
        let (mut requests, mut executions) = (0, 0);
        for m in s.model_stats.iter().filter(|m| m.name == model) {
            requests += m
                .inference_stats
                .as_ref()
                .and_then(|i| i.success.as_ref())
                .map_or(0, |d| d.count);
            executions += m.execution_count;
        }
        Ok::<_, String>((requests, executions))
    })?
    .map_err(|e| Error::Model(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(extra: &str) -> String {
        format!(
            r#"{{"servers": ["127.0.0.1:8001"], "model": "m", "sha256": "{}"{extra}}}"#,
            "a".repeat(64)
        )
    }

    #[test]
    fn a_broken_connection_is_transient_and_an_answer_is_not() {
        use tonic::Status;
        // Seen from a server killed under calls in flight: retried and failed over.
        assert!(is_transient(&Status::cancelled("operation was canceled")));
        assert!(is_transport_failure(&Status::cancelled(
            "operation was canceled"
        )));
        assert!(is_transient(&Status::unknown("transport error")));
        assert!(is_transient(&Status::unavailable("connection refused")));
        // The server's own answers are final.
        assert!(!is_transient(&Status::invalid_argument("bad shape")));
        assert!(!is_transient(&Status::unknown("model raised")));
        assert!(!is_transport_failure(&Status::deadline_exceeded("late")));
    }

    #[test]
    fn a_minimal_payload_gets_defaults() {
        let p = validate_payload(doc("").as_bytes()).unwrap();
        assert_eq!(p.timeout_ms, 5000);
        assert_eq!(p.retries, 2);
        assert_eq!(p.version, "");
        assert_eq!(p.fallback, None);
        assert_eq!(
            endpoint_url(&p.servers[0]).unwrap(),
            "http://127.0.0.1:8001"
        );
    }

    #[test]
    fn bad_payloads_are_refused_with_the_reason() {
        let cases = [
            ("not json".to_string(), "not a valid document"),
            (doc(r#", "extra": 1"#), "unknown field"),
            (
                format!(
                    r#"{{"servers": [], "model": "m", "sha256": "{}"}}"#,
                    "a".repeat(64)
                ),
                "'servers' is empty",
            ),
            (
                r#"{"servers": ["h:1"], "model": "m", "sha256": "ABC"}"#.to_string(),
                "64 lower-case hex",
            ),
            (doc(r#", "timeout_ms": 0"#), "timeout_ms 0"),
            (doc(r#", "retries": 11"#), "retries 11"),
            (
                doc(r#", "fallback": "xyz""#),
                "'fallback' must be a payload hash",
            ),
            (
                format!(
                    r#"{{"servers": ["https://h:1"], "model": "m", "sha256": "{}"}}"#,
                    "a".repeat(64)
                ),
                "TLS is not built in",
            ),
            (
                format!(
                    r#"{{"servers": ["localhost"], "model": "m", "sha256": "{}"}}"#,
                    "a".repeat(64)
                ),
                "no port",
            ),
            (
                format!(
                    r#"{{"servers": ["h:1"], "model": " ", "sha256": "{}"}}"#,
                    "a".repeat(64)
                ),
                "'model' is empty",
            ),
        ];
        for (text, want) in cases {
            let e = validate_payload(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    fn reply(
        name: &str,
        datatype: &str,
        shape: Vec<i64>,
        raw: Vec<u8>,
    ) -> proto::ModelInferResponse {
        proto::ModelInferResponse {
            outputs: vec![proto::model_infer_response::InferOutputTensor {
                name: name.into(),
                datatype: datatype.into(),
                shape,
            }],
            raw_output_contents: vec![raw.into()],
            ..Default::default()
        }
    }

    #[test]
    fn replies_that_break_the_promised_signature_are_refused() {
        let ports = [ModelPort {
            name: "probs".into(),
            dtype: DType::F32,
            shape: vec![-1, 3],
        }];
        let check = |r| outputs_of("m", &ports, true, "http://h:1", 2, r);
        let good: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let t = check(reply("probs", "FP32", vec![2, 3], good.clone())).unwrap();
        assert_eq!(t[0].shape.as_slice(), &[2, 3]);
        assert_eq!(t[0].as_f32().unwrap(), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let cases = [
            (
                reply("probs", "FP64", vec![2, 3], good.clone()),
                "datatype FP64",
            ),
            (
                reply("probs", "FP32", vec![2, 4], good.clone()),
                "shape [2, 4]",
            ),
            (
                reply("probs", "FP32", vec![3, 3], good.clone()),
                "with batch 2",
            ),
            (
                reply("probs", "FP32", vec![2, 3], good[..20].to_vec()),
                "needs 24 bytes",
            ),
            (
                reply("other", "FP32", vec![2, 3], good.clone()),
                "'probs' is missing",
            ),
            (
                proto::ModelInferResponse {
                    raw_output_contents: vec![],
                    ..reply("probs", "FP32", vec![2, 3], good.clone())
                },
                "raw contents",
            ),
        ];
        for (r, want) in cases {
            let e = check(r).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("refused"), "{want}: {e}");
        }
    }

    #[test]
    fn no_server_and_no_fallback_is_a_clear_load_error_within_the_deadline() {
        // A port nothing listens on: bind one, note it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = validate_payload(
            format!(
                r#"{{"servers": ["127.0.0.1:{port}"], "model": "m", "sha256": "{}", "timeout_ms": 500}}"#,
                "a".repeat(64)
            )
            .as_bytes(),
        )
        .unwrap();
        let t = Instant::now();
        let e = KServeModel::new(p, None, None)
            .err()
            .expect("no server")
            .to_string();
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert!(
            e.contains("no server answered") && e.contains("no fallback"),
            "{e}"
        );
    }
}
