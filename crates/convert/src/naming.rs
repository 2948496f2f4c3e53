//! Naming rules: hosts, port names and labels that istiod and Kubernetes accept.

/// Maximum length of a DNS label and of a label name or value.
pub const MAX_LABEL: usize = 63;
/// Maximum length of a host name.
pub const MAX_HOST: usize = 253;

/// Turns `raw` into DNS labels: lower-case, every character outside `[a-z0-9.-]` becomes `-`,
/// runs of `-` are kept (they are legal), and each label is trimmed of leading and trailing `-`.
/// Empty labels are dropped. Never produces `_` or `:`.
pub fn dns_labels(raw: &str) -> Vec<String> {
    let lowered: String = raw
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    lowered
        .split('.')
        .map(|l| l.trim_matches('-').to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Why `app` cannot be the name of a Eureka application regsync serves, if it cannot. The name
/// becomes the host's DNS labels, so it may hold only ASCII letters, digits, `-`, `.` (between
/// labels) and `_` (which becomes `-`), and at least one letter or digit. Anything else (a space,
/// `/`, `*`, `:`) would have to be rewritten, and rewriting merges distinct applications into one
/// host (issue 22): such a name is refused instead.
pub fn eureka_app_problem(app: &str) -> Option<&'static str> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if !app.bytes().all(allowed) {
        return Some(
            "an application name becomes a DNS name, so it may hold only ASCII letters, \
             digits, `-`, `_` and `.`",
        );
    }
    if !app.bytes().any(|b| b.is_ascii_alphanumeric()) {
        return Some("an application name needs at least one letter or digit");
    }
    None
}

/// Eureka host: `lower(app)` with invalid characters turned into `-`, then `.<suffix>`. The fold
/// admits only names [`eureka_app_problem`] accepts, so in practice only `_` is turned into `-`.
/// Distinct applications that still meet on one host (`FOO_BAR`, `FOO-BAR`) are told apart by
/// `render`: the first registered keeps the host.
pub fn eureka_host(app: &str, suffix: &str) -> String {
    let mut labels = dns_labels(app);
    if labels.is_empty() {
        labels.push("app".into());
    }
    labels.extend(dns_labels(suffix));
    labels.join(".")
}

/// Dubbo host: `lower(interface)[-group][-version with . → -]` then `.<suffix>`.
pub fn dubbo_host(
    interface: &str,
    group: Option<&str>,
    version: Option<&str>,
    suffix: &str,
) -> String {
    let mut labels = dns_labels(interface);
    if labels.is_empty() {
        labels.push("service".into());
    }
    let mut tail = labels.pop().unwrap_or_default();
    for part in [group, version].into_iter().flatten() {
        let cleaned = dns_labels(&part.replace('.', "-")).join("-");
        if !cleaned.is_empty() {
            tail.push('-');
            tail.push_str(&cleaned);
        }
    }
    labels.push(tail);
    labels.extend(dns_labels(suffix));
    labels.join(".")
}

/// Whether `s` is a DNS-1123 label.
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LABEL
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is a DNS-1123 subdomain (dot-separated labels, at most 253 characters).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_HOST && s.split('.').all(is_dns1123_label)
}

fn is_label_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LABEL
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Kubernetes label key rule: `[prefix/]name`, prefix a DNS-1123 subdomain, name ≤ 63
/// characters of `[A-Za-z0-9_.-]` starting and ending alphanumeric.
pub fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_label_name_part(name),
        None => is_label_name_part(key),
    }
}

/// Kubernetes label value rule: empty, or a valid label name part.
pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_label_name_part(value)
}

/// Makes `raw` a label value: invalid characters become `-`, cut to 63, trimmed to start and
/// end alphanumeric.
pub fn sanitize_label_value(raw: &str) -> String {
    if is_label_value(raw) {
        return raw.to_owned();
    }
    let mapped: String = raw
        .chars()
        .take(MAX_LABEL)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// Istio locality from an availability zone: AWS-style `us-east-1e` becomes `us-east-1/us-east-1e`,
/// anything else is used as the region.
pub fn locality_from_zone(zone: &str) -> Option<String> {
    let zone = zone.trim();
    if zone.is_empty() {
        return None;
    }
    let region = zone.trim_end_matches(|c: char| c.is_ascii_lowercase());
    let aws_style = region.len() < zone.len()
        && region.ends_with(|c: char| c.is_ascii_digit())
        && region.contains('-');
    // `/` separates locality levels, so it may not appear inside one.
    let push_level = |out: &mut String, level: &str| {
        if level.contains('/') {
            out.push_str(&level.replace('/', "-"));
        } else {
            out.push_str(level);
        }
    };
    let mut out = String::with_capacity(zone.len() * 2 + 1);
    if aws_style {
        push_level(&mut out, region);
        out.push('/');
    }
    push_level(&mut out, zone);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eureka_hosts_are_lower_case_dns_names_with_two_labels() {
        assert_eq!(
            eureka_host("FOO_BAR_LOCAL", "eureka"),
            "foo-bar-local.eureka"
        );
        assert_eq!(
            eureka_host("MYMICROSERVICE2", "eureka"),
            "mymicroservice2.eureka"
        );
        assert_eq!(eureka_host("a:b", "eureka"), "a-b.eureka");
        assert_eq!(eureka_host("___", "eureka"), "app.eureka");
    }

    #[test]
    fn eureka_app_names_that_are_not_dns_material_are_refused() {
        for ok in [
            "MYMICROSERVICE2",
            "FOO_BAR_LOCAL",
            "bad-app-name",
            "com.example.ORDERS",
        ] {
            assert_eq!(eureka_app_problem(ok), None, "{ok}");
        }
        for bad in [
            "bad app/name*",
            "a:b",
            "a b",
            "a/b",
            "*",
            "é",
            "",
            "___",
            "-.-",
        ] {
            assert!(eureka_app_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn dubbo_hosts_carry_group_and_version_without_colons() {
        assert_eq!(
            dubbo_host(
                "org.apache.dubbo.samples.basic.api.ComplexService",
                Some("product"),
                Some("2.0.0"),
                "dubbo"
            ),
            "org.apache.dubbo.samples.basic.api.complexservice-product-2-0-0.dubbo"
        );
        assert_eq!(
            dubbo_host("com.Foo_Bar", None, None, "dubbo"),
            "com.foo-bar.dubbo"
        );
        assert!(
            !dubbo_host("providers:com.foo:1.0", Some("g:1"), Some("1.0"), "dubbo").contains(':')
        );
    }

    #[test]
    fn label_rules_follow_kubernetes() {
        assert!(is_label_key("app.kubernetes.io/name"));
        assert!(is_label_key("management.port"));
        assert!(!is_label_key("-bad"));
        assert!(!is_label_key("a/b/c"));
        assert!(is_label_value(""));
        assert_eq!(
            sanitize_label_value("ServiceBean:/org.Foo"),
            "ServiceBean--org.Foo"
        );
        assert_eq!(
            sanitize_label_value("fastjson2,hessian2"),
            "fastjson2-hessian2"
        );
    }

    #[test]
    fn aws_zones_become_region_and_zone() {
        assert_eq!(
            locality_from_zone("us-east-1e").as_deref(),
            Some("us-east-1/us-east-1e")
        );
        assert_eq!(locality_from_zone("zone1").as_deref(), Some("zone1"));
        assert_eq!(locality_from_zone(""), None);
    }
}
