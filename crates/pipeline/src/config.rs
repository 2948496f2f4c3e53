//! Configuration from environment variables, parsed once at cold start. Every function reads its
//! variables through a lookup it is handed, so tests never touch the process environment, and
//! every bad variable is reported at once.

use regsync_convert::ConvertConfig;
use regsync_store::Store;

use crate::Result;
use crate::archive::Archive;
use crate::dead_letter::StoreDeadLetters;

/// Where snapshots are written: `s3://bucket/prefix`, `file:///dir` or `memory://`.
pub const STORE_URL: &str = "REGSYNC_STORE";
/// Conversion rules as YAML or JSON text (what `--config FILE` holds for the CLI); optional.
pub const CONVERT_RULES: &str = "REGSYNC_CONVERT_RULES";
/// Attempts at the snapshot swap before a batch fails as retryable (default 16).
pub const WRITE_ATTEMPTS: &str = "REGSYNC_WRITE_ATTEMPTS";
/// Largest record or event accepted, in bytes (default 16 MiB).
pub const MAX_RECORD_BYTES: &str = "REGSYNC_MAX_RECORD_BYTES";
/// Where dead letters go: empty for the `dead-letter/` prefix of the snapshot store, another
/// store URL (`s3://bucket/prefix`, `file:///dir`), or `kafka://brokers/topic`.
pub const DEAD_LETTER_URL: &str = "REGSYNC_DEAD_LETTER_URL";
/// Where every received record is kept before it is applied, under `archive/`: a store URL
/// (`s3://bucket/prefix`, `file:///dir`), or `store` for the snapshot store; unset, nothing is
/// archived.
pub const ARCHIVE_URL: &str = "REGSYNC_ARCHIVE_URL";

/// Where the archive goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveTarget {
    /// The snapshot store's `archive/` prefix.
    SnapshotStore,
    /// `archive/` under another store.
    Store(String),
}

impl ArchiveTarget {
    /// Parses an [`ARCHIVE_URL`] value.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value == "store" {
            return Ok(ArchiveTarget::SnapshotStore);
        }
        if ["s3://", "file://", "memory://"]
            .iter()
            .any(|s| value.starts_with(s))
        {
            return Ok(ArchiveTarget::Store(value.to_owned()));
        }
        Err(format!(
            "{value:?} is not an archive location; use s3://bucket/prefix, file:///dir, or `store` for the snapshot store (unset: no archive)"
        ))
    }

    /// Opens the archive this names; `snapshot_store` is the store of [`STORE_URL`].
    pub async fn open(&self, snapshot_store: &Store) -> Result<Archive> {
        Ok(Archive::new(match self {
            ArchiveTarget::SnapshotStore => snapshot_store.clone(),
            ArchiveTarget::Store(url) => Store::open(url).await?,
        }))
    }
}

/// Where records that can never apply are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterTarget {
    /// Objects under `dead-letter/` of a store: the snapshot store when `None`.
    Store(Option<String>),
    /// A Kafka topic; only adapters with a Kafka producer can write it.
    Kafka {
        /// Bootstrap servers, comma-separated.
        brokers: String,
        /// Topic name.
        topic: String,
    },
}

impl DeadLetterTarget {
    /// Parses a [`DEAD_LETTER_URL`] value.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(DeadLetterTarget::Store(None));
        }
        if let Some(rest) = value.strip_prefix("kafka://") {
            return match rest.split_once('/') {
                Some((brokers, topic)) if !brokers.is_empty() && is_topic(topic) => {
                    Ok(DeadLetterTarget::Kafka {
                        brokers: brokers.to_owned(),
                        topic: topic.to_owned(),
                    })
                }
                _ => Err(format!(
                    "{value:?} is not kafka://host:port[,host:port]/topic (topic: letters, digits, '.', '_', '-')"
                )),
            };
        }
        if ["s3://", "file://", "memory://"]
            .iter()
            .any(|s| value.starts_with(s))
        {
            return Ok(DeadLetterTarget::Store(Some(value.to_owned())));
        }
        Err(format!(
            "{value:?} is not a dead-letter location; use s3://bucket/prefix, file:///dir, kafka://brokers/topic, or leave it empty for the snapshot store"
        ))
    }
}

/// Whether `s` is a legal Kafka topic name.
pub fn is_topic(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 249
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Every problem found in the configuration, one line each naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", problems.join("\n  "))]
pub struct ConfigError {
    /// One line per bad variable.
    pub problems: Vec<String>,
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(String),
    /// The Kafka client settings of a `kafka://` dead-letter topic are wrong.
    #[error("the Kafka client of REGSYNC_DEAD_LETTER_URL: {0}")]
    Kafka(String),
    /// The webhook secret could not be read from Secrets Manager.
    #[error(
        "cannot read the webhook secret {id} from Secrets Manager: {why}; check the ARN and that the function's role may call secretsmanager:GetSecretValue on it"
    )]
    Secret {
        /// The secret id.
        id: String,
        /// What failed.
        why: String,
    },
}

impl From<crate::Error> for InitError {
    fn from(e: crate::Error) -> Self {
        InitError::Store(crate::error::chain(&e))
    }
}

/// What the function core needs, as parsed from the environment.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// [`STORE_URL`].
    pub store_url: String,
    /// [`CONVERT_RULES`], parsed.
    pub convert: ConvertConfig,
    /// [`WRITE_ATTEMPTS`].
    pub attempts: u32,
    /// [`MAX_RECORD_BYTES`].
    pub max_record_bytes: usize,
    /// [`DEAD_LETTER_URL`].
    pub dead_letter: DeadLetterTarget,
    /// [`ARCHIVE_URL`]; `None` when unset.
    pub archive: Option<ArchiveTarget>,
}

/// Collects problems while reading variables.
pub struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    /// Problems so far.
    pub problems: Vec<String>,
}

impl<'a> Reader<'a> {
    /// Reads through `get`.
    pub fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Reader {
            get,
            problems: Vec::new(),
        }
    }

    /// The variable's value, `None` when unset or empty.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.get)(name).filter(|v| !v.trim().is_empty())
    }

    /// The variable's value; a problem when unset.
    pub fn required(&mut self, name: &str, example: &str) -> String {
        self.optional(name).unwrap_or_else(|| {
            self.problems
                .push(format!("{name} is not set; set it, e.g. {name}={example}"));
            String::new()
        })
    }

    /// A positive integer, or `default` when unset.
    pub fn number<T: std::str::FromStr + Default + PartialOrd>(
        &mut self,
        name: &str,
        default: T,
    ) -> T {
        match self.optional(name) {
            None => default,
            Some(v) => match v.trim().parse::<T>() {
                Ok(n) if n > T::default() => n,
                _ => {
                    self.problems
                        .push(format!("{name}={v:?} is not a positive whole number"));
                    default
                }
            },
        }
    }

    /// A yes/no setting (`true`/`false`, `1`/`0`, `yes`/`no`), `false` when unset.
    pub fn flag(&mut self, name: &str) -> bool {
        match self.optional(name) {
            None => false,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    self.problems
                        .push(format!("{name}={v:?} is not true or false"));
                    false
                }
            },
        }
    }

    /// Records a problem.
    pub fn problem(&mut self, line: String) {
        self.problems.push(line);
    }

    /// Ends reading: every problem at once, or `value`.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }
}

impl PipelineConfig {
    /// Reads the configuration through `get` (`|k| std::env::var(k).ok()` in `main`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(&get);
        let config = Self::read(&mut r);
        r.finish(config)
    }

    /// Reads the core's variables, noting problems in `r` (for adapters with more variables).
    pub fn read(r: &mut Reader<'_>) -> Self {
        let store_url = r.required(STORE_URL, "s3://my-bucket/regsync");
        if !store_url.is_empty()
            && !["s3://", "file://", "memory://"]
                .iter()
                .any(|s| store_url.starts_with(s))
        {
            r.problem(format!(
                "{STORE_URL}={store_url:?} is not a store URL; use s3://bucket/prefix, file:///dir or memory://"
            ));
        }
        let convert = match r.optional(CONVERT_RULES) {
            None => ConvertConfig::default(),
            Some(text) => serde_norway::from_str(&text).unwrap_or_else(|e| {
                r.problem(format!(
                    "{CONVERT_RULES} is not valid conversion rules (YAML or JSON, see the README's \"Conversion rules\"): {e}"
                ));
                ConvertConfig::default()
            }),
        };
        let attempts = r.number(WRITE_ATTEMPTS, regsync_snapshots::DEFAULT_ATTEMPTS);
        let max_record_bytes =
            r.number(MAX_RECORD_BYTES, regsync_model::event::DEFAULT_MAX_PAYLOAD);
        let dead_letter = DeadLetterTarget::parse(&r.optional(DEAD_LETTER_URL).unwrap_or_default())
            .unwrap_or_else(|e| {
                r.problem(format!("{DEAD_LETTER_URL}: {e}"));
                DeadLetterTarget::Store(None)
            });
        let archive = r
            .optional(ARCHIVE_URL)
            .and_then(|v| match ArchiveTarget::parse(&v) {
                Ok(target) => Some(target),
                Err(e) => {
                    r.problem(format!("{ARCHIVE_URL}: {e}"));
                    None
                }
            });
        PipelineConfig {
            store_url,
            convert,
            attempts,
            max_record_bytes,
            dead_letter,
            archive,
        }
    }
}

/// What every invocation uses, built once from [`PipelineConfig`].
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The snapshot store.
    pub store: Store,
    /// Conversion rules.
    pub convert: ConvertConfig,
    /// Attempts at the snapshot swap.
    pub attempts: u32,
    /// Largest record accepted.
    pub max_record_bytes: usize,
    /// Where dead letters are written, when the target is a store.
    pub dead_letters: Option<StoreDeadLetters>,
    /// Where received records are kept before they are applied, when configured.
    pub archive: Option<Archive>,
    /// The process's single writer, when requests arrive concurrently (`regsync webhook`,
    /// `regsync up`): their batches are merged into one publish.
    pub writer: Option<crate::Writer>,
}

impl Pipeline {
    /// Opens the stores the configuration names.
    pub async fn open(config: &PipelineConfig) -> Result<Self> {
        let store = Store::open(&config.store_url).await?;
        let dead_letters = match &config.dead_letter {
            DeadLetterTarget::Store(None) => Some(StoreDeadLetters::new(store.clone())),
            DeadLetterTarget::Store(Some(url)) => {
                Some(StoreDeadLetters::new(Store::open(url).await?))
            }
            DeadLetterTarget::Kafka { .. } => None,
        };
        let archive = match &config.archive {
            None => None,
            Some(target) => Some(target.open(&store).await?),
        };
        Ok(Pipeline {
            archive,
            store,
            convert: config.convert.clone(),
            attempts: config.attempts,
            max_record_bytes: config.max_record_bytes,
            dead_letters,
            writer: None,
        })
    }

    /// This pipeline with a single writer for the process (see [`crate::writer`]): concurrent
    /// webhook requests are merged into one publish; a conflict with another process is retried
    /// for up to `deadline`. Needs a Tokio runtime.
    pub fn with_writer(mut self, deadline: std::time::Duration) -> Self {
        self.writer = Some(crate::Writer::spawn(self.clone(), deadline));
        self
    }

    /// A pipeline over `store` with default rules, dead letters in the same store.
    pub fn with_store(store: Store) -> Self {
        Pipeline {
            dead_letters: Some(StoreDeadLetters::new(store.clone())),
            archive: None,
            store,
            convert: ConvertConfig::default(),
            attempts: regsync_snapshots::DEFAULT_ATTEMPTS,
            max_record_bytes: regsync_model::event::DEFAULT_MAX_PAYLOAD,
            writer: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn every_bad_variable_is_reported_at_once() {
        let err = PipelineConfig::from_lookup(lookup(&[
            (WRITE_ATTEMPTS, "many"),
            (DEAD_LETTER_URL, "ftp://x"),
            (CONVERT_RULES, "eureka: [unclosed"),
            (ARCHIVE_URL, "/tmp/archive"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems.len(), 5, "{text}");
        for name in [
            STORE_URL,
            WRITE_ATTEMPTS,
            DEAD_LETTER_URL,
            CONVERT_RULES,
            ARCHIVE_URL,
        ] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
    }

    #[test]
    fn defaults_apply_when_only_the_store_is_set() {
        let c = PipelineConfig::from_lookup(lookup(&[(STORE_URL, "memory://")])).unwrap();
        assert_eq!(c.attempts, regsync_snapshots::DEFAULT_ATTEMPTS);
        assert_eq!(c.dead_letter, DeadLetterTarget::Store(None));
        assert_eq!(c.archive, None, "no archive unless asked for");
    }

    #[test]
    fn archive_targets_parse() {
        assert_eq!(
            ArchiveTarget::parse("store").unwrap(),
            ArchiveTarget::SnapshotStore
        );
        assert_eq!(
            ArchiveTarget::parse("s3://bucket/regsync").unwrap(),
            ArchiveTarget::Store("s3://bucket/regsync".into())
        );
        let e = ArchiveTarget::parse("/tmp/archive").unwrap_err();
        assert!(
            e.contains("\"/tmp/archive\"") && e.contains("file:///dir"),
            "{e}"
        );
    }

    #[test]
    fn dead_letter_targets_parse() {
        assert_eq!(
            DeadLetterTarget::parse("kafka://b1:9092,b2:9092/registry-events.dlq").unwrap(),
            DeadLetterTarget::Kafka {
                brokers: "b1:9092,b2:9092".into(),
                topic: "registry-events.dlq".into()
            }
        );
        assert!(DeadLetterTarget::parse("kafka://b1:9092/bad topic").is_err());
        assert_eq!(
            DeadLetterTarget::parse("s3://bucket/dlq").unwrap(),
            DeadLetterTarget::Store(Some("s3://bucket/dlq".into()))
        );
    }
}
