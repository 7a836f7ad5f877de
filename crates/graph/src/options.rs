//! vchordg options: typed TOML given as `WITH (options = $$ ... $$)`. Unknown keys and bad
//! values are rejected with the key named; everything has a sane default.
use serde::Deserialize;

pub const MAX_M: u32 = 128;
pub const MAX_EF: u32 = 65535;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Out-degree of every vertex.
    pub m: u32,
    /// Candidates a build or an insert considers for a vertex's neighbours.
    pub ef_construction: u32,
    /// Pruning slack (1 keeps only the nearest directions, larger keeps longer edges).
    pub alpha: f64,
    /// Bits per dimension of the RaBitQ code used to walk the graph (1 or 2).
    pub bits: u32,
    /// Rerank with vectors read from the table instead of copies kept in the index.
    pub rerank_in_table: bool,
    /// Threads for the in-memory build; 0: as many as the machine has, at most 8.
    pub build_threads: u32,
    /// Per-index search defaults; a GUC that is set wins over them.
    pub search: Search,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            m: 32,
            ef_construction: 64,
            alpha: 1.2,
            bits: 2,
            rerank_in_table: false,
            build_threads: 0,
            search: Search::default(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Search {
    pub ef_search: Option<u32>,
    pub epsilon: Option<f64>,
    pub max_scan_tuples: Option<i64>,
}

impl Options {
    /// Parses and validates; the error names the offending key.
    pub fn parse(text: &str) -> Result<Options, String> {
        let o: Options = vchord_base::options::parse_toml(text)?;
        o.validate()?;
        Ok(o)
    }

    fn validate(&self) -> Result<(), String> {
        let range = |key: &str, v: f64, lo: f64, hi: f64| -> Result<(), String> {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("{key}: {v} is out of range ({lo} to {hi})"))
            }
        };
        range("m", self.m as f64, 4.0, MAX_M as f64)?;
        range(
            "ef_construction",
            self.ef_construction as f64,
            8.0,
            MAX_EF as f64,
        )?;
        range("alpha", self.alpha, 1.0, 2.0)?;
        range("bits", self.bits as f64, 1.0, 2.0)?;
        range("build_threads", self.build_threads as f64, 0.0, 255.0)?;
        let s = &self.search;
        if let Some(e) = s.ef_search {
            range("search.ef_search", e as f64, 1.0, MAX_EF as f64)?;
        }
        if let Some(e) = s.epsilon {
            range("search.epsilon", e, 0.0, 4.0)?;
        }
        if let Some(m) = s.max_scan_tuples {
            range("search.max_scan_tuples", m as f64, -1.0, i32::MAX as f64)?;
        }
        Ok(())
    }
}
