//! `regsync convert`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use regsync_convert::input::{RawDefaults, events_from_bytes};
use regsync_convert::{ConvertConfig, Outcome};
use regsync_model::Snapshot;

use crate::cli::{ConvertArgs, Output};

/// Loads a config file: YAML (JSON is YAML too).
pub fn load_config(path: Option<&Path>) -> anyhow::Result<ConvertConfig> {
    let Some(path) = path else {
        return Ok(ConvertConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    serde_norway::from_str(&text).with_context(|| {
        format!(
            "config {} is invalid (see the README section \"Conversion rules\" for the keys)",
            path.display()
        )
    })
}

/// Reads `path` (`-`: stdin), at most one byte over `max`: enough to tell it is too large.
fn read_input(path: &Path, max: usize) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    if path.as_os_str() == "-" {
        std::io::stdin().take(limit).read_to_end(&mut buf)?;
    } else {
        let f =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        f.take(limit)
            .read_to_end(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(buf)
}

/// Why input `path` is refused when it holds more than `max` bytes: its real size (only the
/// limit and one byte were read), the limit, and how to split it.
fn too_large(path: &Path, max: usize) -> String {
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20));
    let size = match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => format!("{} bytes ({})", meta.len(), mib(meta.len())),
        _ => format!("more than {max} bytes"),
    };
    format!(
        "{size}, over the limit of {max} bytes ({}); split it into smaller files, e.g. one Eureka \
         application (/eureka/apps/APP) or one Dubbo interface each (`split -l` cuts JSON Lines \
         and lists of provider URLs), or raise the limit with `regsync convert --max-bytes`",
        mib(u64::try_from(max).unwrap_or(u64::MAX))
    )
}

/// Events read from input files, with the file each came from.
pub struct Inputs {
    /// The events, in file order.
    pub events: Vec<regsync_model::RegistryEvent>,
    /// The file of each event.
    pub origins: Vec<String>,
    /// Files that could not be read as events (already reported on stderr).
    pub failures: usize,
}

/// Reads every file the way `convert` does, reporting unusable files on stderr.
pub fn read_inputs(
    files: &[std::path::PathBuf],
    defaults: &RawDefaults,
    max_bytes: usize,
) -> anyhow::Result<Inputs> {
    let mut inputs = Inputs {
        events: Vec::new(),
        origins: Vec::new(),
        failures: 0,
    };
    for (i, path) in files.iter().enumerate() {
        let name = path.display().to_string();
        let bytes = read_input(path, max_bytes)?;
        if bytes.len() > max_bytes {
            inputs.failures += 1;
            eprintln!("error: {name}: {}", too_large(path, max_bytes));
            continue;
        }
        match events_from_bytes(&name, i as u64 + 1, &bytes, defaults, max_bytes) {
            Ok(evs) => {
                inputs
                    .origins
                    .extend(std::iter::repeat_n(name.clone(), evs.len()));
                inputs.events.extend(evs);
            }
            Err(e) => {
                inputs.failures += 1;
                eprintln!("error: {name}: {e}");
            }
        }
    }
    Ok(inputs)
}

/// Reports rejected events on stderr and returns how many there were.
pub fn report_rejected(inputs: &Inputs, outcomes: &[Outcome]) -> usize {
    let mut n = 0;
    for ((outcome, event), origin) in outcomes.iter().zip(&inputs.events).zip(&inputs.origins) {
        if let Outcome::Rejected(e) = outcome {
            n += 1;
            eprintln!(
                "error: {origin}: event {} ({}): {e}",
                event.id, event.event_type
            );
        }
    }
    n
}

/// Runs `convert`.
pub fn run(args: &ConvertArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(args.config.as_deref())?;
    let defaults = RawDefaults {
        eureka_registry: Some(args.eureka_registry.clone()),
        dubbo_registry: Some(args.dubbo_registry.clone()),
        dubbo_root: Some(args.dubbo_root.clone()),
    };
    let inputs = read_inputs(&args.files, &defaults, args.max_bytes)?;
    let events = &inputs.events;
    let mut failures = inputs.failures;
    let applied = regsync_convert::apply(&Snapshot::empty(), events, &config);
    failures += report_rejected(&inputs, &applied.outcomes);
    for r in &applied.snapshot.rejected {
        for reason in &r.reasons {
            eprintln!("warning: {}: {reason}", r.resource);
        }
    }
    if failures > 0 && !args.keep_going {
        eprintln!(
            "{failures} input(s) invalid; nothing printed (use --keep-going to print the rest)"
        );
        return Ok(ExitCode::from(1));
    }
    let out = match args.output {
        Output::Yaml => regsync_kube::to_yaml(&applied.snapshot.entries),
        Output::Json => {
            serde_json::to_string_pretty(&regsync_kube::to_json_list(&applied.snapshot.entries))?
                + "\n"
        }
        Output::Snapshot => serde_json::to_string_pretty(&applied.snapshot)? + "\n",
    };
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(if failures > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
