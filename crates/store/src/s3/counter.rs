//! Counting the HTTP requests an S3 client sends (every attempt, retries included), for the
//! benchmarks that must report requests per change rather than guess them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;

/// An interceptor that counts requests and the body bytes they send; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    requests: Arc<AtomicU64>,
    body_bytes: Arc<AtomicU64>,
}

impl RequestCounter {
    /// Requests sent so far.
    pub fn get(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Request body bytes sent so far (object contents of PUTs, as transmitted).
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes.load(Ordering::Relaxed)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "regsync-request-counter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let body = context.request().body().content_length().unwrap_or(0);
        self.body_bytes.fetch_add(body, Ordering::Relaxed);
        Ok(())
    }
}
