//! The `ingest-webhook` Lambda binary: configuration and secret at cold start, then one request
//! per invocation.

// The store's conditional-write futures nest deeply; their layout needs more than 128 levels.
#![recursion_limit = "256"]

use lambda_runtime::{Error, LambdaEvent, service_fn};

// A batch allocates and frees many small objects; mimalloc cuts the 10,000-record handler time
// by a third against glibc malloc (functions/ingest-kafka/benches/batch.rs).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let ctx = match ingest_webhook::Context::from_lookup(|k| std::env::var(k).ok()).await {
        Ok(ctx) => ctx,
        Err(e) => {
            // Shown in the function's log (and by `cargo lambda watch`) as written, not as Debug.
            eprintln!("ingest-webhook cannot start: {e}");
            std::process::exit(1);
        }
    };
    let ctx = &ctx;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        ingest_webhook::handle(ctx, event)
    }))
    .await
}
