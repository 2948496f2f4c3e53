//! The JSON Schemas of what regsync carries and stores, and a validator for files of events.
//!
//! The schemas live in `events/schemas/` and are embedded here byte for byte, so the files
//! reviewers read are the ones that run: [`REGISTRY_EVENT_SCHEMA`] (the CloudEvent every
//! transport carries) and [`SNAPSHOT_SCHEMA`] (what is written to the bucket). Both are
//! draft 2020-12 and compile offline; `format` (`date-time`, `uri-reference`) is checked.
//!
//! [`validate_paths`] is what `regsync events validate PATH...` runs: every file may hold one
//! event, a JSON array of events, or JSON lines, and every record is checked three ways:
//! 1. against the event schema ([`validate_event_value`]);
//! 2. by the model's own parser, [`RegistryEvent::from_value`], which is what the pipeline runs;
//! 3. for consistency between attributes and data: a ZooKeeper event's `sourceversion` is the
//!    pzxid (mzxid for a mapping) in its data and its `subject` names its path; a Eureka
//!    instance event's `sourceversion` is the instance's `lastUpdatedTimestamp`.
//!
//! This crate reads files and nothing else: it must not depend on AWS, Kubernetes, gRPC or
//! Kafka crates, and its schemas must never need the network.

#![warn(missing_docs)]

pub mod error;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use jsonschema::Validator;
use regsync_model::error::{Error as ModelError, shorten};
use regsync_model::event::EventData;
use regsync_model::{EventType, RegistryEvent, ServiceKey};
use serde_json::Value;

pub use error::{Error, Result, SchemaError};

use error::display_pointer;

/// `events/schemas/registry-event.v1.json`: the structured-mode CloudEvent regsync carries.
pub const REGISTRY_EVENT_SCHEMA: &str =
    include_str!("../../../events/schemas/registry-event.v1.json");
/// `events/schemas/snapshot.v1.json`: the JSON form of [`regsync_model::Snapshot`].
pub const SNAPSHOT_SCHEMA: &str = include_str!("../../../events/schemas/snapshot.v1.json");
/// File extensions read when a directory is given to [`validate_paths`].
pub const EVENT_FILE_EXTENSIONS: &[&str] = &["json", "jsonl", "ndjson"];

/// Longest message kept from the schema validator, which quotes offending values whole.
const MAX_MESSAGE_CHARS: usize = 240;

static EVENT_VALIDATOR: LazyLock<Validator> = LazyLock::new(|| compile(REGISTRY_EVENT_SCHEMA));
static SNAPSHOT_VALIDATOR: LazyLock<Validator> = LazyLock::new(|| compile(SNAPSHOT_SCHEMA));

fn compile(text: &str) -> Validator {
    let schema: Value =
        serde_json::from_str(text).expect("embedded schemas are JSON (tests parse them)");
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("embedded schemas compile offline (tests compile them)")
}

/// Checks `value` against the registry event schema; returns every violation.
pub fn validate_event_value(value: &Value) -> Result<(), Vec<SchemaError>> {
    collect(&EVENT_VALIDATOR, value)
}

/// Checks `value` against the snapshot schema; returns every violation.
pub fn validate_snapshot_value(value: &Value) -> Result<(), Vec<SchemaError>> {
    collect(&SNAPSHOT_VALIDATOR, value)
}

fn collect(validator: &Validator, value: &Value) -> Result<(), Vec<SchemaError>> {
    let mut errors: Vec<SchemaError> = Vec::new();
    for e in validator.iter_errors(value) {
        let error = SchemaError {
            pointer: e.instance_path().to_string(),
            message: shorten(&e.to_string(), MAX_MESSAGE_CHARS),
        };
        // Conditional subschemas can reach the same value twice; say each thing once.
        if !errors.contains(&error) {
            errors.push(error);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Which check found a [`Problem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// The record is not JSON (JSON lines only; a whole file that is not JSON is an [`Error`]).
    Syntax,
    /// The record breaks the event schema.
    Schema,
    /// The model's parser refused the record.
    Model,
    /// Attributes and data disagree (`sourceversion` vs pzxid, `subject` vs path).
    Consistency,
}

impl ProblemKind {
    /// A bounded label for metrics and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Syntax => "syntax",
            ProblemKind::Schema => "schema",
            ProblemKind::Model => "model",
            ProblemKind::Consistency => "consistency",
        }
    }
}

/// One thing wrong with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Which check found it.
    pub kind: ProblemKind,
    /// JSON pointer into the record, `""` for the whole record.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", display_pointer(&self.pointer), self.message)
    }
}

impl From<SchemaError> for Problem {
    fn from(e: SchemaError) -> Self {
        Problem {
            kind: ProblemKind::Schema,
            pointer: e.pointer,
            message: e.message,
        }
    }
}

impl Problem {
    fn from_model(err: &ModelError) -> Self {
        let pointer = match err {
            ModelError::Missing { position, .. } | ModelError::Invalid { position, .. } => {
                // Binary-mode errors say "headers"; a structured event always has a pointer.
                if position.pointer.starts_with('/') {
                    position.pointer.clone()
                } else {
                    String::new()
                }
            }
            ModelError::UnknownType { .. } => "/type".to_owned(),
            ModelError::Syntax { .. } | ModelError::TooLarge { .. } => String::new(),
        };
        Problem {
            kind: ProblemKind::Model,
            pointer,
            message: err.to_string(),
        }
    }

    fn consistency(pointer: &str, message: String) -> Self {
        Problem {
            kind: ProblemKind::Consistency,
            pointer: pointer.to_owned(),
            message,
        }
    }
}

/// What a valid record is: enough to see what a file holds without printing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    /// The event type.
    pub event_type: EventType,
    /// `registry/subject` (`registry/*` for registry-wide types).
    pub service_key: ServiceKey,
    /// The `sourceversion`.
    pub source_version: u64,
}

impl fmt::Display for EventSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} @{}",
            self.event_type, self.service_key, self.source_version
        )
    }
}

/// The result for one record (one event) of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordReport {
    /// 0-based position of the record in its file.
    pub index: usize,
    /// 1-based line where the record starts.
    pub line: usize,
    /// Everything wrong with it; empty when it is valid.
    pub problems: Vec<Problem>,
    /// What it is, when the model could parse it.
    pub summary: Option<EventSummary>,
}

impl RecordReport {
    /// Whether the record passed every check.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// How a file holds its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One JSON event.
    Single,
    /// A JSON array of events.
    Array,
    /// One JSON event per line (JSON lines); blank lines are skipped.
    Lines,
    /// Not known: the file could not be read.
    Unknown,
}

/// The result for one file.
#[derive(Debug)]
pub struct FileReport {
    /// The file as given (or as found under a given directory).
    pub path: PathBuf,
    /// How the file holds its events.
    pub layout: Layout,
    /// One report per record, in file order.
    pub records: Vec<RecordReport>,
    /// Why the file could not be read as events at all.
    pub error: Option<Error>,
}

impl FileReport {
    fn failed(path: PathBuf, error: Error) -> Self {
        FileReport {
            path,
            layout: Layout::Unknown,
            records: Vec::new(),
            error: Some(error),
        }
    }

    /// Whether the file was read and every record in it is valid.
    pub fn is_ok(&self) -> bool {
        self.error.is_none() && self.records.iter().all(RecordReport::is_valid)
    }

    /// Records with at least one problem.
    pub fn invalid_records(&self) -> usize {
        self.records.iter().filter(|r| !r.is_valid()).count()
    }

    /// Problems over all records.
    pub fn problem_count(&self) -> usize {
        self.records.iter().map(|r| r.problems.len()).sum()
    }
}

/// Prints one line per problem, `path:line: pointer: message`, and nothing for a valid file.
impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        if let Some(err) = &self.error {
            match err {
                Error::Syntax { line, column, .. } => write!(f, "{path}:{line}:{column}: {err}")?,
                _ => write!(f, "{path}: {err}")?,
            }
            let mut source = std::error::Error::source(err);
            while let Some(s) = source {
                write!(f, ": {s}")?;
                source = s.source();
            }
            writeln!(f)?;
        }
        for record in &self.records {
            for problem in &record.problems {
                writeln!(f, "{path}:{}: {problem}", record.line)?;
            }
        }
        Ok(())
    }
}

/// The result for every file given.
#[derive(Debug, Default)]
pub struct Report {
    /// One report per file, in the order given (directories expanded in path order).
    pub files: Vec<FileReport>,
}

impl Report {
    /// Whether every file was read and every record is valid.
    pub fn is_ok(&self) -> bool {
        self.files.iter().all(FileReport::is_ok)
    }

    /// Records read over all files.
    pub fn record_count(&self) -> usize {
        self.files.iter().map(|f| f.records.len()).sum()
    }

    /// Records with at least one problem, over all files.
    pub fn invalid_records(&self) -> usize {
        self.files.iter().map(FileReport::invalid_records).sum()
    }

    /// Problems over all records of all files.
    pub fn problem_count(&self) -> usize {
        self.files.iter().map(FileReport::problem_count).sum()
    }

    /// Files that could not be read as events.
    pub fn unreadable_files(&self) -> usize {
        self.files.iter().filter(|f| f.error.is_some()).count()
    }
}

/// Prints every problem line (see [`FileReport`]), then a one-line summary.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            write!(f, "{file}")?;
        }
        let (files, records) = (self.files.len(), self.record_count());
        write!(
            f,
            "checked {records} {} in {files} {}: ",
            plural(records, "event"),
            plural(files, "file")
        )?;
        if self.is_ok() {
            return write!(f, "all valid");
        }
        let mut parts = Vec::new();
        if self.invalid_records() > 0 {
            let problems = self.problem_count();
            parts.push(format!(
                "{} invalid ({problems} {})",
                self.invalid_records(),
                plural(problems, "problem")
            ));
        }
        if self.unreadable_files() > 0 {
            let n = self.unreadable_files();
            parts.push(format!("{n} {} unreadable", plural(n, "file")));
        }
        f.write_str(&parts.join(", "))
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

/// Validates every path: a file is read as events; a directory contributes each file under it
/// whose extension is in [`EVENT_FILE_EXTENSIONS`], recursively, in path order.
pub fn validate_paths(paths: &[PathBuf]) -> Report {
    let mut report = Report::default();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            match collect_event_files(path, &mut found) {
                Err(e) => report
                    .files
                    .push(FileReport::failed(path.clone(), Error::ReadDir(e))),
                Ok(()) if found.is_empty() => report
                    .files
                    .push(FileReport::failed(path.clone(), Error::NoFiles)),
                Ok(()) => {
                    found.sort();
                    report.files.extend(found.iter().map(|p| validate_file(p)));
                }
            }
        } else {
            report.files.push(validate_file(path));
        }
    }
    report
}

fn collect_event_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_event_files(&path, out)?;
        } else if has_extension(&path, EVENT_FILE_EXTENSIONS) {
            out.push(path);
        }
    }
    Ok(())
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Reads and validates one file of events (see [`validate_text`]).
pub fn validate_file(path: &Path) -> FileReport {
    match std::fs::read_to_string(path) {
        Ok(text) => validate_text(path, &text),
        Err(e) => FileReport::failed(path.to_owned(), Error::Read(e)),
    }
}

/// Validates `text` as the content of the file `path`.
///
/// A `.jsonl` or `.ndjson` file is JSON lines. Anything else is one JSON document (an event
/// or an array of events), or JSON lines when it does not parse as one document but its first
/// non-blank line does. Line numbers are those of `text`.
pub fn validate_text(path: impl Into<PathBuf>, text: &str) -> FileReport {
    let path = path.into();
    if text.trim().is_empty() {
        return FileReport::failed(path, Error::Empty);
    }
    if has_extension(&path, &["jsonl", "ndjson"]) {
        return validate_lines(path, text);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) if items.is_empty() => FileReport::failed(path, Error::Empty),
        Ok(Value::Array(items)) => {
            let lines = array_element_lines(text);
            let lines = if lines.len() == items.len() {
                lines
            } else {
                vec![1; items.len()]
            };
            let records = items
                .into_iter()
                .zip(lines)
                .enumerate()
                .map(|(index, (value, line))| check_record(index, line, value))
                .collect();
            FileReport {
                path,
                layout: Layout::Array,
                records,
                error: None,
            }
        }
        Ok(value) => {
            let line = first_content_line(text);
            FileReport {
                path,
                layout: Layout::Single,
                records: vec![check_record(0, line, value)],
                error: None,
            }
        }
        Err(err) => {
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            if serde_json::from_str::<Value>(first).is_ok() {
                validate_lines(path, text)
            } else {
                let (line, column) = (err.line(), err.column());
                FileReport::failed(
                    path,
                    Error::Syntax {
                        line,
                        column,
                        message: parser_message(&err),
                    },
                )
            }
        }
    }
}

fn validate_lines(path: PathBuf, text: &str) -> FileReport {
    let mut records = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let (index, line) = (records.len(), i + 1);
        records.push(match serde_json::from_str::<Value>(raw) {
            Ok(value) => check_record(index, line, value),
            Err(err) => RecordReport {
                index,
                line,
                problems: vec![Problem {
                    kind: ProblemKind::Syntax,
                    pointer: String::new(),
                    message: format!(
                        "malformed JSON at column {}: {}",
                        err.column(),
                        parser_message(&err)
                    ),
                }],
                summary: None,
            },
        });
    }
    FileReport {
        path,
        layout: Layout::Lines,
        records,
        error: None,
    }
}

/// serde_json's message without the " at line L column C" it appends.
fn parser_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    match full.rsplit_once(" at line ") {
        Some((message, _)) => message.to_owned(),
        None => full,
    }
}

fn first_content_line(text: &str) -> usize {
    text.lines()
        .position(|l| !l.trim().is_empty())
        .map_or(1, |i| i + 1)
}

/// 1-based line on which each element of the top-level array in `text` starts.
/// `text` must be valid JSON.
fn array_element_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let (mut depth, mut line) = (0usize, 1usize);
    let (mut in_string, mut escaped, mut expecting) = (false, false, false);
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if depth == 1 && expecting && c != ']' && c != ',' {
            lines.push(line);
            expecting = false;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                if depth == 1 {
                    expecting = true;
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expecting = true,
            _ => {}
        }
    }
    lines
}

fn check_record(index: usize, line: usize, value: Value) -> RecordReport {
    let mut problems: Vec<Problem> = match validate_event_value(&value) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_iter().map(Problem::from).collect(),
    };
    let summary = match RegistryEvent::from_value(value) {
        Ok(event) => {
            if problems.is_empty() {
                problems.extend(consistency_problems(&event));
            }
            Some(EventSummary {
                event_type: event.event_type,
                service_key: event.service_key(),
                source_version: event.source_version,
            })
        }
        Err(err) => {
            let problem = Problem::from_model(&err);
            // The schema usually said it first, and at the same place.
            if !problems.iter().any(|p| p.pointer == problem.pointer) {
                problems.push(problem);
            }
            None
        }
    };
    RecordReport {
        index,
        line,
        problems,
        summary,
    }
}

/// Agreement between attributes and data that the schema cannot express. Runs on events that
/// passed the schema, so the data has its documented shape.
fn consistency_problems(event: &RegistryEvent) -> Vec<Problem> {
    let EventData::Json(raw) = &event.data else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(raw.get()) else {
        return Vec::new();
    };
    let data = &value;
    let subject = event.subject.as_deref().unwrap_or_default();
    let mut problems = Vec::new();
    let mut version_is = |field: &str, what: &str, expected: Option<u64>| {
        if let Some(expected) = expected
            && expected != event.source_version
        {
            problems.push(Problem::consistency(
                "/sourceversion",
                format!(
                    "is {} but {field} is {expected}; a {} event's sourceversion is {what}",
                    event.source_version, event.event_type
                ),
            ));
        }
    };
    match event.event_type {
        EventType::ZookeeperProviders
        | EventType::ZookeeperConfigurators
        | EventType::ZookeeperInstances => {
            version_is("data.pzxid", "the parent's pzxid", data["pzxid"].as_u64());
        }
        EventType::ZookeeperMapping => version_is(
            "data.mzxid",
            "the mapping znode's mzxid",
            data["mzxid"].as_u64(),
        ),
        EventType::EurekaInstance => {
            let instance = data.get("instance").unwrap_or(data);
            let updated = &instance["lastUpdatedTimestamp"];
            let updated = updated
                .as_u64()
                .or_else(|| updated.as_str().and_then(|s| s.parse().ok()));
            version_is(
                "lastUpdatedTimestamp",
                "the instance's lastUpdatedTimestamp",
                updated,
            );
        }
        _ => {}
    }
    let path = data["path"].as_str().unwrap_or_default();
    let mut segments = path.rsplit('/');
    let named = match event.event_type {
        // <root>/<interface>/providers|configurators
        EventType::ZookeeperProviders | EventType::ZookeeperConfigurators => segments.nth(1),
        // /services/<app>, <root>/mapping/<interface>
        EventType::ZookeeperInstances | EventType::ZookeeperMapping => segments.next(),
        _ => None,
    };
    if let Some(named) = named
        && named != subject
    {
        problems.push(Problem::consistency(
            "/subject",
            format!("is {subject:?} but data.path {path:?} is about {named:?}"),
        ));
    }
    let app = match event.event_type {
        EventType::EurekaInstance => data.get("instance").unwrap_or(data)["app"].as_str(),
        EventType::EurekaApplication => data["application"]["name"].as_str(),
        _ => None,
    };
    if let Some(app) = app
        && !app.eq_ignore_ascii_case(subject)
    {
        problems.push(Problem::consistency(
            "/subject",
            format!("is {subject:?} but the data is about app {app:?}"),
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_elements_are_found_on_their_lines() {
        let text = "[\n  {\"a\": \"[,{\\\"\"},\n  1,\n\n  [2, 3], \"x\"\n]\n";
        assert_eq!(array_element_lines(text), vec![2, 3, 5, 5]);
        assert_eq!(array_element_lines("[]"), Vec::<usize>::new());
    }

    #[test]
    fn the_parser_position_is_cut_from_its_message() {
        let err = serde_json::from_str::<Value>("{\"a\": }").unwrap_err();
        assert_eq!(parser_message(&err), "expected value");
    }

    #[test]
    fn both_schemas_compile() {
        LazyLock::force(&EVENT_VALIDATOR);
        LazyLock::force(&SNAPSHOT_VALIDATOR);
    }
}
