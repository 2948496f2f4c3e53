//! `regsync apply`: a snapshot's ServiceEntries written to a cluster by server-side apply, for
//! meshes whose istiod cannot take regsync as an MCP config source (managed meshes).
//!
//! Each entry is applied with field manager [`FIELD_MANAGER`] and `force` (regsync owns these
//! objects; another manager's conflicting fields are taken over). Then, in every namespace
//! regsync writes to, the objects labelled [`MANAGED_BY_LABEL`]`=`[`MANAGED_BY`] that the
//! snapshot no longer has are deleted. Objects without the label are never touched.

use std::collections::{BTreeMap, BTreeSet};

use std::path::Path;

use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use regsync_model::Entry;

use crate::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL, ServiceEntry, to_resource};

/// What an apply did (or, with `dry_run`, would do), as `namespace/name`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Entries applied.
    pub applied: Vec<String>,
    /// Owned entries deleted because the snapshot no longer has them.
    pub pruned: Vec<String>,
}

/// Why an apply stopped. Everything applied before the failure stays applied; running again
/// converges.
#[derive(Debug, thiserror::Error)]
#[error("{action} {target}: {why}")]
pub struct ApplyError {
    /// `apply`, `list` or `delete`.
    pub action: &'static str,
    /// `namespace/name`, or the namespace listed.
    pub target: String,
    /// The API server's answer, and what to do.
    pub why: String,
}

fn api_error(action: &'static str, target: String, e: kube::Error) -> ApplyError {
    let why = match &e {
        kube::Error::Api(s) if s.code == 403 => format!(
            "{}; the service account needs {} on serviceentries.networking.istio.io in that namespace (infra/k8s/apply/rbac)",
            s.message,
            match action {
                "list" => "list",
                "delete" => "delete",
                _ => "patch",
            }
        ),
        kube::Error::Api(s) if s.code == 404 && action != "delete" => format!(
            "{}; is Istio's ServiceEntry CRD (networking.istio.io/v1) installed, and does the namespace exist?",
            s.message
        ),
        kube::Error::Api(s) => format!("{} ({} {})", s.message, s.code, s.reason),
        other => format!("{other}; check the kubeconfig's server address and credentials"),
    };
    ApplyError {
        action,
        target,
        why,
    }
}

/// A client from `kubeconfig` (its `context`, or its current one); without a file, from
/// `$KUBECONFIG` or `~/.kube/config`, then the in-cluster service account. The error says what
/// was tried.
pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<Client, String> {
    // Two TLS backends are linked (the AWS SDK's and kube's); name the process default, as the
    // MCP server and the bridge do, or rustls cannot choose and panics.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| format!("cannot read the kubeconfig {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?
        }
        None if context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| format!("cannot load the kubeconfig ($KUBECONFIG or ~/.kube/config): {e}"))?,
        None => kube::Config::infer().await.map_err(|e| {
            format!("no kubeconfig ($KUBECONFIG, ~/.kube/config) and not in a cluster ({e}); pass --kubeconfig FILE")
        })?,
    };
    Client::try_from(config).map_err(|e| format!("cannot build the Kubernetes client: {e}"))
}

/// Applies `entries` and prunes what regsync owns and they no longer hold, in their namespaces
/// and in `namespaces`. With `dry_run` the API server validates every request and changes
/// nothing.
pub async fn apply(
    client: &Client,
    entries: &[Entry],
    namespaces: &BTreeSet<String>,
    dry_run: bool,
) -> Result<Report, ApplyError> {
    let mut report = Report::default();
    let mut wanted: BTreeMap<String, BTreeSet<String>> = namespaces
        .iter()
        .map(|ns| (ns.clone(), BTreeSet::new()))
        .collect();
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = dry_run;
    for entry in entries {
        let target = format!("{}/{}", entry.namespace, entry.name);
        let api: Api<ServiceEntry> = Api::namespaced(client.clone(), &entry.namespace);
        api.patch(&entry.name, &params, &Patch::Apply(to_resource(entry)))
            .await
            .map_err(|e| api_error("apply", target.clone(), e))?;
        wanted
            .entry(entry.namespace.clone())
            .or_default()
            .insert(entry.name.clone());
        report.applied.push(target);
    }
    let owned = ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    let delete = DeleteParams {
        dry_run,
        ..DeleteParams::default()
    };
    for (ns, names) in &wanted {
        let api: Api<ServiceEntry> = Api::namespaced(client.clone(), ns);
        // Metadata only: an owned object whose spec this build cannot read is still pruned.
        let listed = api
            .list_metadata(&owned)
            .await
            .map_err(|e| api_error("list", ns.clone(), e))?;
        for item in listed.items {
            let Some(name) = item.metadata.name else {
                continue;
            };
            if names.contains(&name) {
                continue;
            }
            let target = format!("{ns}/{name}");
            match api.delete(&name, &delete).await {
                Ok(_) => report.pruned.push(target),
                // Gone meanwhile: what pruning wanted.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(api_error("delete", target, e)),
            }
        }
    }
    Ok(report)
}
