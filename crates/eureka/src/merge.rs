//! Merging what one document lists more than once: applications with the same name (a document
//! merged from several server URLs) and instances with the same id.

use std::collections::{HashMap, HashSet};

use regsync_model::eureka::{EurekaApplication, EurekaInstance};

/// Merges applications whose names are equal ignoring ASCII case (Eureka keys its registry by
/// the upper-cased name) into the first of them, in document order, then deduplicates each
/// one's instances with [`instances`].
pub(crate) fn applications(apps: Vec<EurekaApplication>) -> Vec<EurekaApplication> {
    let mut out: Vec<EurekaApplication> = Vec::with_capacity(apps.len());
    let mut by_name: HashMap<String, usize> = HashMap::with_capacity(apps.len());
    let mut merged_any = false;
    for app in apps {
        let key = app.name.to_ascii_uppercase();
        match by_name.get(&key).and_then(|&i| out.get_mut(i)) {
            Some(first) => {
                first.instances.extend(app.instances);
                merged_any = true;
            }
            None => {
                by_name.insert(key, out.len());
                out.push(app);
            }
        }
    }
    if merged_any {
        for app in &mut out {
            app.instances = instances(std::mem::take(&mut app.instances));
        }
    }
    out
}

/// Keeps one instance per `instance_id`, at the position of its first occurrence: the one with
/// the greatest `(lastUpdatedTimestamp, lastDirtyTimestamp)`, the earliest on a tie.
pub(crate) fn instances(list: Vec<EurekaInstance>) -> Vec<EurekaInstance> {
    if all_ids_distinct(&list) {
        return list;
    }
    let mut out: Vec<EurekaInstance> = Vec::with_capacity(list.len());
    let mut by_id: HashMap<String, usize> = HashMap::with_capacity(list.len());
    for inst in list {
        match by_id.get(&inst.instance_id).and_then(|&i| out.get_mut(i)) {
            Some(kept) => {
                if stamp(&inst) > stamp(kept) {
                    *kept = inst;
                }
            }
            None => {
                by_id.insert(inst.instance_id.clone(), out.len());
                out.push(inst);
            }
        }
    }
    out
}

/// Whether no two instances share an id, as in every document a single server writes: then
/// there is nothing to deduplicate (and no id to copy).
fn all_ids_distinct(list: &[EurekaInstance]) -> bool {
    /// Up to this many instances, comparing every pair is cheaper than hashing.
    const SMALL: usize = 32;
    if list.len() <= SMALL {
        return list.iter().enumerate().all(|(i, a)| {
            list.get(i + 1..)
                .unwrap_or_default()
                .iter()
                .all(|b| a.instance_id != b.instance_id)
        });
    }
    let mut seen: HashSet<&str> = HashSet::with_capacity(list.len());
    list.iter().all(|i| seen.insert(&i.instance_id))
}

fn stamp(i: &EurekaInstance) -> (u64, u64) {
    (i.last_updated_timestamp, i.last_dirty_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regsync_model::eureka::InstanceStatus;

    fn inst(id: &str, updated: u64, dirty: u64, host: &str) -> EurekaInstance {
        EurekaInstance {
            app: "A".into(),
            instance_id: id.into(),
            host_name: host.into(),
            ip_addr: String::new(),
            status: InstanceStatus::Up,
            overridden_status: InstanceStatus::Unknown,
            port: None,
            secure_port: None,
            metadata: Default::default(),
            availability_zone: None,
            action_type: None,
            last_updated_timestamp: updated,
            last_dirty_timestamp: dirty,
            registration_timestamp: 0,
        }
    }

    fn hosts(list: &[EurekaInstance]) -> Vec<&str> {
        list.iter().map(|i| i.host_name.as_str()).collect()
    }

    #[test]
    fn the_newer_copy_of_an_instance_wins_in_the_first_position() {
        let out = instances(vec![
            inst("a", 1, 9, "old"),
            inst("b", 1, 1, "b"),
            inst("a", 2, 0, "new"),
            inst("a", 2, 0, "tie"),
        ]);
        assert_eq!(hosts(&out), ["new", "b"]);
    }

    #[test]
    fn long_lists_are_deduplicated_too() {
        let mut list: Vec<EurekaInstance> = (0..40)
            .map(|n| inst(&n.to_string(), 1, 0, &format!("h{n}")))
            .collect();
        assert_eq!(instances(list.clone()), list);
        list.push(inst("7", 2, 0, "new7"));
        let out = instances(list);
        assert_eq!(out.len(), 40);
        assert_eq!(out[7].host_name, "new7");
    }

    #[test]
    fn the_dirty_timestamp_breaks_a_tie_on_the_updated_one() {
        let out = instances(vec![inst("a", 5, 1, "first"), inst("a", 5, 2, "dirtier")]);
        assert_eq!(hosts(&out), ["dirtier"]);
    }

    #[test]
    fn applications_with_the_same_name_in_any_case_are_merged() {
        let app = |name: &str, list| EurekaApplication {
            name: name.into(),
            instances: list,
        };
        let out = applications(vec![
            app("FOO", vec![inst("a", 1, 0, "a1")]),
            app("BAR", vec![inst("b", 1, 0, "b")]),
            app("foo", vec![inst("a", 3, 0, "a3"), inst("c", 1, 0, "c")]),
        ]);
        let names: Vec<&str> = out.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["FOO", "BAR"]);
        assert_eq!(hosts(&out[0].instances), ["a3", "c"]);
    }
}
