output "store_url" {
  description = "The snapshot store (REGSYNC_STORE of every component; `regsync snapshot get --store` takes it too)."
  value       = module.bucket.store_url
}

output "webhook_url" {
  description = "Function URL of ingest-webhook: where the registries' bridge posts signed events."
  value       = module.ingest_webhook.function_url
}

output "webhook_secret_arn" {
  description = "The webhook's HMAC secret; put its value with `aws secretsmanager put-secret-value --secret-id ARN --secret-string KEY` before the first request."
  value       = module.ingest_webhook.webhook_secret_arn
}

output "ingest_kafka_function" {
  description = "Name of the ingest-kafka function."
  value       = module.ingest_kafka.function_name
}

output "on_failure_queue_url" {
  description = "SQS queue receiving the metadata of Kafka batches whose retries are exhausted."
  value       = one(aws_sqs_queue.on_failure[*].url)
}

output "mcp_nlb_dns_name" {
  description = "DNS name of the MCP service's internal NLB."
  value       = module.mcp.nlb_dns_name
}

output "istiod_config_source" {
  description = "meshConfig.configSources[].address for istiod."
  value       = module.mcp.config_source_address
}
