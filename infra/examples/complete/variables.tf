variable "aws_region" {
  description = "Region of the whole stack."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions NAME-ingest-kafka and NAME-ingest-webhook, service NAME-mcp)."
  type        = string
  default     = "regsync"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,20}$", var.name_prefix))
    error_message = "name_prefix must be 1-21 lower case letters, digits or hyphens, starting with a letter."
  }
}

variable "bucket_name" {
  description = "Name of the snapshot bucket (globally unique)."
  type        = string
}

variable "prefix" {
  description = "Key prefix of the snapshot store in the bucket (store URL s3://BUCKET/PREFIX)."
  type        = string
  default     = "regsync"
}

variable "kms_key_arn" {
  description = "KMS key for the bucket's SSE-KMS (and the functions' and tasks' kms permissions); null uses SSE-S3."
  type        = string
  default     = null
}

variable "kafka_mode" {
  description = "Where the registry events are: \"msk\" (msk_cluster_arn) or \"self-managed\" (kafka_bootstrap_servers)."
  type        = string
  default     = "msk"

  validation {
    condition     = contains(["msk", "self-managed"], var.kafka_mode)
    error_message = "kafka_mode must be \"msk\" or \"self-managed\"."
  }
}

variable "msk_cluster_arn" {
  description = "kafka_mode = msk: ARN of the MSK cluster."
  type        = string
  default     = null
}

variable "kafka_bootstrap_servers" {
  description = "kafka_mode = self-managed: bootstrap servers, \"h1:9092,h2:9092\"."
  type        = string
  default     = null
}

variable "kafka_auth" {
  description = "Broker authentication of the event source mapping: IAM (MSK), SASL_SCRAM_512, SASL_SCRAM_256 (self-managed), CLIENT_CERTIFICATE_TLS or NONE; null: IAM for msk, NONE for self-managed."
  type        = string
  default     = null
}

variable "kafka_auth_secret_arn" {
  description = "Secrets Manager ARN of the SASL/SCRAM credentials or mTLS client certificate."
  type        = string
  default     = null
}

variable "kafka_secrets_kms_key_arn" {
  description = "KMS key of kafka_auth_secret_arn, when it is a customer key."
  type        = string
  default     = null
}

variable "kafka_subnet_ids" {
  description = "self-managed brokers in a VPC: subnets of the event source mapping."
  type        = list(string)
  default     = []
}

variable "kafka_security_group_ids" {
  description = "self-managed brokers in a VPC: security groups of the event source mapping."
  type        = list(string)
  default     = []
}

variable "kafka_topics" {
  description = "Topics of the registry events (one event source mapping each)."
  type        = list(string)
  default     = ["registry-events"]
}

variable "kafka_consumer_group_id" {
  description = "Consumer group of the mapping; null uses the function name."
  type        = string
  default     = null
}

variable "create_on_failure_queue" {
  description = "Create an SQS queue (SSE-SQS) that receives the metadata of Kafka batches whose retries are exhausted."
  type        = bool
  default     = true
}

variable "ingest_kafka_zip" {
  description = "Zip of ingest-kafka from `cargo lambda build --release --arm64 --output-format zip -p ingest-kafka` (path relative to this directory)."
  type        = string
  default     = "../../../target/lambda/ingest-kafka/bootstrap.zip"
}

variable "ingest_webhook_zip" {
  description = "Zip of ingest-webhook from `cargo lambda build --release --arm64 --output-format zip -p ingest-webhook` (path relative to this directory)."
  type        = string
  default     = "../../../target/lambda/ingest-webhook/bootstrap.zip"
}

variable "convert_rules_file" {
  description = "YAML or JSON file of conversion rules passed as REGSYNC_CONVERT_RULES to both functions; null uses the built-in rules."
  type        = string
  default     = null
}

variable "webhook_authorization_type" {
  description = "Function URL authorization of ingest-webhook: NONE (public, HMAC-signed requests) or AWS_IAM."
  type        = string
  default     = "NONE"

  validation {
    condition     = contains(["NONE", "AWS_IAM"], var.webhook_authorization_type)
    error_message = "webhook_authorization_type must be NONE or AWS_IAM."
  }
}

variable "vpc_id" {
  description = "VPC of the MCP service and its internal NLB."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the MCP tasks and the NLB."
  type        = list(string)
}

variable "mcp_image" {
  description = "Image of the MCP service; its entrypoint is the regsync binary."
  type        = string
}

variable "mcp_cpu_architecture" {
  description = "CPU architecture of mcp_image: ARM64 or X86_64."
  type        = string
  default     = "ARM64"

  validation {
    condition     = contains(["ARM64", "X86_64"], var.mcp_cpu_architecture)
    error_message = "mcp_cpu_architecture must be ARM64 or X86_64."
  }
}

variable "istiod_cidr_blocks" {
  description = "CIDR blocks of istiod (pods or nodes) allowed to reach the MCP service."
  type        = list(string)
  default     = []
}

variable "istiod_security_group_ids" {
  description = "Security groups of istiod allowed to reach the MCP service."
  type        = list(string)
  default     = []
}

variable "mcp_min_capacity" {
  description = "Fewest MCP tasks."
  type        = number
  default     = 2
}

variable "mcp_max_capacity" {
  description = "Most MCP tasks under CPU autoscaling."
  type        = number
  default     = 6
}

variable "enable_deletion_protection" {
  description = "Deletion protection of the NLB (false lets `terraform destroy` remove it)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of every log group in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags of every resource (also the provider's default_tags)."
  type        = map(string)
  default = {
    "app.kubernetes.io/part-of" = "regsync"
  }
}
