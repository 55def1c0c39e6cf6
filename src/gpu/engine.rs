//! The engine under [`GpuBlur`]'s calls: the size limits of one buffer, loading planes into a
//! device volume, encoding a plan, submitting a frame's work, and the device's health. The
//! schedule (`schedule.rs`) and the device-resident volumes (`volume.rs`) are built from these.

use ndarray::ArrayView2;

use super::device::Scopes;
use super::kernels::{Dispatcher, PassParams};
use super::layout::{Layout, Real};
use super::pool::Frame;
use super::{GpuBlur, GpuVolume, transfer};
use std::time::{Duration, Instant};

use super::kernels::PassFamily;
use super::tuning::{Cache, PairClass, PassClass, Tuned, TunedPair};
use crate::plan::{Plan, Step};
use crate::voxel::sealed::Upload;
use crate::{BlurError, BlurOptions, Filter, Precision, Voxel};

impl GpuBlur {
    /// The largest buffer of voxels (a slab, or a device-resident volume) this device takes,
    /// in bytes, and the limit that decides it.
    pub(super) fn slab_limit(&self) -> (u64, &'static str) {
        let limits = self.device.limits();
        [
            (
                limits.max_storage_buffer_binding_size,
                "max_storage_buffer_binding_size",
            ),
            (limits.max_buffer_size, "max_buffer_size"),
            // Indices in the shaders are u32.
            (u64::from(u32::MAX), "u32 voxel indices"),
            (self.max_slab_bytes, "GpuBlur::with_max_slab_bytes"),
        ]
        .into_iter()
        .min_by_key(|(bytes, _)| *bytes)
        .unwrap_or((0, "none"))
    }

    /// Bytes of a volume of `voxels` elements of `real` in one buffer, or the limit it passes.
    pub(super) fn check_fits(&self, voxels: usize, real: Real) -> Result<u64, BlurError> {
        let bytes = voxels as u64 * real.size() as u64;
        let (limit, limit_name) = self.slab_limit();
        if bytes > limit {
            return Err(BlurError::VolumeTooLarge {
                bytes,
                limit,
                limit_name,
            });
        }
        Ok(bytes)
    }

    /// How a volume of `shape` in elements of `real` lies in a buffer of this device: with the
    /// CPU family's spare rows, or dense for the GPU family.
    pub(super) fn layout(&self, shape: [usize; 3], real: Real) -> Layout {
        Layout::new(shape, self.spare_rows(), real)
    }

    /// The element type a call with voxels `A` in and `B` out computes in, as `precision` asks
    /// (see [`Precision`]).
    pub(super) fn real_for<A: Voxel, B: Voxel>(&self, precision: Precision) -> Real {
        match (precision.is_double::<A, B>(), self.has_f64()) {
            (false, _) => Real::F32,
            (true, true) => Real::F64,
            (true, false) => Real::Ds,
        }
    }

    pub(super) fn spare_rows(&self) -> bool {
        self.kernels.family == super::PassFamily::Cpu
    }

    /// A frame for one submission's buffers.
    pub(super) fn frame(&self) -> Frame<'_> {
        Frame::new(&self.pool)
    }

    pub(super) fn command_encoder(&self) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("blur3d.encoder"),
            })
    }

    /// What encodes passes, widenings and copies on this device.
    pub(super) fn dispatcher(&self) -> Dispatcher<'_> {
        Dispatcher {
            device: &self.device,
            queue: &self.queue,
            kernels: &self.kernels,
            force: None,
            pairs: None,
            counted: true,
        }
    }

    /// Encodes the upload of `planes` (the planes of a volume, a slab or a batch laid out as
    /// `layout` says, in its element type) into a storage buffer of `frame`: as they are when
    /// of that type, widened on the GPU for 8- and 16-bit integers, converted on the host
    /// otherwise. A volume that outlives the frame is [`released`](Frame::release) from it.
    pub(super) async fn load<A: Voxel>(
        &self,
        frame: &mut Frame<'_>,
        planes: &[ArrayView2<'_, A>],
        layout: Layout,
        encoder: &mut wgpu::CommandEncoder,
    ) -> Result<GpuVolume, BlurError> {
        let buffer = frame.storage(layout.bytes()).await?;
        match A::UPLOAD {
            Upload::F32 | Upload::F64 | Upload::Host => {
                transfer::upload(frame, planes, layout, false, &buffer, encoder).await?;
            }
            Upload::Packed { bits, signed } => {
                // Packed in the same layout as the f32 volume, so widening is voxel by voxel.
                let bytes = (layout.len() * size_of::<A>()) as u64;
                let words = frame.storage(bytes.next_multiple_of(4)).await?;
                transfer::upload(frame, planes, layout, true, &words, encoder).await?;
                let scopes = Scopes::push(&self.device);
                self.dispatcher().widen(
                    frame,
                    encoder,
                    &words,
                    &buffer,
                    (layout.len(), layout.real),
                    (bits, signed),
                );
                scopes.pop().await?;
            }
        }
        Ok(GpuVolume {
            buffer,
            layout,
            owner: self.id,
        })
    }

    /// Encodes the steps of `plan` on a volume in `layout` held in `input` (the plan's slot 0),
    /// the other slots in buffers of `frame`. Returns the buffer of every slot.
    pub(super) async fn encode_plan(
        &self,
        frame: &mut Frame<'_>,
        encoder: &mut wgpu::CommandEncoder,
        plan: &Plan,
        input: wgpu::Buffer,
        layout: Layout,
    ) -> Result<Vec<wgpu::Buffer>, BlurError> {
        self.tune(plan, layout).await?;
        let mut buffers = Vec::with_capacity(plan.slots);
        buffers.push(input);
        for _ in 1..plan.slots {
            buffers.push(frame.storage(layout.bytes()).await?);
        }
        let scopes = Scopes::push(&self.device);
        let at = self
            .dispatcher()
            .plan(frame, encoder, plan, &buffers, layout);
        scopes.pop().await?;
        Ok(at.into_iter().map(|i| buffers[i].clone()).collect())
    }

    /// Lets the tuner decide the family of each class of passes in `plan` it has not decided
    /// yet on this device (`tuning.rs`), timing the candidates here and now.
    async fn tune(&self, plan: &Plan, layout: Layout) -> Result<(), BlurError> {
        let candidates = self.kernels.candidates();
        if !self.kernels.tunes || candidates.len() < 2 || layout.real == Real::Ds {
            return Ok(());
        }
        for step in &plan.steps {
            let Step::Pass { axis, kernel, .. } = step else {
                continue;
            };
            let class = PassClass::of(*axis, plan.kernels[*kernel].radius, layout.real);
            if self.kernels.tuned(class).is_some() {
                continue;
            }
            // The device's own family first: a candidate clearly slower than the best so far
            // stops early (tens of ms saved per class on a CPU adapter).
            let mut order = candidates.clone();
            order.sort_by_key(|&f| f != self.kernels.family);
            let mut times = [None; 3];
            let mut best = Duration::MAX;
            let mut radius = [0; 3];
            radius[class.axis] = class.probe_radius();
            for family in order {
                let forced = Dispatcher {
                    force: Some(family),
                    ..self.probe_dispatcher()
                };
                let t = self.time_probe(radius, layout.real, forced, best).await?;
                best = best.min(t);
                times[family as usize] = Some(t);
            }
            let family = Tuned::choose(self.kernels.family, times);
            let mut cache = Cache::global().lock().unwrap_or_else(|e| e.into_inner());
            cache.record(
                &self.kernels.adapter_key,
                Tuned {
                    class,
                    family,
                    times,
                },
            );
        }
        self.tune_pairs(plan, layout).await
    }

    /// Lets the tuner decide each class of in-plane pairs in `plan` (a pass along axis 1 whose
    /// output the next pass, along axis 2, reads) it has not decided yet: the pair in one
    /// dispatch against the two passes apart in their classes' families, on the probe with the
    /// plan's radii. Pairs whose tile does not fit the workgroup memory have nothing to decide.
    async fn tune_pairs(&self, plan: &Plan, layout: Layout) -> Result<(), BlurError> {
        if !self.kernels.candidates().contains(&PassFamily::Tile) {
            return Ok(());
        }
        for steps in plan.steps.windows(2) {
            let [
                Step::Pass {
                    axis: 1,
                    kernel: first,
                    dst: mid,
                    ..
                },
                Step::Pass {
                    axis: 2,
                    kernel: second,
                    src,
                    ..
                },
            ] = steps
            else {
                continue;
            };
            let (a, b) = (&plan.kernels[*first], &plan.kernels[*second]);
            let class = PairClass::of(a.radius, b.radius, layout.real);
            let probe = self.layout([self.probe_edge(layout.real); 3], layout.real);
            if src != mid
                || self.kernels.tuned_pair(class).is_some()
                || PassParams::plane_pair(probe, (a, 4), (b, 4)).is_none()
            {
                continue;
            }
            let radius = [0, a.radius, b.radius];
            let way = |fused| Dispatcher {
                pairs: Some(fused),
                ..self.probe_dispatcher()
            };
            let apart = self
                .time_probe(radius, layout.real, way(false), Duration::MAX)
                .await?;
            let fused = self
                .time_probe(radius, layout.real, way(true), apart)
                .await?;
            let mut cache = Cache::global().lock().unwrap_or_else(|e| e.into_inner());
            cache.record_pair(
                &self.kernels.adapter_key,
                TunedPair::choose(class, [fused, apart]),
            );
        }
        Ok(())
    }

    /// The dispatcher of the tuner's timings: its passes are not counted.
    fn probe_dispatcher(&self) -> Dispatcher<'_> {
        Dispatcher {
            counted: false,
            ..self.dispatcher()
        }
    }

    /// The edge of the tuner's probe volume: 64 voxels on a CPU adapter (a pass there takes a
    /// millisecond), 256 on a GPU (64 MiB of f32, so that a pass takes long enough beside its
    /// launch to measure), halved until a volume fits the device's buffers.
    fn probe_edge(&self, real: Real) -> usize {
        let limits = self.device.limits();
        let max = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let mut edge: usize = match self.device.adapter_info().device_type {
            wgpu::DeviceType::Cpu => 64,
            _ => 256,
        };
        while edge > 16 && (edge.pow(3) * real.size()) as u64 > max {
            edge /= 2;
        }
        edge
    }

    /// Time of a Gaussian of `radius` per axis (0: the axis is not filtered) by `dispatcher` on
    /// the probe, a volume of `probe_edge` in `real`: four runs between waits, best of three
    /// after one run to build the pipelines; after the first timed round when that is over 1.5
    /// times `best_so_far` (it cannot win).
    async fn time_probe(
        &self,
        radius: [usize; 3],
        real: Real,
        dispatcher: Dispatcher<'_>,
        best_so_far: Duration,
    ) -> Result<Duration, BlurError> {
        const PASSES: u32 = 4;
        let shape = [self.probe_edge(real); 3];
        let layout = self.layout(shape, real);
        let sigma = radius.map(|r| if r > 0 { 1.0 } else { 0.0 });
        let opts = BlurOptions::new(sigma).radius(radius);
        let plan = Plan::new(&opts, Filter::Gaussian, shape, false)?;
        let mut best = Duration::MAX;
        for round in 0..4 {
            let mut frame = self.frame();
            let mut encoder = self.command_encoder();
            let mut buffers = Vec::with_capacity(plan.slots);
            for _ in 0..plan.slots {
                buffers.push(frame.storage(layout.bytes()).await?);
            }
            let passes = if round == 0 { 1 } else { PASSES };
            let scopes = Scopes::push(&self.device);
            for _ in 0..passes {
                dispatcher.plan(&mut frame, &mut encoder, &plan, &buffers, layout);
            }
            scopes.pop().await?;
            let start = Instant::now();
            let submission = self.submit(frame, encoder).await?;
            transfer::wait(&self.device, submission)?;
            if round > 0 {
                best = best.min(start.elapsed() / PASSES);
                if best.as_secs_f64() > 1.5 * best_so_far.as_secs_f64() {
                    break;
                }
            }
        }
        Ok(best)
    }

    /// Submits `encoder`'s work, then ends `frame`: its buffers go back to the pool, for work
    /// submitted later, which runs after this.
    pub(super) async fn submit(
        &self,
        frame: Frame<'_>,
        encoder: wgpu::CommandEncoder,
    ) -> Result<wgpu::SubmissionIndex, BlurError> {
        let scopes = Scopes::push(&self.device);
        let index = self.queue.submit([encoder.finish()]);
        scopes.pop().await?;
        drop(frame);
        Ok(index)
    }

    /// Runs `work`; when it fails and the device turns out to be lost, reports the loss, the
    /// error to act on.
    pub(super) async fn guard<T>(
        &self,
        work: impl Future<Output = Result<T, BlurError>>,
    ) -> Result<T, BlurError> {
        self.check_alive()?;
        work.await.map_err(|e| {
            // Waiting for the queue lets wgpu deliver a loss it has not reported yet (a destroyed
            // device is only reported once its queue is maintained). Only failures wait.
            let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
            self.check_alive().err().unwrap_or(e)
        })
    }

    pub(super) fn check_alive(&self) -> Result<(), BlurError> {
        match self.lost.lock().ok().and_then(|s| s.clone()) {
            Some(reason) => Err(BlurError::DeviceLost { reason }),
            None => Ok(()),
        }
    }
}
