//! Writing blocks into the output Zarr array: each chunk buffered until the blocks have filled
//! it, then encoded and stored whole (in parallel).

use std::collections::HashMap;
use std::ops::Range;

use blur3d::{PlaneSink, Voxel};
use ndarray::{ArrayView3, Axis};
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;

use super::{chunk_index, chunk_of, grid_ranges, storage_problem};
use crate::atomic::start_writing;
use crate::volume::Element;

/// Writes blocks of voxels `B` into the array as elements `T`, each chunk whole, as soon as
/// the blocks have filled it.
pub struct Sink<'a, B, T> {
    array: &'a Array<FilesystemStore>,
    lead: usize,
    grid: [Vec<Range<usize>>; 3],
    /// Chunks partly written: their values (the chunk's whole shape, as the codec takes it)
    /// and how many of its voxels inside the array are written.
    partial: HashMap<[usize; 3], (Vec<T>, usize)>,
    /// Most bytes of partly written chunks held at once.
    pub held: usize,
    /// What went wrong, in words, for the command line.
    pub failed: Option<String>,
    _voxel: std::marker::PhantomData<B>,
}

impl<'a, B, T: Element + zarrs::array::Element> Sink<'a, B, T> {
    pub fn new(array: &'a Array<FilesystemStore>, lead: usize) -> Self {
        Sink {
            array,
            lead,
            grid: grid_ranges(array, lead),
            partial: HashMap::new(),
            held: 0,
            failed: None,
            _voxel: std::marker::PhantomData,
        }
    }

    /// Encodes and stores `chunks`, in parallel.
    fn store(&mut self, chunks: Vec<([usize; 3], Vec<T>)>) -> std::io::Result<()> {
        use rayon::prelude::*;
        let (lead, array) = (self.lead, self.array);
        chunks
            .into_par_iter()
            .try_for_each(|(k, values)| {
                let _writing = start_writing().map_err(|e| e.to_string())?;
                array
                    .store_chunk_elements::<T>(&chunk_index(lead, k), &values)
                    .map_err(|e| storage_problem(&e.to_string()))
            })
            .map_err(|e| {
                let problem = format!("cannot write a chunk: {e}");
                self.failed = Some(problem.clone());
                std::io::Error::other(problem)
            })
    }
}

impl<B, T> PlaneSink for Sink<'_, B, T>
where
    B: Element,
    T: zarrs::array::Element + Element + Send,
{
    type Voxel = B;

    fn write_planes(
        &mut self,
        output: usize,
        first: usize,
        planes: ArrayView3<'_, B>,
    ) -> std::io::Result<()> {
        self.write_block(output, [first, 0], planes)
    }

    fn tiles(&self) -> Option<[usize; 2]> {
        let [a, b, _] = self
            .grid
            .clone()
            .map(|ranges| ranges.iter().map(|r| r.len()).max().unwrap_or(1));
        Some([a, b])
    }

    fn write_block(
        &mut self,
        output: usize,
        [p0, r0]: [usize; 2],
        block: ArrayView3<'_, B>,
    ) -> std::io::Result<()> {
        if output != 0 {
            return Err(std::io::Error::other("a Zarr sink takes one output"));
        }
        let [np, nr, _] = [0, 1, 2].map(|a| block.len_of(Axis(a)));
        if np == 0 || nr == 0 {
            return Ok(());
        }
        let g = &self.grid;
        let kz = chunk_of(&g[0], p0)..=chunk_of(&g[0], p0 + np - 1);
        let ky = chunk_of(&g[1], r0)..=chunk_of(&g[1], r0 + nr - 1);
        let mut complete = Vec::new();
        for z in kz {
            for y in ky.clone() {
                for (x, xs) in g[2].iter().enumerate() {
                    let k = [z, y, x];
                    let (zs, ys) = (&g[0][z], &g[1][y]);
                    // The chunk's whole shape (past the array's edge too), as the codec takes it.
                    let sub = self
                        .array
                        .chunk_subset(&chunk_index(self.lead, k))
                        .map_err(std::io::Error::other)?;
                    let (values, written) = self
                        .partial
                        .entry(k)
                        .or_insert_with(|| (vec![T::zeroed(); sub.num_elements_usize()], 0));
                    let shape = sub.shape();
                    let (fy, fx) = (shape[self.lead + 1] as usize, shape[self.lead + 2] as usize);
                    let planes = zs.start.max(p0)..zs.end.min(p0 + np);
                    let rows = ys.start.max(r0)..ys.end.min(r0 + nr);
                    for p in planes.clone() {
                        for r in rows.clone() {
                            let line = block.slice(ndarray::s![p - p0, r - r0, xs.clone()]);
                            let at = ((p - zs.start) * fy + (r - ys.start)) * fx;
                            for (o, &v) in values[at..at + xs.len()].iter_mut().zip(line) {
                                *o = T::from_f64(Voxel::to_f64(v));
                            }
                        }
                    }
                    *written += planes.len() * rows.len() * xs.len();
                    if *written == zs.len() * ys.len() * xs.len()
                        && let Some((values, _)) = self.partial.remove(&k)
                    {
                        complete.push((k, values));
                    }
                }
            }
        }
        let bytes: usize = self.partial.values().map(|(v, _)| v.len()).sum::<usize>()
            + complete.iter().map(|(_, v)| v.len()).sum::<usize>();
        let bytes = bytes * size_of::<T>();
        self.held = self.held.max(bytes);
        self.store(complete)
    }
}
