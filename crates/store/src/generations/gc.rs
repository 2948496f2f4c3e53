//! Retention and garbage collection: keep the newest generations, delete the objects none of
//! them references, but never an object younger than a grace period (a writer may have
//! uploaded it and not published its generation yet).

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, SystemTime};

use super::trie::{MAX_DEPTH, Node, too_deep};
use super::{Generation, parallel};
use crate::{CONTENT_PREFIX, ObjectInfo, Result, Store};

/// Generations [`GcOptions::default`] keeps.
pub const DEFAULT_RETAIN: usize = 10;
/// Minimum age of a deleted object in [`GcOptions::default`]; must exceed the longest writer
/// attempt (from its first upload to its swap of `latest`).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// What [`Store::gc`] keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOptions {
    /// Generations to keep: `latest` and its parents, this many in all (0 counts as 1).
    pub retain: usize,
    /// Unreferenced objects younger than this are kept.
    pub grace: Duration,
    /// Only count what would be deleted.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            retain: DEFAULT_RETAIN,
            grace: DEFAULT_GRACE,
            dry_run: false,
        }
    }
}

/// What [`Store::gc`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GcReport {
    /// Numbers of the generations kept, newest first.
    pub retained: Vec<u64>,
    /// Objects the kept generations reference: roots, trie nodes, service objects.
    pub marked: usize,
    /// Unreferenced objects deleted (in a dry run: that would be).
    pub deleted: usize,
    /// Their total size.
    pub deleted_bytes: u64,
    /// Unreferenced objects kept because they are younger than the grace period.
    pub kept_young: usize,
    /// Whether this was a dry run (nothing deleted).
    pub dry_run: bool,
    /// Temporary files of writers that died mid-write (file stores), older than the grace
    /// period, deleted.
    pub stray_temp: usize,
    /// Their total size.
    pub stray_temp_bytes: u64,
}

impl fmt::Display for GcReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.retained.first(), self.retained.last()) {
            (Some(newest), Some(oldest)) => write!(
                f,
                "retained {} generation(s), {newest} to {oldest}",
                self.retained.len()
            )?,
            _ => write!(f, "retained no generation (nothing published)")?,
        }
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        write!(
            f,
            "; {} object(s) referenced; {verb} {} unreferenced object(s) ({} bytes); kept {} \
             younger than the grace period",
            self.marked, self.deleted, self.deleted_bytes, self.kept_young
        )?;
        if self.stray_temp > 0 {
            write!(
                f,
                "; {verb} {} stray temporary file(s) of dead writers ({} bytes)",
                self.stray_temp, self.stray_temp_bytes
            )?;
        }
        Ok(())
    }
}

/// Objects found referenced, and the trie nodes whose subtrees are marked.
#[derive(Default)]
struct Marks {
    objects: BTreeSet<String>,
    nodes: BTreeSet<String>,
}

impl Store {
    /// Keeps the newest `options.retain` generations and deletes every object under
    /// `objects/` that none of them references and that is older than `options.grace`.
    ///
    /// Marks by walking `latest` and its parents (stopping early at a root already deleted),
    /// each trie node read once however many generations share it; then lists `objects/` with
    /// modification times and deletes in batches. Before each batch it HEADs `latest` and, if a
    /// writer published meanwhile, also spares what the new generations reference. Aborts,
    /// deleting nothing, if a kept generation cannot be read completely.
    pub async fn gc(&self, options: GcOptions) -> Result<GcReport> {
        let retain = options.retain.max(1);
        let mut marks = Marks::default();
        let mut seen = self.latest().await?;
        let mut retained = self.mark(&seen, retain, &mut marks).await?;
        let listed = self.list_modified(CONTENT_PREFIX).await?;
        let mut report = GcReport {
            dry_run: options.dry_run,
            ..GcReport::default()
        };
        let mut doomed = Vec::new();
        let now = SystemTime::now();
        for info in listed {
            if marks.objects.contains(&info.key) {
                continue;
            }
            match now.duration_since(info.modified) {
                Ok(age) if age >= options.grace => doomed.push(info),
                _ if options.grace.is_zero() => doomed.push(info),
                _ => report.kept_young += 1,
            }
        }
        for batch in doomed.chunks(parallel::PARALLEL) {
            if self.changed_since(&seen).await? {
                seen = self.latest().await?;
                retained.extend(self.mark(&seen, retain, &mut marks).await?);
            }
            let batch: Vec<&ObjectInfo> = batch
                .iter()
                .filter(|o| !marks.objects.contains(&o.key))
                .collect();
            report.deleted += batch.len();
            report.deleted_bytes += batch.iter().map(|o| o.size).sum::<u64>();
            if !options.dry_run {
                let keys = batch.into_iter().map(|o| (o.key.clone(), ())).collect();
                parallel::each(self, keys, |store, key, ()| async move {
                    store.delete(&key).await
                })
                .await?;
            }
        }
        if let Store::File(file) = self {
            (report.stray_temp, report.stray_temp_bytes) =
                file.sweep_temp(options.grace, options.dry_run).await?;
        }
        retained.sort_unstable_by(|a, b| b.cmp(a));
        retained.dedup();
        report.retained = retained;
        report.marked = marks.objects.len();
        Ok(report)
    }

    /// Runs [`Store::gc`] every `every`, for as long as the returned future is polled, in
    /// whichever of the processes sharing the store holds the GC lease
    /// ([`crate::lease::GC_LEASE`], taken for three intervals and renewed each run, so another
    /// process takes over within three intervals when the holder stops). `report` gets each
    /// run's report, `None` when another process holds the lease, or the error; the loop goes
    /// on after errors.
    pub async fn gc_every(
        &self,
        every: Duration,
        options: GcOptions,
        holder: &str,
        mut report: impl FnMut(Result<Option<GcReport>>),
    ) {
        // The first run after one interval: a process starting up has other reads to do.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let held = self
                .try_lease(crate::lease::GC_LEASE, holder, every * 3, SystemTime::now())
                .await;
            report(match held {
                Ok(true) => self.gc(options.clone()).await.map(Some),
                Ok(false) => Ok(None),
                Err(e) => Err(e),
            });
        }
    }

    /// Marks what `generation` and its parents reference, `retain` generations in all (fewer
    /// if the chain reaches a deleted root or one already marked); returns the numbers of the
    /// generations newly marked, newest first.
    async fn mark(
        &self,
        generation: &Generation,
        retain: usize,
        marks: &mut Marks,
    ) -> Result<Vec<u64>> {
        let mut numbers = Vec::new();
        let mut tops = Vec::new();
        let mut current = generation
            .root_key
            .clone()
            .map(|key| (key, generation.root.clone()));
        while let Some((key, root)) = current {
            if !marks.objects.insert(key) {
                break;
            }
            numbers.push(root.generation);
            tops.extend(root.tree);
            current = match root.parent {
                Some(parent) if numbers.len() < retain => {
                    self.find_root(&parent).await?.map(|r| (parent, r))
                }
                _ => None,
            };
        }
        self.mark_trees(tops, marks).await?;
        Ok(numbers)
    }

    /// Marks the trie nodes under `tops` and the service objects their leaves name, a level at
    /// a time, skipping subtrees already marked.
    async fn mark_trees(&self, tops: Vec<String>, marks: &mut Marks) -> Result<()> {
        let mut level: BTreeSet<String> = tops
            .into_iter()
            .filter(|k| marks.nodes.insert(k.clone()))
            .collect();
        let mut depth = 0;
        while !level.is_empty() {
            marks.objects.extend(level.iter().cloned());
            let mut next = BTreeSet::new();
            for (key, node) in self.get_nodes(level).await? {
                match node {
                    Node::Leaf(entries) => marks.objects.extend(entries.into_values()),
                    Node::Branch(_) if depth >= MAX_DEPTH => return Err(too_deep(&key)),
                    Node::Branch(children) => next.extend(
                        children
                            .into_values()
                            .filter(|k| marks.nodes.insert(k.clone())),
                    ),
                }
            }
            level = next;
            depth += 1;
        }
        Ok(())
    }
}
