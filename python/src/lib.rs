//! Python bindings of archconv (issue 18): the module `archconv._archconv`, wrapped by
//! the pure-Python package `archconv` (python/archconv). Glue only: every number comes
//! from the `archconv` crate. Arrays come in as read-only NumPy views (no copy, any
//! strides) and go out as NumPy arrays that own the Rust buffers (no copy); the GIL is
//! released while Rust computes; every Rust error is raised as a Python exception with
//! the Rust message.

use ::archconv as ac;
use ac::kernel::npy::What;
use ac::kernel::ntk::NtkVariant;
use ac::kernel::tiles::PointTerms as RsTerms;
use ac::kernel::{KernelFn as RsKernelFn, KernelKind};
use ac::model::{EdgeParams, LiftParams};
use ac::montecarlo::{self, McInputs, McParams, Precision, Sampler};
use ac::predict::{self, Time};
use ndarray::{Array1, Array2};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayDescrMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

create_exception!(
    _archconv,
    ArchconvError,
    PyValueError,
    "Base class of archconv's errors (a ValueError); the message is the Rust error's."
);
create_exception!(
    _archconv,
    ParseError,
    ArchconvError,
    "An architecture text that does not parse."
);
create_exception!(
    _archconv,
    KernelError,
    ArchconvError,
    "Kernel inputs, rules or ranges."
);
create_exception!(
    _archconv,
    SpectrumError,
    ArchconvError,
    "A matrix that is not a kernel, or a failed eigensolver."
);
create_exception!(
    _archconv,
    MonteCarloError,
    ArchconvError,
    "A finite-width simulation that cannot run."
);
create_exception!(
    _archconv,
    PredictError,
    ArchconvError,
    "Predictions from kernels: shapes, noise, times."
);
create_exception!(
    _archconv,
    NasError,
    ArchconvError,
    "NAS-Bench-201 data files."
);
create_exception!(
    _archconv,
    MemoryBudgetError,
    ArchconvError,
    "A request larger than the memory budget (archconv.set_memory_limit)."
);

fn kernel_err(e: ac::kernel::KernelError) -> PyErr {
    match e {
        ac::kernel::KernelError::Memory(m) => MemoryBudgetError::new_err(m.to_string()),
        e => KernelError::new_err(e.to_string()),
    }
}

// ---------------------------------------------------------------------------- arrays

/// A 2-D float64 NumPy array argument, or a TypeError / ValueError naming `name`.
fn matrix<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<PyReadonlyArray2<'py, f64>> {
    let arr = obj.cast::<PyUntypedArray>().map_err(|_| {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        PyTypeError::new_err(format!(
            "{name}: expected a 2-D numpy.ndarray of float64, got {ty}; use numpy.asarray({name}, dtype=numpy.float64)"
        ))
    })?;
    if arr.ndim() != 2 {
        return Err(PyValueError::new_err(format!(
            "{name}: expected a 2-D array (points x features), got {}-D with shape {:?}",
            arr.ndim(),
            arr.shape()
        )));
    }
    let dtype = arr.dtype();
    if !dtype.is_equiv_to(&numpy::dtype::<f64>(obj.py())) {
        return Err(PyTypeError::new_err(format!(
            "{name}: expected dtype float64, got {} (shape {:?}); convert with {name}.astype(numpy.float64)",
            dtype.str()?,
            arr.shape()
        )));
    }
    Ok(obj.extract::<PyReadonlyArray2<'py, f64>>()?)
}

/// `matrix`, and every entry finite.
fn data<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<PyReadonlyArray2<'py, f64>> {
    let a = matrix(obj, name)?;
    if let Some(((i, j), v)) = a.as_array().indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "{name}: entry [{i}, {j}] is {v}; every entry must be finite"
        )));
    }
    Ok(a)
}

fn optional_data<'py>(
    obj: Option<&Bound<'py, PyAny>>,
    name: &str,
) -> PyResult<Option<PyReadonlyArray2<'py, f64>>> {
    match obj {
        Some(o) if !o.is_none() => Ok(Some(data(o, name)?)),
        _ => Ok(None),
    }
}

fn out2<'py>(py: Python<'py>, a: Array2<f64>) -> Bound<'py, PyArray2<f64>> {
    a.into_pyarray(py)
}

fn out1<'py>(py: Python<'py>, a: Vec<f64>) -> Bound<'py, PyArray1<f64>> {
    Array1::from(a).into_pyarray(py)
}

/// An optional float as Python writes it.
fn py_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "None".to_string(), |x| format!("{x:?}"))
}

// ---------------------------------------------------------------------------- Dag

/// A DAG architecture: nodes `0..n`, edges `(from, to, op)`; node 0 is the input and the
/// last node the output.
///
/// >>> import archconv
/// >>> d = archconv.Dag.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|none~2|")
/// >>> d.num_nodes, len(d.edges)
/// (4, 6)
#[pyclass(module = "archconv._archconv", name = "Dag", frozen)]
#[derive(Clone)]
struct Dag {
    inner: ac::Dag,
}

#[pymethods]
impl Dag {
    /// Parses an architecture in any format archconv reads (the format is recognised
    /// from the text): an MLP code like ``2_21_112``, a NAS-Bench-201 string ``|...|``,
    /// a DARTS ``Genotype(...)``, a JSON edge list ``{...}``, or ``ws(nodes=…, k=…, p=…)``.
    #[staticmethod]
    fn parse(text: &str) -> PyResult<Dag> {
        ac::Dag::parse(text)
            .map(|inner| Dag { inner })
            .map_err(|e| ParseError::new_err(e.to_string()))
    }

    /// The paper's DAG#1, #2 or #3 (``which`` = 1, 2, 3).
    #[staticmethod]
    fn paper(which: usize) -> PyResult<Dag> {
        let inner = match which {
            1 => ac::Dag::dag1(),
            2 => ac::Dag::dag2(),
            3 => ac::Dag::dag3(),
            _ => {
                return Err(PyValueError::new_err(format!(
                    "which: the paper has DAG#1, #2 and #3, not {which}"
                )))
            }
        };
        Ok(Dag { inner })
    }

    /// A chain of ``depth`` linear edges.
    #[staticmethod]
    fn chain(depth: usize) -> PyResult<Dag> {
        if depth == 0 {
            return Err(PyValueError::new_err(
                "depth: a chain needs at least one edge, got 0",
            ));
        }
        Ok(Dag {
            inner: ac::Dag::chain(depth),
        })
    }

    /// The same DAG with every linear edge given ``activation`` (e.g. ``"relu"``,
    /// ``"erf"``, ``"tanh"``, ``"gelu"``, ``"abrelu(a=0.2,b=1)"``), weight variance
    /// ``sw2`` and bias variance ``sb2``.
    #[pyo3(signature = (activation, sw2, sb2 = 0.0))]
    fn with_params(&self, activation: &str, sw2: f64, sb2: f64) -> PyResult<Dag> {
        let act = ac::activation::Activation::parse(activation)
            .map_err(|e| PyValueError::new_err(format!("activation: {e}")))?;
        let p = EdgeParams::new(act, sw2, sb2).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Dag {
            inner: self.inner.clone().with_all_params(&p),
        })
    }

    /// The JSON edge list (``Dag.parse`` reads it back).
    fn to_json(&self) -> String {
        ac::dag::format::json::to_json(&self.inner)
    }

    /// Number of nodes.
    #[getter]
    fn num_nodes(&self) -> usize {
        self.inner.num_nodes()
    }

    /// The edges as ``(from, to, label)``.
    #[getter]
    fn edges(&self) -> Vec<(usize, usize, String)> {
        self.inner
            .edges()
            .iter()
            .map(|e| (e.from, e.to, e.label().to_string()))
            .collect()
    }

    /// The path statistics (PAPER.md section 3).
    fn path_stats(&self) -> PyResult<PathStats> {
        ac::PathStats::of(&self.inner)
            .map(|inner| PathStats { inner })
            .map_err(|e| ArchconvError::new_err(e.to_string()))
    }

    fn __repr__(&self) -> String {
        format!("Dag({})", self.inner.describe())
    }

    fn __eq__(&self, other: &Dag) -> bool {
        ac::dag::format::json::to_json(&self.inner) == ac::dag::format::json::to_json(&other.inner)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let parse = py.get_type::<Dag>().getattr("parse")?;
        (parse, (slf.get().to_json(),)).into_pyobject(py)
    }
}

/// Path statistics of a DAG: the number of input-output paths, their depth histogram,
/// effective depth ``dbar = sum_l l P_l / P`` and width ``mbar = P / dbar`` (PAPER.md
/// section 3). Undefined quantities (no path, zero depth) are ``None``, with the reason
/// in ``undefined``.
#[pyclass(module = "archconv._archconv", name = "PathStats", frozen)]
struct PathStats {
    inner: ac::PathStats,
}

#[pymethods]
impl PathStats {
    /// The exact number of paths (a Python int of any size).
    #[getter]
    fn num_paths(&self) -> num_bigint::BigUint {
        self.inner.num_paths_exact().to_biguint()
    }

    /// ``histogram[l]``: the number of paths with ``l`` linear edges.
    #[getter]
    fn histogram(&self) -> Vec<num_bigint::BigUint> {
        self.inner
            .histogram_exact()
            .iter()
            .map(|c| c.to_biguint())
            .collect()
    }

    /// ``sum_l l P_l``.
    #[getter]
    fn depth_sum(&self) -> num_bigint::BigUint {
        self.inner.depth_sum_exact().to_biguint()
    }

    /// Effective depth (float), or None.
    #[getter]
    fn effective_depth(&self) -> Option<f64> {
        self.inner.effective_depth()
    }

    /// Effective width (float), or None.
    #[getter]
    fn effective_width(&self) -> Option<f64> {
        self.inner.effective_width()
    }

    /// Effective depth as ``(numerator, denominator)`` in lowest terms, or None.
    #[getter]
    fn effective_depth_exact(&self) -> Option<(u128, u128)> {
        self.inner.effective_depth_exact().map(|r| (r.num, r.den))
    }

    /// Effective width as ``(numerator, denominator)`` in lowest terms, or None.
    #[getter]
    fn effective_width_exact(&self) -> Option<(u128, u128)> {
        self.inner.effective_width_exact().map(|r| (r.num, r.den))
    }

    /// Why depth and width are undefined, or None when they are defined.
    #[getter]
    fn undefined(&self) -> Option<String> {
        self.inner.undefined().map(|u| u.to_string())
    }

    fn __repr__(&self) -> String {
        format!(
            "PathStats(num_paths={}, effective_depth={}, effective_width={})",
            self.inner.num_paths_exact().to_biguint(),
            py_opt(self.inner.effective_depth()),
            py_opt(self.inner.effective_width())
        )
    }
}

// ---------------------------------------------------------------------------- kernels

fn kind_of(kind: &str) -> PyResult<KernelKind> {
    KernelKind::ALL
        .into_iter()
        .find(|k| k.name() == kind || k.name().replace('-', "_") == kind)
        .ok_or_else(|| {
            let names: Vec<&str> = KernelKind::ALL.iter().map(|k| k.name()).collect();
            PyValueError::new_err(format!("kind: expected one of {names:?}, got '{kind}'"))
        })
}

fn variant_of(variant: &str) -> PyResult<NtkVariant> {
    match variant {
        "full" => Ok(NtkVariant::Full),
        "frozen-lift" | "frozen_lift" => Ok(NtkVariant::FrozenLift),
        "readout-only" | "readout_only" => Ok(NtkVariant::ReadoutOnly),
        _ => Err(PyValueError::new_err(format!(
            "variant: expected 'full', 'frozen-lift' or 'readout-only', got '{variant}'"
        ))),
    }
}

fn what_of(what: &str, variant: &str) -> PyResult<What> {
    match what {
        "nngp" => Ok(What::Nngp),
        "ntk" => Ok(What::Ntk(variant_of(variant)?)),
        _ => Err(PyValueError::new_err(format!(
            "what: expected 'nngp' or 'ntk', got '{what}'"
        ))),
    }
}

/// The lift's constructor arguments, kept for pickling.
#[derive(Clone)]
struct LiftSpec {
    lift: String,
    sw2: Option<f64>,
    sb2: Option<f64>,
    stem_activation: Option<String>,
}

impl LiftSpec {
    fn params(&self) -> PyResult<LiftParams> {
        let bad =
            |e: ac::model::ModelError| PyValueError::new_err(format!("lift_sw2/lift_sb2: {e}"));
        match self.lift.as_str() {
            "dense" => {
                if self.stem_activation.is_some() {
                    return Err(PyValueError::new_err(
                        "stem_activation: needs lift='relu-stem'",
                    ));
                }
                LiftParams::dense_with(self.sw2.unwrap_or(1.0), self.sb2.unwrap_or(0.0))
                    .map_err(bad)
            }
            "relu-stem" | "relu_stem" | "stem" => {
                let act = match &self.stem_activation {
                    Some(a) => ac::activation::Activation::parse(a)
                        .map_err(|e| PyValueError::new_err(format!("stem_activation: {e}")))?,
                    None => ac::activation::Activation::Relu,
                };
                LiftParams::stem(act, self.sw2.unwrap_or(2.0), self.sb2.unwrap_or(0.0)).map_err(bad)
            }
            other => Err(PyValueError::new_err(format!(
                "lift: expected 'dense' or 'relu-stem', got '{other}'"
            ))),
        }
    }
}

/// A network's kernel function of two point sets: ``k.nngp(x1, x2)`` and
/// ``k.ntk(x1, x2)``, as neural-tangents' ``kernel_fn(x1, x2)``.
///
/// ``kind``: ``"exact"`` (the exact recursion, PAPER.md section 7), ``"independent-branch"``
/// or ``"path-sum"``. ``lift``: ``"dense"`` (``K^0 = sw2 x x^T / d + sb2``) or
/// ``"relu-stem"`` (a stem activation on it; ``stem_activation`` picks another).
/// Rows are scaled to ``||x_i||^2 = d`` unless ``normalize=False``.
///
/// >>> import numpy as np, archconv
/// >>> k = archconv.KernelFn(archconv.Dag.paper(3))
/// >>> x = np.random.default_rng(0).standard_normal((5, 3))
/// >>> k.nngp(x).shape, k.ntk(x, x[:2]).shape
/// ((5, 5), (5, 2))
#[pyclass(module = "archconv._archconv", name = "KernelFn", frozen)]
struct KernelFn {
    inner: RsKernelFn,
    dag: Dag,
    kind: String,
    spec: LiftSpec,
    normalize: bool,
}

#[pymethods]
impl KernelFn {
    #[new]
    #[pyo3(signature = (dag, kind = "exact", lift = "dense", lift_sw2 = None, lift_sb2 = None, stem_activation = None, normalize = true))]
    fn new(
        dag: &Dag,
        kind: &str,
        lift: &str,
        lift_sw2: Option<f64>,
        lift_sb2: Option<f64>,
        stem_activation: Option<String>,
        normalize: bool,
    ) -> PyResult<KernelFn> {
        let spec = LiftSpec {
            lift: lift.to_string(),
            sw2: lift_sw2,
            sb2: lift_sb2,
            stem_activation,
        };
        let k = kind_of(kind)?;
        let mut inner = RsKernelFn::new(&dag.inner, spec.params()?, k);
        if !normalize {
            inner = inner.unnormalized();
        }
        Ok(KernelFn {
            inner,
            dag: dag.clone(),
            kind: k.name().to_string(),
            spec,
            normalize,
        })
    }

    /// The DAG.
    #[getter]
    fn dag(&self) -> Dag {
        self.dag.clone()
    }

    /// The rule's name.
    #[getter]
    fn kind(&self) -> &str {
        &self.kind
    }

    /// The lift, as archconv writes it.
    #[getter]
    fn lift(&self) -> String {
        self.inner.lift().to_string()
    }

    /// Whether rows are normalised to ``||x_i||^2 = d``.
    #[getter]
    fn normalize(&self) -> bool {
        self.normalize
    }

    /// The output NNGP ``K(x1, x2)`` (``N1 x N2``), or ``K(x1, x1)`` when ``x2`` is None.
    #[pyo3(signature = (x1, x2 = None))]
    fn nngp<'py>(
        &self,
        py: Python<'py>,
        x1: &Bound<'py, PyAny>,
        x2: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let a = data(x1, "x1")?;
        let b = optional_data(x2, "x2")?;
        let (va, vb) = (a.as_array(), b.as_ref().map(|b| b.as_array()));
        let k = py.detach(|| self.inner.nngp(va, vb)).map_err(kernel_err)?;
        Ok(out2(py, k))
    }

    /// The output NTK ``Theta(x1, x2)``; ``variant``: ``"full"`` (readout, every linear
    /// edge and the lift), ``"frozen-lift"`` or ``"readout-only"``.
    #[pyo3(signature = (x1, x2 = None, variant = "full"))]
    fn ntk<'py>(
        &self,
        py: Python<'py>,
        x1: &Bound<'py, PyAny>,
        x2: Option<&Bound<'py, PyAny>>,
        variant: &str,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let v = variant_of(variant)?;
        let a = data(x1, "x1")?;
        let b = optional_data(x2, "x2")?;
        let (va, vb) = (a.as_array(), b.as_ref().map(|b| b.as_array()));
        let k = py
            .detach(|| self.inner.ntk(va, vb, v))
            .map_err(kernel_err)?;
        Ok(out2(py, k))
    }

    /// The NTK of the standard-parameterised network of width ``width`` on ``x``
    /// (``Theta_SP = m K^H + 1 + ...``; Kaiming readout).
    fn ntk_standard<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        width: usize,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let a = data(x, "x")?;
        let va = a.as_array();
        let k = py
            .detach(|| self.inner.ntk_standard(va, width))
            .map_err(kernel_err)?;
        Ok(out2(py, k))
    }

    /// The output NNGP's diagonal ``K_ii`` alone (``O(N)`` per node).
    fn nngp_diag<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let a = data(x, "x")?;
        let va = a.as_array();
        let d = py.detach(|| self.inner.nngp_diag(va)).map_err(kernel_err)?;
        Ok(out1(py, d.to_vec()))
    }

    /// Every node's blocks: a list (node order) of dicts with ``gram`` = ``K^t(x1, x2)``,
    /// ``mean1`` and ``mean2`` = ``mu^t`` over each set.
    fn nodes<'py>(
        &self,
        py: Python<'py>,
        x1: &Bound<'py, PyAny>,
        x2: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let a = data(x1, "x1")?;
        let b = data(x2, "x2")?;
        let (va, vb) = (a.as_array(), b.as_array());
        let states = py.detach(|| self.inner.nodes(va, vb)).map_err(kernel_err)?;
        let list = PyList::empty(py);
        for s in states {
            let d = PyDict::new(py);
            d.set_item("gram", out2(py, s.gram))?;
            d.set_item("mean1", out1(py, s.mean1.to_vec()))?;
            d.set_item("mean2", out1(py, s.mean2.to_vec()))?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// The per-point terms of ``x`` (every node's diagonal and mean at each point, and
    /// the log-scales of the whole set): computed once, then shared by every tile.
    fn point_terms(&self, py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<PointTerms> {
        let a = data(x, "x")?;
        let va = a.as_array();
        let t = py
            .detach(|| self.inner.point_terms(va))
            .map_err(kernel_err)?;
        Ok(PointTerms { inner: t })
    }

    /// The block of the output kernel of rows ``x1`` against columns ``x2`` from their
    /// per-point terms (``t1``, ``t2``: ``PointTerms.select`` of the whole set's terms);
    /// with ``x2`` None the symmetric kernel of ``x1``. ``what``: ``"nngp"`` or ``"ntk"``.
    #[pyo3(signature = (x1, t1, x2 = None, t2 = None, what = "nngp", variant = "full"))]
    #[allow(clippy::too_many_arguments)]
    fn tile<'py>(
        &self,
        py: Python<'py>,
        x1: &Bound<'py, PyAny>,
        t1: &PointTerms,
        x2: Option<&Bound<'py, PyAny>>,
        t2: Option<&PointTerms>,
        what: &str,
        variant: &str,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let w = what_of(what, variant)?;
        let a = data(x1, "x1")?;
        let b = optional_data(x2, "x2")?;
        let second = match (&b, t2) {
            (Some(b), Some(t2)) => Some((b.as_array(), &t2.inner)),
            (None, None) => None,
            _ => {
                return Err(PyValueError::new_err(
                    "x2 and t2: give both (a cross tile) or neither (a symmetric tile)",
                ))
            }
        };
        let va = a.as_array();
        let k = py
            .detach(|| self.inner.tile(va, &t1.inner, second, w))
            .map_err(kernel_err)?;
        Ok(out2(py, k))
    }

    /// The estimated peak bytes of one ``tile`` call of ``n1 x n2`` entries (``n2`` None:
    /// the symmetric ``n1 x n1`` tile), with this process's threads.
    #[pyo3(signature = (n1, n2 = None, what = "nngp"))]
    fn tile_bytes(&self, n1: usize, n2: Option<usize>, what: &str) -> PyResult<u64> {
        self.inner
            .tile_bytes(n1, n2, what_of(what, "full")?)
            .ok_or_else(|| PyValueError::new_err(format!("a {n1} x {n2:?} tile's size overflows")))
    }

    fn __repr__(&self) -> String {
        format!(
            "KernelFn({}, kind={:?}, lift={:?}, normalize={})",
            self.dag.inner.describe(),
            self.kind,
            self.inner.lift().to_string(),
            if self.normalize { "True" } else { "False" }
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let me = slf.get();
        let s = &me.spec;
        let args = (
            me.dag.clone(),
            me.kind.clone(),
            s.lift.clone(),
            s.sw2,
            s.sb2,
            s.stem_activation.clone(),
            me.normalize,
        );
        (py.get_type::<KernelFn>(), args).into_pyobject(py)
    }
}

/// Per-point terms of a point set for ``KernelFn.tile`` (picklable, for Dask).
#[pyclass(module = "archconv._archconv", name = "PointTerms", frozen)]
struct PointTerms {
    inner: RsTerms,
}

#[pymethods]
impl PointTerms {
    /// Terms rebuilt from ``parts()`` (what pickling uses).
    #[staticmethod]
    fn from_parts(
        fingerprint: u64,
        nodes: Vec<usize>,
        log_scales: Vec<f64>,
        diag: PyReadonlyArray2<'_, f64>,
        mean: PyReadonlyArray2<'_, f64>,
    ) -> PyResult<PointTerms> {
        RsTerms::from_parts(
            fingerprint,
            nodes,
            log_scales,
            diag.as_array().to_owned(),
            mean.as_array().to_owned(),
        )
        .map(|inner| PointTerms { inner })
        .map_err(kernel_err)
    }

    /// ``(fingerprint, nodes, log_scales, diag, mean)``.
    fn parts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let (fp, nodes, lambda, diag, mean) = self.inner.parts();
        (
            fp,
            nodes.to_vec(),
            lambda.to_vec(),
            out2(py, diag.clone()),
            out2(py, mean.clone()),
        )
            .into_pyobject(py)
    }

    /// The terms of points ``start:stop``.
    fn select(&self, start: usize, stop: usize) -> PyResult<PointTerms> {
        self.inner
            .select(start..stop)
            .map(|inner| PointTerms { inner })
            .map_err(kernel_err)
    }

    /// The output's log-scale (the kernel's largest diagonal entry is ``exp`` of it).
    #[getter]
    fn log_scale(&self) -> f64 {
        self.inner.log_scale()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "PointTerms(points={}, log_scale={})",
            self.inner.len(),
            self.inner.log_scale()
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let f = py.get_type::<PointTerms>().getattr("from_parts")?;
        (f, slf.get().parts(py)?).into_pyobject(py)
    }
}

// ---------------------------------------------------------------------------- spectra

fn square<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<PyReadonlyArray2<'py, f64>> {
    let a = data(obj, name)?;
    let (r, c) = a.as_array().dim();
    if r != c || r == 0 {
        return Err(PyValueError::new_err(format!(
            "{name}: expected a non-empty square matrix, got shape ({r}, {c})"
        )));
    }
    // A symmetric solver reads one triangle: a non-symmetric matrix would be answered
    // silently for another matrix.
    let m = a.as_array();
    let top = m.iter().fold(0.0f64, |t, v| t.max(v.abs()));
    for i in 0..r {
        for j in 0..i {
            if (m[[i, j]] - m[[j, i]]).abs() > 1e-12 * top {
                return Err(PyValueError::new_err(format!(
                    "{name}: not symmetric: {name}[{i}, {j}] = {} but {name}[{j}, {i}] = {}",
                    m[[i, j]],
                    m[[j, i]]
                )));
            }
        }
    }
    Ok(a)
}

fn spectrum_err(e: ac::spectrum::SpectrumError) -> PyErr {
    SpectrumError::new_err(e.to_string())
}

/// The smallest eigenvalue of the symmetric kernel matrix ``k`` (Cholesky and
/// shift-invert Krylov; equal to a full solver's to 1e-12 relative).
#[pyfunction]
fn lambda_min(py: Python<'_>, k: &Bound<'_, PyAny>) -> PyResult<f64> {
    let a = square(k, "k")?;
    let m = a.as_array().to_owned();
    py.detach(|| ac::spectrum::lambda_min(&m))
        .map_err(spectrum_err)
}

/// The largest eigenvalue of ``k``.
#[pyfunction]
fn lambda_max(py: Python<'_>, k: &Bound<'_, PyAny>) -> PyResult<f64> {
    let a = square(k, "k")?;
    let m = a.as_array().to_owned();
    py.detach(|| ac::spectrum::lambda_max(&m))
        .map_err(spectrum_err)
}

/// Every eigenvalue of the symmetric matrix ``k``, ascending.
#[pyfunction]
fn eigenvalues<'py>(py: Python<'py>, k: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let a = square(k, "k")?;
    let m = a.as_array().to_owned();
    let e = py
        .detach(|| ac::spectrum::eigenvalues(&m))
        .map_err(spectrum_err)?;
    Ok(out1(py, e))
}

/// ``lambda_min``, ``lambda_max``, the condition number and the trace of ``k`` as a dict.
#[pyfunction]
fn spectrum_summary<'py>(py: Python<'py>, k: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let a = square(k, "k")?;
    let m = a.as_array().to_owned();
    let s = py
        .detach(|| ac::SpectrumSummary::of(&m))
        .map_err(spectrum_err)?;
    let v = serde_json::to_value(&s).map_err(|e| ArchconvError::new_err(e.to_string()))?;
    json_dict(py, &v)
}

fn json_dict<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyDict>> {
    let json = py.import("json")?;
    let obj = json.call_method1("loads", (v.to_string(),))?;
    Ok(obj.cast_into::<PyDict>()?)
}

// ---------------------------------------------------------------------------- Monte Carlo

/// Finite-width Monte Carlo of ``dag`` on the points ``x``: ``seeds`` networks of width
/// ``width`` (network ``seed + s`` for ``s < seeds``, bit-identical for any thread count),
/// every node's empirical Gram against the closed forms. Returns a dict: ``gram`` and
/// ``gram_se`` (the output node's mean Gram and its standard errors), ``lambda_min``
/// (mean, sd, se, ci over networks), ``lambda_min_of_mean``, ``comparisons`` (per rule:
/// relative Frobenius distance of the mean Gram and per network), and
/// ``seconds_per_network``.
#[pyfunction]
#[pyo3(signature = (dag, x, width = 1024, seeds = 16, seed = 0, sampler = "conditional", precision = "f32", lift = "dense", normalize = true))]
#[allow(clippy::too_many_arguments)]
fn monte_carlo<'py>(
    py: Python<'py>,
    dag: &Dag,
    x: &Bound<'py, PyAny>,
    width: usize,
    seeds: usize,
    seed: u64,
    sampler: &str,
    precision: &str,
    lift: &str,
    normalize: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let a = data(x, "x")?;
    let lift = match lift {
        "dense" => ac::Lift::Dense,
        "relu-stem" | "relu_stem" => ac::Lift::ReluStem,
        o => {
            return Err(PyValueError::new_err(format!(
                "lift: expected 'dense' or 'relu-stem', got '{o}'"
            )))
        }
    };
    let sampler = match sampler {
        "conditional" => Sampler::Conditional,
        "explicit" => Sampler::Explicit,
        o => {
            return Err(PyValueError::new_err(format!(
                "sampler: expected 'conditional' or 'explicit', got '{o}'"
            )))
        }
    };
    let precision = match precision {
        "f32" => Precision::F32,
        "f64" => Precision::F64,
        o => {
            return Err(PyValueError::new_err(format!(
                "precision: expected 'f32' or 'f64', got '{o}'"
            )))
        }
    };
    let mc_err = |e: montecarlo::McError| MonteCarloError::new_err(e.to_string());
    let va = a.as_array();
    let inp = if normalize {
        McInputs::from_data(va, lift)
    } else {
        McInputs::from_data_unnormalized(va, lift)
    }
    .map_err(mc_err)?;
    let params = McParams {
        width,
        seeds,
        seed,
        sampler,
        precision,
        ..McParams::default()
    };
    let r = py
        .detach(|| montecarlo::run(&dag.inner, &inp, &params, &|| {}))
        .map_err(mc_err)?;
    let d = PyDict::new(py);
    let out = r.nodes.last().expect("an output node");
    d.set_item("gram", out2(py, out.gram.clone()))?;
    if let Some(se) = &out.gram_se {
        d.set_item("gram_se", out2(py, se.clone()))?;
    } else {
        d.set_item("gram_se", py.None())?;
    }
    let grams = PyList::empty(py);
    for n in &r.nodes {
        grams.append(out2(py, n.gram.clone()))?;
    }
    d.set_item("node_grams", grams)?;
    let lm = PyDict::new(py);
    lm.set_item("samples", r.lambda_min.samples)?;
    lm.set_item("mean", r.lambda_min.mean)?;
    lm.set_item("sd", r.lambda_min.sd)?;
    lm.set_item("se", r.lambda_min.se)?;
    lm.set_item("ci", r.lambda_min.ci)?;
    lm.set_item("level", r.lambda_min.level)?;
    d.set_item("lambda_min", lm)?;
    d.set_item("lambda_min_of_mean", r.lambda_min_of_mean)?;
    let cmp = PyDict::new(py);
    for c in &r.comparisons {
        let e = PyDict::new(py);
        e.set_item("rel_frobenius_of_mean", c.rel_frobenius_of_mean)?;
        e.set_item("rel_frobenius_mean", c.rel_frobenius.mean)?;
        e.set_item("rel_frobenius_se", c.rel_frobenius.se)?;
        e.set_item("kernel_lambda_min", c.kernel_lambda_min)?;
        cmp.set_item(c.kind.name(), e)?;
    }
    d.set_item("comparisons", cmp)?;
    d.set_item("seconds_per_network", r.seconds_per_network)?;
    d.set_item("width", width)?;
    d.set_item("seeds", seeds)?;
    d.set_item("seed", seed)?;
    Ok(d)
}

// ---------------------------------------------------------------------------- predictions

fn predict_err(e: predict::PredictError) -> PyErr {
    PredictError::new_err(e.to_string())
}

/// The NNGP posterior mean (``N* x c``) and, with ``k_test_diag``, the variance of each
/// test point, from the training NNGP ``k_train``, targets ``y``, the test-train block
/// ``k_test_train`` and the observation noise. Returns ``(mean, variance or None, jitter)``.
#[pyfunction]
#[pyo3(signature = (k_train, y, k_test_train, k_test_diag = None, noise = 0.0))]
fn nngp_posterior<'py>(
    py: Python<'py>,
    k_train: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    k_test_train: &Bound<'py, PyAny>,
    k_test_diag: Option<PyReadonlyArray1<'py, f64>>,
    noise: f64,
) -> PyResult<Bound<'py, PyTuple>> {
    let k = data(k_train, "k_train")?.as_array().to_owned();
    let yy = data(y, "y")?.as_array().to_owned();
    let kt = data(k_test_train, "k_test_train")?.as_array().to_owned();
    let kd = k_test_diag.map(|d| d.as_array().to_owned());
    let p = py
        .detach(|| predict::nngp_posterior(&k, &yy, &kt, kd.as_ref(), noise))
        .map_err(predict_err)?;
    let var = p.variance.map(|v| out1(py, v.to_vec()));
    (out2(py, p.mean), var, p.jitter).into_pyobject(py)
}

fn time_of(t: Option<f64>, lr: Option<f64>, steps: Option<u64>) -> PyResult<Time> {
    match (t, lr, steps) {
        (Some(t), None, None) => Ok(Time::Flow(t)),
        (None, Some(lr), Some(steps)) => Ok(Time::Steps { lr, steps }),
        (None, None, None) => Ok(Time::Converged),
        _ => Err(PyValueError::new_err(
            "time: give t (gradient flow), or lr and steps (gradient descent), or none (converged)",
        )),
    }
}

/// Gradient-descent dynamics of the linearised network on MSE from the training NTK
/// ``theta`` and targets ``y`` (``df/dt = -Theta (f - y)``, from ``f_0 = 0``): predictions
/// at flow time ``t``, or after ``steps`` steps of rate ``lr``, or converged (neither).
#[pyclass(module = "archconv._archconv", name = "NtkDynamics", frozen)]
struct NtkDynamics {
    inner: predict::NtkDynamics,
}

#[pymethods]
impl NtkDynamics {
    #[new]
    fn new(
        py: Python<'_>,
        theta: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
    ) -> PyResult<NtkDynamics> {
        let th = data(theta, "theta")?.as_array().to_owned();
        let yy = data(y, "y")?.as_array().to_owned();
        let inner = py
            .detach(|| predict::NtkDynamics::new(&th, &yy))
            .map_err(predict_err)?;
        Ok(NtkDynamics { inner })
    }

    /// The largest stable learning rate ``2 / lambda_max``.
    #[getter]
    fn max_stable_lr(&self) -> f64 {
        self.inner.max_stable_lr()
    }

    /// The training NTK's eigenvalues, ascending.
    #[getter]
    fn eigenvalues<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        out1(py, self.inner.eigenvalues().to_vec())
    }

    /// The mean prediction on the training points.
    #[pyo3(signature = (t = None, lr = None, steps = None))]
    fn train_mean<'py>(
        &self,
        py: Python<'py>,
        t: Option<f64>,
        lr: Option<f64>,
        steps: Option<u64>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let time = time_of(t, lr, steps)?;
        Ok(out2(py, self.inner.train_mean(time).map_err(predict_err)?))
    }

    /// The mean prediction on test points from the test-train NTK block.
    #[pyo3(signature = (theta_test_train, t = None, lr = None, steps = None))]
    fn test_mean<'py>(
        &self,
        py: Python<'py>,
        theta_test_train: &Bound<'py, PyAny>,
        t: Option<f64>,
        lr: Option<f64>,
        steps: Option<u64>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let time = time_of(t, lr, steps)?;
        let tt = data(theta_test_train, "theta_test_train")?
            .as_array()
            .to_owned();
        let m = py
            .detach(|| self.inner.test_mean(&tt, time))
            .map_err(predict_err)?;
        Ok(out2(py, m))
    }

    /// The mean prediction's training loss ``1/2 ||f_t - y||^2`` at each flow time in
    /// ``times``.
    fn loss_curve(&self, times: Vec<f64>) -> PyResult<Vec<f64>> {
        let ts: Vec<Time> = times.into_iter().map(Time::Flow).collect();
        self.inner.loss_curve(&ts).map_err(predict_err)
    }
}

/// One-hot targets (``N x classes``) of integer labels.
#[pyfunction]
fn one_hot<'py>(
    py: Python<'py>,
    labels: Vec<i64>,
    classes: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let mut ls = Vec::with_capacity(labels.len());
    for (i, &l) in labels.iter().enumerate() {
        if l < 0 || l as usize >= classes || l > 255 {
            return Err(PyValueError::new_err(format!(
                "labels: entry {i} is {l}, outside 0..{classes}"
            )));
        }
        ls.push(l as u8);
    }
    Ok(out2(py, predict::one_hot(&ls, classes)))
}

// ---------------------------------------------------------------------------- NAS-Bench-201

/// Every NAS-Bench-201 cell's arch string, in the benchmark's order (15,625).
#[pyfunction]
fn nb201_cells() -> Vec<String> {
    ac::dag::format::Nb201Arch::all()
        .map(|a| a.to_string())
        .collect()
}

/// Every NAS-Bench-201 cell as ``(arch, effective depth or None, effective width or
/// None)`` in the benchmark's order.
#[pyfunction]
fn nb201_points() -> Vec<(String, Option<f64>, Option<f64>)> {
    ac::space::nb201_points()
        .into_iter()
        .map(|p| {
            (
                p.arch,
                p.depth.map(|r| r.to_f64()),
                p.width.map(|r| r.to_f64()),
            )
        })
        .collect()
}

/// The paper's filter box of the NAS-Bench-201 space: ``((c_d, c_m), (r_d, r_m))``,
/// center and half-ranges of effective depth and width.
#[pyfunction]
fn nb201_filter() -> ((f64, f64), (f64, f64)) {
    let (_, f) = ac::nas::nb201_geometry();
    (f.center, f.radius)
}

/// The NAS-Bench-201 test accuracies (percent) found in ``data_dir``: a dict with
/// ``arch`` (list), ``cifar10``, ``cifar100``, ``imagenet16`` (lists) and ``file``.
#[pyfunction]
fn nb201_accuracies<'py>(
    py: Python<'py>,
    data_dir: std::path::PathBuf,
) -> PyResult<Bound<'py, PyDict>> {
    let t = ac::nas::table::Nb201Table::load_from_dir(&data_dir)
        .map_err(|e| NasError::new_err(e.to_string()))?;
    let d = PyDict::new(py);
    let rec = t.records();
    d.set_item(
        "arch",
        rec.iter().map(|r| r.arch.clone()).collect::<Vec<_>>(),
    )?;
    for (k, name) in ["cifar10", "cifar100", "imagenet16"].iter().enumerate() {
        d.set_item(
            *name,
            rec.iter().map(|r| r.accuracies[k]).collect::<Vec<_>>(),
        )?;
    }
    d.set_item("file", t.file().display().to_string())?;
    Ok(d)
}

// ---------------------------------------------------------------------------- budget

/// Sets the process-wide memory budget in bytes (every large allocation is checked
/// against it first; a request past it raises MemoryBudgetError).
#[pyfunction]
fn set_memory_limit(bytes: u64) {
    ac::budget::set_limit(bytes);
}

/// The process-wide memory budget in bytes.
#[pyfunction]
fn memory_limit() -> u64 {
    ac::budget::limit()
}

/// The linear-algebra backend archconv was built with.
#[pyfunction]
fn linalg_backend() -> &'static str {
    ac::LINALG_BACKEND
}

#[pymodule]
fn _archconv(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ArchconvError", py.get_type::<ArchconvError>())?;
    m.add("ParseError", py.get_type::<ParseError>())?;
    m.add("KernelError", py.get_type::<KernelError>())?;
    m.add("SpectrumError", py.get_type::<SpectrumError>())?;
    m.add("MonteCarloError", py.get_type::<MonteCarloError>())?;
    m.add("PredictError", py.get_type::<PredictError>())?;
    m.add("NasError", py.get_type::<NasError>())?;
    m.add("MemoryBudgetError", py.get_type::<MemoryBudgetError>())?;
    m.add_class::<Dag>()?;
    m.add_class::<PathStats>()?;
    m.add_class::<KernelFn>()?;
    m.add_class::<PointTerms>()?;
    m.add_class::<NtkDynamics>()?;
    m.add_function(wrap_pyfunction!(lambda_min, m)?)?;
    m.add_function(wrap_pyfunction!(lambda_max, m)?)?;
    m.add_function(wrap_pyfunction!(eigenvalues, m)?)?;
    m.add_function(wrap_pyfunction!(spectrum_summary, m)?)?;
    m.add_function(wrap_pyfunction!(monte_carlo, m)?)?;
    m.add_function(wrap_pyfunction!(nngp_posterior, m)?)?;
    m.add_function(wrap_pyfunction!(one_hot, m)?)?;
    m.add_function(wrap_pyfunction!(nb201_cells, m)?)?;
    m.add_function(wrap_pyfunction!(nb201_points, m)?)?;
    m.add_function(wrap_pyfunction!(nb201_filter, m)?)?;
    m.add_function(wrap_pyfunction!(nb201_accuracies, m)?)?;
    m.add_function(wrap_pyfunction!(set_memory_limit, m)?)?;
    m.add_function(wrap_pyfunction!(memory_limit, m)?)?;
    m.add_function(wrap_pyfunction!(linalg_backend, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
