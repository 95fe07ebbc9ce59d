//! The part of the ONNX protobuf format this crate reads: a graph's nodes (operator, inputs,
//! outputs, attributes), its initializers and the names of its inputs and outputs.
//!
//! A bounds-checked reader of the protobuf wire format, no code generation: every length and
//! field is checked against the buffer, so a truncated or corrupted file is an
//! [`Error::Malformed`], never a panic. Fields this crate does not need are skipped.

use crate::Error;

/// One `TensorProto` (an initializer or a `Constant`'s value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorProto {
    /// Name (empty for an attribute's value).
    pub name: String,
    /// Dimensions.
    pub dims: Vec<i64>,
    /// ONNX element type (1 float, 6 int32, 7 int64).
    pub data_type: i32,
    /// `raw_data`: little-endian values.
    pub raw: Vec<u8>,
    /// `float_data`.
    pub floats: Vec<f32>,
    /// `int64_data`.
    pub int64s: Vec<i64>,
    /// `int32_data`.
    pub int32s: Vec<i32>,
    /// Whether the values live in an external file (`data_location` = EXTERNAL).
    pub external: bool,
}

/// ONNX element type codes used here.
pub const FLOAT: i32 = 1;
/// `int32`.
pub const INT32: i32 = 6;
/// `int64`.
pub const INT64: i32 = 7;

impl TensorProto {
    /// Number of elements its dimensions describe.
    pub fn numel(&self) -> Option<usize> {
        self.dims.iter().try_fold(1usize, |n, &d| {
            usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
        })
    }

    /// The values as float32, checked against the dimensions.
    pub fn f32_values(&self) -> Result<Vec<f32>, Error> {
        let what = |m: &str| Error::Unsupported(format!("tensor '{}': {m}", self.name));
        if self.data_type != FLOAT {
            return Err(what(&format!(
                "element type {} (expected float)",
                self.data_type
            )));
        }
        if self.external {
            return Err(what("values in an external file"));
        }
        let n = self.numel().ok_or_else(|| what("invalid dimensions"))?;
        let v: Vec<f32> = if !self.raw.is_empty() {
            self.raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        } else {
            self.floats.clone()
        };
        if v.len() != n || (self.raw.len() % 4 != 0) {
            return Err(Error::Malformed(format!(
                "tensor '{}': {} values for dimensions {:?}",
                self.name,
                v.len(),
                self.dims
            )));
        }
        Ok(v)
    }

    /// The values as int64 (from int64 or int32 storage), checked against the dimensions.
    pub fn i64_values(&self) -> Result<Vec<i64>, Error> {
        let what = |m: &str| Error::Unsupported(format!("tensor '{}': {m}", self.name));
        if self.external {
            return Err(what("values in an external file"));
        }
        let n = self.numel().ok_or_else(|| what("invalid dimensions"))?;
        let v: Vec<i64> = match (self.data_type, self.raw.is_empty()) {
            (INT64, false) => self
                .raw
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                .collect(),
            (INT64, true) => self.int64s.clone(),
            (INT32, false) => self
                .raw
                .chunks_exact(4)
                .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect(),
            (INT32, true) => self.int32s.iter().map(|&x| i64::from(x)).collect(),
            (t, _) => return Err(what(&format!("element type {t} (expected an integer)"))),
        };
        if v.len() != n {
            return Err(Error::Malformed(format!(
                "tensor '{}': {} values for dimensions {:?}",
                self.name,
                v.len(),
                self.dims
            )));
        }
        Ok(v)
    }
}

/// One `AttributeProto`, reduced to the value kinds this crate reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attribute {
    /// Name.
    pub name: String,
    /// `f`.
    pub f: Option<f32>,
    /// `i`.
    pub i: Option<i64>,
    /// `s`.
    pub s: Option<Vec<u8>>,
    /// `t`.
    pub t: Option<TensorProto>,
    /// `ints`.
    pub ints: Vec<i64>,
    /// `floats`.
    pub floats: Vec<f32>,
    /// `strings`.
    pub strings: Vec<Vec<u8>>,
    /// Whether it holds a kind not read here (a graph, sparse tensor, type proto).
    pub other: bool,
}

/// One `NodeProto`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    /// Operator.
    pub op_type: String,
    /// Operator domain (empty: the default ONNX domain).
    pub domain: String,
    /// Input names ("" for an omitted optional input).
    pub inputs: Vec<String>,
    /// Output names ("" for an omitted optional output).
    pub outputs: Vec<String>,
    /// Attributes.
    pub attributes: Vec<Attribute>,
}

impl Node {
    /// The attribute `name`, if set.
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

/// The parts of a `ModelProto` this crate reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    /// Nodes in file order.
    pub nodes: Vec<Node>,
    /// Initializers.
    pub initializers: Vec<TensorProto>,
    /// Graph input names (initializers may be listed too, in old files).
    pub inputs: Vec<String>,
    /// Graph output names.
    pub outputs: Vec<String>,
    /// Version of the default-domain operator set.
    pub opset: Option<i64>,
}

/// A protobuf message being read.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A field's value as read from the wire.
enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32([u8; 4]),
}

fn malformed(m: &str) -> Error {
    Error::Malformed(m.to_string())
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, Error> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| malformed("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(malformed("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| malformed("field runs past the end of its message"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next field (number, value), or `None` at the end of the message.
    fn field(&mut self) -> Result<Option<(u32, Value<'a>)>, Error> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| malformed("field number out of range"))?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let n = usize::try_from(self.varint()?)
                    .map_err(|_| malformed("length out of range"))?;
                Value::Bytes(self.take(n)?)
            }
            5 => Value::Fixed32(self.take(4)?.try_into().map_err(|_| malformed("fixed32"))?),
            w => return Err(malformed(&format!("unsupported wire type {w}"))),
        };
        Ok(Some((number, value)))
    }
}

fn bytes<'a>(v: &Value<'a>) -> Result<&'a [u8], Error> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(malformed("expected a length-delimited field")),
    }
}

fn string(v: &Value<'_>) -> Result<String, Error> {
    String::from_utf8(bytes(v)?.to_vec()).map_err(|_| malformed("a name is not UTF-8"))
}

/// Appends a repeated int64 field's value(s): one varint, or a packed run of them.
fn push_varints(v: &Value<'_>, out: &mut Vec<i64>) -> Result<(), Error> {
    match v {
        Value::Varint(x) => out.push(*x as i64),
        Value::Bytes(b) => {
            let mut r = Reader::new(b);
            while r.pos < b.len() {
                out.push(r.varint()? as i64);
            }
        }
        _ => return Err(malformed("expected an integer field")),
    }
    Ok(())
}

/// Appends a repeated float field's value(s): one fixed32, or a packed run of them.
fn push_floats(v: &Value<'_>, out: &mut Vec<f32>) -> Result<(), Error> {
    match v {
        Value::Fixed32(b) => out.push(f32::from_le_bytes(*b)),
        Value::Bytes(b) if b.len() % 4 == 0 => out.extend(
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        _ => return Err(malformed("expected a float field")),
    }
    Ok(())
}

fn tensor(buf: &[u8]) -> Result<TensorProto, Error> {
    let mut t = TensorProto::default();
    let mut r = Reader::new(buf);
    while let Some((n, v)) = r.field()? {
        match n {
            1 => push_varints(&v, &mut t.dims)?,
            2 => match v {
                Value::Varint(x) => t.data_type = x as i32,
                _ => return Err(malformed("tensor data_type")),
            },
            4 => push_floats(&v, &mut t.floats)?,
            5 => {
                let mut tmp = Vec::new();
                push_varints(&v, &mut tmp)?;
                t.int32s.extend(tmp.into_iter().map(|x| x as i32));
            }
            7 => push_varints(&v, &mut t.int64s)?,
            8 => t.name = string(&v)?,
            9 => t.raw = bytes(&v)?.to_vec(),
            14 => t.external = matches!(v, Value::Varint(1)),
            _ => {}
        }
    }
    Ok(t)
}

fn attribute(buf: &[u8]) -> Result<Attribute, Error> {
    let mut a = Attribute::default();
    let mut r = Reader::new(buf);
    while let Some((n, v)) = r.field()? {
        match n {
            1 => a.name = string(&v)?,
            2 => match v {
                Value::Fixed32(b) => a.f = Some(f32::from_le_bytes(b)),
                _ => return Err(malformed("attribute f")),
            },
            3 => match v {
                Value::Varint(x) => a.i = Some(x as i64),
                _ => return Err(malformed("attribute i")),
            },
            4 => a.s = Some(bytes(&v)?.to_vec()),
            5 => a.t = Some(tensor(bytes(&v)?)?),
            7 => push_floats(&v, &mut a.floats)?,
            8 => push_varints(&v, &mut a.ints)?,
            9 => a.strings.push(bytes(&v)?.to_vec()),
            6 | 10 | 11 | 22 | 23 | 14 | 15 => a.other = true,
            _ => {}
        }
    }
    Ok(a)
}

fn node(buf: &[u8]) -> Result<Node, Error> {
    let mut x = Node::default();
    let mut r = Reader::new(buf);
    while let Some((n, v)) = r.field()? {
        match n {
            1 => x.inputs.push(string(&v)?),
            2 => x.outputs.push(string(&v)?),
            4 => x.op_type = string(&v)?,
            5 => x.attributes.push(attribute(bytes(&v)?)?),
            7 => x.domain = string(&v)?,
            _ => {}
        }
    }
    Ok(x)
}

/// The name of a `ValueInfoProto`.
fn value_info_name(buf: &[u8]) -> Result<String, Error> {
    let mut r = Reader::new(buf);
    while let Some((n, v)) = r.field()? {
        if n == 1 {
            return string(&v);
        }
    }
    Ok(String::new())
}

/// Reads the graph of an ONNX model file.
pub fn read_model(buf: &[u8]) -> Result<Graph, Error> {
    let mut g = Graph::default();
    let mut seen_graph = false;
    let mut r = Reader::new(buf);
    while let Some((n, v)) = r.field()? {
        match n {
            // opset_import: OperatorSetIdProto { domain = 1, version = 2 }.
            8 => {
                let (mut domain, mut version) = (String::new(), None);
                let mut o = Reader::new(bytes(&v)?);
                while let Some((k, w)) = o.field()? {
                    match (k, w) {
                        (1, w) => domain = string(&w)?,
                        (2, Value::Varint(x)) => version = Some(x as i64),
                        _ => {}
                    }
                }
                if domain.is_empty() || domain == "ai.onnx" {
                    g.opset = version;
                }
            }
            7 => {
                seen_graph = true;
                let mut gr = Reader::new(bytes(&v)?);
                while let Some((k, w)) = gr.field()? {
                    match k {
                        1 => g.nodes.push(node(bytes(&w)?)?),
                        5 => g.initializers.push(tensor(bytes(&w)?)?),
                        11 => g.inputs.push(value_info_name(bytes(&w)?)?),
                        12 => g.outputs.push(value_info_name(bytes(&w)?)?),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if !seen_graph {
        return Err(malformed("no graph in the model"));
    }
    Ok(g)
}
