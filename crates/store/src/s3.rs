//! `s3://bucket/prefix`: objects in S3 or an S3-compatible server, with S3's conditional writes
//! (`If-None-Match: *` to create, `If-Match: <etag>` to replace; a lost race is HTTP 412).
//!
//! Credentials and region come from the standard AWS chain. The endpoint is AWS unless
//! `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`) names another, in which case path-style
//! addressing is used, as MinIO, moto and other local servers need.

mod counter;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

pub use counter::RequestCounter;

use crate::{ContentCache, ETag, Error, Expect, Object, ObjectInfo, Result};

/// A store in an S3 bucket, under a key prefix.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    cache: ContentCache,
}

fn s3_error<E>(key: &str, err: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    match status {
        // 412: the condition failed; 409: a concurrent conditional write to the same key.
        Some(412 | 409) => Error::Conflict {
            key: key.to_owned(),
        },
        _ => Error::S3 {
            key: key.to_owned(),
            status,
            source: Box::new(err),
        },
    }
}

/// The longest one S3 request attempt may take. The SDK sets no limit on reads by default, so
/// a server that accepts the connection and never answers held a batch until the Lambda
/// function's own timeout (found under the Lambda Runtime Interface Emulator): the invocation
/// then died without a word, and the next one started cold. Snapshot objects are small (pages
/// of at most a few MB), so a healthy S3 answers well within this.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// The longest one S3 request may take over all its attempts (the SDK retries up to 3 times):
/// after this the batch fails as `StoreUnavailable` and is redelivered.
pub const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(6);

/// Every S3 request bounded: connecting (the SDK's 3.1 s), each attempt, the whole request.
pub fn timeouts() -> aws_sdk_s3::config::timeout::TimeoutConfig {
    aws_sdk_s3::config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_millis(3100))
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

impl S3Store {
    /// Opens `bucket` under `prefix` with the standard AWS configuration from the environment,
    /// every request bounded by [`timeouts`].
    pub async fn connect(bucket: &str, prefix: &str) -> Self {
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let custom_endpoint = std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL").is_some();
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(custom_endpoint)
            .timeout_config(timeouts())
            .build();
        Self::with_client(aws_sdk_s3::Client::from_conf(config), bucket, prefix)
    }

    /// A store over an existing client.
    pub fn with_client(client: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        Self {
            client,
            bucket: bucket.to_owned(),
            prefix,
            cache: ContentCache::default(),
        }
    }

    /// The same store with `cache` for its content-addressed objects (e.g. a budget of 0).
    pub fn with_cache(mut self, cache: ContentCache) -> Self {
        self.cache = cache;
        self
    }

    /// Content-addressed objects this store (and its clones) read or wrote.
    pub fn content_cache(&self) -> &ContentCache {
        &self.cache
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Object>> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(s3_error(key, e)),
        };
        let etag = ETag(out.e_tag().unwrap_or_default().to_owned());
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| Error::S3 {
                key: key.to_owned(),
                status: None,
                source: Box::new(e),
            })?
            .into_bytes()
            .to_vec();
        Ok(Some(Object { bytes, etag }))
    }

    pub(crate) async fn head(&self, key: &str) -> Result<Option<ETag>> {
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await;
        match out {
            Ok(o) => Ok(Some(ETag(o.e_tag().unwrap_or_default().to_owned()))),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(s3_error(key, e)),
        }
    }

    pub(crate) async fn put(&self, key: &str, bytes: Vec<u8>, expect: Expect) -> Result<ETag> {
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .body(ByteStream::from(bytes));
        let req = match &expect {
            Expect::Absent => req.if_none_match("*"),
            Expect::Version(etag) => req.if_match(&etag.0),
        };
        match req.send().await {
            Ok(out) => Ok(ETag(out.e_tag().unwrap_or_default().to_owned())),
            // Replacing an object that does not exist: S3 answers 404 to If-Match.
            Err(e)
                if matches!(expect, Expect::Version(_))
                    && e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
            {
                Err(Error::Conflict {
                    key: key.to_owned(),
                })
            }
            Err(e) => Err(s3_error(key, e)),
        }
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let listed = self.list_modified(prefix).await?;
        Ok(listed.into_iter().map(|info| info.key).collect())
    }

    /// Every object under `prefix` with S3's `LastModified` and size, over all result pages. An
    /// object listed without a time is given the current one, so it counts as young.
    pub(crate) async fn list_modified(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full(prefix))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_error(prefix, e))?;
            for object in page.contents() {
                let Some(key) = object.key().and_then(|k| k.strip_prefix(&self.prefix)) else {
                    continue;
                };
                let modified = object
                    .last_modified()
                    .and_then(|t| std::time::SystemTime::try_from(*t).ok())
                    .unwrap_or_else(std::time::SystemTime::now);
                out.push(ObjectInfo {
                    key: key.to_owned(),
                    modified,
                    size: object
                        .size()
                        .and_then(|n| u64::try_from(n).ok())
                        .unwrap_or(0),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| s3_error(key, e))
    }
}
