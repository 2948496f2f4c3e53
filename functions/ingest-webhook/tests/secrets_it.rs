//! The webhook secret read from Secrets Manager, served by moto on 127.0.0.1 (SeaweedFS, the
//! S3 server of the other tests, has no Secrets Manager; `scripts/services.sh start moto`
//! prints REGSYNC_IT_SECRETS_ENDPOINT).

#![cfg(feature = "it")]
#![allow(clippy::unwrap_used)]

use aws_sdk_secretsmanager::config::{Credentials, Region};

fn aws(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(
            aws_sdk_secretsmanager::config::SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "test",
            )),
        )
        .build()
}

#[tokio::test]
async fn the_secret_is_read_from_secrets_manager_by_arn() {
    let endpoint = std::env::var("REGSYNC_IT_SECRETS_ENDPOINT").expect(
        "REGSYNC_IT_SECRETS_ENDPOINT is not set: run `eval \"$(scripts/services.sh start moto)\"` first",
    );
    let aws = aws(&endpoint);
    let client = aws_sdk_secretsmanager::Client::new(&aws);
    let name = format!("regsync-webhook-{}", std::process::id());
    let created = client
        .create_secret()
        .name(&name)
        .secret_string("s3cr3t-from-secrets-manager")
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_owned();
    let secret = ingest_webhook::secret_from_secrets_manager(&aws, &arn)
        .await
        .unwrap();
    assert_eq!(secret, b"s3cr3t-from-secrets-manager");
    let missing = ingest_webhook::secret_from_secrets_manager(&aws, "no-such-secret")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("no-such-secret") && missing.contains("GetSecretValue"),
        "{missing}"
    );
}
