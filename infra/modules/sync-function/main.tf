# One regsync Lambda function (ingest-kafka or ingest-webhook) with its role, log group and
# trigger: Kafka event source mappings for ingest-kafka, a Function URL (and the HMAC secret in
# Secrets Manager) for ingest-webhook. The zip is built outside Terraform by cargo lambda.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.region
  account   = data.aws_caller_identity.current.account_id

  is_kafka   = var.function == "ingest-kafka"
  is_webhook = var.function == "ingest-webhook"
  is_msk     = local.is_kafka && var.kafka_mode == "msk"
  is_self    = local.is_kafka && var.kafka_mode == "self-managed"

  kafka_auth       = var.kafka_auth != null ? var.kafka_auth : (var.kafka_mode == "msk" ? "IAM" : "NONE")
  kafka_msk_iam    = local.is_msk && local.kafka_auth == "IAM"
  kafka_self_vpc   = local.is_self && length(var.kafka_subnet_ids) > 0
  function_in_vpc  = length(var.vpc_subnet_ids) > 0
  needs_eni        = local.is_msk || local.kafka_self_vpc || local.function_in_vpc
  consumer_group   = coalesce(var.kafka_consumer_group_id, var.name)
  kafka_topics     = local.is_kafka ? toset(var.kafka_topics) : toset([])
  kafka_group_ids  = { for t in local.kafka_topics : t => length(local.kafka_topics) == 1 ? local.consumer_group : "${local.consumer_group}-${t}" }
  kafka_secret_ids = compact([local.kafka_auth_secret_used ? var.kafka_auth_secret_arn : null, local.is_self ? var.kafka_server_root_ca_secret_arn : null])

  kafka_auth_types = {
    SASL_SCRAM_512         = "SASL_SCRAM_512_AUTH"
    SASL_SCRAM_256         = "SASL_SCRAM_256_AUTH"
    CLIENT_CERTIFICATE_TLS = "CLIENT_CERTIFICATE_TLS_AUTH"
  }
  kafka_auth_secret_used = local.is_kafka && contains(keys(local.kafka_auth_types), local.kafka_auth)

  # A kafka:// dead_letter_url logs in as the mapping does: SASL_SSL with the same SCRAM secret
  # (REGSYNC_KAFKA_SASL_SECRET_ARN, MSK's {"username","password"} JSON), which the role may read
  # already (kafka_secret_ids). Other kafka_auth values are refused by a precondition.
  dead_letter_kafka = local.is_kafka && can(regex("^kafka://", coalesce(var.dead_letter_url, "-")))
  dead_letter_scram = { SASL_SCRAM_512 = "SCRAM-SHA-512", SASL_SCRAM_256 = "SCRAM-SHA-256" }
  dead_letter_kafka_environment = local.dead_letter_kafka && contains(keys(local.dead_letter_scram), local.kafka_auth) ? {
    REGSYNC_KAFKA_SECURITY_PROTOCOL = "SASL_SSL"
    REGSYNC_KAFKA_SASL_MECHANISM    = local.dead_letter_scram[local.kafka_auth]
    REGSYNC_KAFKA_SASL_SECRET_ARN   = var.kafka_auth_secret_arn
  } : {}

  # source_access_configuration entries of the mapping, in a stable order.
  kafka_source_access = concat(
    local.kafka_auth_secret_used ? [{ type = local.kafka_auth_types[local.kafka_auth], uri = var.kafka_auth_secret_arn }] : [],
    local.is_self && var.kafka_server_root_ca_secret_arn != null ? [{ type = "SERVER_ROOT_CA_CERTIFICATE", uri = var.kafka_server_root_ca_secret_arn }] : [],
    local.is_self ? [for s in var.kafka_subnet_ids : { type = "VPC_SUBNET", uri = "subnet:${s}" }] : [],
    local.is_self ? [for g in var.kafka_security_group_ids : { type = "VPC_SECURITY_GROUP", uri = "security_group:${g}" }] : [],
  )

  # MSK IAM access control resources: cluster/NAME/UUID -> topic|group/NAME/UUID/X.
  msk_cluster_arn = coalesce(var.msk_cluster_arn, "arn:${local.partition}:kafka:${local.region}:${local.account}:cluster/unset/unset")
  msk_topic_arns  = [for t in local.kafka_topics : "${replace(local.msk_cluster_arn, ":cluster/", ":topic/")}/${t}"]
  msk_group_arns  = [for t in local.kafka_topics : "${replace(local.msk_cluster_arn, ":cluster/", ":group/")}/${local.kafka_group_ids[t]}"]

  # Other S3 stores the code writes to: an archive or dead letters outside the snapshot store.
  archive_s3     = var.archive_url != null && can(regex("^s3://", coalesce(var.archive_url, "-")))
  dead_letter_s3 = local.is_kafka && var.dead_letter_url != null && can(regex("^s3://", coalesce(var.dead_letter_url, "-")))
  extra_put_arns = concat(
    local.archive_s3 ? [local.s3_object_arn[var.archive_url]["archive"]] : [],
    local.dead_letter_s3 ? [local.s3_object_arn[var.dead_letter_url]["dead-letter"]] : [],
  )
  s3_object_arn = {
    for url in distinct(compact([local.archive_s3 ? var.archive_url : null, local.dead_letter_s3 ? var.dead_letter_url : null])) :
    url => {
      for dir in ["archive", "dead-letter"] : dir => format(
        "arn:%s:s3:::%s/%s%s/*",
        local.partition,
        regex("^s3://([^/]+)", url)[0],
        trim(replace(url, "/^s3://[^/]+/?/", ""), "/") == "" ? "" : "${trim(replace(url, "/^s3://[^/]+/?/", ""), "/")}/",
        dir,
      )
    }
  }

  # The on-failure destination and what the role needs on it.
  on_failure_arn = coalesce(var.on_failure_destination_arn, "-")
  on_failure_kind = (
    var.on_failure_destination_arn == null ? null :
    can(regex("^arn:[^:]+:s3:::", local.on_failure_arn)) ? "s3" :
    can(regex("^arn:[^:]+:sqs:", local.on_failure_arn)) ? "sqs" : "sns"
  )

  create_webhook_secret = local.is_webhook && var.webhook_secret_arn == null
  webhook_secret_arn    = local.is_webhook ? coalesce(var.webhook_secret_arn, one(aws_secretsmanager_secret.webhook[*].arn)) : null

  # The environment the code reads. Optional values are set only when given (filtered on plan-time
  # values only, so the map stays known), so the code's defaults apply; REGSYNC_WEBHOOK_SECRET
  # (the raw secret) is never set here.
  environment_optional = {
    REGSYNC_CONVERT_RULES          = var.convert_rules
    REGSYNC_WRITE_ATTEMPTS         = var.write_attempts == null ? null : tostring(var.write_attempts)
    REGSYNC_MAX_RECORD_BYTES       = var.max_record_bytes == null ? null : tostring(var.max_record_bytes)
    REGSYNC_ARCHIVE_URL            = var.archive_url
    REGSYNC_DEAD_LETTER_URL        = local.is_kafka ? var.dead_letter_url : null
    REGSYNC_WEBHOOK_MAX_BODY_BYTES = local.is_webhook && var.webhook_max_body_bytes != null ? tostring(var.webhook_max_body_bytes) : null
    REGSYNC_WEBHOOK_REGISTRIES     = local.is_webhook && var.webhook_registries != null ? join(",", var.webhook_registries) : null
  }
  environment = merge(
    { REGSYNC_STORE = var.store_url },
    { for k, v in local.environment_optional : k => v if v != null && v != "" },
    local.is_webhook ? { REGSYNC_WEBHOOK_SECRET_ARN = local.webhook_secret_arn } : {},
    local.dead_letter_kafka_environment,
  )

  tags = merge(var.tags, { "regsync:function" = var.function })
}

# ---- logs --------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = local.tags
}

# ---- the webhook's HMAC secret ----------------------------------------------------------------

resource "aws_secretsmanager_secret" "webhook" {
  count = local.create_webhook_secret ? 1 : 0

  #checkov:skip=CKV2_AWS_57:The HMAC key is shared with the registry-side sender, which must sign with the new value at the same moment; rotation is an operator procedure (put-secret-value, then update the sender), not a Lambda rotator.
  name                    = "${var.name}/webhook-hmac"
  description             = "HMAC-SHA256 shared secret of the ${var.name} webhook (SecretString = the key). Put the value out of band: aws secretsmanager put-secret-value."
  kms_key_id              = var.webhook_secret_kms_key_arn
  recovery_window_in_days = var.webhook_secret_recovery_window_in_days
  tags                    = local.tags
}

# ---- the role ----------------------------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-lambda"
  description        = "Execution role of the regsync ${var.function} function ${var.name}."
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "this" {
  # The snapshot store: read and conditionally write objects under PREFIX/ (snapshots, content,
  # the root pointer, dead-letter/ and archive/), list only under PREFIX/.
  statement {
    sid       = "StoreObjects"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.bucket_arn}/${var.prefix}/*"]
  }

  statement {
    sid       = "StoreList"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefix}/*"]
    }
  }

  dynamic "statement" {
    for_each = var.store_kms_key_arn == null ? [] : [var.store_kms_key_arn]
    content {
      sid       = "StoreKms"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }

  # An archive or dead letters in another S3 store: writes only (conditional puts).
  dynamic "statement" {
    for_each = length(local.extra_put_arns) == 0 ? [] : [local.extra_put_arns]
    content {
      sid       = "OtherStoreWrites"
      actions   = ["s3:PutObject"]
      resources = statement.value
    }
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  # ingest-webhook: the one secret named by REGSYNC_WEBHOOK_SECRET_ARN.
  dynamic "statement" {
    for_each = local.is_webhook ? [local.webhook_secret_arn] : []
    content {
      sid       = "WebhookSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.is_webhook && var.webhook_secret_kms_key_arn != null ? [var.webhook_secret_kms_key_arn] : []
    content {
      sid       = "WebhookSecretKms"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }

  # ingest-kafka on MSK: what the event source mapping needs to find the brokers.
  dynamic "statement" {
    for_each = local.is_msk ? [var.msk_cluster_arn] : []
    content {
      sid       = "MskCluster"
      actions   = ["kafka:DescribeCluster", "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"]
      resources = [statement.value]
    }
  }

  # MSK IAM access control: connect, read the topics, commit the group's offsets.
  dynamic "statement" {
    for_each = local.kafka_msk_iam ? [var.msk_cluster_arn] : []
    content {
      sid       = "MskIamCluster"
      actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.kafka_msk_iam ? [local.msk_topic_arns] : []
    content {
      sid       = "MskIamTopics"
      actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = local.kafka_msk_iam ? [local.msk_group_arns] : []
    content {
      sid       = "MskIamGroups"
      actions   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
      resources = statement.value
    }
  }

  # SASL/SCRAM credentials, mTLS client certificate, brokers' root CA.
  dynamic "statement" {
    for_each = length(local.kafka_secret_ids) == 0 ? [] : [local.kafka_secret_ids]
    content {
      sid       = "KafkaSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = length(local.kafka_secret_ids) > 0 && var.kafka_secrets_kms_key_arn != null ? [var.kafka_secrets_kms_key_arn] : []
    content {
      sid       = "KafkaSecretsKms"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }

  # Network interfaces of the Kafka pollers (MSK, self-managed brokers in a VPC) and of the
  # function itself when it runs in a VPC. The Describe actions have no resource-level
  # permissions; creating and deleting interfaces is limited to this account and region.
  dynamic "statement" {
    for_each = local.needs_eni ? [1] : []
    content {
      sid       = "VpcDescribe"
      actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = local.needs_eni ? [1] : []
    content {
      sid     = "VpcNetworkInterfaces"
      actions = concat(["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"], local.function_in_vpc ? ["ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"] : [])
      resources = [
        "arn:${local.partition}:ec2:${local.region}:${local.account}:network-interface/*",
        "arn:${local.partition}:ec2:${local.region}:${local.account}:subnet/*",
        "arn:${local.partition}:ec2:${local.region}:${local.account}:security-group/*",
      ]
    }
  }

  # The mapping's on-failure destination.
  dynamic "statement" {
    for_each = local.is_kafka && local.on_failure_kind == "s3" ? [var.on_failure_destination_arn] : []
    content {
      sid       = "OnFailureS3Objects"
      actions   = ["s3:PutObject"]
      resources = ["${statement.value}/*"]
    }
  }

  dynamic "statement" {
    for_each = local.is_kafka && local.on_failure_kind == "s3" ? [var.on_failure_destination_arn] : []
    content {
      sid       = "OnFailureS3List"
      actions   = ["s3:ListBucket"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.is_kafka && local.on_failure_kind == "sqs" ? [var.on_failure_destination_arn] : []
    content {
      sid       = "OnFailureSqs"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.is_kafka && local.on_failure_kind == "sns" ? [var.on_failure_destination_arn] : []
    content {
      sid       = "OnFailureSns"
      actions   = ["sns:Publish"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.is_kafka && local.on_failure_kind != null && var.on_failure_destination_kms_key_arn != null ? [var.on_failure_destination_kms_key_arn] : []
    content {
      sid       = "OnFailureKms"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "regsync-${var.function}"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_iam_role_policy_attachment" "xray" {
  count = var.tracing_mode == "Active" ? 1 : 0

  role       = aws_iam_role.this.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

# ---- the function ------------------------------------------------------------------------------

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Both triggers invoke synchronously (Kafka event source mapping, Function URL), where a function DLQ never receives anything; failed Kafka batches go to on_failure_destination_arn, rejected records to REGSYNC_DEAD_LETTER_URL.
  function_name                  = var.name
  description                    = "regsync ${var.function}"
  role                           = aws_iam_role.this.arn
  filename                       = var.zip_path
  source_code_hash               = filebase64sha256(var.zip_path)
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = ["arm64"]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = var.environment_kms_key_arn
  code_signing_config_arn        = var.code_signing_config_arn
  tags                           = local.tags

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = var.tracing_mode
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = var.application_log_level
    system_log_level      = "INFO"
  }

  dynamic "vpc_config" {
    for_each = local.function_in_vpc ? [1] : []
    content {
      subnet_ids         = var.vpc_subnet_ids
      security_group_ids = var.vpc_security_group_ids
    }
  }

  lifecycle {
    precondition {
      condition     = !local.is_kafka || var.kafka_mode != null
      error_message = "ingest-kafka needs kafka_mode (\"msk\" or \"self-managed\")."
    }
    precondition {
      condition     = !local.is_kafka || length(var.kafka_topics) > 0
      error_message = "ingest-kafka needs at least one topic in kafka_topics."
    }
    precondition {
      condition     = !local.is_msk || var.msk_cluster_arn != null
      error_message = "kafka_mode = \"msk\" needs msk_cluster_arn."
    }
    precondition {
      condition     = !local.is_self || var.kafka_bootstrap_servers != null
      error_message = "kafka_mode = \"self-managed\" needs kafka_bootstrap_servers."
    }
    precondition {
      condition     = !local.is_kafka || (local.kafka_auth != "IAM" || local.is_msk) && (local.kafka_auth != "SASL_SCRAM_256" || local.is_self)
      error_message = "kafka_auth IAM is for MSK only; SASL_SCRAM_256 is for self-managed Kafka only."
    }
    precondition {
      condition     = !local.kafka_auth_secret_used || var.kafka_auth_secret_arn != null
      error_message = "kafka_auth SASL_SCRAM_512, SASL_SCRAM_256 and CLIENT_CERTIFICATE_TLS need kafka_auth_secret_arn."
    }
    precondition {
      condition     = (length(var.kafka_subnet_ids) == 0) == (length(var.kafka_security_group_ids) == 0)
      error_message = "kafka_subnet_ids and kafka_security_group_ids go together."
    }
    precondition {
      condition     = (length(var.vpc_subnet_ids) == 0) == (length(var.vpc_security_group_ids) == 0)
      error_message = "vpc_subnet_ids and vpc_security_group_ids go together."
    }
    precondition {
      condition     = local.is_kafka || (var.dead_letter_url == null && var.on_failure_destination_arn == null && var.kafka_mode == null)
      error_message = "dead_letter_url, on_failure_destination_arn and kafka_mode are for ingest-kafka only."
    }
    precondition {
      condition     = !local.dead_letter_kafka || contains(["NONE", "SASL_SCRAM_512", "SASL_SCRAM_256"], local.kafka_auth)
      error_message = "A kafka:// dead_letter_url logs in with the mapping's SASL/SCRAM secret or not at all: the function's Kafka client has no MSK IAM or mTLS. Use kafka_auth SASL_SCRAM_512 (or SASL_SCRAM_256), or an s3:// dead_letter_url."
    }
    precondition {
      condition     = !local.dead_letter_kafka || var.kafka_server_root_ca_secret_arn == null
      error_message = "A kafka:// dead_letter_url trusts the system's CA roots only; with a private root CA (kafka_server_root_ca_secret_arn) use an s3:// dead_letter_url."
    }
    precondition {
      condition     = !local.is_webhook || local.webhook_secret_arn != null
      error_message = "ingest-webhook needs its HMAC secret (REGSYNC_WEBHOOK_SECRET_ARN): it refuses unsigned requests, whatever webhook_authorization_type is."
    }
  }

  depends_on = [
    aws_iam_role_policy.this,
    aws_iam_role_policy_attachment.xray,
  ]
}

# ---- ingest-kafka: one event source mapping per topic ------------------------------------------

resource "aws_lambda_event_source_mapping" "kafka" {
  for_each = local.kafka_topics

  function_name                      = aws_lambda_function.this.arn
  event_source_arn                   = local.is_msk ? var.msk_cluster_arn : null
  topics                             = [each.value]
  starting_position                  = var.kafka_starting_position
  batch_size                         = var.kafka_batch_size
  maximum_batching_window_in_seconds = var.kafka_maximum_batching_window_in_seconds
  enabled                            = var.kafka_enabled
  tags                               = local.tags

  dynamic "self_managed_event_source" {
    for_each = local.is_self ? [var.kafka_bootstrap_servers] : []
    content {
      endpoints = {
        KAFKA_BOOTSTRAP_SERVERS = self_managed_event_source.value
      }
    }
  }

  dynamic "amazon_managed_kafka_event_source_config" {
    for_each = local.is_msk ? [local.kafka_group_ids[each.value]] : []
    content {
      consumer_group_id = amazon_managed_kafka_event_source_config.value
    }
  }

  dynamic "self_managed_kafka_event_source_config" {
    for_each = local.is_self ? [local.kafka_group_ids[each.value]] : []
    content {
      consumer_group_id = self_managed_kafka_event_source_config.value
    }
  }

  dynamic "source_access_configuration" {
    for_each = local.kafka_source_access
    content {
      type = source_access_configuration.value.type
      uri  = source_access_configuration.value.uri
    }
  }

  dynamic "destination_config" {
    for_each = var.on_failure_destination_arn == null ? [] : [var.on_failure_destination_arn]
    content {
      on_failure {
        destination_arn = destination_config.value
      }
    }
  }

  # The mapping checks the role's permissions when it is created.
  depends_on = [aws_iam_role_policy.this]
}

# ---- ingest-webhook: the Function URL ----------------------------------------------------------

resource "aws_lambda_function_url" "webhook" {
  count = local.is_webhook ? 1 : 0

  #checkov:skip=CKV_AWS_258:webhook_authorization_type defaults to NONE because registries post from outside AWS; the function authenticates every request by its HMAC-SHA256 signature (5-minute window) and answers 401 otherwise. AWS_IAM is available for SigV4 callers.
  function_name      = aws_lambda_function.this.function_name
  authorization_type = var.webhook_authorization_type
  invoke_mode        = "BUFFERED"
}

# Since October 2025 a Function URL needs both lambda:InvokeFunctionUrl and lambda:InvokeFunction
# (the latter limited to calls through the URL).
resource "aws_lambda_permission" "webhook_public_url" {
  count = local.is_webhook && var.webhook_authorization_type == "NONE" ? 1 : 0

  #checkov:skip=CKV_AWS_301:A public Function URL is the point of authorization type NONE; the function authenticates every request by its HMAC signature.
  statement_id           = "RegsyncWebhookPublicUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this.function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "webhook_public_invoke" {
  count = local.is_webhook && var.webhook_authorization_type == "NONE" ? 1 : 0

  #checkov:skip=CKV_AWS_301:Limited to invocations through the Function URL (invoked_via_function_url); see webhook_public_url.
  statement_id             = "RegsyncWebhookPublicInvoke"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.this.function_name
  principal                = "*"
  invoked_via_function_url = true
}

resource "aws_lambda_permission" "webhook_iam_url" {
  for_each = local.is_webhook && var.webhook_authorization_type == "AWS_IAM" ? { for p in var.webhook_invoke_principals : substr(md5(p), 0, 12) => p } : {}

  statement_id           = "RegsyncWebhookUrl-${each.key}"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this.function_name
  principal              = each.value
  function_url_auth_type = "AWS_IAM"
}

resource "aws_lambda_permission" "webhook_iam_invoke" {
  for_each = local.is_webhook && var.webhook_authorization_type == "AWS_IAM" ? { for p in var.webhook_invoke_principals : substr(md5(p), 0, 12) => p } : {}

  statement_id             = "RegsyncWebhookInvoke-${each.key}"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.this.function_name
  principal                = each.value
  invoked_via_function_url = true
}
