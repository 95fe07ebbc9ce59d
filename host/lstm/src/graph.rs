//! Recognises the one graph shape this crate runs: an ONNX `LSTM` over a batch of padded
//! sequences with per-row lengths, read at each row's last real step, followed by dense layers
//! and a softmax:
//!
//! ```text
//! lens  = Cast<int32>(Max(n, 1))
//! h     = Squeeze(LSTM(Transpose(x, perm=[1,0,2]), W, R, B, lens).Y_h, axes=[0])
//! probs = Softmax(Gemm(... Relu(Gemm(h, W1, b1)) ..., Wk, bk), axis=1)
//! ```
//!
//! Anything else — another operator, an attribute with a non-default value (direction, clip,
//! activations, layout), a node whose output is used twice, extra graph inputs or outputs — is
//! [`Error::Unsupported`], and the caller keeps its general runtime for that model.

use crate::proto::{self, Graph, Node, TensorProto};
use crate::{Dense, Error, LstmClassifier};
use std::collections::HashMap;

fn unsupported(m: impl Into<String>) -> Error {
    Error::Unsupported(m.into())
}

/// The graph with lookups by name.
struct Index<'g> {
    g: &'g Graph,
    producer: HashMap<&'g str, usize>,
    consumers: HashMap<&'g str, Vec<usize>>,
    init: HashMap<&'g str, &'g TensorProto>,
    used: Vec<bool>,
}

impl<'g> Index<'g> {
    fn new(g: &'g Graph) -> Self {
        let mut producer = HashMap::new();
        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in g.nodes.iter().enumerate() {
            for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                producer.insert(o.as_str(), i);
            }
            for x in n.inputs.iter().filter(|x| !x.is_empty()) {
                consumers.entry(x.as_str()).or_default().push(i);
            }
        }
        let init = g
            .initializers
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        Index {
            g,
            producer,
            consumers,
            init,
            used: vec![false; g.nodes.len()],
        }
    }

    fn is_graph_input(&self, name: &str) -> bool {
        !self.init.contains_key(name) && self.g.inputs.iter().any(|i| i == name)
    }

    /// The node producing `name`, which must be `op`; marks it used.
    fn producer(&mut self, name: &str, op: &str) -> Result<&'g Node, Error> {
        let i = *self
            .producer
            .get(name)
            .ok_or_else(|| unsupported(format!("'{name}' is not computed by a {op} node")))?;
        let n = &self.g.nodes[i];
        if n.op_type != op {
            return Err(unsupported(format!(
                "'{name}' comes from {}, expected {op}",
                n.op_type
            )));
        }
        self.used[i] = true;
        Ok(n)
    }

    /// The only node reading `name` (which must not also be a graph output); marks it used.
    fn only_consumer(&mut self, name: &str) -> Result<&'g Node, Error> {
        let c = self.consumers.get(name).map(Vec::as_slice).unwrap_or(&[]);
        if c.len() != 1 || self.g.outputs.iter().any(|o| o == name) {
            return Err(unsupported(format!(
                "'{name}' is read {} times (expected once, by the next layer)",
                c.len()
            )));
        }
        self.used[c[0]] = true;
        Ok(&self.g.nodes[c[0]])
    }

    fn initializer(&self, name: &str) -> Result<&'g TensorProto, Error> {
        self.init
            .get(name)
            .copied()
            .ok_or_else(|| unsupported(format!("'{name}' is not a constant initializer")))
    }

    fn is_unused(&self, name: &str) -> bool {
        name.is_empty()
            || (!self.consumers.contains_key(name) && !self.g.outputs.iter().any(|o| o == name))
    }
}

fn int_attr(n: &Node, name: &str) -> Option<i64> {
    n.attr(name).and_then(|a| a.i)
}

/// Checks that `n` has no attributes besides `allowed`.
fn only_attrs(n: &Node, allowed: &[&str]) -> Result<(), Error> {
    match n
        .attributes
        .iter()
        .find(|a| !allowed.contains(&a.name.as_str()))
    {
        Some(a) => Err(unsupported(format!(
            "{} with attribute '{}'",
            n.op_type, a.name
        ))),
        None => Ok(()),
    }
}

/// Reads a recurrent classifier of the shape in the module docs from an ONNX graph.
pub(crate) fn recognise(g: &Graph) -> Result<LstmClassifier, Error> {
    if let Some(n) = g
        .nodes
        .iter()
        .find(|n| !(n.domain.is_empty() || n.domain == "ai.onnx"))
    {
        return Err(unsupported(format!(
            "operator {} of domain '{}'",
            n.op_type, n.domain
        )));
    }
    let mut ix = Index::new(g);
    let lstms: Vec<usize> = (0..g.nodes.len())
        .filter(|&i| g.nodes[i].op_type == "LSTM")
        .collect();
    let [li] = lstms[..] else {
        return Err(unsupported(format!(
            "{} LSTM nodes (expected one)",
            lstms.len()
        )));
    };
    ix.used[li] = true;
    let lstm = &g.nodes[li];
    only_attrs(
        lstm,
        &[
            "hidden_size",
            "direction",
            "activations",
            "input_forget",
            "layout",
        ],
    )?;
    if let Some(d) = lstm.attr("direction").and_then(|a| a.s.as_deref()) {
        if d != b"forward" {
            return Err(unsupported("LSTM direction other than forward"));
        }
    }
    if let Some(a) = lstm.attr("activations") {
        if a.strings != [b"Sigmoid".to_vec(), b"Tanh".to_vec(), b"Tanh".to_vec()] {
            return Err(unsupported(
                "LSTM activations other than Sigmoid, Tanh, Tanh",
            ));
        }
    }
    if int_attr(lstm, "input_forget").unwrap_or(0) != 0
        || int_attr(lstm, "layout").unwrap_or(0) != 0
    {
        return Err(unsupported("LSTM with input_forget or batch-first layout"));
    }
    let hidden = int_attr(lstm, "hidden_size")
        .and_then(|h| usize::try_from(h).ok())
        .filter(|&h| (1..=4096).contains(&h))
        .ok_or_else(|| unsupported("LSTM without a valid hidden_size"))?;
    let arg = |k: usize| lstm.inputs.get(k).map(String::as_str).unwrap_or("");
    if (5..8).any(|k| !arg(k).is_empty()) {
        return Err(unsupported("LSTM with initial states or peepholes"));
    }
    let out = |k: usize| lstm.outputs.get(k).map(String::as_str).unwrap_or("");
    if !ix.is_unused(out(0)) || !ix.is_unused(out(2)) || out(1).is_empty() {
        return Err(unsupported("LSTM whose Y or Y_c is used, or without Y_h"));
    }

    // x: Transpose(graph input, perm = [1, 0, 2]).
    let tr = ix.producer(arg(0), "Transpose")?;
    only_attrs(tr, &["perm"])?;
    if tr.attr("perm").map(|a| a.ints.as_slice()) != Some(&[1, 0, 2]) {
        return Err(unsupported("Transpose with a perm other than [1, 0, 2]"));
    }
    let x_name = tr.inputs.first().cloned().unwrap_or_default();
    if !ix.is_graph_input(&x_name) {
        return Err(unsupported("the LSTM does not read a graph input"));
    }

    // lens: Cast<int32>(Max(n, 1)).
    let cast = ix.producer(arg(4), "Cast")?;
    only_attrs(cast, &["to", "saturate"])?;
    if int_attr(cast, "to") != Some(i64::from(proto::INT32)) {
        return Err(unsupported("sequence lengths not cast to int32"));
    }
    let max = ix.producer(cast.inputs.first().map(String::as_str).unwrap_or(""), "Max")?;
    only_attrs(max, &[])?;
    let (n_name, one) = match &max.inputs[..] {
        [a, b] if ix.is_graph_input(a) => (a.clone(), b),
        [a, b] if ix.is_graph_input(b) => (b.clone(), a),
        _ => return Err(unsupported("Max not of a graph input and a constant")),
    };
    if ix.initializer(one)?.i64_values()? != [1] {
        return Err(unsupported(
            "sequence lengths bounded below by a value other than 1",
        ));
    }

    // Weights: W [1, 4H, F], R [1, 4H, H], B [1, 8H] (gate order i, o, f, c).
    let w = ix.initializer(arg(1))?;
    let r = ix.initializer(arg(2))?;
    let g4 = 4 * hidden as i64;
    let features = match w.dims[..] {
        [1, a, f] if a == g4 && f > 0 => f as usize,
        _ => return Err(unsupported(format!("LSTM W of shape {:?}", w.dims))),
    };
    if r.dims != [1, g4, hidden as i64] {
        return Err(unsupported(format!("LSTM R of shape {:?}", r.dims)));
    }
    let bias = if arg(3).is_empty() {
        vec![0.0; 8 * hidden]
    } else {
        let b = ix.initializer(arg(3))?;
        if b.dims != [1, 2 * g4] {
            return Err(unsupported(format!("LSTM B of shape {:?}", b.dims)));
        }
        b.f32_values()?
    };

    // h: Squeeze(Y_h, axes = [0]).
    let sq = ix.only_consumer(out(1))?;
    if sq.op_type != "Squeeze" {
        return Err(unsupported(format!("Y_h read by {}", sq.op_type)));
    }
    let axes = match (sq.inputs.get(1), sq.attr("axes")) {
        (Some(a), None) if !a.is_empty() => ix.initializer(a)?.i64_values()?,
        (None, Some(a)) => a.ints.clone(),
        _ => return Err(unsupported("Squeeze without explicit axes")),
    };
    if axes != [0] {
        return Err(unsupported("Squeeze of an axis other than 0"));
    }

    // Dense layers up to the softmax.
    let mut layers = Vec::new();
    let mut cur = sq.outputs.first().cloned().unwrap_or_default();
    let mut width = hidden;
    let output = loop {
        let n = ix.only_consumer(&cur)?;
        match n.op_type.as_str() {
            "Gemm" => {
                only_attrs(n, &["alpha", "beta", "transA", "transB"])?;
                let f = |k: &str| n.attr(k).and_then(|a| a.f).unwrap_or(1.0);
                if f("alpha") != 1.0 || f("beta") != 1.0 || int_attr(n, "transA").unwrap_or(0) != 0
                {
                    return Err(unsupported("Gemm with alpha, beta or transA"));
                }
                if n.inputs.first() != Some(&cur) {
                    return Err(unsupported(
                        "Gemm whose first input is not the previous layer",
                    ));
                }
                let trans_b = int_attr(n, "transB").unwrap_or(0) != 0;
                let wt = ix.initializer(n.inputs.get(1).map(String::as_str).unwrap_or(""))?;
                let (rows, cols) = match wt.dims[..] {
                    [a, b] if a > 0 && b > 0 => (a as usize, b as usize),
                    _ => return Err(unsupported(format!("Gemm weight of shape {:?}", wt.dims))),
                };
                let (n_in, n_out) = if trans_b { (cols, rows) } else { (rows, cols) };
                if n_in != width {
                    return Err(unsupported(format!(
                        "Gemm of {n_in} inputs after a layer of {width}"
                    )));
                }
                let wv = wt.f32_values()?;
                // Stored [in][out]: the kernel adds one input's column of weights at a time.
                let w_io: Vec<f32> = (0..n_in * n_out)
                    .map(|k| {
                        let (i, o) = (k / n_out, k % n_out);
                        if trans_b {
                            wv[o * n_in + i]
                        } else {
                            wv[i * n_out + o]
                        }
                    })
                    .collect();
                let b = match n.inputs.get(2).filter(|b| !b.is_empty()) {
                    None => vec![0.0; n_out],
                    Some(b) => {
                        let t = ix.initializer(b)?;
                        let v = t.f32_values()?;
                        if v.len() != n_out || t.dims.iter().rev().skip(1).any(|&d| d != 1) {
                            return Err(unsupported(format!("Gemm bias of shape {:?}", t.dims)));
                        }
                        v
                    }
                };
                layers.push(Dense {
                    n_in,
                    n_out,
                    w_io,
                    b,
                    relu: false,
                    w_pass: Vec::new(),
                    b_pad: Vec::new(),
                    padded: 0,
                });
                width = n_out;
            }
            "Relu" => {
                only_attrs(n, &[])?;
                match layers.last_mut() {
                    Some(l) if !l.relu => l.relu = true,
                    _ => return Err(unsupported("Relu not after a Gemm")),
                }
            }
            "Softmax" => {
                only_attrs(n, &["axis"])?;
                if !matches!(int_attr(n, "axis"), Some(1) | Some(-1) | None) || layers.is_empty() {
                    return Err(unsupported("Softmax over an axis other than the last"));
                }
                break n.outputs.first().cloned().unwrap_or_default();
            }
            op => return Err(unsupported(format!("operator {op} in the dense head"))),
        }
        cur = n.outputs.first().cloned().unwrap_or_default();
    };

    let real_inputs: Vec<&String> = g
        .inputs
        .iter()
        .filter(|i| !ix.init.contains_key(i.as_str()))
        .collect();
    if real_inputs.len() != 2 || g.outputs != [output.clone()] {
        return Err(unsupported(format!(
            "graph with inputs {real_inputs:?} and outputs {:?}",
            g.outputs
        )));
    }
    if let Some(i) = ix.used.iter().position(|u| !u) {
        return Err(unsupported(format!(
            "node {} ({}) outside the recognised chain",
            i, g.nodes[i].op_type
        )));
    }
    LstmClassifier::new(
        x_name,
        n_name,
        output,
        features,
        hidden,
        &w.f32_values()?,
        &r.f32_values()?,
        &bias,
        layers,
    )
}
