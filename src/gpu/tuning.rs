//! The tuner: which pass family runs each class of passes on this device, decided by timing the
//! candidates on the device itself the first time a class is needed, and kept on disk per
//! adapter and driver so that later processes start with the choice made.
//!
//! A class is the axis (the contiguous one, or a strided one), a band of radii and the element
//! type: what decides which candidate wins. It does not depend on the volume's extents, so that
//! one voxel's value does not depend on how a volume is cut (slabs, batches, streams): within a
//! process every `GpuBlur` on one adapter shares one decision per class, made once.
//!
//! The candidates are the pass families the device can run ([`PassFamily`]: CPU, GPU, tile),
//! each timed on a 64^3 volume (256^3 on a GPU, where a smaller pass is mostly its launch) with a
//! kernel of the band's largest radius (four passes between
//! waits, best of three); the fastest replaces the device's own family only when it is at least
//! 10% faster (a timing taken beside other work is noisy, and a choice is kept). A class decided
//! for a family that does not take a pass (the GPU family on rows not a multiple of 4 voxels)
//! runs that pass in the family's fallback. Double-single passes are not tuned.
//!
//! In-plane pairs (a pass along axis 1 then one along axis 2, which the tile family can run in one
//! dispatch) are decided per class of their own ([`PairClass`]: the bands of both radii, the
//! element type): the pair in one dispatch is timed against the two passes apart in their classes'
//! families, on the probe with the radii of the first call that needs the class, and runs when it
//! is at least 10% faster.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::kernels::PassFamily;
use super::layout::Real;

/// Upper ends of the radius bands.
const BANDS: [u32; 5] = [2, 5, 11, 23, u32::MAX];
/// The first line of the cache file; files without it are ignored.
const HEADER: &str = "blur3d tuning v2";

/// A class of passes the tuner decides for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PassClass {
    /// The axis: 2 is the contiguous one.
    pub axis: usize,
    /// The band of radii, inclusive: `(0, 2)`, `(3, 5)`, `(6, 11)`, `(12, 23)`, `(24, u32::MAX)`.
    pub radii: (u32, u32),
    /// Whether the passes compute in f64.
    pub f64: bool,
}

impl PassClass {
    pub(crate) fn of(axis: usize, radius: usize, real: Real) -> Self {
        let r = u32::try_from(radius).unwrap_or(u32::MAX);
        let band = BANDS
            .iter()
            .position(|&hi| r <= hi)
            .unwrap_or(BANDS.len() - 1);
        let lo = if band == 0 { 0 } else { BANDS[band - 1] + 1 };
        PassClass {
            axis,
            radii: (lo, BANDS[band]),
            f64: real == Real::F64,
        }
    }

    /// The radius the candidates are timed with: the band's largest (32 for the last).
    pub(crate) fn probe_radius(self) -> usize {
        self.radii.1.min(32) as usize
    }
}

/// What the tuner chose for a class, and the candidates' times per pass on the probe volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuned {
    /// The class of passes.
    pub class: PassClass,
    /// The family that runs it: the fastest, or the device's own unless another is at least
    /// 10% faster.
    pub family: PassFamily,
    /// Time per pass of each family (index `PassFamily as usize`: CPU, GPU, tile); `None` for
    /// a family the device cannot run.
    pub times: [Option<Duration>; 3],
}

impl Tuned {
    /// The tuner's choice among `times` (as [`Tuned::times`]) for a device whose own family is
    /// `own`: the fastest when it is at least 10% faster than `own`, else `own`.
    pub(crate) fn choose(own: PassFamily, times: [Option<Duration>; 3]) -> PassFamily {
        let timed = PassFamily::ALL
            .into_iter()
            .filter_map(|f| times[f as usize].map(|t| (f, t)));
        let Some((fastest, best)) = timed.min_by_key(|&(_, t)| t) else {
            return own;
        };
        match times[own as usize] {
            Some(mine) if best * 10 >= mine * 9 => own,
            _ => fastest,
        }
    }
}

impl std::fmt::Display for Tuned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "axis {} radius {}..={} {}: {:?} family (",
            self.class.axis,
            self.class.radii.0,
            self.class.radii.1,
            if self.class.f64 { "f64" } else { "f32" },
            self.family,
        )?;
        let times: Vec<String> = PassFamily::ALL
            .into_iter()
            .filter_map(|family| {
                let t = self.times[family as usize]?;
                Some(format!("{family:?} {:.3} ms", t.as_secs_f64() * 1e3))
            })
            .collect();
        write!(f, "{} per pass)", times.join(", "))
    }
}

/// A class of in-plane pairs the tuner decides for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PairClass {
    /// The bands of the radii along axis 1 and along axis 2, as [`PassClass::radii`].
    pub radii: [(u32, u32); 2],
    /// Whether the passes compute in f64.
    pub f64: bool,
}

impl PairClass {
    pub(crate) fn of(first: usize, second: usize, real: Real) -> Self {
        PairClass {
            radii: [first, second].map(|r| PassClass::of(1, r, real).radii),
            f64: real == Real::F64,
        }
    }
}

/// What the tuner chose for a class of in-plane pairs, and the times of both ways on the probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunedPair {
    /// The class of pairs.
    pub class: PairClass,
    /// Whether its pairs run in one dispatch (else as two passes, each in its class's family).
    pub fused: bool,
    /// Time of the pair in one dispatch, and of the two passes apart.
    pub times: [Duration; 2],
}

impl TunedPair {
    /// The tuner's choice: one dispatch when at least 10% faster than the passes apart.
    pub(crate) fn choose(class: PairClass, times: [Duration; 2]) -> Self {
        TunedPair {
            class,
            fused: times[0] * 10 < times[1] * 9,
            times,
        }
    }
}

impl std::fmt::Display for TunedPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [(a, b), (c, d)] = self.class.radii;
        let [pair, apart] = self.times.map(|t| t.as_secs_f64() * 1e3);
        write!(
            f,
            "in-plane pair, radii {a}..={b} and {c}..={d} {}: {} (one dispatch {pair:.3} ms, apart {apart:.3} ms)",
            if self.class.f64 { "f64" } else { "f32" },
            if self.fused { "one dispatch" } else { "apart" },
        )
    }
}

/// The decisions of every adapter this process has seen, and where they are kept.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    path: Option<PathBuf>,
    entries: Decisions<PassClass, Tuned>,
    pairs: Decisions<PairClass, TunedPair>,
}

/// Decisions of one kind, per adapter and class.
#[derive(Debug)]
struct Decisions<K, V>(HashMap<String, HashMap<K, V>>);

impl<K, V> Default for Decisions<K, V> {
    fn default() -> Self {
        Decisions(HashMap::new())
    }
}

impl<K: Copy + Ord + std::hash::Hash, V: Copy> Decisions<K, V> {
    fn get(&self, adapter: &str, class: K) -> Option<V> {
        self.0.get(adapter)?.get(&class).copied()
    }

    /// Every decision for `adapter`, by class.
    fn all(&self, adapter: &str) -> Vec<V> {
        let mut all: Vec<(K, V)> = self
            .0
            .get(adapter)
            .map(|m| m.iter().map(|(&k, &v)| (k, v)).collect())
            .unwrap_or_default();
        all.sort_by_key(|&(k, _)| k);
        all.into_iter().map(|(_, v)| v).collect()
    }

    /// Inserts `decision` unless one is there for the class: then returns that one.
    fn insert_first(&mut self, adapter: &str, class: K, decision: V) -> Option<V> {
        let entry = self.0.entry(adapter.to_string()).or_default();
        if let Some(&standing) = entry.get(&class) {
            return Some(standing);
        }
        entry.insert(class, decision);
        None
    }
}

impl Cache {
    /// The process's cache, read from disk on first use.
    pub(crate) fn global() -> &'static Mutex<Cache> {
        static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
        CACHE.get_or_init(|| Mutex::new(Cache::load(cache_file())))
    }

    /// The decisions in `path` (nothing when it is absent, unreadable, or not a cache file;
    /// lines that do not parse are skipped).
    pub(crate) fn load(path: Option<PathBuf>) -> Self {
        let mut cache = Cache {
            path,
            ..Cache::default()
        };
        let Some(text) = cache
            .path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            return cache;
        };
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return cache;
        }
        for line in lines {
            if let Some((adapter, tuned)) = parse(line) {
                cache.entries.insert_first(&adapter, tuned.class, tuned);
            } else if let Some((adapter, pair)) = parse_pair(line) {
                cache.pairs.insert_first(&adapter, pair.class, pair);
            }
        }
        cache
    }

    /// The decision for `class` on `adapter`.
    pub(crate) fn get(&self, adapter: &str, class: PassClass) -> Option<Tuned> {
        self.entries.get(adapter, class)
    }

    /// Every decision for `adapter`, by class.
    pub(crate) fn all(&self, adapter: &str) -> Vec<Tuned> {
        self.entries.all(adapter)
    }

    /// Records `tuned` for `adapter` unless a decision is there already (the first one stands:
    /// a class never changes family within a process); returns the decision that stands. The
    /// file is written again (a failure to write only loses the cache).
    pub(crate) fn record(&mut self, adapter: &str, tuned: Tuned) -> Tuned {
        match self.entries.insert_first(adapter, tuned.class, tuned) {
            Some(standing) => standing,
            None => self.saved(tuned),
        }
    }

    /// The decision for in-plane pairs of `class` on `adapter`.
    pub(crate) fn get_pair(&self, adapter: &str, class: PairClass) -> Option<TunedPair> {
        self.pairs.get(adapter, class)
    }

    /// Every decision on in-plane pairs for `adapter`, by class.
    pub(crate) fn all_pairs(&self, adapter: &str) -> Vec<TunedPair> {
        self.pairs.all(adapter)
    }

    /// Records `pair` for `adapter` as [`Cache::record`] records a class of passes.
    pub(crate) fn record_pair(&mut self, adapter: &str, pair: TunedPair) -> TunedPair {
        match self.pairs.insert_first(adapter, pair.class, pair) {
            Some(standing) => standing,
            None => self.saved(pair),
        }
    }

    /// `decision`, once the file is written again.
    fn saved<V>(&self, decision: V) -> V {
        if let Some(path) = &self.path {
            let _ = self.save(path);
        }
        decision
    }

    fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut text = format!("{HEADER}\n");
        let mut adapters: Vec<&String> = self.entries.0.keys().chain(self.pairs.0.keys()).collect();
        adapters.sort();
        adapters.dedup();
        for adapter in adapters {
            for tuned in self.all(adapter) {
                text.push_str(&format(adapter, &tuned));
                text.push('\n');
            }
            for pair in self.all_pairs(adapter) {
                text.push_str(&format_pair(adapter, &pair));
                text.push('\n');
            }
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Written beside, then renamed over: a reader never sees half a file.
        let partial = path.with_extension(format!("partial{}", std::process::id()));
        std::fs::write(&partial, text)?;
        std::fs::rename(&partial, path)
    }
}

/// The adapter and driver a decision holds for: another driver (an update) tunes again.
pub(crate) fn adapter_key(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} / {:?} / {:04x}:{:04x} / {} {}",
        info.name, info.backend, info.vendor, info.device, info.driver, info.driver_info
    )
    .replace(['\t', '\n'], " ")
}

/// `$BLUR3D_CACHE_DIR/tuning.txt`, else the user's cache directory's `blur3d/tuning.txt`
/// (`$XDG_CACHE_HOME`, `~/.cache`, `~/Library/Caches`, `%LOCALAPPDATA%`).
fn cache_file() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = var("BLUR3D_CACHE_DIR").or_else(|| {
        let base = if cfg!(target_os = "windows") {
            var("LOCALAPPDATA")
        } else if cfg!(target_os = "macos") {
            var("HOME").map(|h| h.join("Library/Caches"))
        } else {
            var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|h| h.join(".cache")))
        };
        base.map(|b| b.join("blur3d"))
    })?;
    Some(dir.join("tuning.txt"))
}

/// The family's name in the file (and in `BLUR3D_PASSES`).
fn family_name(family: PassFamily) -> &'static str {
    match family {
        PassFamily::Cpu => "cpu",
        PassFamily::Gpu => "gpu",
        PassFamily::Tile => "tile",
    }
}

/// One line: the adapter, the class (axis, radii, element type), the family, then each family's
/// time in nanoseconds (`-`: not timed), tab-separated.
fn format(adapter: &str, t: &Tuned) -> String {
    let times: Vec<String> = t
        .times
        .iter()
        .map(|t| t.map_or("-".to_string(), |t| t.as_nanos().to_string()))
        .collect();
    format!(
        "{adapter}\t{}\t{}\t{}\t{}\t{}\t{}",
        t.class.axis,
        t.class.radii.0,
        t.class.radii.1,
        if t.class.f64 { "f64" } else { "f32" },
        family_name(t.family),
        times.join("\t")
    )
}

fn parse(line: &str) -> Option<(String, Tuned)> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [adapter, axis, lo, hi, real, family, cpu, gpu, tile] = fields[..] else {
        return None;
    };
    let axis: usize = axis.parse().ok().filter(|&a| a < 3)?;
    let radii = (lo.parse().ok()?, hi.parse().ok()?);
    let real = match real {
        "f64" => Real::F64,
        "f32" => Real::F32,
        _ => return None,
    };
    let class = PassClass::of(axis, radii.0 as usize, real);
    if class.radii != radii {
        return None;
    }
    let family = PassFamily::ALL
        .into_iter()
        .find(|&f| family_name(f) == family)?;
    // A number of nanoseconds, or `-`; anything else rejects the line.
    let nanos = |v: &str| match v {
        "-" => Some(None),
        _ => v.parse::<u64>().ok().map(|n| Some(Duration::from_nanos(n))),
    };
    let times = [nanos(cpu)?, nanos(gpu)?, nanos(tile)?];
    // The chosen family was timed.
    times[family as usize]?;
    Some((
        adapter.to_string(),
        Tuned {
            class,
            family,
            times,
        },
    ))
}

/// One line of a pair: the adapter, `pair`, the bands of both radii, the element type, `fused`
/// or `apart`, then both times in nanoseconds, tab-separated.
fn format_pair(adapter: &str, t: &TunedPair) -> String {
    let [(a, b), (c, d)] = t.class.radii;
    format!(
        "{adapter}\tpair\t{a}\t{b}\t{c}\t{d}\t{}\t{}\t{}\t{}",
        if t.class.f64 { "f64" } else { "f32" },
        if t.fused { "fused" } else { "apart" },
        t.times[0].as_nanos(),
        t.times[1].as_nanos()
    )
}

fn parse_pair(line: &str) -> Option<(String, TunedPair)> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [adapter, "pair", a, b, c, d, real, fused, pair, apart] = fields[..] else {
        return None;
    };
    let real = match real {
        "f64" => Real::F64,
        "f32" => Real::F32,
        _ => return None,
    };
    let number = |v: &str| v.parse::<u32>().ok();
    let radii = [(number(a)?, number(b)?), (number(c)?, number(d)?)];
    let class = PairClass::of(radii[0].0 as usize, radii[1].0 as usize, real);
    if class.radii != radii {
        return None;
    }
    let fused = match fused {
        "fused" => true,
        "apart" => false,
        _ => return None,
    };
    let nanos = |v: &str| v.parse::<u64>().ok().map(Duration::from_nanos);
    Some((
        adapter.to_string(),
        TunedPair {
            class,
            fused,
            times: [nanos(pair)?, nanos(apart)?],
        },
    ))
}

/// Whether `BLUR3D_TUNING` turns tuning off (`off`, `0`, `false`, `no`); on otherwise.
pub(crate) fn off_by_env() -> bool {
    std::env::var("BLUR3D_TUNING").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "off" | "0" | "false" | "no"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuned(axis: usize, radius: usize, family: PassFamily) -> Tuned {
        Tuned {
            class: PassClass::of(axis, radius, Real::F32),
            family,
            times: [
                Some(Duration::from_micros(900)),
                Some(Duration::from_micros(1200)),
                None,
            ],
        }
    }

    #[test]
    fn the_fastest_wins_by_ten_percent_or_the_own_family_stays() {
        let ms = |v: u64| Some(Duration::from_micros(v * 100));
        let (cpu, gpu, tile) = (PassFamily::Cpu, PassFamily::Gpu, PassFamily::Tile);
        assert_eq!(Tuned::choose(gpu, [ms(10), ms(20), ms(30)]), cpu);
        assert_eq!(Tuned::choose(gpu, [ms(30), ms(20), ms(10)]), tile);
        // 5% faster is not enough; 11% is.
        assert_eq!(Tuned::choose(cpu, [ms(20), ms(19), None]), cpu);
        assert_eq!(Tuned::choose(cpu, [ms(100), ms(95), ms(89)]), tile);
        // A family not timed is never chosen; the own family not timed yields to the fastest.
        assert_eq!(Tuned::choose(cpu, [ms(20), None, None]), cpu);
        assert_eq!(Tuned::choose(tile, [ms(20), ms(10), None]), gpu);
        assert_eq!(Tuned::choose(gpu, [None; 3]), gpu);
    }

    #[test]
    fn classes_band_the_radii() {
        let band = |r| PassClass::of(2, r, Real::F32).radii;
        assert_eq!(band(0), (0, 2));
        assert_eq!(band(2), (0, 2));
        assert_eq!(band(3), (3, 5));
        assert_eq!(band(11), (6, 11));
        assert_eq!(band(23), (12, 23));
        assert_eq!(band(400), (24, u32::MAX));
        assert_eq!(PassClass::of(0, 400, Real::F64).probe_radius(), 32);
        assert!(PassClass::of(0, 4, Real::F64).f64);
    }

    #[test]
    fn the_cache_survives_a_restart_and_rejects_stale_or_corrupt_files() {
        let dir = std::env::temp_dir().join(format!("blur3d-tuning-{}", std::process::id()));
        let path = dir.join("tuning.txt");
        let _ = std::fs::remove_file(&path);
        let mut cache = Cache::load(Some(path.clone()));
        assert!(cache.all("gpu A").is_empty());
        let first = tuned(2, 4, PassFamily::Gpu);
        assert_eq!(cache.record("gpu A", first), first);
        // The first decision stands.
        assert_eq!(cache.record("gpu A", tuned(2, 4, PassFamily::Cpu)), first);
        cache.record("gpu B", tuned(0, 30, PassFamily::Cpu));
        // A new process reads what the last one decided, per adapter and driver.
        let again = Cache::load(Some(path.clone()));
        assert_eq!(again.all("gpu A"), vec![first]);
        assert_eq!(
            again
                .get("gpu B", PassClass::of(0, 30, Real::F32))
                .map(|t| t.family),
            Some(PassFamily::Cpu)
        );
        // Another driver is another key: nothing of the old one applies.
        assert!(again.all("gpu A with driver 2").is_empty());
        // Corrupt lines are skipped, the rest kept; a file without the header is ignored.
        let text = std::fs::read_to_string(&path).unwrap();
        // (axis 9; a band that is none; a family not timed; a time that is no number; a line
        // of the last version.)
        let bad = [
            "garbage\tline",
            "gpu A\t9\t0\t2\tf32\tgpu\t1\t2\t3",
            "gpu A\t1\t0\t3\tf32\tgpu\t1\t2\t3",
            "gpu A\t1\t0\t2\tf32\ttile\t1\t2\t-",
            "gpu A\t1\t0\t2\tf32\tgpu\t1\t2x\t3",
            "gpu A\t1\t0\t2\tf32\tgpu\t1\t2",
        ];
        std::fs::write(&path, format!("{text}{}\n", bad.join("\n"))).unwrap();
        assert_eq!(Cache::load(Some(path.clone())).all("gpu A"), vec![first]);
        // A good line of a candidate the writer could not time is read back.
        let untimed = "gpu A\t1\t0\t2\tf32\tcpu\t1\t-\t-";
        std::fs::write(&path, format!("{text}{untimed}\n")).unwrap();
        assert_eq!(
            Cache::load(Some(path.clone()))
                .get("gpu A", PassClass::of(1, 0, Real::F32))
                .map(|t| t.times),
            Some([Some(Duration::from_nanos(1)), None, None])
        );
        // Pairs: kept, read back, corrupt ones skipped.
        let mut cache = Cache::load(Some(path.clone()));
        let class = PairClass::of(4, 8, Real::F32);
        let ms = Duration::from_millis;
        let pair = TunedPair::choose(class, [ms(8), ms(10)]);
        assert!(pair.fused);
        assert!(!TunedPair::choose(class, [ms(95), ms(100)]).fused);
        assert_eq!(cache.record_pair("gpu A", pair), pair);
        assert_eq!(
            cache.record_pair("gpu A", TunedPair::choose(class, [ms(20), ms(10)])),
            pair
        );
        let again = Cache::load(Some(path.clone()));
        assert_eq!(again.all_pairs("gpu A"), vec![pair]);
        let text = std::fs::read_to_string(&path).unwrap();
        let bad = [
            "gpu A\tpair\t3\t5\t6\t11\tf32\tfused\t1",
            "gpu A\tpair\t3\t4\t6\t11\tf32\tfused\t1\t2",
            "gpu A\tpair\t0\t2\t0\t2\tf16\tfused\t1\t2",
            "gpu A\tpair\t0\t2\t0\t2\tf32\tmaybe\t1\t2",
        ];
        std::fs::write(&path, format!("{text}{}\n", bad.join("\n"))).unwrap();
        assert_eq!(
            Cache::load(Some(path.clone())).all_pairs("gpu A"),
            vec![pair]
        );
        std::fs::write(&path, text.replace(HEADER, "blur3d tuning v1")).unwrap();
        assert!(Cache::load(Some(path.clone())).all("gpu A").is_empty());
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert!(Cache::load(Some(path.clone())).all("gpu A").is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
