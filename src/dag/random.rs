//! Seeded random DAGs: Watts-Strogatz graphs oriented into DAGs, as in RandWire (Xie,
//! Kirillov, Girshick and He, *Exploring Randomly Wired Neural Networks for Image
//! Recognition*, ICCV 2019).
//!
//! # Construction
//!
//! [`WattsStrogatz`] `WS(n, k, p)` with `n` nodes, `k` even, `2 <= k < n`, `0 <= p <= 1`:
//!
//! 1. **Ring lattice.** Ring nodes `u = 0..n`; the undirected edges
//!    `{u, (u + j) mod n}` for `j = 1..=k/2` and every `u`: each node is joined to its `k`
//!    nearest neighbours, `n k / 2` edges in all.
//! 2. **Rewiring** (as `networkx.watts_strogatz_graph`). For `j = 1..=k/2`, for
//!    `u = 0..n` in order: with probability `p`, the edge `{u, (u + j) mod n}` becomes
//!    `{u, w}`, `w` uniform over the ring nodes that are neither `u` nor already joined to
//!    `u` (left alone when `u` is joined to every other node). The edge count stays
//!    `n k / 2`; there are no self-loops or multi-edges.
//! 3. **Orientation.** Each edge `{a, b}` points from the lower index to the higher one,
//!    `min(a, b) -> max(a, b)`, so the graph is acyclic.
//! 4. **Single input and output.** Ring node `u` becomes DAG node `u + 1`; a new input
//!    node `0` feeds every ring node without a predecessor, and every ring node without a
//!    successor feeds a new output node `n + 1`. The DAG has `n + 2` nodes and
//!    `n k / 2 + #sources + #sinks` edges; every node lies on an input-output path
//!    (walk back to a source and forward to a sink), so no connectivity retries are
//!    needed (RandWire's `connected_watts_strogatz_graph` retries until connected).
//!
//! Every edge is [`Op::Linear`] (`relu(W x)`), except that with a skip fraction `f`
//! exactly `round(f E)` of the `E` edges, drawn uniformly without replacement, are
//! [`Op::Skip`]. All draws come from one ChaCha8 stream seeded by `seed`, in the order
//! above (rewiring, then skips): a seed gives the same DAG on every platform and thread
//! count.
//!
//! In text, [`WattsStrogatz::parse`] and [`Dag::parse`] accept
//! `ws(nodes=1000, k=4, p=0.75, seed=1)` (optional `seed`, default 0, and `skip`, the
//! skip fraction, default 0; keys in any order).
//!
//! ```
//! use archconv::dag::random::WattsStrogatz;
//! use archconv::{Dag, PathStats};
//! let ws = WattsStrogatz::new(1000, 4, 0.75)?.with_seed(1);
//! let dag = ws.dag()?;
//! assert_eq!(dag.num_nodes(), 1002);
//! assert_eq!(dag.inputs(), &[0]);
//! assert_eq!(Dag::parse("ws(nodes=1000, k=4, p=0.75, seed=1)")?, dag);
//! let sources = dag.out_edges(0).count();
//! let sinks = dag.in_edges(1001).count();
//! assert_eq!(dag.edges().len(), 1000 * 4 / 2 + sources + sinks);
//! assert!(*PathStats::of(&dag)?.num_paths_exact() > 1u128);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{Dag, Edge, Op, MAX_NODES};
use crate::budget::BudgetError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;
use std::fmt;

/// Parameters of a seeded Watts-Strogatz DAG (module docs: construction and formula).
///
/// [`WattsStrogatz::new`] validates; [`WattsStrogatz::dag`] builds. `Display` writes the
/// text form `ws(nodes=…, k=…, p=…, seed=…)` that [`WattsStrogatz::parse`] reads back.
///
/// ```
/// use archconv::dag::random::WattsStrogatz;
/// let ws = WattsStrogatz::new(10, 4, 0.5)?.with_seed(7).with_skip_fraction(0.25)?;
/// assert_eq!(ws.to_string(), "ws(nodes=10,k=4,p=0.5,seed=7,skip=0.25)");
/// assert_eq!(WattsStrogatz::parse(&ws.to_string())?, ws);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WattsStrogatz {
    nodes: usize,
    k: usize,
    p: f64,
    skip_fraction: f64,
    seed: u64,
}

/// Invalid [`WattsStrogatz`] parameters, or a graph too large to build.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WattsStrogatzError {
    /// `k` is odd: each node needs `k / 2` neighbours on either side.
    #[error("Watts-Strogatz k = {k} is odd: each node is joined to k/2 neighbours on each side, so k must be even")]
    OddK {
        /// The given `k`.
        k: usize,
    },
    /// `k` is outside `2..nodes`.
    #[error("Watts-Strogatz k = {k} with {nodes} nodes: k must satisfy 2 <= k < nodes")]
    KOutOfRange {
        /// The given `k`.
        k: usize,
        /// The given ring size.
        nodes: usize,
    },
    /// A probability (`p` or the skip fraction) is outside `[0, 1]` or not a number.
    #[error("Watts-Strogatz {name} = {value} is not a probability in [0, 1]")]
    NotAProbability {
        /// `p` or `skip`.
        name: &'static str,
        /// The given value.
        value: f64,
    },
    /// `nodes + 2` (ring plus input and output) exceeds [`MAX_NODES`].
    #[error("Watts-Strogatz with {nodes} ring nodes gives a DAG of {} nodes, more than the {max} this crate accepts", nodes.saturating_add(2))]
    TooManyNodes {
        /// The given ring size.
        nodes: usize,
        /// [`MAX_NODES`].
        max: usize,
    },
    /// The edge list would not fit in the memory budget ([`crate::budget`]).
    #[error(transparent)]
    Memory(#[from] BudgetError),
}

/// Bytes per generated edge, for the memory estimate: the [`Edge`] itself, its index in
/// the DAG's by-source order, the adjacency set entry and the ring list entry.
const BYTES_PER_EDGE: usize = std::mem::size_of::<Edge>() + 8 + 32 + 16;

impl WattsStrogatz {
    /// `WS(nodes, k, p)` with seed 0 and no skips.
    ///
    /// ```
    /// use archconv::dag::random::{WattsStrogatz, WattsStrogatzError};
    /// assert!(WattsStrogatz::new(100, 4, 0.75).is_ok());
    /// assert_eq!(WattsStrogatz::new(100, 3, 0.75), Err(WattsStrogatzError::OddK { k: 3 }));
    /// assert!(WattsStrogatz::new(4, 4, 0.75).is_err());   // k < nodes
    /// assert!(WattsStrogatz::new(100, 4, 1.5).is_err());
    /// ```
    pub fn new(nodes: usize, k: usize, p: f64) -> Result<WattsStrogatz, WattsStrogatzError> {
        if nodes > MAX_NODES - 2 {
            return Err(WattsStrogatzError::TooManyNodes {
                nodes,
                max: MAX_NODES,
            });
        }
        if k % 2 == 1 {
            return Err(WattsStrogatzError::OddK { k });
        }
        if k < 2 || k >= nodes {
            return Err(WattsStrogatzError::KOutOfRange { k, nodes });
        }
        check_probability("p", p)?;
        Ok(WattsStrogatz {
            nodes,
            k,
            p,
            skip_fraction: 0.0,
            seed: 0,
        })
    }

    /// The same parameters with another seed.
    pub fn with_seed(self, seed: u64) -> WattsStrogatz {
        WattsStrogatz { seed, ..self }
    }

    /// The same parameters with `round(skip_fraction * E)` of the `E` edges skips.
    ///
    /// ```
    /// use archconv::{dag::random::WattsStrogatz, Op};
    /// let dag = WattsStrogatz::new(100, 4, 0.5)?.with_skip_fraction(0.25)?.dag()?;
    /// let e = dag.edges().len() as f64;
    /// assert_eq!(dag.count(Op::Skip), (0.25 * e).round() as usize);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_skip_fraction(
        self,
        skip_fraction: f64,
    ) -> Result<WattsStrogatz, WattsStrogatzError> {
        check_probability("skip", skip_fraction)?;
        Ok(WattsStrogatz {
            skip_fraction,
            ..self
        })
    }

    /// Ring size `n` (the DAG has `n + 2` nodes).
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Neighbours per ring node `k`.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Rewiring probability `p`.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Fraction of skip edges.
    pub fn skip_fraction(&self) -> f64 {
        self.skip_fraction
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Reads the text form `ws(nodes=N, k=K, p=P[, seed=S][, skip=F])` (keys in any order,
    /// blanks allowed between tokens). Errors name the byte position, with a caret.
    ///
    /// ```
    /// use archconv::dag::random::WattsStrogatz;
    /// let ws = WattsStrogatz::parse("ws(nodes=1000, k=4, p=0.75, seed=1)")?;
    /// assert_eq!((ws.nodes(), ws.k(), ws.p(), ws.seed()), (1000, 4, 0.75, 1));
    /// let e = WattsStrogatz::parse("ws(nodes=1000, k=3, p=0.75)").unwrap_err();
    /// assert!(e.to_string().contains("at byte 17"), "{e}");
    /// # Ok::<(), archconv::dag::format::ParseError>(())
    /// ```
    pub fn parse(text: &str) -> Result<WattsStrogatz, crate::dag::format::ParseError> {
        crate::dag::format::randwire::parse(text)
    }

    /// Builds the DAG (module docs). The edge list's memory is checked against the budget
    /// ([`crate::budget`]) first.
    pub fn dag(&self) -> Result<Dag, WattsStrogatzError> {
        let n = self.nodes;
        let half = self.k / 2;
        let ring_edges = n * half;
        crate::budget::check(
            format!(
                "Watts-Strogatz DAG ({n} nodes, k = {}, {ring_edges} ring edges)",
                self.k
            ),
            crate::budget::bytes(ring_edges + 2 * n, BYTES_PER_EDGE),
        )?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        // Ring lattice: edge (j - 1) * n + u joins u and (u + j) mod n.
        let mut ring: Vec<(u32, u32)> = Vec::with_capacity(ring_edges);
        let mut adjacent: HashSet<(u32, u32)> = HashSet::with_capacity(ring_edges);
        let key = |a: u32, b: u32| (a.min(b), a.max(b));
        for j in 1..=half {
            for u in 0..n {
                let (a, b) = (u as u32, ((u + j) % n) as u32);
                ring.push((a, b));
                adjacent.insert(key(a, b));
            }
        }
        let mut degree = vec![self.k; n];
        for j in 1..=half {
            for u in 0..n {
                if rng.random::<f64>() >= self.p {
                    continue;
                }
                let index = (j - 1) * n + u;
                let (a, b) = ring[index];
                if degree[u] >= n - 1 {
                    continue;
                }
                let w = loop {
                    let w = rng.random_range(0..n as u32);
                    if w != a && !adjacent.contains(&key(a, w)) {
                        break w;
                    }
                };
                adjacent.remove(&key(a, b));
                adjacent.insert(key(a, w));
                degree[b as usize] -= 1;
                degree[w as usize] += 1;
                ring[index] = (a, w);
            }
        }
        drop(adjacent);
        // Orient low -> high, shift by one, add the input and output edges.
        let output = n + 1;
        let mut has_pred = vec![false; n];
        let mut has_succ = vec![false; n];
        let mut edges: Vec<Edge> = Vec::with_capacity(ring_edges + n);
        for &(a, b) in &ring {
            let (s, t) = (a.min(b) as usize, a.max(b) as usize);
            has_succ[s] = true;
            has_pred[t] = true;
            edges.push(Edge::new(s + 1, t + 1, Op::Linear));
        }
        drop(ring);
        for u in 0..n {
            if !has_pred[u] {
                edges.push(Edge::new(0, u + 1, Op::Linear));
            }
            if !has_succ[u] {
                edges.push(Edge::new(u + 1, output, Op::Linear));
            }
        }
        let skips = (self.skip_fraction * edges.len() as f64).round() as usize;
        if skips > 0 {
            for i in rand::seq::index::sample(&mut rng, edges.len(), skips) {
                edges[i].op = Op::Skip;
            }
        }
        Ok(Dag::new(n + 2, edges).expect("a Watts-Strogatz DAG is valid by construction"))
    }
}

fn check_probability(name: &'static str, value: f64) -> Result<(), WattsStrogatzError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(WattsStrogatzError::NotAProbability { name, value })
    }
}

impl fmt::Display for WattsStrogatz {
    /// `ws(nodes=N,k=K,p=P,seed=S)`, with `,skip=F` when the skip fraction is not 0.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ws(nodes={},k={},p={},seed={}",
            self.nodes, self.k, self.p, self.seed
        )?;
        if self.skip_fraction != 0.0 {
            write!(f, ",skip={}", self.skip_fraction)?;
        }
        f.write_str(")")
    }
}

impl std::str::FromStr for WattsStrogatz {
    type Err = crate::dag::format::ParseError;

    /// [`WattsStrogatz::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WattsStrogatz::parse(s)
    }
}
