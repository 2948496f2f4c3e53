//! Secrets Manager reads at a function's cold start: the webhook's key
//! (`REGSYNC_WEBHOOK_SECRET_ARN`) and a Kafka SCRAM login (`REGSYNC_KAFKA_SASL_SECRET_ARN`,
//! the JSON secret MSK's SCRAM authentication uses).

use crate::InitError;

/// Reads secret `id` (ARN or name): its string, or its binary value.
pub async fn read(aws: &aws_config::SdkConfig, id: &str) -> Result<Vec<u8>, InitError> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| InitError::Secret {
            id: id.to_owned(),
            why: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
    match (out.secret_string(), out.secret_binary()) {
        (Some(s), _) if !s.is_empty() => Ok(s.as_bytes().to_vec()),
        (_, Some(b)) if !b.as_ref().is_empty() => Ok(b.as_ref().to_vec()),
        _ => Err(InitError::Secret {
            id: id.to_owned(),
            why: "the secret is empty".into(),
        }),
    }
}

/// A SCRAM login kept as MSK keeps it: `{"username": "...", "password": "..."}` (the secret an
/// MSK cluster associates, and an event source mapping's `SASL_SCRAM_*_AUTH` reads).
pub async fn scram_login(
    aws: &aws_config::SdkConfig,
    id: &str,
) -> Result<(String, String), InitError> {
    let bytes = read(aws, id).await?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let field = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
    match (field("username"), field("password")) {
        (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => Ok((u.to_owned(), p.to_owned())),
        _ => Err(InitError::Secret {
            id: id.to_owned(),
            why: "it is not the JSON {\"username\": \"...\", \"password\": \"...\"} MSK's SCRAM \
                  secrets hold"
                .into(),
        }),
    }
}
