//! What to blur with: [`Sigma`], [`Mode`] and [`BlurOptions`]. Validation lives here, once.

use std::fmt;
use std::str::FromStr;

use crate::BlurError;
use crate::kernel::{DEFAULT_TRUNCATE, MAX_ORDER, MAX_RADIUS, gaussian_kernel, radius_for};

/// Standard deviation of the Gaussian in voxels, per axis in ndarray order
/// (`[axis 0, axis 1, axis 2]`, axis 2 being contiguous in standard layout).
///
/// Made from one number (isotropic) or three: `2.0`, `2.0f32`, `[1.0, 2.0, 2.0]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sigma([f64; 3]);

impl Sigma {
    /// The same sigma along every axis.
    #[must_use]
    pub fn isotropic(sigma: f64) -> Self {
        Sigma([sigma; 3])
    }

    /// One sigma per axis, in ndarray axis order.
    #[must_use]
    pub fn per_axis(sigma: [f64; 3]) -> Self {
        Sigma(sigma)
    }

    /// The three sigmas, in ndarray axis order.
    #[must_use]
    pub fn get(&self) -> [f64; 3] {
        self.0
    }
}

impl From<f64> for Sigma {
    fn from(s: f64) -> Self {
        Sigma::isotropic(s)
    }
}

impl From<f32> for Sigma {
    fn from(s: f32) -> Self {
        Sigma::isotropic(f64::from(s))
    }
}

impl From<[f64; 3]> for Sigma {
    fn from(s: [f64; 3]) -> Self {
        Sigma(s)
    }
}

impl From<[f32; 3]> for Sigma {
    fn from(s: [f32; 3]) -> Self {
        Sigma(s.map(f64::from))
    }
}

/// How an axis is extended beyond its ends, named and defined as in `scipy.ndimage`.
///
/// For the line `a b c d`:
///
/// | mode | extension | scipy `mode=` |
/// |---|---|---|
/// | `Reflect` (default) | `d c b a \| a b c d \| d c b a` (half-sample symmetric) | `'reflect'` |
/// | `Mirror` | `d c b \| a b c d \| c b a` (whole-sample symmetric) | `'mirror'` |
/// | `Nearest` | `a a a \| a b c d \| d d d` | `'nearest'` |
/// | `Wrap` | `b c d \| a b c d \| a b c` (periodic) | `'wrap'` |
/// | `Constant(v)` | `v v v \| a b c d \| v v v` | `'constant', cval=v` |
///
/// A kernel longer than its axis repeats the reflection or the period as often as needed,
/// exactly as scipy does.
///
/// Two modes are equal when they extend alike: `Constant` values compare by their bits, so a
/// NaN `cval` equals itself (and `-0.0` differs from `0.0`).
#[derive(Clone, Copy, Debug, Default)]
pub enum Mode {
    /// Half-sample symmetric: the edge voxel is repeated (`dcba|abcd|dcba`). scipy's default.
    #[default]
    Reflect,
    /// Whole-sample symmetric: reflection about the edge voxel's centre (`dcb|abcd|cba`).
    Mirror,
    /// The edge voxel repeated (`aaaa|abcd|dddd`).
    Nearest,
    /// Periodic (`abcd|abcd|abcd`).
    Wrap,
    /// A constant value outside the volume (`vvvv|abcd|vvvv`).
    Constant(f64),
}

impl PartialEq for Mode {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Mode::Constant(a), Mode::Constant(b)) => a.to_bits() == b.to_bits(),
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for Mode {}

impl Mode {
    /// scipy's names of the modes, its aliases included, as its filters accept them.
    pub const NAMES: [&'static str; 8] = [
        "reflect",
        "grid-mirror",
        "mirror",
        "nearest",
        "wrap",
        "grid-wrap",
        "constant",
        "grid-constant",
    ];

    /// The mode scipy's `mode=name, cval=cval` asks for: one of [`Mode::NAMES`], exactly as
    /// scipy spells it.
    ///
    /// # Errors
    /// [`ParseModeError`] for any other name.
    pub fn from_scipy(name: &str, cval: f64) -> Result<Self, ParseModeError> {
        Ok(match name {
            "reflect" | "grid-mirror" => Mode::Reflect,
            "mirror" => Mode::Mirror,
            "nearest" => Mode::Nearest,
            "wrap" | "grid-wrap" => Mode::Wrap,
            "constant" | "grid-constant" => Mode::Constant(cval),
            _ => return Err(ParseModeError(name.to_string())),
        })
    }

    /// scipy's name for the mode.
    #[must_use]
    pub fn scipy_name(&self) -> &'static str {
        match self {
            Mode::Reflect => "reflect",
            Mode::Mirror => "mirror",
            Mode::Nearest => "nearest",
            Mode::Wrap => "wrap",
            Mode::Constant(_) => "constant",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Constant(v) => write!(f, "constant={v}"),
            m => f.write_str(m.scipy_name()),
        }
    }
}

/// The error of parsing a [`Mode`] from text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown mode {0:?}: use reflect, mirror, nearest, wrap or constant[=VALUE] \
     (scipy's grid-mirror, grid-wrap and grid-constant are accepted too)"
)]
pub struct ParseModeError(pub String);

impl FromStr for Mode {
    type Err = ParseModeError;

    /// Parses scipy's names ([`Mode::NAMES`], any case): `reflect`, `mirror`, `nearest`,
    /// `wrap`, `constant` (value 0) or `constant=VALUE`, and scipy's aliases `grid-mirror`,
    /// `grid-wrap`, `grid-constant`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseModeError(s.to_string());
        let (name, value) = match s.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (s.trim(), None),
        };
        let mode = Mode::from_scipy(&name.to_ascii_lowercase(), 0.0).map_err(|_| err())?;
        match (mode, value) {
            (Mode::Constant(_), Some(v)) => v.parse().map(Mode::Constant).map_err(|_| err()),
            (_, Some(_)) => Err(err()),
            (mode, None) => Ok(mode),
        }
    }
}

/// Everything that defines a blur, with the semantics of `scipy.ndimage.gaussian_filter`.
///
/// ```
/// use blur3d::{BlurOptions, Mode};
/// // scipy: gaussian_filter(vol, sigma=(1, 2, 2), mode='nearest', truncate=3.0)
/// let opts = BlurOptions::new([1.0, 2.0, 2.0]).mode(Mode::Nearest).truncate(3.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BlurOptions {
    sigma: Sigma,
    modes: [Mode; 3],
    truncate: f64,
    radius: Option<[usize; 3]>,
    orders: [u32; 3],
    axes: [bool; 3],
    truncate_each_pass: bool,
    precision: Precision,
}

/// The arithmetic the GPU filters in.
///
/// scipy computes every filter in f64. blur3d computes in f32 where that loses nothing a user
/// of the type would see (f32 and the 8- and 16-bit integers), and in f64 where f32 would
/// (`f64`, and the 32- and 64-bit integers, whose values pass f32's 24 bits), unless told
/// otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precision {
    /// f64 when the input or the output is `f64`, `u32`, `i32`, `u64` or `i64`; f32 otherwise.
    #[default]
    Auto,
    /// f32 whatever the types: half the memory and traffic of f64, about 1e-7 relative error.
    Single,
    /// f64 whatever the types: native f64 on devices with `SHADER_F64` (Vulkan and DX12 on
    /// GPUs with float64 units, lavapipe), double-single arithmetic (each value a pair of f32)
    /// on the others (GL, Metal).
    Double,
}

impl Precision {
    /// Whether a call with voxels `A` in and `B` out computes in f64 (natively or in
    /// double-single) rather than f32.
    #[must_use]
    pub fn is_double<A: crate::Voxel, B: crate::Voxel>(self) -> bool {
        match self {
            Precision::Single => false,
            Precision::Double => true,
            Precision::Auto => A::UPLOAD.is_wide() || B::UPLOAD.is_wide(),
        }
    }

    /// The bytes per voxel the GPU holds in such a call: 8 in f64 or double-single, 4 in f32.
    /// For [`crate::GpuBlur::slab_bytes_for_blocks`].
    #[must_use]
    pub fn voxel_bytes<A: crate::Voxel, B: crate::Voxel>(self) -> usize {
        if self.is_double::<A, B>() { 8 } else { 4 }
    }
}

/// scipy skips the axes whose sigma is at most this (`gaussian_filter`'s `sigmas[ii] > 1e-15`).
const SKIPPED_SIGMA: f64 = 1e-15;

impl BlurOptions {
    /// Options with the given sigma, `Mode::Reflect` and `truncate = 4.0`, as scipy's defaults.
    #[must_use]
    pub fn new(sigma: impl Into<Sigma>) -> Self {
        BlurOptions {
            sigma: sigma.into(),
            modes: [Mode::Reflect; 3],
            truncate: DEFAULT_TRUNCATE,
            radius: None,
            orders: [0; 3],
            axes: [true; 3],
            truncate_each_pass: false,
            precision: Precision::Auto,
        }
    }

    /// The same derivative order on every axis (scipy's `order=n`): 0 blurs, 1 is the first
    /// derivative of the Gaussian, 2 the second, and so on, with scipy's kernels and signs.
    #[must_use]
    pub fn order(mut self, order: u32) -> Self {
        self.orders = [order; 3];
        self
    }

    /// One derivative order per axis, in ndarray axis order (scipy's `order=(0, 1, 0)`).
    #[must_use]
    pub fn orders(mut self, orders: [u32; 3]) -> Self {
        self.orders = orders;
        self
    }

    /// The axes to filter, in ndarray axis order (scipy's `axes=`): an axis left out is neither
    /// filtered nor summed over by [`GpuBlur::gaussian_laplace`](crate::GpuBlur::gaussian_laplace)
    /// and [`GpuBlur::gaussian_gradient_magnitude`](crate::GpuBlur::gaussian_gradient_magnitude),
    /// as if its sigma were 0. All three by default.
    #[must_use]
    pub fn axes(mut self, axes: [bool; 3]) -> Self {
        self.axes = axes;
        self
    }

    /// Truncates the values toward zero after every axis's pass, as scipy does when the output
    /// has an integer type (`gaussian_filter(u8_volume, 2)` stores each pass's result as u8).
    /// Off by default: passes keep their arithmetic throughout and integer results are rounded
    /// once.
    #[must_use]
    pub fn truncate_each_pass(mut self, on: bool) -> Self {
        self.truncate_each_pass = on;
        self
    }

    /// The arithmetic of the GPU's passes ([`Precision::Auto`] by default: f64 for 64-bit
    /// floats and 32- and 64-bit integers, f32 otherwise). The CPU references always compute in
    /// f64.
    #[must_use]
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// The precision asked for.
    #[must_use]
    pub fn precision_asked(&self) -> Precision {
        self.precision
    }

    /// The derivative order per axis.
    #[must_use]
    pub fn orders_per_axis(&self) -> [u32; 3] {
        self.orders
    }

    /// The axes filtered, in ndarray axis order.
    #[must_use]
    pub fn axes_filtered(&self) -> [bool; 3] {
        self.axes
    }

    /// Whether values are truncated toward zero after every pass.
    #[must_use]
    pub fn truncates_each_pass(&self) -> bool {
        self.truncate_each_pass
    }

    /// The same mode on every axis (scipy's `mode='...'`).
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.modes = [mode; 3];
        self
    }

    /// One mode per axis, in ndarray axis order (scipy's `mode=('...', '...', '...')`).
    #[must_use]
    pub fn modes(mut self, modes: [Mode; 3]) -> Self {
        self.modes = modes;
        self
    }

    /// Kernel half-width in sigmas: radius = `floor(truncate * sigma + 0.5)` (scipy's `truncate`).
    #[must_use]
    pub fn truncate(mut self, truncate: impl Into<f64>) -> Self {
        self.truncate = truncate.into();
        self
    }

    /// Kernel radius per axis in voxels, overriding `truncate` (scipy's `radius=`).
    #[must_use]
    pub fn radius(mut self, radius: [usize; 3]) -> Self {
        self.radius = Some(radius);
        self
    }

    /// The sigma per axis.
    #[must_use]
    pub fn sigma(&self) -> Sigma {
        self.sigma
    }

    /// The mode per axis.
    #[must_use]
    pub fn modes_per_axis(&self) -> [Mode; 3] {
        self.modes
    }

    /// The kernel radius each axis will use, after validation.
    ///
    /// # Errors
    /// [`BlurError::InvalidSigma`], [`BlurError::InvalidTruncate`] or
    /// [`BlurError::RadiusTooLarge`] for options no blur can use.
    pub fn radii(&self) -> Result<[usize; 3], BlurError> {
        let kernels = self.kernels()?;
        Ok(std::array::from_fn(|a| {
            kernels[a].as_ref().map_or(0, |k| k.radius)
        }))
    }

    /// Validates the options against a volume's shape and computes the kernel of each axis
    /// (`None` where the axis is left as it is).
    pub(crate) fn axis_kernels(
        &self,
        shape: [usize; 3],
    ) -> Result<[Option<AxisKernel>; 3], BlurError> {
        check_not_empty(shape)?;
        self.kernels()
    }

    fn kernels(&self) -> Result<[Option<AxisKernel>; 3], BlurError> {
        self.validate()?;
        let mut out: [Option<AxisKernel>; 3] = [None, None, None];
        for (axis, slot) in out.iter_mut().enumerate() {
            *slot = self.axis_kernel(axis, self.orders[axis], self.modes[axis])?;
        }
        Ok(out)
    }

    /// Checks what does not depend on the axis: sigmas, truncate and orders.
    fn validate(&self) -> Result<(), BlurError> {
        for (axis, &value) in self.sigma.get().iter().enumerate() {
            if !(value.is_finite() && value >= 0.0) {
                return Err(BlurError::InvalidSigma { axis, value });
            }
        }
        if !(self.truncate.is_finite() && self.truncate >= 0.0) {
            return Err(BlurError::InvalidTruncate {
                value: self.truncate,
            });
        }
        if let Some(axis) = self.orders.iter().position(|&o| o > MAX_ORDER) {
            return Err(BlurError::OrderTooLarge {
                axis,
                order: self.orders[axis],
                max: MAX_ORDER,
            });
        }
        Ok(())
    }

    /// The kernel along `axis` with derivative `order` and `mode` (these options' sigma,
    /// truncate and radius), or `None` where the axis is left as it is: an axis not filtered,
    /// a sigma scipy skips (at most 1e-15, whatever the order, radius or truncate), or the
    /// identity (order 0 with radius 0, when passes do not truncate). Call after
    /// [`BlurOptions::validate`].
    pub(crate) fn axis_kernel(
        &self,
        axis: usize,
        order: u32,
        mode: Mode,
    ) -> Result<Option<AxisKernel>, BlurError> {
        let sigma = self.sigma.get()[axis];
        if !self.axes[axis] || sigma <= SKIPPED_SIGMA {
            return Ok(None);
        }
        let radius = match self.radius {
            Some(r) => Some(r[axis]),
            None => radius_for(sigma, self.truncate),
        };
        let radius = match radius {
            Some(r) if r <= MAX_RADIUS => r,
            _ => {
                return Err(BlurError::RadiusTooLarge {
                    axis,
                    radius,
                    max: MAX_RADIUS,
                });
            }
        };
        // A kernel of one weight changes nothing, unless its pass truncates (scipy stores every
        // pass it runs, a radius of 0 included, in the output's type).
        if order == 0 && radius == 0 && !self.truncate_each_pass {
            return Ok(None);
        }
        // Applied as a correlation (weight t multiplies the input at offset t - radius), so
        // scipy's kernel reversed: scipy convolves.
        let mut weights = gaussian_kernel(sigma, order, radius);
        weights.reverse();
        Ok(Some(AxisKernel {
            weights,
            radius,
            mode,
        }))
    }

    /// The mode per axis and the validated options, for the filters of the Gaussian family
    /// that build their own kernels.
    pub(crate) fn validated(&self) -> Result<&Self, BlurError> {
        self.validate()?;
        Ok(self)
    }
}

/// The validated 1D kernel of one axis.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AxisKernel {
    /// `2 * radius + 1` weights, applied as a correlation: weight `t` multiplies the input at
    /// offset `t - radius`. Sum 1 for order 0.
    pub weights: Vec<f64>,
    pub radius: usize,
    pub mode: Mode,
}

/// [`BlurError::EmptyAxis`] for a volume of `shape` with no voxel along some axis: the one
/// check every entry point makes before anything else.
pub(crate) fn check_not_empty(shape: [usize; 3]) -> Result<(), BlurError> {
    match shape.iter().position(|&n| n == 0) {
        Some(axis) => Err(BlurError::EmptyAxis { axis, shape }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_scipy_names() {
        assert_eq!("reflect".parse(), Ok(Mode::Reflect));
        assert_eq!("grid-mirror".parse(), Ok(Mode::Reflect));
        assert_eq!("Mirror".parse(), Ok(Mode::Mirror));
        assert_eq!("nearest".parse(), Ok(Mode::Nearest));
        assert_eq!("grid-wrap".parse(), Ok(Mode::Wrap));
        assert_eq!("constant".parse(), Ok(Mode::Constant(0.0)));
        assert_eq!("constant=-1.5".parse(), Ok(Mode::Constant(-1.5)));
        assert!("constant=x".parse::<Mode>().is_err());
        assert!("reflect=1".parse::<Mode>().is_err());
        assert_eq!(
            "bogus".parse::<Mode>(),
            Err(ParseModeError("bogus".to_string()))
        );
        for m in [
            Mode::Reflect,
            Mode::Mirror,
            Mode::Nearest,
            Mode::Wrap,
            Mode::Constant(2.5),
        ] {
            assert_eq!(m.to_string().parse(), Ok(m));
        }
        // scipy's own spelling, with its cval apart: every name, and nothing else.
        for name in Mode::NAMES {
            let mode = Mode::from_scipy(name, 2.0).unwrap();
            assert_eq!(
                Ok(mode),
                name.parse().map(|m: Mode| match m {
                    Mode::Constant(_) => Mode::Constant(2.0),
                    m => m,
                })
            );
        }
        assert!(Mode::from_scipy("Reflect", 0.0).is_err());
        assert!(Mode::from_scipy("constant=1", 0.0).is_err());
    }

    #[test]
    fn plan_skips_identity_axes_and_validates() {
        let plan = BlurOptions::new([0.0, 1.0, 2.0])
            .axis_kernels([3, 4, 5])
            .unwrap();
        assert!(plan[0].is_none());
        assert_eq!(plan[1].as_ref().unwrap().radius, 4);
        assert_eq!(plan[2].as_ref().unwrap().radius, 8);
        let r = BlurOptions::new(1.0).radius([1, 0, 3]).radii().unwrap();
        assert_eq!(r, [1, 0, 3]);
        assert_eq!(
            BlurOptions::new(1.0).axis_kernels([3, 0, 5]),
            Err(BlurError::EmptyAxis {
                axis: 1,
                shape: [3, 0, 5]
            })
        );
        assert_eq!(
            BlurOptions::new([1.0, -1.0, 1.0]).radii(),
            Err(BlurError::InvalidSigma {
                axis: 1,
                value: -1.0
            })
        );
        assert!(matches!(
            BlurOptions::new(1.0).truncate(f64::NAN).radii(),
            Err(BlurError::InvalidTruncate { .. })
        ));
        assert!(matches!(
            BlurOptions::new(1e9).radii(),
            Err(BlurError::RadiusTooLarge { axis: 0, .. })
        ));
    }
}
