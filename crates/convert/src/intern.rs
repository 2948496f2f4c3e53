//! Sharing the strings that repeat across endpoints. Label keys (`zone`, `version`,
//! `registry`), most label values and localities are the same for thousands of endpoints, so a
//! render checks and sanitizes each distinct string once and hands out [`SharedStr`] clones.

use std::collections::BTreeMap;

use regsync_model::SharedStr;
// Keys are short strings from our own state; a fast, non-DoS-resistant hash is fine here.
use rustc_hash::FxHashMap as HashMap;

use crate::naming::{is_label_key, is_label_value, locality_from_zone, sanitize_label_value};

/// The distinct strings one render has seen, with the result of checking each.
#[derive(Debug, Default)]
pub struct Interner {
    /// Label key → itself when it is a valid key, `None` when it is not.
    keys: HashMap<Box<str>, Option<SharedStr>>,
    /// Raw label value → sanitized value.
    values: HashMap<Box<str>, SharedStr>,
    /// Raw label value → itself when it is a valid value as it is, `None` when it is not.
    exact_values: HashMap<Box<str>, Option<SharedStr>>,
    /// Availability zone → locality.
    localities: HashMap<Box<str>, Option<SharedStr>>,
    /// Any other repeated text (port names).
    texts: HashMap<Box<str>, SharedStr>,
}

impl Interner {
    /// `key` if it is a valid Kubernetes label key.
    pub fn key(&mut self, key: &str) -> Option<SharedStr> {
        if let Some(k) = self.keys.get(key) {
            return k.clone();
        }
        let checked = is_label_key(key).then(|| SharedStr::from(key));
        self.keys.insert(key.into(), checked.clone());
        checked
    }

    /// `value` made a valid label value.
    pub fn value(&mut self, value: &str) -> SharedStr {
        if let Some(v) = self.values.get(value) {
            return v.clone();
        }
        let clean = SharedStr::from(sanitize_label_value(value));
        self.values.insert(value.into(), clean.clone());
        clean
    }

    /// `value` if it is a valid label value as it is.
    pub fn exact_value(&mut self, value: &str) -> Option<SharedStr> {
        if let Some(v) = self.exact_values.get(value) {
            return v.clone();
        }
        let checked = is_label_value(value).then(|| SharedStr::from(value));
        self.exact_values.insert(value.into(), checked.clone());
        checked
    }

    /// The Istio locality of an availability zone.
    pub fn locality(&mut self, zone: &str) -> Option<SharedStr> {
        if let Some(l) = self.localities.get(zone) {
            return l.clone();
        }
        let locality = locality_from_zone(zone).map(SharedStr::from);
        self.localities.insert(zone.into(), locality.clone());
        locality
    }

    /// `text` as a shared string.
    pub fn text(&mut self, text: &str) -> SharedStr {
        if let Some(t) = self.texts.get(text) {
            return t.clone();
        }
        let shared = SharedStr::from(text);
        self.texts.insert(text.into(), shared.clone());
        shared
    }

    /// The pairs whose key and value are both valid labels as they are (Eureka metadata).
    pub fn passing_labels<'p>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'p String, &'p String)>,
    ) -> BTreeMap<SharedStr, SharedStr> {
        pairs
            .into_iter()
            .filter_map(|(k, v)| Some((self.key(k)?, self.exact_value(v)?)))
            .collect()
    }

    /// The pairs with valid keys, values sanitized (Dubbo URL parameters).
    pub fn labels<'p>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'p String, &'p String)>,
    ) -> BTreeMap<SharedStr, SharedStr> {
        pairs
            .into_iter()
            .filter_map(|(k, v)| Some((self.key(k)?, self.value(v))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_strings_are_checked_once_and_shared() {
        let mut i = Interner::default();
        let a = i.value("ServiceBean:/org.Foo");
        let b = i.value("ServiceBean:/org.Foo");
        assert_eq!(&*a, "ServiceBean--org.Foo");
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        assert_eq!(i.key("-bad"), None);
        assert_eq!(i.exact_value("a:b"), None);
        assert_eq!(i.exact_value("v1").as_deref(), Some("v1"));
        assert_eq!(i.key("zone").as_deref(), Some("zone"));
        assert_eq!(
            i.locality("us-east-1a").as_deref(),
            Some("us-east-1/us-east-1a")
        );
    }
}
