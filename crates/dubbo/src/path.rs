//! ZooKeeper paths of Dubbo's interface-level registry: `<root>/<interface>/<category>`, where
//! the root is `/dubbo` unless the registry's `group` says otherwise and the interface segment
//! is `URL.encode(interface)` (`ZookeeperRegistry#toServicePath`).

use std::fmt;
use std::str::FromStr;

use crate::url::{decode_component, encode_component};

/// Dubbo's default registry root.
pub const DEFAULT_ROOT: &str = "/dubbo";

/// The four kinds of child directory under `<root>/<interface>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// `providers`: one znode per provider URL.
    Providers,
    /// `consumers`: one znode per consumer URL.
    Consumers,
    /// `configurators`: `override://` rules.
    Configurators,
    /// `routers`: `route://` rules.
    Routers,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 4] = [
        Category::Providers,
        Category::Consumers,
        Category::Configurators,
        Category::Routers,
    ];

    /// The directory name as Dubbo writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Providers => "providers",
            Category::Consumers => "consumers",
            Category::Configurators => "configurators",
            Category::Routers => "routers",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = regsync_model::Error;

    fn from_str(s: &str) -> regsync_model::Result<Self> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                regsync_model::Error::invalid(
                    "category",
                    "",
                    "expected providers, consumers, configurators or routers",
                    s,
                )
            })
    }
}

/// `/dubbo`, `dubbo`, `/dubbo/` → `/dubbo`; `""` and `/` → `""` (the ZooKeeper root).
fn normalize_root(root: &str) -> String {
    let trimmed = root.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// Reads `<root>/<interface>/<category>` into the decoded interface name and the category.
///
/// `root` may be given with or without its leading or trailing `/`. Anything else (deeper or
/// shallower paths, another root, an unknown category, an interface segment that does not
/// decode) gives `None`.
pub fn parse_category_path(path: &str, root: &str) -> Option<(String, Category)> {
    let root = normalize_root(root);
    let rest = path.strip_prefix(root.as_str())?.strip_prefix('/')?;
    let (interface, category) = rest.split_once('/')?;
    if interface.is_empty() || category.contains('/') {
        return None;
    }
    let category = category.parse().ok()?;
    let interface = decode_component(interface).ok()?;
    Some((interface, category))
}

/// The path of `category` for `interface` under `root`: `/dubbo/com.example.Demo/providers`.
pub fn category_path(root: &str, interface: &str, category: Category) -> String {
    format!(
        "{}/{}/{}",
        normalize_root(root),
        encode_component(interface),
        category.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_providers_path_gives_the_interface_and_category() {
        assert_eq!(
            parse_category_path(
                "/dubbo/org.apache.dubbo.demo.DemoService/providers",
                "/dubbo"
            ),
            Some((
                "org.apache.dubbo.demo.DemoService".to_owned(),
                Category::Providers
            ))
        );
        assert_eq!(
            parse_category_path("/dubbo/com.Foo/configurators", "dubbo/"),
            Some(("com.Foo".to_owned(), Category::Configurators))
        );
        assert_eq!(
            parse_category_path("/com.Foo/routers", "/"),
            Some(("com.Foo".to_owned(), Category::Routers))
        );
    }

    #[test]
    fn other_paths_are_not_category_paths() {
        for path in [
            "/dubbo/com.Foo",
            "/dubbo/com.Foo/providers/dubbo%3A%2F%2Fh",
            "/dubbo/com.Foo/provider",
            "/dubbo//providers",
            "/other/com.Foo/providers",
            "/dubbox/com.Foo/providers",
            "/dubbo/mapping/com.Foo",
            "/dubbo/bad%zz/providers",
        ] {
            assert_eq!(parse_category_path(path, "/dubbo"), None, "{path}");
        }
    }

    #[test]
    fn the_interface_segment_is_url_encoded_both_ways() {
        let path = category_path("/dubbo", "a b/c", Category::Consumers);
        assert_eq!(path, "/dubbo/a+b%2Fc/consumers");
        assert_eq!(
            parse_category_path(&path, "/dubbo"),
            Some(("a b/c".to_owned(), Category::Consumers))
        );
    }

    #[test]
    fn categories_print_and_parse_as_dubbo_writes_them() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
        }
        assert!("Providers".parse::<Category>().is_err());
    }
}
