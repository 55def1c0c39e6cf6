//! Volumes streamed plane by plane: the result equals the in-memory one, the planes held at once
//! stay bounded by the slabs, and failures of the storage are errors.

use std::cell::Cell;
use std::rc::Rc;

use blur3d::{BlurError, BlurOptions, Filter, GpuBlur, Mode, PlaneSink, PlaneSource};
use ndarray::{Array3, ArrayView3, ArrayViewMut2, ArrayViewMut3, Axis};

use crate::common::{assert_close, assert_same, gpu, random_volume};

/// A source that serves a volume, counts its reads, and fails at `fail_at`.
struct Counting {
    vol: Array3<f32>,
    reads: Rc<Cell<usize>>,
    fail_at: Option<usize>,
}

impl Counting {
    fn new(vol: Array3<f32>) -> Self {
        Counting {
            vol,
            reads: Rc::default(),
            fail_at: None,
        }
    }
}

impl PlaneSource for Counting {
    type Voxel = f32;

    fn shape(&self) -> [usize; 3] {
        let (a, b, c) = self.vol.dim();
        [a, b, c]
    }

    fn read_plane(
        &mut self,
        index: usize,
        mut plane: ArrayViewMut2<'_, f32>,
    ) -> std::io::Result<()> {
        if self.fail_at == Some(index) {
            return Err(std::io::Error::other("disk unplugged"));
        }
        self.reads.set(self.reads.get() + 1);
        plane.assign(&self.vol.index_axis(Axis(0), index));
        Ok(())
    }
}

/// A sink that keeps the planes, checks that they come in order, and records the most planes
/// the source read between two writes: what the blur held at once.
struct Ordered {
    out: Array3<f32>,
    next: usize,
    reads: Rc<Cell<usize>>,
    reads_at_last_write: usize,
    most_between_writes: usize,
}

impl PlaneSink for Ordered {
    type Voxel = f32;

    fn write_planes(
        &mut self,
        output: usize,
        first: usize,
        planes: ArrayView3<'_, f32>,
    ) -> std::io::Result<()> {
        assert_eq!((output, first), (0, self.next), "planes in order");
        let n = planes.len_of(Axis(0));
        self.out
            .slice_mut(ndarray::s![first..first + n, .., ..])
            .assign(&planes);
        self.next += n;
        let reads = self.reads.get();
        self.most_between_writes = self
            .most_between_writes
            .max(reads - self.reads_at_last_write);
        self.reads_at_last_write = reads;
        Ok(())
    }
}

#[test]
fn a_stream_equals_the_volume_in_memory_and_holds_a_few_slabs() {
    let Some(gpu) = gpu() else { return };
    let vol = random_volume((40, 9, 12), 80);
    let plane_bytes = (9 * 12 * 4) as u64;
    // Room for 12 planes: slabs of a few output planes each.
    let small = GpuBlur::try_new()
        .unwrap()
        .with_max_slab_bytes(12 * plane_bytes);
    for mode in [Mode::Reflect, Mode::Wrap, Mode::Constant(0.5), Mode::Mirror] {
        let opts = BlurOptions::new([1.0, 2.0, 1.5]).mode(mode);
        let expected = gpu.blur_with(&vol, &opts).unwrap();
        let mut source = Counting::new(vol.clone());
        let mut sink = Ordered {
            out: Array3::zeros(vol.raw_dim()),
            next: 0,
            reads: Rc::clone(&source.reads),
            reads_at_last_write: 0,
            most_between_writes: 0,
        };
        let mut slabs = 0;
        small
            .blur_stream(&mut source, &mut sink, &opts, |_, total| slabs = total)
            .unwrap();
        assert_same(&sink.out, &expected);
        assert!(slabs > 4, "{mode:?}: {slabs} slabs");
        // Two slabs in flight, each at most the 12 planes that fit (halos included): the
        // planes held at once never depend on the volume's 40.
        assert!(
            sink.most_between_writes <= 2 * 12,
            "{mode:?}: {} planes read between two writes",
            sink.most_between_writes
        );
        // Each plane is read once, plus the halos: two radii (4 along axis 0) per slab.
        assert!(
            source.reads.get() <= 40 + 2 * 4 * slabs,
            "{mode:?}: {} reads",
            source.reads.get()
        );
    }
}

#[test]
fn any_filter_streams_into_arrays() {
    let Some(gpu) = gpu() else { return };
    let vol = random_volume((20, 8, 8), 81);
    let opts = BlurOptions::new(1.0).mode(Mode::Nearest);
    let small = GpuBlur::try_new()
        .unwrap()
        .with_max_slab_bytes(12 * 8 * 8 * 4);
    let mut outs: Vec<Array3<f32>> = (0..6).map(|_| Array3::zeros(vol.raw_dim())).collect();
    {
        let mut sink: Vec<ArrayViewMut3<'_, f32>> = outs.iter_mut().map(|o| o.view_mut()).collect();
        small
            .filter_stream(
                &mut vol.view(),
                &mut sink,
                &opts,
                Filter::Hessian,
                |_, _| {},
            )
            .unwrap();
    }
    for (s, h) in outs.iter().zip(gpu.hessian(&vol, &opts).unwrap()) {
        assert_close(s, &h, 1e-5);
    }
    // Nothing to compute: the planes pass through one by one.
    let mut same = Array3::<u16>::zeros(vol.raw_dim());
    let ints = vol.mapv(|v| (v * 100.0) as u16);
    gpu.blur_stream(
        &mut ints.view(),
        &mut same.view_mut(),
        &BlurOptions::new(0.0),
        |_, _| {},
    )
    .unwrap();
    assert_eq!(same, ints);
}

#[test]
fn storage_failures_are_errors() {
    let Some(gpu) = gpu() else { return };
    let vol = random_volume((20, 8, 8), 82);
    let small = GpuBlur::try_new()
        .unwrap()
        .with_max_slab_bytes(12 * 8 * 8 * 4);
    let mut source = Counting {
        fail_at: Some(13),
        ..Counting::new(vol.clone())
    };
    let mut out = Array3::<f32>::zeros(vol.raw_dim());
    let err = small
        .blur_stream(
            &mut source,
            &mut out.view_mut(),
            &BlurOptions::new(1.0),
            |_, _| {},
        )
        .unwrap_err();
    match err {
        BlurError::Io { message } => assert!(
            message.contains("reading planes") && message.contains("plane 13: disk unplugged"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    // An array sink of the wrong shape is an error, not a panic.
    let mut wrong = Array3::<f32>::zeros((20, 8, 7));
    let err = gpu
        .blur_stream(
            &mut vol.view(),
            &mut wrong.view_mut(),
            &BlurOptions::new(1.0),
            |_, _| {},
        )
        .unwrap_err();
    assert!(
        matches!(err, BlurError::Io { ref message } if message.contains("writing planes")),
        "{err:?}"
    );
    // Outputs beyond the sink's arrays too.
    let mut one: Vec<ArrayViewMut3<'_, f32>> = vec![out.view_mut()];
    let err = gpu
        .filter_stream(
            &mut vol.view(),
            &mut one,
            &BlurOptions::new(1.0),
            Filter::Gradient,
            |_, _| {},
        )
        .unwrap_err();
    assert!(matches!(err, BlurError::Io { .. }), "{err:?}");
}

/// A sink that takes tiles of `[4, 8]` and records where each block starts.
struct Tiled {
    out: Array3<f32>,
    starts: Vec<[usize; 2]>,
}

impl PlaneSink for Tiled {
    type Voxel = f32;

    fn write_planes(&mut self, _: usize, _: usize, _: ArrayView3<'_, f32>) -> std::io::Result<()> {
        panic!("a sink that takes tiles gets blocks");
    }

    fn tiles(&self) -> Option<[usize; 2]> {
        Some([4, 8])
    }

    fn write_block(
        &mut self,
        output: usize,
        [plane, row]: [usize; 2],
        block: ArrayView3<'_, f32>,
    ) -> std::io::Result<()> {
        assert_eq!(output, 0);
        let (a, b, _) = block.dim();
        let mut target = self
            .out
            .slice_mut(ndarray::s![plane..plane + a, row..row + b, ..]);
        assert!(target.iter().all(|&v| v == -1.0), "each voxel once");
        target.assign(&block);
        self.starts.push([plane, row]);
        Ok(())
    }
}

#[test]
fn wide_planes_stream_in_tiles_of_rows() {
    let Some(gpu) = gpu() else { return };
    let vol = random_volume((30, 48, 6), 83);
    let row_bytes = 6 * 4;
    // Radii 4 along axes 0 and 1: whole planes need 9 of 48 rows, above the limit of 2 blocks
    // of 16 planes x 16 rows (12 x 8 of output with their halos).
    let small = GpuBlur::try_new()
        .unwrap()
        .with_max_slab_bytes(2 * 16 * 16 * row_bytes);
    for mode in [
        Mode::Reflect,
        Mode::Wrap,
        Mode::Constant(0.5),
        Mode::Nearest,
    ] {
        let opts = BlurOptions::new([1.0, 1.0, 0.5]).mode(mode);
        let expected = gpu.blur_with(&vol, &opts).unwrap();
        // A sink of whole planes gets them gathered from the tiles, in order.
        let mut source = Counting::new(vol.clone());
        let mut planes = Ordered {
            out: Array3::zeros(vol.raw_dim()),
            next: 0,
            reads: Rc::clone(&source.reads),
            reads_at_last_write: 0,
            most_between_writes: 0,
        };
        small
            .blur_stream(&mut source, &mut planes, &opts, |_, _| {})
            .unwrap();
        assert_same(&planes.out, &expected);
        // A sink of tiles gets blocks that start at its steps, each voxel once.
        let mut tiles = Tiled {
            out: Array3::from_elem(vol.raw_dim(), -1.0),
            starts: Vec::new(),
        };
        small
            .blur_stream(&mut vol.view(), &mut tiles, &opts, |_, _| {})
            .unwrap();
        assert_same(&tiles.out, &expected);
        assert!(tiles.starts.len() > 4, "{mode:?}: {:?}", tiles.starts);
        assert!(
            tiles.starts.iter().all(|s| s[0] % 4 == 0 && s[1] % 8 == 0),
            "{mode:?}: {:?}",
            tiles.starts
        );
    }
}
