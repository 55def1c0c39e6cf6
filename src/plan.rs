//! Options and a filter of the Gaussian family (`filter.rs`) -> the 1D passes to run and how
//! their results combine, and the halo a block of a volume needs: device-neutral, shared by the
//! GPU and the CPU references.
//!
//! A filter is a list of terms, each a Gaussian derivative: one kernel (or none) per axis. The
//! terms' passes run in axis order 0, 1, 2, so terms whose first passes are the same share them:
//! the passes form a tree whose root is the input and whose leaves are the terms. Each node is one
//! pass, run once; buffers ("slots") are reused as soon as no pass still reads them.

pub(crate) use crate::filter::{Combine, Filter, Term, into_array, terms};
use crate::options::AxisKernel;
use crate::slabs::Halo;
use crate::{BlurError, BlurOptions, Mode};

/// A buffer of the plan: slot 0 holds the input.
pub(crate) type Slot = usize;

/// One step of a plan.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    /// The 1D pass along `axis` with `kernels[kernel]`, from `src` into `dst`.
    Pass {
        axis: usize,
        kernel: usize,
        src: Slot,
        dst: Slot,
    },
    /// Voxel by voxel: the sum of `inputs` (`norm` false) or the square root of the sum of their
    /// squares (`norm` true), into `dst`.
    Combine {
        inputs: Vec<Slot>,
        norm: bool,
        dst: Slot,
    },
}

/// The passes and combinations that compute a filter, over numbered buffers.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plan {
    /// What the plan computes.
    pub filter: Filter,
    /// The distinct kernels the passes use.
    pub kernels: Vec<AxisKernel>,
    pub steps: Vec<Step>,
    /// The slot of each output, in the filter's order (slot 0 where an output is the input).
    pub outputs: Vec<Slot>,
    /// Buffers the steps use, slot 0 included.
    pub slots: usize,
    /// Whether passes truncate their values toward zero (scipy's integer outputs).
    pub truncate_each_pass: bool,
}

impl Plan {
    /// The plan of `filter` with `opts` on a volume of `shape`. With `keep_input`, slot 0 is
    /// never written (a device-resident input the caller keeps); without, it is reused once
    /// read.
    pub fn new(
        opts: &BlurOptions,
        filter: Filter,
        shape: [usize; 3],
        keep_input: bool,
    ) -> Result<Self, BlurError> {
        crate::options::check_not_empty(shape)?;
        let (terms, combine) = terms(opts, filter)?;
        Ok(Self::from_terms(
            filter,
            &terms,
            combine,
            keep_input,
            opts.truncates_each_pass(),
        ))
    }

    fn from_terms(
        filter: Filter,
        terms: &[Term],
        combine: Combine,
        keep_input: bool,
        truncate: bool,
    ) -> Self {
        let mut builder = Builder {
            kernels: Vec::new(),
            nodes: vec![Node::default()],
            steps: Vec::new(),
            slots: Slots {
                free: Vec::new(),
                count: 1,
            },
        };
        // The tree: each term a path of (axis, kernel) passes from the root.
        let mut leaves = Vec::with_capacity(terms.len());
        for term in terms {
            let mut node = 0;
            for (axis, kernel) in term.iter().enumerate() {
                if let Some(k) = kernel {
                    let kernel = builder.kernel_index(k);
                    node = builder.child(node, axis, kernel);
                }
            }
            builder.nodes[node].leaf_of += 1;
            leaves.push(node);
        }
        // Only a kept input, or an input some term is (all its axes skipped), stays unwritten.
        builder.nodes[0].leaf_of += usize::from(keep_input);
        builder.visit(0, 0);
        let slot_of = |node: usize| builder.nodes[node].slot;
        let outputs = match combine {
            Combine::Each => leaves.iter().map(|&n| slot_of(n)).collect(),
            Combine::Sum if leaves.len() == 1 => vec![slot_of(leaves[0])],
            // No term: scipy returns the input as it is.
            Combine::Sum | Combine::Norm if leaves.is_empty() => vec![0],
            Combine::Sum | Combine::Norm => {
                let inputs: Vec<Slot> = leaves.iter().map(|&n| slot_of(n)).collect();
                let dst = builder.slots.take();
                builder.steps.push(Step::Combine {
                    inputs,
                    norm: combine == Combine::Norm,
                    dst,
                });
                vec![dst]
            }
        };
        Plan {
            filter,
            kernels: builder.kernels,
            steps: builder.steps,
            outputs,
            slots: builder.slots.count,
            truncate_each_pass: truncate,
        }
    }

    /// Whether there is nothing to compute: every output is the input.
    pub fn is_identity(&self) -> bool {
        self.steps.is_empty() && self.outputs.iter().all(|&s| s == 0)
    }

    /// The halo slabs (along axis 0) or tiles (along axis 1) need: the largest radius along
    /// `axis`, and its mode when every pass along it has the same one. Passes of different modes
    /// (the terms of a Laplacian with a mode per axis) take pieces that stop at the volume's
    /// edges, which is right unless one of them wraps.
    pub fn halo(&self, axis: usize) -> Result<Halo, BlurError> {
        let axis0: Vec<&AxisKernel> = self
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Pass {
                    axis: a, kernel, ..
                } if *a == axis => Some(&self.kernels[*kernel]),
                _ => None,
            })
            .collect();
        let radius = axis0.iter().map(|k| k.radius).max().unwrap_or(0);
        let Some(first) = axis0.first() else {
            return Ok(Halo {
                radius,
                mode: Mode::Reflect,
            });
        };
        if axis0.iter().all(|k| k.mode == first.mode) {
            return Ok(Halo {
                radius,
                mode: first.mode,
            });
        }
        if axis0.iter().any(|k| k.mode == Mode::Wrap) {
            return Err(BlurError::MixedModesInSlabs {
                filter: self.filter.name(),
            });
        }
        Ok(Halo {
            radius,
            mode: Mode::Constant(0.0),
        })
    }

    /// Number of 1D passes.
    #[cfg(test)]
    pub fn passes(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Pass { .. }))
            .count()
    }
}

/// The shape of any 3D array, as an array (input volumes and output arrays alike).
pub(crate) fn shape_of<S: ndarray::RawData>(
    vol: &ndarray::ArrayBase<S, ndarray::Ix3>,
) -> [usize; 3] {
    let (a, b, c) = vol.dim();
    [a, b, c]
}

#[derive(Default)]
struct Node {
    /// (axis, kernel, node) of each child, in the order the terms first reached them.
    children: Vec<(usize, usize, usize)>,
    /// How many terms end here (plus one for a kept input).
    leaf_of: usize,
    slot: Slot,
}

struct Slots {
    free: Vec<Slot>,
    count: usize,
}

impl Slots {
    fn take(&mut self) -> Slot {
        // The lowest free slot, so that plans reuse few buffers.
        self.free.sort_unstable_by(|a, b| b.cmp(a));
        self.free.pop().unwrap_or_else(|| {
            self.count += 1;
            self.count - 1
        })
    }
}

struct Builder {
    kernels: Vec<AxisKernel>,
    nodes: Vec<Node>,
    steps: Vec<Step>,
    slots: Slots,
}

impl Builder {
    fn kernel_index(&mut self, k: &AxisKernel) -> usize {
        self.kernels.iter().position(|x| x == k).unwrap_or_else(|| {
            self.kernels.push(k.clone());
            self.kernels.len() - 1
        })
    }

    fn child(&mut self, node: usize, axis: usize, kernel: usize) -> usize {
        let found = self.nodes[node]
            .children
            .iter()
            .find(|&&(a, k, _)| a == axis && k == kernel);
        if let Some(&(_, _, child)) = found {
            return child;
        }
        self.nodes.push(Node::default());
        let child = self.nodes.len() - 1;
        self.nodes[node].children.push((axis, kernel, child));
        child
    }

    /// Emits the passes below `node`, whose result is in `slot`: the passes of all its children
    /// one after another (along one axis from one input, a pass family may fuse them into one
    /// read of the input), then each child's subtree. A node's buffer is free for reuse once
    /// its children have read it.
    fn visit(&mut self, node: usize, slot: Slot) {
        self.nodes[node].slot = slot;
        let children = self.nodes[node].children.clone();
        let mut dsts = Vec::with_capacity(children.len());
        for &(axis, kernel, _) in &children {
            let dst = self.slots.take();
            self.steps.push(Step::Pass {
                axis,
                kernel,
                src: slot,
                dst,
            });
            dsts.push(dst);
        }
        if !children.is_empty() && self.nodes[node].leaf_of == 0 {
            self.slots.free.push(slot);
        }
        for (&(_, _, child), dst) in children.iter().zip(dsts) {
            self.visit(child, dst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(filter: Filter, opts: &BlurOptions) -> Plan {
        Plan::new(opts, filter, [8, 8, 8], false).unwrap()
    }

    #[test]
    fn a_blur_ping_pongs_between_two_buffers() {
        let p = plan(Filter::Gaussian, &BlurOptions::new(1.0));
        assert_eq!(p.passes(), 3);
        assert_eq!(p.slots, 2);
        let route: Vec<(Slot, Slot)> = p
            .steps
            .iter()
            .map(|s| match s {
                Step::Pass { src, dst, .. } => (*src, *dst),
                Step::Combine { .. } => panic!("no combine in a blur"),
            })
            .collect();
        assert_eq!(route, [(0, 1), (1, 0), (0, 1)]);
        assert_eq!(p.outputs, [1]);
        let skipped = plan(Filter::Gaussian, &BlurOptions::new([0.0, 1.0, 1e-16]));
        assert_eq!(skipped.passes(), 1);
        assert!(plan(Filter::Gaussian, &BlurOptions::new(0.0)).is_identity());
    }

    #[test]
    fn shared_passes_run_once() {
        let opts = BlurOptions::new(1.5);
        // Gradient magnitude: D0 G1 G2, G0 D1 G2, G0 G1 D2 share G0: 8 passes, one combine.
        let ggm = plan(Filter::GradientMagnitude, &opts);
        assert_eq!(ggm.passes(), 8);
        assert_eq!(ggm.outputs.len(), 1);
        assert!(
            matches!(ggm.steps.last(), Some(Step::Combine { norm: true, inputs, .. }) if inputs.len() == 3)
        );
        assert_eq!(plan(Filter::Laplace, &opts).passes(), 8);
        assert_eq!(plan(Filter::Gradient, &opts).passes(), 8);
        // Hessian: 3 first passes (orders 2, 1, 0 along axis 0), 6 second, 6 last.
        let h = plan(Filter::Hessian, &opts);
        assert_eq!(h.passes(), 15);
        assert_eq!(h.outputs.len(), 6);
        // Only the kernels of orders 0, 1, 2, the same on every axis when sigma is.
        assert_eq!(h.kernels.len(), 3);
        let anisotropic = plan(Filter::Hessian, &BlurOptions::new([1.0, 2.0, 3.0]));
        assert_eq!(anisotropic.kernels.len(), 9);
    }

    /// What a slot holds in a symbolic replay of a plan.
    #[derive(Clone, Debug, PartialEq)]
    enum Value {
        /// The input after these passes.
        Passes(Vec<(usize, AxisKernel)>),
        /// A combination (norm or sum) of such terms.
        Combined(bool, Vec<Vec<(usize, AxisKernel)>>),
    }

    /// Replays every plan symbolically: each output holds exactly the passes of its term(s), so
    /// no step read a buffer after another step had reused it.
    #[test]
    fn every_output_holds_the_passes_of_its_terms() {
        let filters = [
            Filter::Gaussian,
            Filter::Laplace,
            Filter::GradientMagnitude,
            Filter::Gradient,
            Filter::Hessian,
        ];
        let options = [
            BlurOptions::new(1.0),
            BlurOptions::new([1.0, 0.0, 2.0]).modes([Mode::Wrap, Mode::Reflect, Mode::Nearest]),
            BlurOptions::new(1.0).axes([true, false, true]),
            BlurOptions::new(0.0),
        ];
        for filter in filters {
            for opts in &options {
                for keep in [false, true] {
                    let (terms, combine) = terms(opts, filter).unwrap();
                    let p = Plan::new(opts, filter, [4, 4, 4], keep).unwrap();
                    let mut slots: Vec<Option<Value>> = vec![None; p.slots];
                    slots[0] = Some(Value::Passes(Vec::new()));
                    let passes_in = |slots: &[Option<Value>], s: Slot| match &slots[s] {
                        Some(Value::Passes(v)) => v.clone(),
                        other => panic!("{filter:?}: slot {s} holds {other:?}"),
                    };
                    for step in &p.steps {
                        let dst = match step {
                            Step::Pass {
                                axis,
                                kernel,
                                src,
                                dst,
                            } => {
                                assert_ne!(src, dst);
                                let mut v = passes_in(&slots, *src);
                                v.push((*axis, p.kernels[*kernel].clone()));
                                slots[*dst] = Some(Value::Passes(v));
                                *dst
                            }
                            Step::Combine { inputs, norm, dst } => {
                                assert!(!inputs.contains(dst));
                                let parts = inputs.iter().map(|&s| passes_in(&slots, s)).collect();
                                slots[*dst] = Some(Value::Combined(*norm, parts));
                                *dst
                            }
                        };
                        assert!(
                            !(keep && dst == 0),
                            "{filter:?}: the kept input was written"
                        );
                    }
                    let path = |t: &Term| -> Vec<(usize, AxisKernel)> {
                        t.iter()
                            .enumerate()
                            .filter_map(|(a, k)| k.clone().map(|k| (a, k)))
                            .collect()
                    };
                    let expected: Vec<Value> = match combine {
                        Combine::Each => terms.iter().map(|t| Value::Passes(path(t))).collect(),
                        Combine::Sum if terms.len() == 1 => vec![Value::Passes(path(&terms[0]))],
                        _ if terms.is_empty() => vec![Value::Passes(Vec::new())],
                        Combine::Sum | Combine::Norm => vec![Value::Combined(
                            combine == Combine::Norm,
                            terms.iter().map(path).collect(),
                        )],
                    };
                    let got: Vec<Value> = p
                        .outputs
                        .iter()
                        .map(|&s| slots[s].clone().expect("output written"))
                        .collect();
                    assert_eq!(got, expected, "{filter:?} {opts:?} keep {keep}");
                }
            }
        }
    }

    #[test]
    fn laplace_terms_take_the_mode_of_their_axis() {
        let opts = BlurOptions::new(1.0).modes([Mode::Wrap, Mode::Nearest, Mode::Reflect]);
        let (terms, combine) = terms(&opts, Filter::Laplace).unwrap();
        assert_eq!(combine, Combine::Sum);
        for (i, term) in terms.iter().enumerate() {
            let want = opts.modes_per_axis()[i];
            assert!(term.iter().flatten().all(|k| k.mode == want));
        }
        let (grad, _) = super::terms(&opts, Filter::Gradient).unwrap();
        assert!(
            grad.iter()
                .all(|t| (0..3).all(|a| t[a].as_ref().unwrap().mode == opts.modes_per_axis()[a]))
        );
    }

    #[test]
    fn axes_left_out_are_neither_filtered_nor_summed() {
        let opts = BlurOptions::new(1.0).axes([false, true, true]);
        let (terms, _) = terms(&opts, Filter::Laplace).unwrap();
        assert_eq!(terms.len(), 2);
        assert!(terms.iter().all(|t| t[0].is_none()));
        let none = BlurOptions::new(1.0).axes([false; 3]);
        assert!(plan(Filter::GradientMagnitude, &none).is_identity());
        assert_eq!(
            terms_error(&BlurOptions::new(1.0).order(1), Filter::Hessian),
            BlurError::OrderWithDerivatives { filter: "hessian" }
        );
    }

    fn terms_error(opts: &BlurOptions, filter: Filter) -> BlurError {
        terms(opts, filter).unwrap_err()
    }
}
