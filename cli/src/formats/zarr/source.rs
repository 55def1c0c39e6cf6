//! Reading blocks of an input Zarr array: the chunks a block touches decoded (in parallel) and
//! kept for the next block, which shares most of them.

use std::collections::HashMap;
use std::ops::Range;

use blur3d::{PlaneSource, Voxel};
use ndarray::{ArrayViewMut2, ArrayViewMut3, Axis};
use zarrs::array_subset::ArraySubset;

use super::{Input, chunk_of, chunks_of, grid_ranges, storage_problem};
use crate::volume::Element;

/// A chunk's index along the three blurred axes and its values.
type Decoded<T> = ([usize; 3], Vec<T>);

/// Reads blocks of element `T` from the array, as voxels `A`, decoding the chunks they touch.
pub struct Source<'a, T, A> {
    input: &'a Input,
    grid: [Vec<Range<usize>>; 3],
    /// The chunks of the last block, decoded (their part inside the array, in C order).
    cache: HashMap<[usize; 3], Vec<T>>,
    /// Most bytes of decoded chunks kept at once.
    pub held: usize,
    /// Chunks decoded (each once per run of blocks that touch it).
    pub decoded: usize,
    /// What went wrong, in words, for the command line.
    pub failed: Option<String>,
    _voxel: std::marker::PhantomData<A>,
}

impl<'a, T, A> Source<'a, T, A> {
    pub fn new(input: &'a Input) -> Self {
        Source {
            grid: grid_ranges(&input.array, input.lead),
            input,
            cache: HashMap::new(),
            held: 0,
            decoded: 0,
            failed: None,
            _voxel: std::marker::PhantomData,
        }
    }
}

fn subset(lead: usize, ranges: [Range<u64>; 3]) -> ArraySubset {
    let mut all = vec![0..1; lead];
    all.extend(ranges);
    ArraySubset::new_with_ranges(&all)
}

impl<T, A> Source<'_, T, A>
where
    T: zarrs::array::ElementOwned + Element + Send,
{
    /// Keeps the chunks `needed` (dropping the others) and decodes those not kept, in parallel.
    fn fetch(&mut self, needed: &[[usize; 3]]) -> std::io::Result<()> {
        use rayon::prelude::*;
        self.cache.retain(|k, _| needed.contains(k));
        let missing: Vec<[usize; 3]> = needed
            .iter()
            .filter(|k| !self.cache.contains_key(*k))
            .copied()
            .collect();
        let (input, grid) = (self.input, &self.grid);
        let decoded: Result<Vec<Decoded<T>>, String> = missing
            .par_iter()
            .map(|&k| {
                let r: [Range<u64>; 3] = std::array::from_fn(|a| {
                    let r = &grid[a][k[a]];
                    r.start as u64..r.end as u64
                });
                let planes = r[0].clone();
                input
                    .array
                    .retrieve_array_subset_elements::<T>(&subset(input.lead, r))
                    .map(|values| (k, values))
                    .map_err(|e| {
                        format!(
                            "cannot read the chunk at planes {}..{} along {}: {}",
                            planes.start,
                            planes.end,
                            input.axis_names[0],
                            storage_problem(&e.to_string())
                        )
                    })
            })
            .collect();
        let decoded = decoded.map_err(|problem| {
            self.failed = Some(problem.clone());
            std::io::Error::other(problem)
        })?;
        self.decoded += decoded.len();
        self.cache.extend(decoded);
        let bytes: usize = self.cache.values().map(|v| v.len() * size_of::<T>()).sum();
        self.held = self.held.max(bytes);
        Ok(())
    }
}

impl<T, A> PlaneSource for Source<'_, T, A>
where
    T: zarrs::array::ElementOwned + Element + Send,
    A: Element,
{
    type Voxel = A;

    fn shape(&self) -> [usize; 3] {
        self.input.shape
    }

    fn read_plane(&mut self, index: usize, plane: ArrayViewMut2<'_, A>) -> std::io::Result<()> {
        let rows: Vec<usize> = (0..self.input.shape[1]).collect();
        self.read_block(&[index], &rows, plane.insert_axis(Axis(0)))
    }

    fn read_block(
        &mut self,
        planes: &[usize],
        rows: &[usize],
        mut block: ArrayViewMut3<'_, A>,
    ) -> std::io::Result<()> {
        let [n0, n1, _] = self.input.shape;
        if let Some(&bad) = planes.iter().find(|&&p| p >= n0) {
            return Err(std::io::Error::other(format!(
                "{}: plane {bad} is outside the array",
                self.input.path.display()
            )));
        }
        if let Some(&bad) = rows.iter().find(|&&r| r >= n1) {
            return Err(std::io::Error::other(format!(
                "{}: row {bad} is outside the array",
                self.input.path.display()
            )));
        }
        let kz = chunks_of(&self.grid[0], planes.iter().copied());
        let ky = chunks_of(&self.grid[1], rows.iter().copied());
        let kx = self.grid[2].len();
        let needed: Vec<[usize; 3]> = kz
            .iter()
            .flat_map(|&z| {
                ky.iter()
                    .flat_map(move |&y| (0..kx).map(move |x| [z, y, x]))
            })
            .collect();
        self.fetch(&needed)?;
        let g = &self.grid;
        for (&p, mut out) in planes.iter().zip(block.outer_iter_mut()) {
            let z = chunk_of(&g[0], p);
            let pz = p - g[0][z].start;
            for (&r, mut line) in rows.iter().zip(out.outer_iter_mut()) {
                let y = chunk_of(&g[1], r);
                let (py, sy) = (r - g[1][y].start, g[1][y].len());
                for (x, xs) in g[2].iter().enumerate() {
                    let chunk = &self.cache[&[z, y, x]];
                    let at = (pz * sy + py) * xs.len();
                    let src = &chunk[at..at + xs.len()];
                    let dst = line.slice_mut(ndarray::s![xs.clone()]);
                    for (o, &v) in dst.into_iter().zip(src) {
                        *o = A::from_f64(Voxel::to_f64(v));
                    }
                }
            }
        }
        Ok(())
    }
}
