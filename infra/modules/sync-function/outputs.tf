output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's execution role (to attach more policies)."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "The function's log group, /aws/lambda/NAME."
  value       = aws_cloudwatch_log_group.this.name
}

output "environment_variable_names" {
  description = "Names of the environment variables set on the function (the values are in the function's configuration)."
  value       = sort(keys(local.environment))
}

output "event_source_mapping_uuids" {
  description = "ingest-kafka: UUID of the event source mapping of each topic."
  value       = { for t, m in aws_lambda_event_source_mapping.kafka : t => m.uuid }
}

output "consumer_group_ids" {
  description = "ingest-kafka: consumer group of each topic's mapping."
  value       = local.kafka_group_ids
}

output "function_url" {
  description = "ingest-webhook: the Function URL (https://...lambda-url.REGION.on.aws/); null for ingest-kafka."
  value       = one(aws_lambda_function_url.webhook[*].function_url)
}

output "webhook_secret_arn" {
  description = "ingest-webhook: ARN of the HMAC secret (REGSYNC_WEBHOOK_SECRET_ARN). A secret created here is empty until `aws secretsmanager put-secret-value --secret-id ARN --secret-string KEY`."
  value       = local.webhook_secret_arn
}
