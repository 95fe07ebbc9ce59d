//! Tensors as they cross the host/plugin boundary: borrowed views for inputs, owned buffers for
//! outputs, and the declarations a plugin makes about them.

use abi_stable::{
    std_types::{RSlice, RStr, RString, RVec},
    StableAbi,
};
use std::fmt;

/// Element type of a tensor. The discriminants are those of the C API's `hepinfer_dtype`.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit IEEE float.
    F32 = 0,
    /// 64-bit IEEE float.
    F64 = 1,
    /// 32-bit signed integer.
    I32 = 2,
    /// 64-bit signed integer.
    I64 = 3,
    /// 8-bit unsigned integer.
    U8 = 4,
}

impl DType {
    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
            DType::U8 => 1,
        }
    }

    /// Lower-case name, as used in messages and JSON (`f32`, `i64`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "u8",
        }
    }

    /// The dtype for a C API discriminant, if it is one.
    pub fn from_raw(v: u32) -> Option<DType> {
        Some(match v {
            0 => DType::F32,
            1 => DType::F64,
            2 => DType::I32,
            3 => DType::I64,
            4 => DType::U8,
            _ => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Borrowed, typed element data of an input tensor.
#[repr(C, u8)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub enum TensorData<'a> {
    /// `f32` elements.
    F32(RSlice<'a, f32>),
    /// `f64` elements.
    F64(RSlice<'a, f64>),
    /// `i32` elements.
    I32(RSlice<'a, i32>),
    /// `i64` elements.
    I64(RSlice<'a, i64>),
    /// `u8` elements.
    U8(RSlice<'a, u8>),
}

impl TensorData<'_> {
    /// Element type.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::I32(_) => DType::I32,
            TensorData::I64(_) => DType::I64,
            TensorData::U8(_) => DType::U8,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(s) => s.len(),
            TensorData::F64(s) => s.len(),
            TensorData::I32(s) => s.len(),
            TensorData::I64(s) => s.len(),
            TensorData::U8(s) => s.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A borrowed n-d array: the zero-copy form in which inputs reach a plugin and in which a plugin
/// hands tensors to a model.
///
/// A *jagged* collection (tracks of jets, hits of an event) is a flat array whose first dimension
/// counts all elements, plus `offsets` (one more than the number of groups; first 0, non-decreasing,
/// last equal to the first dimension). `offsets` is empty for an ordinary tensor.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct TensorView<'a> {
    /// Name of the tensor (an input name of the plugin, or of the model).
    pub name: RStr<'a>,
    /// Dimensions, outermost first.
    pub shape: RSlice<'a, i64>,
    /// The elements, in C order.
    pub data: TensorData<'a>,
    /// Group boundaries of a jagged collection; empty when not jagged.
    pub offsets: RSlice<'a, i64>,
}

impl<'a> TensorView<'a> {
    /// A dense view of `data` with `shape`.
    pub fn new(name: &'a str, shape: &'a [i64], data: TensorData<'a>) -> Self {
        TensorView {
            name: name.into(),
            shape: shape.into(),
            data,
            offsets: RSlice::EMPTY,
        }
    }

    /// A dense `f32` view.
    pub fn f32(name: &'a str, shape: &'a [i64], data: &'a [f32]) -> Self {
        Self::new(name, shape, TensorData::F32(data.into()))
    }

    /// A dense `i64` view.
    pub fn i64(name: &'a str, shape: &'a [i64], data: &'a [i64]) -> Self {
        Self::new(name, shape, TensorData::I64(data.into()))
    }

    /// Number of groups of a jagged collection (0 when not jagged).
    pub fn groups(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
}

/// Owned, typed element data of an output tensor.
#[repr(C, u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum TensorBuf {
    /// `f32` elements.
    F32(RVec<f32>),
    /// `f64` elements.
    F64(RVec<f64>),
    /// `i32` elements.
    I32(RVec<i32>),
    /// `i64` elements.
    I64(RVec<i64>),
    /// `u8` elements.
    U8(RVec<u8>),
}

impl TensorBuf {
    /// Element type.
    pub fn dtype(&self) -> DType {
        match self {
            TensorBuf::F32(_) => DType::F32,
            TensorBuf::F64(_) => DType::F64,
            TensorBuf::I32(_) => DType::I32,
            TensorBuf::I64(_) => DType::I64,
            TensorBuf::U8(_) => DType::U8,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorBuf::F32(v) => v.len(),
            TensorBuf::F64(v) => v.len(),
            TensorBuf::I32(v) => v.len(),
            TensorBuf::I64(v) => v.len(),
            TensorBuf::U8(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as a byte pointer (for the C API, which hands out typed pointers).
    pub fn as_ptr(&self) -> *const u8 {
        match self {
            TensorBuf::F32(v) => v.as_ptr().cast(),
            TensorBuf::F64(v) => v.as_ptr().cast(),
            TensorBuf::I32(v) => v.as_ptr().cast(),
            TensorBuf::I64(v) => v.as_ptr().cast(),
            TensorBuf::U8(v) => v.as_ptr(),
        }
    }

    /// Borrows the elements as a view.
    pub fn view(&self) -> TensorData<'_> {
        match self {
            TensorBuf::F32(v) => TensorData::F32(v.as_rslice()),
            TensorBuf::F64(v) => TensorData::F64(v.as_rslice()),
            TensorBuf::I32(v) => TensorData::I32(v.as_rslice()),
            TensorBuf::I64(v) => TensorData::I64(v.as_rslice()),
            TensorBuf::U8(v) => TensorData::U8(v.as_rslice()),
        }
    }
}

/// An owned n-d array: what a model returns and what a plugin produces as an output.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Name (an output name of the plugin or of the model).
    pub name: RString,
    /// Dimensions, outermost first.
    pub shape: RVec<i64>,
    /// The elements, in C order.
    pub data: TensorBuf,
    /// Group boundaries when the output is a jagged collection; empty otherwise.
    pub offsets: RVec<i64>,
}

impl Tensor {
    /// A dense tensor. The caller guarantees that `shape` matches the number of elements.
    pub fn new(name: &str, shape: Vec<i64>, data: TensorBuf) -> Self {
        Tensor {
            name: name.into(),
            shape: shape.into(),
            data,
            offsets: RVec::new(),
        }
    }

    /// A dense `f32` tensor.
    pub fn f32(name: &str, shape: Vec<i64>, data: Vec<f32>) -> Self {
        Self::new(name, shape, TensorBuf::F32(data.into()))
    }

    /// A jagged collection: flat `data` of `shape` (first dimension = all elements) grouped by `offsets`.
    pub fn jagged(name: &str, shape: Vec<i64>, data: TensorBuf, offsets: Vec<i64>) -> Self {
        Tensor {
            name: name.into(),
            shape: shape.into(),
            data,
            offsets: offsets.into(),
        }
    }

    /// The `f32` elements, if that is the dtype.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorBuf::F32(v) => Some(v.as_slice()),
            _ => None,
        }
    }

    /// Borrows this tensor as a view.
    pub fn view(&self) -> TensorView<'_> {
        TensorView {
            name: self.name.as_rstr(),
            shape: self.shape.as_rslice(),
            data: self.data.view(),
            offsets: self.offsets.as_rslice(),
        }
    }
}

/// One dimension of a declared tensor shape.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Dim {
    /// Required size, or -1 when any size is accepted.
    pub size: i64,
    /// Symbolic name (`"n_jets"`): every dimension with the same name, across all inputs of one
    /// call, must have the same size. Empty for an unnamed dimension.
    pub name: RString,
}

impl Dim {
    /// A dimension of fixed size.
    pub fn fixed(size: i64) -> Self {
        Dim {
            size,
            name: RString::new(),
        }
    }

    /// A dynamic dimension named `name`.
    pub fn named(name: &str) -> Self {
        Dim {
            size: -1,
            name: name.into(),
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.size, self.name.is_empty()) {
            (s, _) if s >= 0 => write!(f, "{s}"),
            (_, false) => f.write_str(&self.name),
            _ => f.write_str("?"),
        }
    }
}

/// Declaration of one input or output of a plugin.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct TensorSpec {
    /// Name used by callers.
    pub name: RString,
    /// Element type.
    pub dtype: DType,
    /// Expected shape; its length is the rank.
    pub shape: RVec<Dim>,
    /// True for a jagged collection (flat data + offsets).
    pub jagged: bool,
    /// Name of the dimension that counts the groups of a jagged collection (e.g. `"n_jets"`), so
    /// the host can check it against other inputs; empty when not jagged or unconstrained.
    pub groups: RString,
    /// Whether NaN/inf values are refused (float inputs only).
    pub finite: bool,
    /// One-line description: units and meaning.
    pub doc: RString,
}

impl TensorSpec {
    /// A dense input/output declaration; floats are required to be finite.
    pub fn new(name: &str, dtype: DType, shape: Vec<Dim>, doc: &str) -> Self {
        TensorSpec {
            name: name.into(),
            dtype,
            shape: shape.into(),
            jagged: false,
            groups: RString::new(),
            finite: matches!(dtype, DType::F32 | DType::F64),
            doc: doc.into(),
        }
    }

    /// Marks this declaration as a jagged collection grouped along the dimension `groups`.
    pub fn jagged(mut self, groups: &str) -> Self {
        self.jagged = true;
        self.groups = groups.into();
        self
    }

    /// Allows NaN/inf values (e.g. for inputs where NaN means "missing").
    pub fn allow_non_finite(mut self) -> Self {
        self.finite = false;
        self
    }

    /// The shape as text, e.g. `[n_jets, 15, 8]`.
    pub fn shape_string(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        format!("[{}]", dims.join(", "))
    }
}

/// The key of an event: the unit at which conditions (and so models) may change.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct EventKey {
    /// Run number.
    pub run: u32,
    /// Luminosity block within the run.
    pub lumi: u32,
    /// Event number within the run.
    pub event: u64,
}
