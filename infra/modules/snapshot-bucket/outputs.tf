output "bucket" {
  description = "Name of the snapshot bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the snapshot bucket."
  value       = aws_s3_bucket.this.arn
}

output "prefix" {
  description = "Key prefix of the snapshot store inside the bucket."
  value       = var.prefix
}

output "store_url" {
  description = "The snapshot store URL, s3://BUCKET/PREFIX: the value of REGSYNC_STORE for the functions and the MCP service."
  value       = "s3://${aws_s3_bucket.this.id}/${var.prefix}"
}

output "dead_letter_prefix" {
  description = "Key prefix of the dead letters (PREFIX/dead-letter/)."
  value       = local.dead_letter_prefix
}

output "archive_prefix" {
  description = "Key prefix of the record archive (PREFIX/archive/)."
  value       = local.archive_prefix
}

output "kms_key_arn" {
  description = "KMS key ARN of SSE-KMS, or null for SSE-S3."
  value       = var.kms_key_arn
}
