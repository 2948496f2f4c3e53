//! What a provider URL means to a consumer: which service it offers, in which group and version,
//! with what weight, and whether it may be called at all.
//!
//! Parameter look-ups follow Dubbo's `URL.getParameter(key, default)`: an empty value counts as
//! absent. Booleans follow `Boolean.parseBoolean`: only `true` (any case) is true.

use regsync_model::{Error, Result};

use crate::url::DubboUrl;

/// `interface` parameter: the service a provider offers, when it differs from the path.
pub const INTERFACE_KEY: &str = "interface";
/// `group` parameter: the service group.
pub const GROUP_KEY: &str = "group";
/// `version` parameter: the service version.
pub const VERSION_KEY: &str = "version";
/// `weight` parameter: the load-balancing weight (Dubbo's default is 100).
pub const WEIGHT_KEY: &str = "weight";
/// `enabled` parameter: `false` takes a provider (or an override) out of use.
pub const ENABLED_KEY: &str = "enabled";
/// `disabled` parameter: when present, decides alone whether a provider is used.
pub const DISABLED_KEY: &str = "disabled";
/// `application` parameter: the application that registered the URL.
pub const APPLICATION_KEY: &str = "application";
/// `side` parameter: `provider` or `consumer`.
pub const SIDE_KEY: &str = "side";
/// `category` parameter: `providers`, `consumers`, `configurators` or `routers`.
pub const CATEGORY_KEY: &str = "category";

impl DubboUrl {
    /// The value of parameter `key`, treating an empty value as absent (Dubbo's
    /// `getParameter(key, default)`).
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Parameter `key` as a boolean like Dubbo's `getParameter(key, boolean)`: absent or empty
    /// gives `default`, otherwise only `true` (any case) is true.
    pub fn bool_param(&self, key: &str, default: bool) -> bool {
        self.param(key)
            .map_or(default, |v| v.eq_ignore_ascii_case("true"))
    }

    /// The service interface: the `interface` parameter, else the path (`getServiceInterface`).
    pub fn interface(&self) -> &str {
        self.param(INTERFACE_KEY).unwrap_or(&self.path)
    }

    /// The `group` parameter, `None` when absent or empty.
    pub fn group(&self) -> Option<&str> {
        self.param(GROUP_KEY)
    }

    /// The `version` parameter, `None` when absent or empty.
    pub fn version(&self) -> Option<&str> {
        self.param(VERSION_KEY)
    }

    /// The `application` parameter, else the user name, as Dubbo's configurators compare it.
    pub fn application(&self) -> Option<&str> {
        self.param(APPLICATION_KEY)
            .or(self.username.as_deref().filter(|u| !u.is_empty()))
    }

    /// The `side` parameter (`provider` or `consumer`), `None` when absent or empty.
    pub fn side(&self) -> Option<&str> {
        self.param(SIDE_KEY)
    }

    /// The `weight` parameter: `None` when absent or empty (Dubbo then uses 100).
    ///
    /// A value that is not a non-negative integer fitting in `u32` is an error naming `weight`:
    /// Dubbo's `Integer.parseInt` would throw on it when the first call is balanced.
    pub fn weight(&self) -> Result<Option<u32>> {
        let Some(raw) = self.param(WEIGHT_KEY) else {
            return Ok(None);
        };
        if !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(weight_error(raw, self));
        }
        raw.parse::<u32>()
            .map(Some)
            .map_err(|_| weight_error(raw, self))
    }

    /// Whether a consumer would use this provider, by Dubbo's `RegistryDirectory#toInvokers`: if
    /// `disabled` is present (non-empty) the provider is enabled unless it is `true`, otherwise
    /// `enabled` decides, defaulting to `true`.
    pub fn is_enabled(&self) -> bool {
        if self.param(DISABLED_KEY).is_some() {
            !self.bool_param(DISABLED_KEY, false)
        } else {
            self.bool_param(ENABLED_KEY, true)
        }
    }
}

fn weight_error(raw: &str, url: &DubboUrl) -> Error {
    Error::invalid(
        WEIGHT_KEY,
        "",
        format!(
            "expected a whole number in 0..=4294967295, in `{}`",
            regsync_model::error::shorten(&url.to_url_string(), 200)
        ),
        raw,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> DubboUrl {
        DubboUrl::parse(s).unwrap()
    }

    #[test]
    fn the_interface_parameter_wins_over_the_path() {
        assert_eq!(url("dubbo://h/p?interface=com.Foo").interface(), "com.Foo");
        assert_eq!(url("dubbo://h/com.Bar").interface(), "com.Bar");
        assert_eq!(url("dubbo://h/com.Bar?interface=").interface(), "com.Bar");
    }

    #[test]
    fn empty_group_and_version_are_absent() {
        let u = url("dubbo://h/p?group=&version=1.0");
        assert_eq!(u.group(), None);
        assert_eq!(u.version(), Some("1.0"));
    }

    #[test]
    fn the_weight_is_a_number_or_an_error_naming_weight() {
        assert_eq!(url("dubbo://h/p").weight().unwrap(), None);
        assert_eq!(url("dubbo://h/p?weight=").weight().unwrap(), None);
        assert_eq!(url("dubbo://h/p?weight=200").weight().unwrap(), Some(200));
        for bad in ["-1", "heavy", "1.5", "99999999999"] {
            let err = url(&format!("dubbo://h/p?weight={bad}"))
                .weight()
                .unwrap_err();
            assert!(err.to_string().contains("`weight`"), "{err}");
            assert!(err.to_string().contains(&format!("(got {bad})")), "{err}");
        }
    }

    #[test]
    fn disabled_decides_alone_when_present() {
        assert!(!url("dubbo://h/p?disabled=true&enabled=true").is_enabled());
        assert!(url("dubbo://h/p?disabled=false&enabled=false").is_enabled());
        assert!(url("dubbo://h/p?disabled=yes").is_enabled());
        assert!(!url("dubbo://h/p?disabled=TRUE").is_enabled());
    }

    #[test]
    fn enabled_defaults_to_true_and_only_true_is_true() {
        assert!(url("dubbo://h/p").is_enabled());
        assert!(url("dubbo://h/p?enabled=").is_enabled());
        assert!(url("dubbo://h/p?disabled=&enabled=true").is_enabled());
        assert!(!url("dubbo://h/p?enabled=false").is_enabled());
        assert!(!url("dubbo://h/p?enabled=1").is_enabled());
    }

    #[test]
    fn the_application_falls_back_to_the_user_name() {
        assert_eq!(url("override://app@0.0.0.0/p").application(), Some("app"));
        assert_eq!(
            url("override://app@0.0.0.0/p?application=x").application(),
            Some("x")
        );
        assert_eq!(url("override://0.0.0.0/p").application(), None);
    }
}
