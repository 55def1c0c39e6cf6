//! [`GpuVolume`]: a volume kept on the device, for chains of blurs that pay the transfers once.

use ndarray::{Array3, ArrayBase, Data, Ix3};

use super::layout::{Layout, Real};
use super::pool::Frame;
use super::{GpuBlur, transfer};
use crate::plan::{Filter, Plan};
use crate::{BlurError, BlurOptions, Voxel};

/// A volume of f32 voxels living on the device of the [`GpuBlur`] that uploaded it (device-resident
/// volumes are f32, whatever the type uploaded: [`crate::Precision`] applies to host arrays).
///
/// ```no_run
/// use blur3d::{BlurOptions, GpuBlur};
/// # let vol = ndarray::Array3::<f32>::zeros((32, 32, 32));
/// let gpu = GpuBlur::new();
/// let mut on_gpu = gpu.upload(&vol)?;
/// gpu.blur_volume(&mut on_gpu, &BlurOptions::new(1.0))?;
/// gpu.blur_volume(&mut on_gpu, &BlurOptions::new([0.0, 0.0, 3.0]))?;
/// let result = gpu.download(&on_gpu)?;
/// # Ok::<(), blur3d::BlurError>(())
/// ```
#[derive(Debug)]
pub struct GpuVolume {
    pub(super) buffer: wgpu::Buffer,
    pub(super) layout: Layout,
    /// The id of the `GpuBlur` whose device holds the buffer.
    pub(super) owner: u64,
}

impl GpuVolume {
    /// The shape, in ndarray axis order.
    #[must_use]
    pub fn shape(&self) -> [usize; 3] {
        self.layout.shape
    }

    /// Voxels of the volume.
    pub(super) fn len(&self) -> usize {
        self.layout.shape.iter().product()
    }

    /// Bytes of its buffer.
    pub(super) fn bytes(&self) -> u64 {
        self.layout.bytes()
    }
}

impl GpuBlur {
    /// Copies `vol` (any layout, any [`Voxel`] type, converted to f32) to the device.
    ///
    /// # Errors
    /// [`BlurError::EmptyAxis`], [`BlurError::VolumeTooLarge`], and GPU errors.
    pub fn upload<S, A>(&self, vol: &ArrayBase<S, Ix3>) -> Result<GpuVolume, BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        pollster::block_on(self.upload_async(vol))
    }

    /// [`GpuBlur::upload`] for async callers.
    ///
    /// # Errors
    /// As [`GpuBlur::upload`].
    pub async fn upload_async<S, A>(&self, vol: &ArrayBase<S, Ix3>) -> Result<GpuVolume, BlurError>
    where
        S: Data<Elem = A>,
        A: Voxel,
    {
        let shape = crate::plan::shape_of(vol);
        crate::options::check_not_empty(shape)?;
        self.check_fits(self.layout(shape, Real::F32).len(), Real::F32)?;
        self.guard(async {
            let planes: Vec<_> = vol.outer_iter().collect();
            let mut frame = self.frame();
            let mut encoder = self.command_encoder();
            let volume = self
                .load(
                    &mut frame,
                    &planes,
                    self.layout(shape, Real::F32),
                    &mut encoder,
                )
                .await?;
            frame.release(&volume.buffer);
            self.submit(frame, encoder).await?;
            Ok(volume)
        })
        .await
    }

    /// Blurs `volume` in place with `opts`. The work is submitted, not waited for: chain more
    /// blurs, then [`GpuBlur::download`] (which waits), or [`GpuBlur::wait`].
    ///
    /// # Errors
    /// The validation errors of [`BlurOptions`], [`BlurError::ForeignVolume`] for a volume of
    /// another `GpuBlur`, and GPU errors.
    pub fn blur_volume(&self, volume: &mut GpuVolume, opts: &BlurOptions) -> Result<(), BlurError> {
        self.check_owner(volume)?;
        let plan = Plan::new(opts, Filter::Gaussian, volume.shape(), false)?;
        if plan.is_identity() {
            return Ok(());
        }
        pollster::block_on(self.guard(async {
            let (mut frame, encoder, buffers) = self.encoded(volume, &plan).await?;
            // The volume moves to the buffer of the plan's output; its old one goes back with
            // the frame.
            let output = &buffers[plan.outputs[0]];
            if *output != volume.buffer {
                frame.release(output);
                frame.adopt(std::mem::replace(&mut volume.buffer, output.clone()));
            }
            self.submit(frame, encoder).await?;
            Ok(())
        }))
    }

    /// Any [`Filter`] of a device-resident `volume`, which is left as it is: the filter's
    /// outputs as new device-resident volumes. Submitted, not waited for, as
    /// [`GpuBlur::blur_volume`].
    ///
    /// # Errors
    /// As [`GpuBlur::blur_volume`], and [`BlurError::OrderWithDerivatives`] for a derivative
    /// filter with orders set.
    pub fn filter_volume(
        &self,
        volume: &GpuVolume,
        opts: &BlurOptions,
        filter: Filter,
    ) -> Result<Vec<GpuVolume>, BlurError> {
        self.check_owner(volume)?;
        let plan = Plan::new(opts, filter, volume.shape(), true)?;
        pollster::block_on(self.guard(async {
            let (mut frame, mut encoder, buffers) = self.encoded(volume, &plan).await?;
            // Each output gets a buffer of its own: a copy where it is the input, or where an
            // earlier output already took its slot.
            let mut taken = vec![false; buffers.len()];
            taken[0] = true;
            let mut outputs = Vec::with_capacity(plan.outputs.len());
            for &slot in &plan.outputs {
                let buffer = if taken[slot] {
                    let copy = self.pool.storage(volume.bytes()).await?;
                    encoder.copy_buffer_to_buffer(&buffers[slot], 0, &copy, 0, volume.bytes());
                    copy
                } else {
                    taken[slot] = true;
                    frame.release(&buffers[slot]);
                    buffers[slot].clone()
                };
                outputs.push(GpuVolume {
                    buffer,
                    layout: volume.layout,
                    owner: self.id,
                });
            }
            self.submit(frame, encoder).await?;
            Ok(outputs)
        }))
    }

    /// Copies `volume` back to the host, in standard layout, once the work on it is done.
    ///
    /// # Errors
    /// [`BlurError::ForeignVolume`] for a volume of another `GpuBlur`, and GPU errors,
    /// [`BlurError::DeviceLost`] among them.
    pub fn download(&self, volume: &GpuVolume) -> Result<Array3<f32>, BlurError> {
        self.check_owner(volume)?;
        pollster::block_on(self.guard(async {
            let mut encoder = self.command_encoder();
            let [n0, n1, _] = volume.layout.shape;
            let staging = transfer::stage(
                &self.pool,
                &mut encoder,
                &volume.buffer,
                volume.layout,
                0..n0,
                0..n1,
            )
            .await?;
            let submission = self.submit(self.frame(), encoder).await?;
            let mut out = transfer::fresh_output(volume.shape());
            transfer::readback(
                &self.device,
                &self.pool,
                staging,
                submission,
                (volume.len(), volume.layout),
                |values| {
                    let mut planes: Vec<_> = out.outer_iter_mut().collect();
                    transfer::store_planes(&mut planes, values);
                    Ok(())
                },
            )
            .await?;
            Ok(out)
        }))
    }

    /// A frame and an encoder holding `plan`'s steps on `volume`, and the buffer of each of its
    /// slots (slot 0 is the volume's own).
    async fn encoded(
        &self,
        volume: &GpuVolume,
        plan: &Plan,
    ) -> Result<(Frame<'_>, wgpu::CommandEncoder, Vec<wgpu::Buffer>), BlurError> {
        let mut frame = self.frame();
        let mut encoder = self.command_encoder();
        let input = volume.buffer.clone();
        let buffers = self
            .encode_plan(&mut frame, &mut encoder, plan, input, volume.layout)
            .await?;
        Ok((frame, encoder, buffers))
    }

    /// A volume may only be used with the `GpuBlur` that made it: its buffer lives on that
    /// device.
    fn check_owner(&self, volume: &GpuVolume) -> Result<(), BlurError> {
        if volume.owner == self.id {
            Ok(())
        } else {
            Err(BlurError::ForeignVolume)
        }
    }

    /// Blocks until all work submitted so far has finished (to time device-resident work).
    ///
    /// # Errors
    /// [`BlurError::DeviceLost`] if the device was lost meanwhile.
    pub fn wait(&self) -> Result<(), BlurError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| BlurError::Gpu {
                message: e.to_string(),
            })?;
        self.check_alive()
    }

    /// Runs `count` plain copies of `volume` (one voxel per invocation) over the same buffers
    /// as a blur: the floor a blur pass is measured against. The volume's values are unchanged.
    /// With the `bench` feature only (the crate's benchmarks).
    ///
    /// # Errors
    /// GPU errors.
    #[cfg(feature = "bench")]
    pub fn copy_passes(&self, volume: &mut GpuVolume, count: usize) -> Result<(), BlurError> {
        self.copy_passes_with(volume, count, false)
    }

    /// [`GpuBlur::copy_passes`] four voxels per invocation, the fastest plain copy (passes along
    /// the last axis load and store four voxels at a time too). The same as `copy_passes` on
    /// devices with fewer than 5 storage bindings per stage, or volumes whose buffer is not a
    /// whole number of vec4s.
    ///
    /// # Errors
    /// GPU errors.
    #[cfg(feature = "bench")]
    pub fn copy_passes_vec4(&self, volume: &mut GpuVolume, count: usize) -> Result<(), BlurError> {
        self.copy_passes_with(volume, count, true)
    }

    #[cfg(feature = "bench")]
    fn copy_passes_with(
        &self,
        volume: &mut GpuVolume,
        count: usize,
        vec4: bool,
    ) -> Result<(), BlurError> {
        self.check_owner(volume)?;
        pollster::block_on(self.guard(async {
            let mut frame = self.frame();
            let spare = frame.storage(volume.bytes()).await?;
            let mut encoder = self.command_encoder();
            let scopes = super::Scopes::push(&self.device);
            let swapped = self.dispatcher().copies(
                &mut frame,
                &mut encoder,
                [&volume.buffer, &spare],
                volume.layout,
                count,
                vec4,
            );
            scopes.pop().await?;
            if swapped {
                frame.release(&spare);
                frame.adopt(std::mem::replace(&mut volume.buffer, spare));
            }
            self.submit(frame, encoder).await?;
            Ok(())
        }))
    }
}
