# `regsync mcp serve` on ECS Fargate behind an internal NLB: istiod connects to
# xds://NLB:15010 (its configSources); the NLB health-checks GET /readyz on 15014. The tasks
# only read the snapshot store.

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.region

  grpc_port  = 15010
  admin_port = 15014

  cluster_arn = var.create_cluster ? aws_ecs_cluster.this[0].arn : "arn:${local.partition}:ecs:${local.region}:${data.aws_caller_identity.current.account_id}:cluster/${var.cluster_name}"

  # ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG|@DIGEST] -> the repository ARN.
  ecr_image = regexall("^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(\\.cn)?/([^:@]+)", var.image)
  ecr_repository_arns = var.ecr_repository_arns != null ? var.ecr_repository_arns : [
    for m in local.ecr_image : "arn:${local.partition}:ecr:${m[1]}:${m[0]}:repository/${m[3]}"
  ]

  # What `regsync mcp serve` reads; optional values only when given, so the code's defaults apply.
  environment_optional = {
    REGSYNC_MCP_POLL_INTERVAL     = var.poll_interval
    REGSYNC_MCP_DEBOUNCE          = var.debounce
    REGSYNC_MCP_GUARD_MAX_LOSS    = var.guard_max_loss == null ? null : tostring(var.guard_max_loss)
    REGSYNC_MCP_GUARD_WINDOW      = var.guard_window
    REGSYNC_GC_INTERVAL           = var.gc_interval
    REGSYNC_GC_RETAIN             = var.gc_retain == null ? null : tostring(var.gc_retain)
    REGSYNC_GC_GRACE              = var.gc_grace
    REGSYNC_MCP_MAX_MESSAGE_BYTES = var.max_message_bytes == null ? null : tostring(var.max_message_bytes)
  }
  environment = concat(
    [
      { name = "REGSYNC_STORE", value = var.store_url },
      { name = "REGSYNC_MCP_LISTEN", value = "0.0.0.0:${local.grpc_port}" },
      { name = "REGSYNC_MCP_ADMIN_LISTEN", value = "0.0.0.0:${local.admin_port}" },
    ],
    [for k in sort(keys(local.environment_optional)) : { name = k, value = local.environment_optional[k] } if local.environment_optional[k] != null && local.environment_optional[k] != ""],
  )

  tags = merge(var.tags, { "regsync:component" = "mcp-server" })

  # The code's default interval is 10m; only an explicit 0 (0s, 0m, ...) turns GC off.
  gc_enabled = var.gc_interval == null ? true : !can(regex("^0+(ms|s|m|h|d)?$", var.gc_interval))
}

data "aws_caller_identity" "current" {}

# ---- cluster and logs --------------------------------------------------------------------------

resource "aws_ecs_cluster" "this" {
  count = var.create_cluster ? 1 : 0

  name = var.cluster_name
  tags = local.tags

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = local.tags
}

# ---- roles -------------------------------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# The execution role: pull the image, write the container's logs.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  description        = "ECS execution role of ${var.name}: image pull and logs."
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "execution" {
  dynamic "statement" {
    for_each = length(local.ecr_repository_arns) == 0 ? [] : [1]
    content {
      sid = "EcrToken"
      # GetAuthorizationToken has no resource-level permissions.
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(local.ecr_repository_arns) == 0 ? [] : [local.ecr_repository_arns]
    content {
      sid       = "EcrPull"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
      resources = statement.value
    }
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "regsync-mcp-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# The task role: reads the snapshot store; with scheduled GC (gc_interval other than 0s) it also
# deletes unreferenced content objects and writes the GC lease, nothing else.
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  description        = "Task role of ${var.name}: reads the regsync snapshot store and collects its garbage."
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "StoreRead"
    actions   = ["s3:GetObject"]
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

  # Scheduled GC, run by the replica holding the lease PREFIX/leases/gc: deletes what no kept
  # generation references (only under objects/), and takes or renews the lease.
  dynamic "statement" {
    for_each = local.gc_enabled ? [1] : []
    content {
      sid       = "GcDelete"
      actions   = ["s3:DeleteObject"]
      resources = ["${var.bucket_arn}/${var.prefix}/objects/*"]
    }
  }

  dynamic "statement" {
    for_each = local.gc_enabled ? [1] : []
    content {
      sid       = "GcLease"
      actions   = ["s3:PutObject"]
      resources = ["${var.bucket_arn}/${var.prefix}/leases/*"]
    }
  }

  dynamic "statement" {
    for_each = var.store_kms_key_arn == null ? [] : [var.store_kms_key_arn]
    content {
      sid       = "StoreKms"
      actions   = local.gc_enabled ? ["kms:Decrypt", "kms:GenerateDataKey"] : ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "regsync-mcp-store-read"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# ---- task definition ---------------------------------------------------------------------------

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  tags                     = local.tags

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([
    {
      name                   = "mcp"
      image                  = var.image
      essential              = true
      command                = ["mcp", "serve"]
      readonlyRootFilesystem = true
      environment            = local.environment
      portMappings = [
        { name = "xds", containerPort = local.grpc_port, protocol = "tcp" },
        { name = "admin", containerPort = local.admin_port, protocol = "tcp" },
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "mcp"
        }
      }
      stopTimeout = 30
    }
  ])
}

# ---- network -----------------------------------------------------------------------------------

resource "aws_security_group" "nlb" {
  name        = "${var.name}-nlb"
  description = "Internal NLB of ${var.name}: xDS from istiod"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-nlb" })
}

resource "aws_security_group" "task" {
  name        = "${var.name}-task"
  description = "Tasks of ${var.name}: xDS and admin from istiod and the NLB, HTTPS out"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-task" })
}

# Clients (istiod) -> NLB:15010.
resource "aws_vpc_security_group_ingress_rule" "nlb_cidr" {
  for_each = toset(var.allowed_cidr_blocks)

  security_group_id = aws_security_group.nlb.id
  description       = "xDS from ${each.value}"
  ip_protocol       = "tcp"
  from_port         = local.grpc_port
  to_port           = local.grpc_port
  cidr_ipv4         = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "nlb_sg" {
  for_each = toset(var.allowed_security_group_ids)

  security_group_id            = aws_security_group.nlb.id
  description                  = "xDS from ${each.value}"
  ip_protocol                  = "tcp"
  from_port                    = local.grpc_port
  to_port                      = local.grpc_port
  referenced_security_group_id = each.value
  tags                         = local.tags
}

# NLB -> tasks: forwarded xDS and health checks.
resource "aws_vpc_security_group_egress_rule" "nlb_to_task" {
  for_each = toset([tostring(local.grpc_port), tostring(local.admin_port)])

  security_group_id            = aws_security_group.nlb.id
  description                  = "To the tasks on ${each.value}"
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
  referenced_security_group_id = aws_security_group.task.id
  tags                         = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "task_from_nlb" {
  for_each = toset([tostring(local.grpc_port), tostring(local.admin_port)])

  security_group_id            = aws_security_group.task.id
  description                  = "From the NLB on ${each.value}"
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
  referenced_security_group_id = aws_security_group.nlb.id
  tags                         = local.tags
}

# Clients directly -> tasks (15010, and 15014 for /readyz, /metrics, /status).
resource "aws_vpc_security_group_ingress_rule" "task_cidr" {
  for_each = { for pair in setproduct(var.allowed_cidr_blocks, [tostring(local.grpc_port), tostring(local.admin_port)]) : "${pair[0]}:${pair[1]}" => pair }

  security_group_id = aws_security_group.task.id
  description       = "Port ${each.value[1]} from ${each.value[0]}"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value[1])
  to_port           = tonumber(each.value[1])
  cidr_ipv4         = each.value[0]
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "task_sg" {
  for_each = { for pair in setproduct(var.allowed_security_group_ids, [tostring(local.grpc_port), tostring(local.admin_port)]) : "${pair[0]}:${pair[1]}" => pair }

  security_group_id            = aws_security_group.task.id
  description                  = "Port ${each.value[1]} from ${each.value[0]}"
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value[1])
  to_port                      = tonumber(each.value[1])
  referenced_security_group_id = each.value[0]
  tags                         = local.tags
}

# Tasks -> S3, ECR, CloudWatch Logs (HTTPS only).
resource "aws_vpc_security_group_egress_rule" "task_https" {
  security_group_id = aws_security_group.task.id
  description       = "HTTPS to AWS APIs (S3, ECR, CloudWatch Logs)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}

# ---- load balancer -----------------------------------------------------------------------------

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:NLB access logs are written for TLS listeners only; the xDS listener is plain TCP inside the VPC, so there is nothing to log.
  name                             = var.name
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = var.subnet_ids
  security_groups                  = [aws_security_group.nlb.id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.enable_deletion_protection
  tags                             = local.tags
}

resource "aws_lb_target_group" "this" {
  name                   = var.name
  port                   = local.grpc_port
  protocol               = "TCP"
  target_type            = "ip"
  vpc_id                 = var.vpc_id
  deregistration_delay   = var.deregistration_delay
  connection_termination = true
  tags                   = local.tags

  health_check {
    protocol            = "HTTP"
    port                = tostring(local.admin_port)
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_listener" "grpc" {
  load_balancer_arn = aws_lb.this.arn
  port              = local.grpc_port
  protocol          = "TCP"
  tags              = local.tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }
}

# ---- service and autoscaling -------------------------------------------------------------------

resource "aws_ecs_service" "this" {
  name                              = var.name
  cluster                           = local.cluster_arn
  task_definition                   = aws_ecs_task_definition.this.arn
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  desired_count                     = var.min_capacity
  health_check_grace_period_seconds = 60
  propagate_tags                    = "SERVICE"
  enable_ecs_managed_tags           = true
  tags                              = local.tags

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = "mcp"
    container_port   = local.grpc_port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    # The autoscaling target owns the desired count after creation.
    ignore_changes = [desired_count]

    precondition {
      condition     = var.max_capacity >= var.min_capacity
      error_message = "max_capacity must be >= min_capacity."
    }
    precondition {
      condition     = length(var.allowed_cidr_blocks) + length(var.allowed_security_group_ids) > 0
      error_message = "Give istiod's allowed_cidr_blocks or allowed_security_group_ids: nothing could reach the service."
    }
  }

  depends_on = [aws_lb_listener.grpc]
}

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.this.name}"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity
  tags               = local.tags
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension
  resource_id        = aws_appautoscaling_target.this.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
