# A whole regsync stack: the snapshot bucket, ingest-kafka on MSK or self-managed Kafka,
# ingest-webhook behind a Function URL, and the MCP service istiod reads.

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = var.tags
  }
}

locals {
  convert_rules = var.convert_rules_file == null ? null : file(var.convert_rules_file)
}

module "bucket" {
  source = "../../modules/snapshot-bucket"

  bucket_name = var.bucket_name
  prefix      = var.prefix
  kms_key_arn = var.kms_key_arn
  tags        = var.tags
}

# Metadata of Kafka batches the mapping gave up on (the records themselves stay in Kafka).
resource "aws_sqs_queue" "on_failure" {
  count = var.create_on_failure_queue ? 1 : 0

  name                      = "${var.name_prefix}-ingest-kafka-on-failure"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
  tags                      = var.tags
}

module "ingest_kafka" {
  source = "../../modules/sync-function"

  name     = "${var.name_prefix}-ingest-kafka"
  function = "ingest-kafka"
  zip_path = var.ingest_kafka_zip

  store_url         = module.bucket.store_url
  bucket_arn        = module.bucket.bucket_arn
  prefix            = module.bucket.prefix
  store_kms_key_arn = module.bucket.kms_key_arn
  convert_rules     = local.convert_rules

  kafka_mode                = var.kafka_mode
  msk_cluster_arn           = var.kafka_mode == "msk" ? var.msk_cluster_arn : null
  kafka_bootstrap_servers   = var.kafka_mode == "self-managed" ? var.kafka_bootstrap_servers : null
  kafka_auth                = var.kafka_auth
  kafka_auth_secret_arn     = var.kafka_auth_secret_arn
  kafka_secrets_kms_key_arn = var.kafka_secrets_kms_key_arn
  kafka_subnet_ids          = var.kafka_mode == "self-managed" ? var.kafka_subnet_ids : []
  kafka_security_group_ids  = var.kafka_mode == "self-managed" ? var.kafka_security_group_ids : []
  kafka_topics              = var.kafka_topics
  kafka_consumer_group_id   = var.kafka_consumer_group_id

  on_failure_destination_arn = one(aws_sqs_queue.on_failure[*].arn)
  log_retention_days         = var.log_retention_days
  tags                       = var.tags
}

module "ingest_webhook" {
  source = "../../modules/sync-function"

  name     = "${var.name_prefix}-ingest-webhook"
  function = "ingest-webhook"
  zip_path = var.ingest_webhook_zip

  store_url         = module.bucket.store_url
  bucket_arn        = module.bucket.bucket_arn
  prefix            = module.bucket.prefix
  store_kms_key_arn = module.bucket.kms_key_arn
  convert_rules     = local.convert_rules

  webhook_authorization_type = var.webhook_authorization_type
  log_retention_days         = var.log_retention_days
  tags                       = var.tags
}

module "mcp" {
  source = "../../modules/mcp-server"

  name             = "${var.name_prefix}-mcp"
  cluster_name     = var.name_prefix
  image            = var.mcp_image
  cpu_architecture = var.mcp_cpu_architecture

  vpc_id                     = var.vpc_id
  subnet_ids                 = var.subnet_ids
  allowed_cidr_blocks        = var.istiod_cidr_blocks
  allowed_security_group_ids = var.istiod_security_group_ids

  store_url         = module.bucket.store_url
  bucket_arn        = module.bucket.bucket_arn
  prefix            = module.bucket.prefix
  store_kms_key_arn = module.bucket.kms_key_arn

  min_capacity               = var.mcp_min_capacity
  max_capacity               = var.mcp_max_capacity
  enable_deletion_protection = var.enable_deletion_protection
  log_retention_days         = var.log_retention_days
  tags                       = var.tags
}
