//! `override://` (and `absent://`) configurators from `<root>/<interface>/configurators`, applied
//! to provider URLs the way Dubbo 2.7 does before a consumer decides whether to use a provider.
//!
//! The rules, each from Dubbo's code (apache/dubbo, branch 2.7.x unless said otherwise):
//!
//! Collecting (`Configurator.toConfigurators`):
//! - any `empty://` URL in the list means "no configurators at all";
//! - a URL with no parameters besides `anyhost` is skipped;
//! - `override://` overwrites provider parameters (`OverrideConfigurator`), `absent://` only adds
//!   missing ones (`AbsentConfigurator`); other protocols are skipped here (Dubbo finds no
//!   extension for them and fails the whole notification);
//! - the list is sorted stably by host string, then by the `priority` parameter (default 0; a
//!   value that is not an `i32` counts as 0 here, Dubbo would throw), and applied in that order,
//!   so host-specific rules come after, and win over, `0.0.0.0` rules.
//!
//! Matching one provider, first as the ZooKeeper registry filters what a consumer of that
//! provider's service subscribes to (`ZookeeperRegistry#toUrlsWithoutEmpty` → `UrlUtils.isMatch`):
//! - the override's interface (`interface` parameter, else path) is `*` or the provider's;
//! - its `category` (default `providers`) is contained in `providers,configurators,routers`;
//! - its `group` and `version` equal the provider's (absent and empty are the same);
//!
//! then as `AbstractConfigurator.configure` decides, with the provider URL as the URL configured:
//! - `enabled=false` on the override: ignored;
//! - with `configVersion` (2.7 rules from the config center): applies only when both `side`s are
//!   `provider` and the ports are equal; consumer-side rules target a consumer's own address,
//!   which regsync does not have, so only `0.0.0.0` consumer-side rules could match, and those
//!   need a URL whose `side` is `consumer`;
//! - without `configVersion` (the `override://` znodes of Dubbo ≤ 2.6 and dubbo-admin): with a
//!   port, it applies when the ports are equal; without a port, only a `0.0.0.0` override applies,
//!   and only to a URL with `side=provider` (a port-less override naming another host targets a
//!   consumer);
//! - the host is `0.0.0.0` or the provider's host (`anyhost=true` does **not** widen it: only the
//!   javadoc says so, the code compares hosts);
//! - `providerAddresses`, when set, lists the provider's `host:port`, its host, `0.0.0.0`,
//!   `0.0.0.0:*` or `0.0.0.0:<port>` (comma-separated exact matching as in Dubbo 3.x; 2.7 used a
//!   substring test);
//! - the override's application (`application`, else its user name) is absent, `*` or the
//!   provider's (`application`, else user name);
//! - every `~key`, `application` and `side` parameter of the override is `*` or equals the
//!   provider's `key` parameter (so a `side=consumer` override never touches a provider URL);
//!
//! and then every override parameter except the condition keys (`category`, `check`, `dynamic`,
//! `enabled`, `group`, `version`, `application`, `side`, `configVersion`, `compatible_config`,
//! `interfaces` and the `~` keys) is copied onto the provider: so `disabled=true` or
//! `weight=200` take effect.

use std::cmp::Ordering;

use regsync_model::{Error, Result};

use crate::provider::{
    APPLICATION_KEY, CATEGORY_KEY, ENABLED_KEY, GROUP_KEY, SIDE_KEY, VERSION_KEY,
};
use crate::url::DubboUrl;

/// `0.0.0.0`: an override for every host.
pub const ANYHOST_VALUE: &str = "0.0.0.0";
/// `anyhost` parameter; Dubbo ignores it when deciding whether an override is empty.
pub const ANYHOST_KEY: &str = "anyhost";
/// `override` protocol.
pub const OVERRIDE_PROTOCOL: &str = "override";
/// `absent` protocol.
pub const ABSENT_PROTOCOL: &str = "absent";
/// `empty` protocol: Dubbo's marker for "this category has no URLs".
pub const EMPTY_PROTOCOL: &str = "empty";
/// `priority` parameter: orders configurators of the same host.
pub const PRIORITY_KEY: &str = "priority";
/// `configVersion` parameter: set on rules converted from Dubbo 2.7 config-center YAML.
pub const CONFIG_VERSION_KEY: &str = "configVersion";
/// `providerAddresses` parameter: the providers a rule is limited to.
pub const OVERRIDE_PROVIDERS_KEY: &str = "providerAddresses";

const ANY_VALUE: &str = "*";
const TILDE: &str = "~";
const PROVIDER_SIDE: &str = "provider";
const CONSUMER_SIDE: &str = "consumer";
/// What a consumer subscribes to (`category=providers,configurators,routers`).
const SUBSCRIBED_CATEGORIES: &str = "providers,configurators,routers";
/// Keys that select what an override applies to; they are never copied onto a provider.
const CONDITION_KEYS: [&str; 11] = [
    CATEGORY_KEY,
    "check",
    "dynamic",
    ENABLED_KEY,
    GROUP_KEY,
    VERSION_KEY,
    APPLICATION_KEY,
    SIDE_KEY,
    CONFIG_VERSION_KEY,
    "compatible_config",
    "interfaces",
];

/// How a configurator changes provider parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfiguratorKind {
    /// `override://`: its parameters replace the provider's.
    Override,
    /// `absent://`: its parameters are added only where the provider has none.
    Absent,
}

/// One configurator rule: an `override://` or `absent://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configurator {
    /// Whether it overwrites or only fills in.
    pub kind: ConfiguratorKind,
    /// The rule as registered.
    pub url: DubboUrl,
}

impl Configurator {
    /// Wraps an `override://` or `absent://` URL; any other protocol is an error naming
    /// `protocol`.
    pub fn from_url(url: DubboUrl) -> Result<Configurator> {
        let kind = match url.protocol.as_str() {
            OVERRIDE_PROTOCOL => ConfiguratorKind::Override,
            ABSENT_PROTOCOL => ConfiguratorKind::Absent,
            other => {
                return Err(Error::invalid(
                    "protocol",
                    "",
                    format!(
                        "a configurator is an `override://` or `absent://` URL, in `{}`",
                        regsync_model::error::shorten(&url.to_url_string(), 200)
                    ),
                    other,
                ));
            }
        };
        Ok(Configurator { kind, url })
    }

    /// The `priority` parameter; absent, empty or not an `i32` gives 0.
    pub fn priority(&self) -> i32 {
        self.url
            .param(PRIORITY_KEY)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// Whether this rule changes `provider` at all (see the module docs for the rules).
    pub fn applies_to(&self, provider: &DubboUrl) -> bool {
        self.subscribed_with(provider) && self.configures(provider)
    }

    /// `provider` with this rule applied, or unchanged when it does not apply.
    pub fn configure(&self, provider: &DubboUrl) -> DubboUrl {
        let mut out = provider.clone();
        if !self.applies_to(provider) {
            return out;
        }
        for (key, value) in &self.url.params {
            if CONDITION_KEYS.contains(&key.as_str()) || key.starts_with(TILDE) {
                continue;
            }
            match self.kind {
                ConfiguratorKind::Override => {
                    out.params.insert(key.clone(), value.clone());
                }
                ConfiguratorKind::Absent => {
                    out.params
                        .entry(key.clone())
                        .or_insert_with(|| value.clone());
                }
            }
        }
        out
    }

    /// Dubbo's `Configurator.compareTo`: by host string, then by priority.
    fn dubbo_order(&self, other: &Configurator) -> Ordering {
        self.url
            .host
            .cmp(&other.url.host)
            .then_with(|| self.priority().cmp(&other.priority()))
    }

    /// `UrlUtils.isMatch(consumer, override)` for a consumer of exactly `provider`'s service.
    fn subscribed_with(&self, provider: &DubboUrl) -> bool {
        let interface = self.url.interface();
        let category = self.url.param(CATEGORY_KEY).unwrap_or("providers");
        (interface == ANY_VALUE
            || provider.interface() == ANY_VALUE
            || interface == provider.interface())
            && SUBSCRIBED_CATEGORIES.contains(category)
            && self.url.bool_param(ENABLED_KEY, true)
            && self.url.group() == provider.group()
            && self.url.version() == provider.version()
    }

    /// `AbstractConfigurator.configure` up to (not including) `doConfigure`.
    fn configures(&self, url: &DubboUrl) -> bool {
        let rule = &self.url;
        if !rule.bool_param(ENABLED_KEY, true) || rule.host.is_empty() || url.host.is_empty() {
            return false;
        }
        if rule.param(CONFIG_VERSION_KEY).is_some() {
            return match (url.side(), rule.side()) {
                (Some(current), Some(wanted)) if current == wanted => match wanted {
                    // The consumer's own address is not known here: only 0.0.0.0 can match.
                    CONSUMER_SIDE if rule.port == 0 => self.matches_host(None, url),
                    PROVIDER_SIDE if rule.port == url.port => {
                        self.matches_host(Some(&url.host), url)
                    }
                    _ => false,
                },
                _ => false,
            };
        }
        if rule.port != 0 {
            return url.port == rule.port && self.matches_host(Some(&url.host), url);
        }
        // `url.getParameter(SIDE_KEY, PROVIDER).equals(CONSUMER)`, then
        // `url.getParameter(SIDE_KEY, CONSUMER).equals(PROVIDER)`: an absent side is neither.
        match url.side() {
            Some(CONSUMER_SIDE) => self.matches_host(None, url),
            Some(PROVIDER_SIDE) => self.matches_host(Some(ANYHOST_VALUE), url),
            _ => false,
        }
    }

    /// `AbstractConfigurator.configureIfMatch(host, url)` without the final copy; `None` is an
    /// address regsync cannot know (a consumer's own).
    fn matches_host(&self, host: Option<&str>, url: &DubboUrl) -> bool {
        let rule = &self.url;
        if rule.host != ANYHOST_VALUE && Some(rule.host.as_str()) != host {
            return false;
        }
        if let Some(providers) = rule.param(OVERRIDE_PROVIDERS_KEY) {
            let address = url.address();
            let any_port = format!("{ANYHOST_VALUE}:{}", url.port);
            let listed = providers.split(',').any(|a| {
                a == address
                    || a == ANYHOST_VALUE
                    || a == "0.0.0.0:*"
                    || a == any_port
                    || a == url.host
            });
            if !listed {
                return false;
            }
        }
        if let Some(app) = rule.application()
            && app != ANY_VALUE
            && Some(app) != url.application()
        {
            return false;
        }
        rule.params.iter().all(|(key, value)| {
            let compared = match key.strip_prefix(TILDE) {
                Some(bare) => bare,
                None if key == APPLICATION_KEY || key == SIDE_KEY => key.as_str(),
                None => return true,
            };
            value == ANY_VALUE || url.params.get(compared) == Some(value)
        })
    }
}

/// Dubbo's `Configurator.toConfigurators`: the configurators in the order they apply.
///
/// Any `empty://` URL gives none; URLs with no parameter besides `anyhost` and URLs that are
/// neither `override://` nor `absent://` are skipped; the rest are sorted stably by host, then
/// priority.
pub fn to_configurators(urls: &[DubboUrl]) -> Vec<Configurator> {
    if urls.iter().any(|u| u.protocol == EMPTY_PROTOCOL) {
        return Vec::new();
    }
    let mut configurators: Vec<Configurator> = urls
        .iter()
        .filter(|u| u.params.keys().any(|k| k != ANYHOST_KEY))
        .filter_map(|u| Configurator::from_url(u.clone()).ok())
        .collect();
    configurators.sort_by(Configurator::dubbo_order);
    configurators
}

/// `provider` as a consumer of its service sees it after every matching rule in
/// `configurators` (the URLs of `<root>/<interface>/configurators`) was applied in Dubbo's order.
pub fn apply_configurators(provider: &DubboUrl, configurators: &[DubboUrl]) -> DubboUrl {
    to_configurators(configurators)
        .iter()
        .fold(provider.clone(), |url, rule| rule.configure(&url))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROVIDER_A: &str = "dubbo://10.0.0.1:20880/com.example.Demo?application=demo&interface=com.example.Demo&side=provider&weight=100";
    const PROVIDER_B: &str = "dubbo://10.0.0.2:20880/com.example.Demo?application=demo&interface=com.example.Demo&side=provider";

    fn url(s: &str) -> DubboUrl {
        DubboUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn apply(provider: &str, rules: &[&str]) -> DubboUrl {
        let rules: Vec<DubboUrl> = rules.iter().map(|r| url(r)).collect();
        apply_configurators(&url(provider), &rules)
    }

    #[test]
    fn disabled_true_on_0_0_0_0_disables_every_provider() {
        let rule = "override://0.0.0.0/com.example.Demo?category=configurators&disabled=true&dynamic=false";
        for provider in [PROVIDER_A, PROVIDER_B] {
            let out = apply(provider, &[rule]);
            assert!(!out.is_enabled());
            assert_eq!(out.params.get("disabled").map(String::as_str), Some("true"));
            assert!(
                !out.params.contains_key("category"),
                "condition keys are not copied"
            );
            assert!(!out.params.contains_key("dynamic"));
        }
    }

    #[test]
    fn weight_200_on_one_host_changes_only_that_host() {
        let rule = "override://10.0.0.1:20880/com.example.Demo?category=configurators&weight=200";
        assert_eq!(apply(PROVIDER_A, &[rule]).weight().unwrap(), Some(200));
        assert_eq!(apply(PROVIDER_B, &[rule]).weight().unwrap(), None);
    }

    #[test]
    fn a_host_specific_rule_needs_the_same_port() {
        let rule = "override://10.0.0.1:20881/com.example.Demo?weight=200";
        assert_eq!(apply(PROVIDER_A, &[rule]).weight().unwrap(), Some(100));
    }

    #[test]
    fn a_port_less_rule_for_another_host_targets_a_consumer_and_is_ignored() {
        let rule = "override://10.0.0.1/com.example.Demo?disabled=true";
        assert!(apply(PROVIDER_A, &[rule]).is_enabled());
    }

    #[test]
    fn an_override_with_enabled_false_is_ignored() {
        let rule = "override://0.0.0.0/com.example.Demo?disabled=true&enabled=false";
        let out = apply(PROVIDER_A, &[rule]);
        assert!(out.is_enabled());
        assert_eq!(out, url(PROVIDER_A));
    }

    #[test]
    fn an_override_for_another_application_is_ignored() {
        let other = "override://0.0.0.0/com.example.Demo?application=billing&disabled=true";
        assert!(apply(PROVIDER_A, &[other]).is_enabled());
        let same = "override://0.0.0.0/com.example.Demo?application=demo&disabled=true";
        assert!(!apply(PROVIDER_A, &[same]).is_enabled());
        let any = "override://0.0.0.0/com.example.Demo?application=*&disabled=true";
        assert!(!apply(PROVIDER_A, &[any]).is_enabled());
        let by_user = "override://billing@0.0.0.0/com.example.Demo?disabled=true";
        assert!(apply(PROVIDER_A, &[by_user]).is_enabled());
    }

    #[test]
    fn a_consumer_side_override_never_touches_a_provider() {
        let rule = "override://0.0.0.0/com.example.Demo?side=consumer&disabled=true";
        assert!(apply(PROVIDER_A, &[rule]).is_enabled());
        let rule = "override://0.0.0.0/com.example.Demo?side=provider&disabled=true";
        assert!(!apply(PROVIDER_A, &[rule]).is_enabled());
    }

    #[test]
    fn tilde_conditions_must_equal_the_provider_parameter() {
        let rule = "override://0.0.0.0/com.example.Demo?~application=demo&timeout=9";
        let out = apply(PROVIDER_A, &[rule]);
        assert_eq!(out.params.get("timeout").map(String::as_str), Some("9"));
        assert!(!out.params.contains_key("~application"));
        let rule = "override://0.0.0.0/com.example.Demo?~weight=5&timeout=9";
        assert!(!apply(PROVIDER_A, &[rule]).params.contains_key("timeout"));
    }

    #[test]
    fn group_and_version_must_match_the_provider() {
        let provider = "dubbo://10.0.0.1:20880/com.example.Demo?group=g&version=1.0&side=provider";
        let rule = "override://0.0.0.0/com.example.Demo?group=g&version=1.0&disabled=true";
        assert!(!apply(provider, &[rule]).is_enabled());
        let ungrouped = "override://0.0.0.0/com.example.Demo?disabled=true";
        assert!(apply(provider, &[ungrouped]).is_enabled());
        let other_version = "override://0.0.0.0/com.example.Demo?group=g&version=2.0&disabled=true";
        assert!(apply(provider, &[other_version]).is_enabled());
    }

    #[test]
    fn an_override_for_another_interface_is_ignored_unless_it_is_a_wildcard() {
        let rule = "override://0.0.0.0/com.example.Other?disabled=true";
        assert!(apply(PROVIDER_A, &[rule]).is_enabled());
        let rule = "override://0.0.0.0/*?disabled=true";
        assert!(!apply(PROVIDER_A, &[rule]).is_enabled());
    }

    #[test]
    fn an_empty_url_among_the_rules_clears_them_all() {
        let rules = [
            "override://0.0.0.0/com.example.Demo?disabled=true",
            "empty://10.0.0.9/com.example.Demo?category=configurators",
        ];
        assert_eq!(apply(PROVIDER_A, &rules), url(PROVIDER_A));
    }

    #[test]
    fn a_rule_with_only_anyhost_is_skipped() {
        let rules = [url("override://0.0.0.0/com.example.Demo?anyhost=true")];
        assert!(to_configurators(&rules).is_empty());
    }

    #[test]
    fn host_specific_rules_apply_after_and_win_over_anyhost_rules() {
        let specific = "override://10.0.0.1:20880/com.example.Demo?weight=300";
        let global = "override://0.0.0.0/com.example.Demo?weight=50";
        assert_eq!(
            apply(PROVIDER_A, &[specific, global]).weight().unwrap(),
            Some(300)
        );
        assert_eq!(
            apply(PROVIDER_A, &[global, specific]).weight().unwrap(),
            Some(300)
        );
        assert_eq!(
            apply(PROVIDER_B, &[specific, global]).weight().unwrap(),
            Some(50)
        );
    }

    #[test]
    fn among_rules_for_the_same_host_the_higher_priority_applies_last() {
        let high = "override://0.0.0.0/com.example.Demo?priority=10&weight=7";
        let low = "override://0.0.0.0/com.example.Demo?priority=1&weight=3";
        assert_eq!(apply(PROVIDER_A, &[high, low]).weight().unwrap(), Some(7));
        assert_eq!(apply(PROVIDER_A, &[low, high]).weight().unwrap(), Some(7));
    }

    #[test]
    fn an_absent_rule_only_fills_in_missing_parameters() {
        let rule = "absent://0.0.0.0/com.example.Demo?weight=1&timeout=2";
        let out = apply(PROVIDER_A, &[rule]);
        assert_eq!(out.weight().unwrap(), Some(100));
        assert_eq!(out.params.get("timeout").map(String::as_str), Some("2"));
    }

    #[test]
    fn provider_addresses_limit_a_rule_to_the_listed_providers() {
        let rule = "override://0.0.0.0/com.example.Demo?providerAddresses=10.0.0.2:20880,10.0.0.3:20880&disabled=true";
        assert!(apply(PROVIDER_A, &[rule]).is_enabled());
        assert!(!apply(PROVIDER_B, &[rule]).is_enabled());
    }

    #[test]
    fn a_config_center_rule_applies_on_the_provider_side_with_the_same_port() {
        let rule =
            "override://0.0.0.0:20880/com.example.Demo?configVersion=v2.7&side=provider&weight=9";
        assert_eq!(apply(PROVIDER_A, &[rule]).weight().unwrap(), Some(9));
        let consumer_rule =
            "override://0.0.0.0/com.example.Demo?configVersion=v2.7&side=consumer&weight=9";
        assert_eq!(
            apply(PROVIDER_A, &[consumer_rule]).weight().unwrap(),
            Some(100)
        );
    }

    #[test]
    fn a_configurator_must_be_override_or_absent() {
        let err = Configurator::from_url(url("route://0.0.0.0/x?rule=a")).unwrap_err();
        assert!(err.to_string().contains("`protocol`"), "{err}");
        assert!(err.to_string().contains("route"), "{err}");
    }
}
