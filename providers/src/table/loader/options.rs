//! The loader options of CREATE TABLE (`loader`, `loader_key`, `reload_after`,
//! `forward_headers`, `loader_timeout`).

use datafusion::error::{DataFusionError, Result};
use indexed_store::LoaderSpec;

/// Loader options of CREATE TABLE, gathered.
#[derive(Debug, Default)]
pub(crate) struct LoaderOptions {
    pub url: Option<String>,
    pub key: Option<String>,
    pub reload_after: Option<u64>,
    pub forward_headers: Vec<String>,
    pub timeout: Option<u64>,
}

/// Seconds a load may take unless the table says otherwise.
pub const DEFAULT_LOADER_TIMEOUT_SECS: u64 = 30;

impl LoaderOptions {
    /// Takes one `WITH` option if it is a loader's; false when it is not.
    pub(crate) fn take(&mut self, name: &str, text: String) -> Result<bool> {
        match name {
            "loader" => {
                let known = ["http://", "https://", "grpc://", "grpcs://"];
                if !known.iter().any(|p| text.starts_with(p)) {
                    return Err(DataFusionError::Plan(format!(
                        "loader '{text}': use an http://, https://, grpc:// or grpcs:// URL"
                    )));
                }
                self.url = Some(text);
            }
            "loader_key" => self.key = Some(text.to_lowercase()),
            "reload_after" => self.reload_after = Some(crate::convert::parse_duration(&text)?),
            "loader_timeout" => self.timeout = Some(crate::convert::parse_duration(&text)?),
            "forward_headers" => {
                self.forward_headers = text
                    .split(',')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The table's loader, or None; options without `loader` are refused.
    pub(crate) fn spec(self) -> Result<Option<LoaderSpec>> {
        let Some(url) = self.url else {
            if self.key.is_some()
                || self.reload_after.is_some()
                || self.timeout.is_some()
                || !self.forward_headers.is_empty()
            {
                return Err(DataFusionError::Plan(
                    "loader_key, reload_after, loader_timeout and forward_headers need loader = 'URL'"
                        .into(),
                ));
            }
            return Ok(None);
        };
        Ok(Some(LoaderSpec {
            url,
            key_column: self.key,
            reload_after_secs: self.reload_after,
            forward_headers: self.forward_headers,
            timeout_secs: self.timeout.unwrap_or(DEFAULT_LOADER_TIMEOUT_SECS),
        }))
    }
}
