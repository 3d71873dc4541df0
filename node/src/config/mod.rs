//! Execution settings from a TOML file, `PAREX_*` environment variables and
//! command-line flags.
//!
//! Precedence, highest first: flag, environment variable, file, default.
//! Flags and variables are merged by clap (a flag beats its variable); this
//! module lays the result over the file.

use std::path::{Path, PathBuf};

use parex_engine::{available_threads, MAX_THREADS};
use serde::Deserialize;

use crate::blockchain::{ExecutionConfig, ParallelStart};

/// One source of settings; `None` leaves the setting to a lower source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    /// See [`ExecutionConfig::parallel_execution_enabled`].
    pub parallel_execution_enabled: Option<bool>,
    /// See [`ExecutionConfig::min_txs_for_parallel`].
    pub min_txs_for_parallel: Option<usize>,
    /// See [`ExecutionConfig::execution_threads`].
    pub execution_threads: Option<usize>,
    /// See [`ExecutionConfig::min_txs_per_worker`].
    pub min_txs_per_worker: Option<usize>,
    /// See [`ExecutionConfig::parallel_start`].
    pub parallel_start: Option<ParallelStart>,
    /// See [`ExecutionConfig::adaptive_execution`].
    pub adaptive_execution: Option<bool>,
    /// See [`ExecutionConfig::shadow_execution`].
    pub shadow_execution: Option<bool>,
}

/// A bad configuration file or value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or wrong types.
    #[error("invalid config file {path}: {error}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        error: Box<toml::de::Error>,
    },
    /// A value is out of range.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

impl ConfigLayer {
    /// Reads a TOML file of settings.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::from_toml(&text).map_err(|error| match error {
            ConfigError::Parse { error, .. } => ConfigError::Parse {
                path: path.to_owned(),
                error,
            },
            other => other,
        })
    }

    /// Parses TOML settings.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|error| ConfigError::Parse {
            path: PathBuf::new(),
            error: Box::new(error),
        })
    }

    /// `self` over `lower`: each setting from `self` if it has one.
    pub fn over(self, lower: ConfigLayer) -> ConfigLayer {
        ConfigLayer {
            parallel_execution_enabled: self
                .parallel_execution_enabled
                .or(lower.parallel_execution_enabled),
            min_txs_for_parallel: self.min_txs_for_parallel.or(lower.min_txs_for_parallel),
            execution_threads: self.execution_threads.or(lower.execution_threads),
            min_txs_per_worker: self.min_txs_per_worker.or(lower.min_txs_per_worker),
            parallel_start: self.parallel_start.or(lower.parallel_start),
            adaptive_execution: self.adaptive_execution.or(lower.adaptive_execution),
            shadow_execution: self.shadow_execution.or(lower.shadow_execution),
        }
    }

    /// The settings with defaults filled in, validated.
    pub fn resolve(self, reproducer_dir: PathBuf) -> Result<ExecutionConfig, ConfigError> {
        let defaults = ExecutionConfig::default();
        let execution_threads = self.execution_threads.unwrap_or_else(available_threads);
        if execution_threads == 0 {
            return Err(ConfigError::Invalid {
                name: "execution_threads",
                reason: "must be at least 1".into(),
            });
        }
        if execution_threads > MAX_THREADS {
            return Err(ConfigError::Invalid {
                name: "execution_threads",
                reason: format!("must be at most {MAX_THREADS}, not {execution_threads}"),
            });
        }
        Ok(ExecutionConfig {
            parallel_execution_enabled: self
                .parallel_execution_enabled
                .unwrap_or(defaults.parallel_execution_enabled),
            min_txs_for_parallel: self
                .min_txs_for_parallel
                .unwrap_or(defaults.min_txs_for_parallel),
            execution_threads,
            min_txs_per_worker: self
                .min_txs_per_worker
                .unwrap_or(defaults.min_txs_per_worker),
            parallel_start: self.parallel_start.unwrap_or(defaults.parallel_start),
            adaptive_execution: self
                .adaptive_execution
                .unwrap_or(defaults.adaptive_execution),
            shadow_execution: self.shadow_execution.unwrap_or(defaults.shadow_execution),
            reproducer_dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beats_defaults() {
        let file = ConfigLayer::from_toml(
            "min_txs_for_parallel = 50\nshadow_execution = true\nadaptive_execution = true\n\
             parallel_start = \"block-stm\"",
        )
        .unwrap();
        let flags = ConfigLayer {
            min_txs_for_parallel: Some(7),
            ..ConfigLayer::default()
        };
        let config = flags.over(file).resolve(PathBuf::from("x")).unwrap();
        assert_eq!(config.min_txs_for_parallel, 7);
        assert!(config.shadow_execution);
        assert!(config.adaptive_execution);
        assert!(config.parallel_execution_enabled);
        assert_eq!(config.parallel_start, ParallelStart::BlockStm);
        let defaults = ConfigLayer::default().resolve(PathBuf::from("x")).unwrap();
        assert!(!defaults.adaptive_execution);
        assert_eq!(defaults.parallel_start, ParallelStart::Probe);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(matches!(
            ConfigLayer::from_toml("min_txs_for_parallel = -1"),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            ConfigLayer::from_toml("paralel_execution_enabled = true"),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            ConfigLayer::from_toml("parallel_start = \"always\""),
            Err(ConfigError::Parse { .. })
        ));
        let zero = ConfigLayer {
            execution_threads: Some(0),
            ..ConfigLayer::default()
        };
        assert!(matches!(
            zero.resolve(PathBuf::new()),
            Err(ConfigError::Invalid { .. })
        ));
        let threads = |n| ConfigLayer {
            execution_threads: Some(n),
            ..ConfigLayer::default()
        };
        assert!(threads(MAX_THREADS).resolve(PathBuf::new()).is_ok());
        assert!(matches!(
            threads(MAX_THREADS + 1).resolve(PathBuf::new()),
            Err(ConfigError::Invalid {
                name: "execution_threads",
                ..
            })
        ));
    }
}
