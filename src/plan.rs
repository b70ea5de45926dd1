//! One plan of a DAG, shared by the consumers that traverse it (kernels, NTK).
//!
//! Nodes are numbered in topological order (every edge has `from < to`), so the plan is
//! that order plus, per node, the indices of its non-zero in- and out-edges, per linear
//! edge the id of its [`EdgeParams`] among the DAG's distinct ones (so maps such as
//! `F_e(K^s)` are computed once per source node and parameter set), and the liveness of
//! each node's state (the last node that reads it).
//!
//! ```
//! use archconv::{Dag, plan::Plan};
//! let dag = Dag::dag3();
//! let plan = Plan::of(&dag);
//! assert_eq!(plan.distinct_params().len(), 1);         // all edges: relu, sw2 = 2
//! assert_eq!(plan.last_reader(0), Some(3));             // node 0 feeds the output
//! assert_eq!(plan.in_edges(3).len(), 3);
//! ```

use crate::dag::{Dag, Edge, Role};
use crate::model::EdgeParams;

/// A present edge as the plan's consumers see it: its [`Role`], with a layer's parameter
/// set given by its id among the DAG's distinct ones. Consumers `match` on it with no
/// wildcard arm (absent edges are in no node's in- or out-edges, so there is no
/// `Absent` step); a new [`Role`] makes [`Plan::step`] and then each of them fail to
/// compile until it is handled.
///
/// ```
/// use archconv::{Dag, plan::{Plan, Step}};
/// let dag = Dag::dag3();
/// let plan = Plan::of(&dag);
/// let steps: Vec<Step> = plan.in_edges(3).iter().map(|&i| plan.step(i)).collect();
/// assert!(steps.contains(&Step::Identity { from: 0 }));
/// assert!(steps.contains(&Step::Layer { from: 2, pid: 0 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// [`Role::Identity`]: `X^t += X^s`.
    Identity {
        /// The source node.
        from: usize,
    },
    /// [`Role::Layer`]: `X^t += phi(sqrt(sw2/m) W X^s + sqrt(sb2) b)`, parameters
    /// [`Plan::params`]`(pid)`.
    Layer {
        /// The source node.
        from: usize,
        /// The parameter-set id.
        pid: usize,
    },
}

impl Step {
    /// The source node.
    pub fn from(self) -> usize {
        match self {
            Step::Identity { from } | Step::Layer { from, .. } => from,
        }
    }
}

/// The traversal plan of a [`Dag`] (module docs).
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    dag: &'a Dag,
    params: Vec<EdgeParams>,
    edge_pid: Vec<Option<usize>>,
    in_edges: Vec<Vec<usize>>,
    out_edges: Vec<Vec<usize>>,
    last_reader: Vec<Option<usize>>,
}

impl<'a> Plan<'a> {
    /// Builds the plan in `O(nodes + edges)` (parameter sets are deduplicated by hash).
    pub fn of(dag: &'a Dag) -> Plan<'a> {
        let n = dag.num_nodes();
        let mut params: Vec<EdgeParams> = Vec::new();
        let mut ids: std::collections::HashMap<&EdgeParams, usize> = Default::default();
        let mut edge_pid = Vec::with_capacity(dag.edges().len());
        let mut in_edges = vec![Vec::new(); n];
        let mut out_edges = vec![Vec::new(); n];
        let mut last_reader = vec![None; n];
        for (i, e) in dag.edges().iter().enumerate() {
            let role = e.role();
            let pid = match role {
                Role::Layer { params: p, .. } => Some(*ids.entry(p).or_insert_with(|| {
                    params.push(p.clone());
                    params.len() - 1
                })),
                Role::Identity { .. } | Role::Absent => None,
            };
            edge_pid.push(pid);
            if role != Role::Absent {
                in_edges[e.to].push(i);
                out_edges[e.from].push(i);
                last_reader[e.from] =
                    Some(last_reader[e.from].map_or(e.to, |r: usize| r.max(e.to)));
            }
        }
        Plan {
            dag,
            params,
            edge_pid,
            in_edges,
            out_edges,
            last_reader,
        }
    }

    /// The DAG.
    pub fn dag(&self) -> &'a Dag {
        self.dag
    }

    /// Edge `i` of [`Dag::edges`].
    pub fn edge(&self, i: usize) -> &'a Edge {
        &self.dag.edges()[i]
    }

    /// Indices of node `t`'s non-zero incoming edges (by source).
    pub fn in_edges(&self, t: usize) -> &[usize] {
        &self.in_edges[t]
    }

    /// Indices of node `s`'s non-zero outgoing edges (by target).
    pub fn out_edges(&self, s: usize) -> &[usize] {
        &self.out_edges[s]
    }

    /// Edge `i`'s [`Step`] (it must be a present edge: one listed by [`Plan::in_edges`]).
    ///
    /// # Panics
    /// On an absent edge, which no in- or out-edge list holds.
    pub fn step(&self, i: usize) -> Step {
        let e = self.edge(i);
        match e.role() {
            Role::Identity { from } => Step::Identity { from },
            Role::Layer { from, .. } => Step::Layer {
                from,
                pid: self.edge_pid[i].expect("every layer edge has a parameter set"),
            },
            Role::Absent => panic!("edge {i} is absent: no plan list holds it"),
        }
    }

    /// The parameter-set id of linear edge `i` (`None` for skip and zero edges).
    pub fn pid(&self, i: usize) -> Option<usize> {
        self.edge_pid[i]
    }

    /// The parameter set with id `pid`.
    pub fn params(&self, pid: usize) -> &EdgeParams {
        &self.params[pid]
    }

    /// The DAG's distinct parameter sets, in order of first appearance.
    pub fn distinct_params(&self) -> &[EdgeParams] {
        &self.params
    }

    /// The last node that reads node `s` through an edge (`None`: nothing reads it).
    pub fn last_reader(&self, s: usize) -> Option<usize> {
        self.last_reader[s]
    }
}
