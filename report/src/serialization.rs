//! Serialization figures for the report: what `cargo bench -p wirebench --bench codecs`
//! left in criterion's directory, read with [`crate::codecs::read_estimates`] (criterion's
//! mean time per encode/decode) and [`crate::codecs::read_sizes`] (encoded sizes raw, gzip,
//! zstd), joined per (format, dataset, payload).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::codecs;

/// Encode/decode time and encoded sizes of one (format, dataset, payload).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodecFigure {
    pub format: String,
    pub dataset: String,
    pub payload: String,
    pub encode_ns: Option<f64>,
    pub decode_ns: Option<f64>,
    /// criterion's 95 % confidence intervals of the two means.
    pub encode_ci_ns: Option<(f64, f64)>,
    pub decode_ci_ns: Option<(f64, f64)>,
    pub raw_bytes: Option<f64>,
    pub gzip_bytes: Option<f64>,
    pub zstd_bytes: Option<f64>,
}

impl CodecFigure {
    /// Encode plus decode, when both were measured.
    pub fn round_trip_ns(&self) -> Option<f64> {
        Some(self.encode_ns? + self.decode_ns?)
    }

    /// The interval of encode plus decode: the two intervals' ends added (wider than the
    /// interval of the sum, so a verdict read from it errs towards "inconclusive").
    pub fn round_trip_ci_ns(&self) -> Option<(f64, f64)> {
        let (e, d) = (self.encode_ci_ns?, self.decode_ci_ns?);
        Some((e.0 + d.0, e.1 + d.1))
    }

    /// "dataset/payload", the case a figure belongs to.
    pub fn case(&self) -> String {
        format!("{}/{}", self.dataset, self.payload)
    }
}

/// Everything found about serialization.
#[derive(Debug, Clone, Default)]
pub struct CodecData {
    /// Where it was looked for.
    pub dir: PathBuf,
    pub figures: Vec<CodecFigure>,
    /// When and from which revision the timings were measured (None: not recorded).
    pub run: Option<codecs::CodecRun>,
}

impl CodecData {
    /// Why the timings may not describe the run they are reported with: another revision,
    /// measured more than a day before it, or no record of either. None when they match.
    pub fn staleness(&self, revision: &str, run_started: &str) -> Option<String> {
        if self.figures.iter().all(|f| f.encode_ns.is_none() && f.decode_ns.is_none()) {
            return None;
        }
        let Some(run) = &self.run else {
            return Some(format!(
                "the codec timings in {} carry no revision or time (measured before {} existed); \
                 rerun make codecs",
                self.dir.display(),
                codecs::RUN_FILE
            ));
        };
        let mut why = Vec::new();
        if run.git_revision != revision || revision.ends_with("-dirty") {
            why.push(format!("were measured at revision {}, this run is {revision}", run.git_revision));
        }
        let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
        if let (Some(at), Some(start)) = (parse(&run.measured_at), parse(run_started)) {
            let age = start.signed_duration_since(at);
            if age > chrono::Duration::hours(24) {
                why.push(format!(
                    "are {} days older than this run ({})",
                    age.num_days().max(1),
                    run.measured_at
                ));
            }
        }
        (!why.is_empty()).then(|| format!("the codec timings {}; rerun make codecs", why.join(" and ")))
    }
}

/// criterion's output directory: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`,
/// else `target/criterion` here or in this workspace.
pub fn default_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    let here = PathBuf::from("target").join("criterion");
    if here.is_dir() {
        return here;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("criterion");
    if workspace.is_dir() { workspace } else { here }
}

/// Reads the codec benches' figures under `dir` (none when they have not run; an error when
/// a file there is corrupt).
pub fn read(dir: &Path) -> anyhow::Result<CodecData> {
    let mut by_key: BTreeMap<(String, String, String), CodecFigure> = BTreeMap::new();
    fn entry<'m>(
        map: &'m mut BTreeMap<(String, String, String), CodecFigure>,
        format: &str,
        dataset: &str,
        payload: &str,
    ) -> &'m mut CodecFigure {
        map.entry((format.into(), dataset.into(), payload.into())).or_insert_with(|| CodecFigure {
            format: format.into(),
            dataset: dataset.into(),
            payload: payload.into(),
            ..CodecFigure::default()
        })
    }
    for t in codecs::read_estimates(dir)? {
        let f = entry(&mut by_key, &t.format, &t.dataset, &t.payload);
        match t.op.as_str() {
            "encode" => {
                f.encode_ns = Some(t.mean_ns);
                f.encode_ci_ns = Some((t.ci_low_ns, t.ci_high_ns));
            }
            "decode" => {
                f.decode_ns = Some(t.mean_ns);
                f.decode_ci_ns = Some((t.ci_low_ns, t.ci_high_ns));
            }
            _ => {}
        }
    }
    for s in codecs::read_sizes(dir)? {
        let f = entry(&mut by_key, &s.format, &s.dataset, &s.payload);
        f.raw_bytes = Some(s.raw_bytes as f64);
        f.gzip_bytes = Some(s.gzip_bytes as f64);
        f.zstd_bytes = Some(s.zstd_bytes as f64);
    }
    Ok(CodecData {
        dir: dir.to_owned(),
        figures: by_key.into_values().collect(),
        run: codecs::read_run(dir)?,
    })
}
