//! TOML options, as both indexes take them in `WITH (options = $$ ... $$)`.

/// Deserialises TOML options; the error gives toml's message and the line (its source
/// excerpt spans several lines, too much for an ERROR message).
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|e| {
        let m = e.message().trim().to_owned();
        match e.span() {
            Some(s) if !text.is_empty() => {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!("{m} (line {line})")
            }
            _ => m,
        }
    })
}
