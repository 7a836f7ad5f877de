//! Index options: typed TOML given as `WITH (options = $$ ... $$)`. Unknown keys and bad
//! values are rejected with the key named; everything has a sane default.
use serde::Deserialize;

/// The most lists one level may have, and the most levels.
pub const MAX_LISTS: u32 = 1 << 18;
pub const MAX_LEVELS: usize = 4;

/// A key left out takes its value from the `Default` impls below (`#[serde(default)]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Quantize each vector's residual to its list's centroid (more accurate estimates) rather
    /// than the vector itself.
    pub residual_quantization: bool,
    /// Rerank with vectors read from the table instead of copies kept in the index.
    pub rerank_in_table: bool,
    /// Code bits per dimension: 1, or 2 for estimates about twice as tight (fewer reranks)
    /// at twice the code bytes and scan work; default: [`default_bits`].
    pub bits: Option<u32>,
    pub build: Build,
    /// Per-index search defaults; a GUC that is set wins over them.
    pub search: Search,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            residual_quantization: true,
            rerank_in_table: false,
            bits: None,
            build: Build::default(),
            search: Search::default(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Build {
    pub internal: Internal,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Internal {
    /// Lists per level, top level first, e.g. `[64, 4096]`; empty: one level, sized by the
    /// row count.
    pub lists: Vec<u32>,
    /// Unit-length centroids (spherical k-means); default: on for ip and cosine.
    pub spherical_centroids: Option<bool>,
    /// Sample `sampling_factor` rows per leaf list for k-means.
    pub sampling_factor: u32,
    pub kmeans_iterations: u32,
    /// Threads for k-means; 0: as many as the machine has, at most 8.
    pub build_threads: u32,
}

impl Default for Internal {
    fn default() -> Self {
        Internal {
            lists: vec![],
            spherical_centroids: None,
            sampling_factor: 256,
            kmeans_iterations: 10,
            build_threads: 0,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Search {
    pub probes: Vec<u32>,
    pub epsilon: Option<f64>,
    pub max_scan_tuples: Option<i64>,
}

/// Code bits when the options do not say: 2 up to 160 dimensions, where one bit's estimates
/// are loose enough that reranks dominate a scan (GloVe-50: 8x fewer reranks, 1.8x the QPS,
/// 3.5x in-table), else 1 (MiniLM-384: 2.4x fewer reranks but 1.45x the code pages, about
/// even in-table and slower otherwise).
pub fn default_bits(dims: u32) -> u32 {
    if dims <= 160 { 2 } else { 1 }
}

impl Options {
    /// Parses and validates; the error names the offending key.
    pub fn parse(text: &str) -> Result<Options, String> {
        let o: Options = parse_toml(text)?;
        o.validate()?;
        Ok(o)
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(b) = self.bits
            && !(1..=2).contains(&b)
        {
            return Err(format!("bits: {b} is out of range (1 to 2)"));
        }
        let i = &self.build.internal;
        if i.lists.len() > MAX_LEVELS {
            return Err(format!(
                "build.internal.lists: at most {MAX_LEVELS} levels, not {}",
                i.lists.len()
            ));
        }
        for &l in &i.lists {
            if !(1..=MAX_LISTS).contains(&l) {
                return Err(format!(
                    "build.internal.lists: {l} is out of range (1 to {MAX_LISTS})"
                ));
            }
        }
        if i.lists.windows(2).any(|w| w[0] >= w[1]) {
            return Err(
                "build.internal.lists: each level must have more lists than the one above it"
                    .into(),
            );
        }
        if !(1..=4096).contains(&i.sampling_factor) {
            return Err(format!(
                "build.internal.sampling_factor: {} is out of range (1 to 4096)",
                i.sampling_factor
            ));
        }
        if !(1..=1000).contains(&i.kmeans_iterations) {
            return Err(format!(
                "build.internal.kmeans_iterations: {} is out of range (1 to 1000)",
                i.kmeans_iterations
            ));
        }
        if i.build_threads > 255 {
            return Err(format!(
                "build.internal.build_threads: {} is out of range (0 to 255)",
                i.build_threads
            ));
        }
        let s = &self.search;
        if s.probes.contains(&0) {
            return Err("search.probes: every value must be at least 1".into());
        }
        if s.probes.len() > MAX_LEVELS {
            return Err(format!("search.probes: at most {MAX_LEVELS} values"));
        }
        let levels = i.lists.len().max(1);
        if s.probes.len() > levels {
            return Err(format!(
                "search.probes: {} values for an index of {levels} level{}",
                s.probes.len(),
                if levels == 1 { "" } else { "s" }
            ));
        }
        if let Some(e) = s.epsilon
            && !(0.0..=4.0).contains(&e)
        {
            return Err(format!("search.epsilon: {e} is out of range (0 to 4)"));
        }
        if let Some(m) = s.max_scan_tuples
            && !(-1..=i32::MAX as i64).contains(&m)
        {
            return Err(format!(
                "search.max_scan_tuples: {m} is out of range (-1 to {})",
                i32::MAX
            ));
        }
        Ok(())
    }
}

pub use vchord_base::options::parse_toml;

/// Lists for an index over `rows` rows when none are given: about the square root, so a list
/// holds about as many rows as there are lists.
pub fn auto_lists(rows: u64) -> u32 {
    ((rows as f64).sqrt().round() as u32).clamp(1, MAX_LISTS)
}

/// Probes per level when none are set: the square root of the level's lists, which reaches
/// recall@10 around 0.95 on the real data sets tested with the default list count.
pub fn auto_probes(lists: &[u32]) -> Vec<u32> {
    lists
        .iter()
        .map(|&l| ((l as f64).sqrt().ceil() as u32).clamp(1, l.max(1)))
        .collect()
}

/// Probes to use: the set GUC list, else the index's default, else automatic; a missing level
/// falls back to the automatic value; values past the index's levels are ignored, so one
/// setting serves indexes of one and of several levels (an index's own `[search] probes`
/// may not have more values than its levels).
pub fn resolve_probes(guc: &[u32], index_default: &[u32], lists: &[u32]) -> Vec<u32> {
    let auto = auto_probes(lists);
    let chosen = if !guc.is_empty() { guc } else { index_default };
    auto.iter()
        .enumerate()
        .map(|(i, &a)| chosen.get(i).copied().unwrap_or(a).clamp(1, lists[i]))
        .collect()
}

/// Parses a probes setting: comma-separated positive integers, e.g. `10` or `8,64`; empty
/// means unset.
pub fn parse_probes(s: &str) -> Result<Vec<u32>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(vec![]);
    }
    let v = s
        .split(',')
        .map(|p| {
            let p = p.trim();
            match p.parse::<u32>() {
                Ok(n) if (1..=MAX_LISTS).contains(&n) => Ok(n),
                _ => Err(format!(
                    "\"{p}\" is not a valid probe count (an integer from 1 to {MAX_LISTS})"
                )),
            }
        })
        .collect::<Result<Vec<u32>, String>>()?;
    if v.len() > MAX_LEVELS {
        return Err(format!("at most {MAX_LEVELS} values, one per level"));
    }
    Ok(v)
}
