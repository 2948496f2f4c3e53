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

use crate::{ETag, Error, Expect, Object, Result};

/// A store in an S3 bucket, under a key prefix.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
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

impl S3Store {
    /// Opens `bucket` under `prefix` with the standard AWS configuration from the environment.
    pub async fn connect(bucket: &str, prefix: &str) -> Self {
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let custom_endpoint = std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL").is_some();
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(custom_endpoint)
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
        }
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
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full(prefix))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_error(prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter_map(|k| k.strip_prefix(&self.prefix))
                    .map(str::to_owned),
            );
        }
        keys.sort();
        Ok(keys)
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
