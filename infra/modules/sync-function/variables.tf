# ---- the function ------------------------------------------------------------------------------

variable "name" {
  description = "Name of the Lambda function (also of its IAM role and its log group /aws/lambda/NAME)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,56}$", var.name))
    error_message = "name must be 1-56 characters of letters, digits, hyphens and underscores (the IAM role adds a suffix)."
  }
}

variable "function" {
  description = "Which regsync Lambda binary this is: ingest-kafka (Kafka event source mapping) or ingest-webhook (Function URL)."
  type        = string

  validation {
    condition     = contains(["ingest-kafka", "ingest-webhook"], var.function)
    error_message = "function must be \"ingest-kafka\" or \"ingest-webhook\"."
  }
}

variable "zip_path" {
  description = "Path of the deployment zip built by `cargo lambda build --release --arm64 --output-format zip -p FUNCTION` (target/lambda/FUNCTION/bootstrap.zip). Terraform never builds it; it must exist at plan time."
  type        = string

  validation {
    condition     = endswith(var.zip_path, ".zip")
    error_message = "zip_path must name a .zip file."
  }
}

variable "memory_size" {
  description = "Memory of the function in MB (CPU scales with it)."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number between 128 and 10240."
  }
}

variable "timeout" {
  description = "Timeout of one invocation in seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number between 1 and 900."
  }
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency: an upper bound on parallel invocations (every invocation competes for the same conditional swap of the store root), and a guarantee out of the account pool. -1 removes the reservation; 0 stops the function."
  type        = number
  default     = 10

  validation {
    condition     = var.reserved_concurrent_executions >= -1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions
    error_message = "reserved_concurrent_executions must be a whole number >= -1."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing mode: Active samples and traces invocations (the role gets the X-Ray write permissions), PassThrough only forwards upstream trace headers."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be \"Active\" or \"PassThrough\"."
  }
}

variable "application_log_level" {
  description = "Lambda's application log level (the JSON log format is always used; lambda_runtime's subscriber follows it)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.application_log_level)
    error_message = "application_log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "log_retention_days" {
  description = "Retention of the log group /aws/lambda/NAME in days (0 keeps logs forever)."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's values: 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key ARN that encrypts the log group; null uses CloudWatch's own encryption. The key policy must allow the logs service of this region."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "environment_kms_key_arn" {
  description = "KMS key ARN that encrypts the function's environment variables; null uses the Lambda service key (the environment holds no secret: the webhook secret is referenced by ARN)."
  type        = string
  default     = null

  validation {
    condition     = var.environment_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.environment_kms_key_arn))
    error_message = "environment_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "code_signing_config_arn" {
  description = "ARN of a Lambda code signing config; null deploys unsigned zips."
  type        = string
  default     = null
}

variable "vpc_subnet_ids" {
  description = "Subnets to run the function itself in. Only needed when it must reach something private: a kafka:// dead-letter topic, or S3/Secrets Manager through VPC endpoints only. (The Kafka event source mapping has its own network settings.)"
  type        = list(string)
  default     = []
}

variable "vpc_security_group_ids" {
  description = "Security groups of the function when vpc_subnet_ids is set."
  type        = list(string)
  default     = []
}

# ---- the snapshot store ------------------------------------------------------------------------

variable "store_url" {
  description = "REGSYNC_STORE: the snapshot store, s3://BUCKET/PREFIX (the snapshot-bucket module's store_url)."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^/].*[^/]$|^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^/]$", var.store_url))
    error_message = "store_url must be s3://BUCKET/PREFIX with a non-empty prefix without trailing slash."
  }
}

variable "bucket_arn" {
  description = "ARN of the snapshot bucket (for the IAM policy)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN (arn:aws:s3:::BUCKET)."
  }
}

variable "prefix" {
  description = "Key prefix of the snapshot store in the bucket (the part of store_url after the bucket); the function may read and write only under PREFIX/."
  type        = string

  validation {
    condition     = can(regex("^[^/](.*[^/])?$", var.prefix))
    error_message = "prefix must be non-empty, without leading or trailing slash."
  }
}

variable "store_kms_key_arn" {
  description = "KMS key of the bucket's SSE-KMS (the snapshot-bucket module's kms_key_arn); the role then gets kms:Decrypt and kms:GenerateDataKey on it. null for SSE-S3."
  type        = string
  default     = null
}

# ---- what the code reads (only set when given, so the code's defaults apply) -------------------

variable "convert_rules" {
  description = "REGSYNC_CONVERT_RULES: conversion rules as YAML or JSON text (e.g. file(\"rules.yaml\")); null leaves the variable unset (built-in rules)."
  type        = string
  default     = null
}

variable "write_attempts" {
  description = "REGSYNC_WRITE_ATTEMPTS: conditional-swap attempts before a batch fails as retryable; null leaves the code's default (16)."
  type        = number
  default     = null

  validation {
    condition     = var.write_attempts == null || try(var.write_attempts >= 1 && floor(var.write_attempts) == var.write_attempts, false)
    error_message = "write_attempts must be null or a whole number >= 1."
  }
}

variable "max_record_bytes" {
  description = "REGSYNC_MAX_RECORD_BYTES: largest record or event accepted, in bytes; null leaves the code's default (16777216)."
  type        = number
  default     = null

  validation {
    condition     = var.max_record_bytes == null || try(var.max_record_bytes >= 1 && floor(var.max_record_bytes) == var.max_record_bytes, false)
    error_message = "max_record_bytes must be null or a whole number >= 1."
  }
}

variable "archive_url" {
  description = "REGSYNC_ARCHIVE_URL: where every received record is archived before it is applied (what `regsync replay` reads). \"store\" is PREFIX/archive/ of the snapshot store; s3://BUCKET/PREFIX archives under that store's archive/ (the role gets s3:PutObject there); null or \"\" disables the archive."
  type        = string
  default     = "store"

  validation {
    condition     = var.archive_url == null || try(var.archive_url == "" || var.archive_url == "store" || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", var.archive_url)), false)
    error_message = "archive_url must be null, \"\", \"store\" or s3://BUCKET/PREFIX."
  }
}

variable "dead_letter_url" {
  description = "REGSYNC_DEAD_LETTER_URL (ingest-kafka only): null or \"\" keeps dead letters under PREFIX/dead-letter/ of the snapshot store; s3://BUCKET/PREFIX writes them under that store's dead-letter/ (the role gets s3:PutObject there); kafka://HOST:PORT[,HOST:PORT]/TOPIC produces them to a topic (the function then needs vpc_subnet_ids reaching the brokers), over SASL_SSL with the mapping's SCRAM secret when kafka_auth is SASL_SCRAM_512/256, else plaintext; IAM and mTLS are refused."
  type        = string
  default     = null

  validation {
    condition     = var.dead_letter_url == null || try(var.dead_letter_url == "" || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", var.dead_letter_url)) || can(regex("^kafka://[^/]+/[^/]+$", var.dead_letter_url)), false)
    error_message = "dead_letter_url must be null, \"\", s3://BUCKET/PREFIX or kafka://BROKERS/TOPIC."
  }
}

variable "webhook_registries" {
  description = "REGSYNC_WEBHOOK_REGISTRIES (ingest-webhook only): the registries whose events the webhook takes (others get 403), or [\"*\"] for any; null leaves the code's default, the registries named in convert_rules' namespaces (any when it names none)."
  type        = list(string)
  default     = null

  validation {
    condition     = var.webhook_registries == null || try(length(var.webhook_registries) > 0 && alltrue([for r in var.webhook_registries : r == "*" || can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", r))]), false)
    error_message = "webhook_registries must be null, [\"*\"], or a non-empty list of registry names (DNS labels: lowercase letters, digits and '-')."
  }
}

variable "webhook_max_body_bytes" {
  description = "REGSYNC_WEBHOOK_MAX_BODY_BYTES (ingest-webhook only): body limit in bytes; null leaves the code's default (1048576). Function URLs cap requests at 6 MB."
  type        = number
  default     = null

  validation {
    condition     = var.webhook_max_body_bytes == null || try(var.webhook_max_body_bytes >= 1 && var.webhook_max_body_bytes <= 6291456 && floor(var.webhook_max_body_bytes) == var.webhook_max_body_bytes, false)
    error_message = "webhook_max_body_bytes must be null or a whole number between 1 and 6291456."
  }
}

# ---- ingest-kafka: the event source mapping ----------------------------------------------------

variable "kafka_mode" {
  description = "ingest-kafka only: \"msk\" (Amazon MSK, msk_cluster_arn) or \"self-managed\" (kafka_bootstrap_servers)."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_mode == null || try(contains(["msk", "self-managed"], var.kafka_mode), false)
    error_message = "kafka_mode must be null, \"msk\" or \"self-managed\"."
  }
}

variable "msk_cluster_arn" {
  description = "kafka_mode = msk: ARN of the MSK cluster (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID)."
  type        = string
  default     = null

  validation {
    condition     = var.msk_cluster_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kafka:[a-z0-9-]+:[0-9]{12}:cluster/[^/]+/[^/]+$", var.msk_cluster_arn))
    error_message = "msk_cluster_arn must be an MSK cluster ARN (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID)."
  }
}

variable "kafka_bootstrap_servers" {
  description = "kafka_mode = self-managed: bootstrap servers, comma-separated host:port (\"h1:9092,h2:9092\")."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_bootstrap_servers == null || can(regex("^[^,:\\s]+:[0-9]+(,[^,:\\s]+:[0-9]+)*$", var.kafka_bootstrap_servers))
    error_message = "kafka_bootstrap_servers must be comma-separated host:port pairs, e.g. \"h1:9092,h2:9092\"."
  }
}

variable "kafka_topics" {
  description = "ingest-kafka only: the topics of registry events. Lambda maps one topic per event source mapping, so each topic gets its own mapping."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for t in var.kafka_topics : can(regex("^[A-Za-z0-9._-]{1,249}$", t))])
    error_message = "kafka_topics must be valid Kafka topic names."
  }
}

variable "kafka_consumer_group_id" {
  description = "Consumer group of the mapping(s); null uses the function name. With several topics each mapping gets GROUP-TOPIC (Lambda wants one group per mapping)."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_consumer_group_id == null || can(regex("^[a-zA-Z0-9/*:_+=.@-]{1,200}$", var.kafka_consumer_group_id))
    error_message = "kafka_consumer_group_id must be 1-200 characters of letters, digits and -/*:_+=.@."
  }
}

variable "kafka_auth" {
  description = "How the mapping authenticates to the brokers: IAM (MSK only), SASL_SCRAM_512, SASL_SCRAM_256 (self-managed only), CLIENT_CERTIFICATE_TLS, or NONE. null: IAM for msk, NONE for self-managed."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_auth == null || try(contains(["IAM", "SASL_SCRAM_512", "SASL_SCRAM_256", "CLIENT_CERTIFICATE_TLS", "NONE"], var.kafka_auth), false)
    error_message = "kafka_auth must be null, IAM, SASL_SCRAM_512, SASL_SCRAM_256, CLIENT_CERTIFICATE_TLS or NONE."
  }
}

variable "kafka_auth_secret_arn" {
  description = "Secrets Manager ARN of the SASL/SCRAM credentials or the mTLS client certificate (kafka_auth SASL_SCRAM_* or CLIENT_CERTIFICATE_TLS)."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_auth_secret_arn == null || can(regex("^arn:aws[a-zA-Z-]*:secretsmanager:", var.kafka_auth_secret_arn))
    error_message = "kafka_auth_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "kafka_server_root_ca_secret_arn" {
  description = "self-managed only: Secrets Manager ARN of the brokers' root CA certificate (SERVER_ROOT_CA_CERTIFICATE), when their TLS certificates are not publicly trusted."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_server_root_ca_secret_arn == null || can(regex("^arn:aws[a-zA-Z-]*:secretsmanager:", var.kafka_server_root_ca_secret_arn))
    error_message = "kafka_server_root_ca_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "kafka_secrets_kms_key_arn" {
  description = "KMS key that encrypts kafka_auth_secret_arn / kafka_server_root_ca_secret_arn (MSK SCRAM secrets must use a customer key); the role gets kms:Decrypt on it."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_secrets_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kafka_secrets_kms_key_arn))
    error_message = "kafka_secrets_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "kafka_subnet_ids" {
  description = "self-managed only: subnets from which the mapping reaches brokers inside a VPC (VPC_SUBNET). Empty: the brokers are reached over the internet. (MSK mappings use the cluster's own subnets.)"
  type        = list(string)
  default     = []
}

variable "kafka_security_group_ids" {
  description = "self-managed only: security groups of the mapping's network interfaces (VPC_SECURITY_GROUP); required with kafka_subnet_ids."
  type        = list(string)
  default     = []
}

variable "kafka_batch_size" {
  description = "Most records in one invocation (they are applied with one snapshot publish)."
  type        = number
  default     = 500

  validation {
    condition     = var.kafka_batch_size >= 1 && var.kafka_batch_size <= 10000 && floor(var.kafka_batch_size) == var.kafka_batch_size
    error_message = "kafka_batch_size must be a whole number between 1 and 10000."
  }
}

variable "kafka_maximum_batching_window_in_seconds" {
  description = "How long the mapping gathers records before invoking (larger batches mean fewer snapshot publishes)."
  type        = number
  default     = 1

  validation {
    condition     = var.kafka_maximum_batching_window_in_seconds >= 0 && var.kafka_maximum_batching_window_in_seconds <= 300 && floor(var.kafka_maximum_batching_window_in_seconds) == var.kafka_maximum_batching_window_in_seconds
    error_message = "kafka_maximum_batching_window_in_seconds must be a whole number between 0 and 300."
  }
}

variable "kafka_starting_position" {
  description = "Where a new consumer group starts: TRIM_HORIZON (everything retained; replays are idempotent, older events are `stale`) or LATEST."
  type        = string
  default     = "TRIM_HORIZON"

  validation {
    condition     = contains(["LATEST", "TRIM_HORIZON"], var.kafka_starting_position)
    error_message = "kafka_starting_position must be LATEST or TRIM_HORIZON."
  }
}

variable "kafka_enabled" {
  description = "Whether the event source mapping(s) poll."
  type        = bool
  default     = true
}

variable "on_failure_destination_arn" {
  description = "ingest-kafka only: where the mapping sends a batch's metadata (S3: the records too) once retries are exhausted: an S3 bucket, SQS queue or SNS topic ARN. The role gets s3:PutObject+s3:ListBucket, sqs:SendMessage or sns:Publish on it. null: no destination."
  type        = string
  default     = null

  validation {
    condition     = var.on_failure_destination_arn == null || can(regex("^arn:aws[a-zA-Z-]*:(s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]|sqs:[a-z0-9-]+:[0-9]{12}:.+|sns:[a-z0-9-]+:[0-9]{12}:.+)$", var.on_failure_destination_arn))
    error_message = "on_failure_destination_arn must be an S3 bucket, SQS queue or SNS topic ARN."
  }
}

variable "on_failure_destination_kms_key_arn" {
  description = "KMS key of an encrypted on-failure SQS queue, SNS topic or S3 bucket; the role gets kms:GenerateDataKey and kms:Decrypt on it."
  type        = string
  default     = null

  validation {
    condition     = var.on_failure_destination_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.on_failure_destination_kms_key_arn))
    error_message = "on_failure_destination_kms_key_arn must be null or a KMS key ARN."
  }
}

# ---- ingest-webhook: the Function URL and its secret -------------------------------------------

variable "webhook_authorization_type" {
  description = "Function URL authorization: NONE (public URL; every request must carry the HMAC-SHA256 signature made with the shared secret) or AWS_IAM (SigV4-signed requests from webhook_invoke_principals, and the HMAC signature as well)."
  type        = string
  default     = "NONE"

  validation {
    condition     = contains(["NONE", "AWS_IAM"], var.webhook_authorization_type)
    error_message = "webhook_authorization_type must be NONE or AWS_IAM."
  }
}

variable "webhook_invoke_principals" {
  description = "webhook_authorization_type = AWS_IAM: account IDs or IAM principal ARNs allowed to call the URL (resource policy; callers in this account can instead be granted lambda:InvokeFunctionUrl and lambda:InvokeFunction by their own policies)."
  type        = list(string)
  default     = []
}

variable "webhook_secret_arn" {
  description = "Secrets Manager ARN of an existing secret whose SecretString is the webhook's HMAC shared secret. null: the module creates an empty secret (the value is put out of band, so it never enters Terraform state)."
  type        = string
  default     = null

  validation {
    condition     = var.webhook_secret_arn == null || can(regex("^arn:aws[a-zA-Z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.webhook_secret_arn))
    error_message = "webhook_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "webhook_secret_kms_key_arn" {
  description = "KMS key that encrypts the webhook secret (of the secret created here, or of webhook_secret_arn); the role gets kms:Decrypt on it. null: the created secret uses aws/secretsmanager."
  type        = string
  default     = null

  validation {
    condition     = var.webhook_secret_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.webhook_secret_kms_key_arn))
    error_message = "webhook_secret_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "webhook_secret_recovery_window_in_days" {
  description = "Recovery window of the created secret when it is deleted (0 deletes at once)."
  type        = number
  default     = 7

  validation {
    condition     = var.webhook_secret_recovery_window_in_days == 0 || (var.webhook_secret_recovery_window_in_days >= 7 && var.webhook_secret_recovery_window_in_days <= 30)
    error_message = "webhook_secret_recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "tags" {
  description = "Tags added to every taggable resource."
  type        = map(string)
  default     = {}
}
