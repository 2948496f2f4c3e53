variable "name" {
  description = "Name of the service: ECS service, task family, NLB, target group, roles and log group /ecs/NAME."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,26}$", var.name))
    error_message = "name must be 1-26 letters, digits or hyphens (NLB and target group names are limited to 32 characters)."
  }
}

variable "image" {
  description = "Container image whose entrypoint is the regsync binary (the task runs `regsync mcp serve`), e.g. ACCOUNT.dkr.ecr.REGION.amazonaws.com/regsync:1.2.3."
  type        = string

  validation {
    condition     = length(trimspace(var.image)) > 0
    error_message = "image must not be empty."
  }
}

variable "ecr_repository_arns" {
  description = "ECR repositories the execution role may pull from; null derives the repository from an ECR image (ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG), [] grants no ECR pull (an image from another registry)."
  type        = list(string)
  default     = null
}

variable "cpu_architecture" {
  description = "CPU architecture of the image: ARM64 (Graviton) or X86_64."
  type        = string
  default     = "ARM64"

  validation {
    condition     = contains(["ARM64", "X86_64"], var.cpu_architecture)
    error_message = "cpu_architecture must be ARM64 or X86_64."
  }
}

variable "cpu" {
  description = "Fargate task CPU units (256, 512, 1024, 2048, 4096, ...)."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384."
  }
}

variable "memory" {
  description = "Fargate task memory in MiB (must fit the cpu value; the served snapshot is held in memory)."
  type        = number
  default     = 1024

  validation {
    condition     = var.memory >= 512 && var.memory <= 122880 && floor(var.memory) == var.memory
    error_message = "memory must be a whole number of MiB between 512 and 122880."
  }
}

variable "create_cluster" {
  description = "Create the ECS cluster cluster_name (with Container Insights); false runs the service in an existing cluster of that name."
  type        = bool
  default     = true
}

variable "cluster_name" {
  description = "ECS cluster of the service (created when create_cluster is true)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,255}$", var.cluster_name))
    error_message = "cluster_name must be 1-255 letters, digits, hyphens or underscores."
  }
}

variable "vpc_id" {
  description = "VPC of the tasks and the NLB (where istiod runs or is peered)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks and the internal NLB (one per availability zone)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks allowed to reach ports 15010 (xDS) and 15014 (/readyz, /metrics, /status): istiod's pods or nodes."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.allowed_cidr_blocks : can(cidrhost(c, 0))]) && !contains(var.allowed_cidr_blocks, "0.0.0.0/0")
    error_message = "allowed_cidr_blocks must be valid CIDR blocks, and not 0.0.0.0/0."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to reach ports 15010 and 15014 (e.g. istiod's nodes or pods)."
  type        = list(string)
  default     = []
}

variable "store_url" {
  description = "REGSYNC_STORE: the snapshot store, s3://BUCKET/PREFIX."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^/](.*[^/])?$", var.store_url))
    error_message = "store_url must be s3://BUCKET/PREFIX with a non-empty prefix without trailing slash."
  }
}

variable "bucket_arn" {
  description = "ARN of the snapshot bucket (for the task role)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN (arn:aws:s3:::BUCKET)."
  }
}

variable "prefix" {
  description = "Key prefix of the snapshot store in the bucket; the task may only read under PREFIX/."
  type        = string

  validation {
    condition     = can(regex("^[^/](.*[^/])?$", var.prefix))
    error_message = "prefix must be non-empty, without leading or trailing slash."
  }
}

variable "store_kms_key_arn" {
  description = "KMS key of the bucket's SSE-KMS; the task role then gets kms:Decrypt on it. null for SSE-S3."
  type        = string
  default     = null

  validation {
    condition     = var.store_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.store_kms_key_arn))
    error_message = "store_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "poll_interval" {
  description = "REGSYNC_MCP_POLL_INTERVAL: time between two checks of the store's latest generation (e.g. 500ms, 2s); null keeps the default (500ms)."
  type        = string
  default     = null

  validation {
    condition     = var.poll_interval == null || can(regex("^[0-9]+(ms|s|m|h|d)?$", var.poll_interval))
    error_message = "poll_interval must be a duration such as 500ms, 2s or 1m."
  }
}

variable "debounce" {
  description = "REGSYNC_MCP_DEBOUNCE: wait after a change before reading it (e.g. 100ms); null keeps the default (100ms)."
  type        = string
  default     = null

  validation {
    condition     = var.debounce == null || can(regex("^[0-9]+(ms|s|m|h|d)?$", var.debounce))
    error_message = "debounce must be a duration such as 100ms or 1s."
  }
}

variable "guard_max_loss" {
  description = "REGSYNC_MCP_GUARD_MAX_LOSS: hold a generation that removes more than this percentage of one registry's endpoints, counted from the most it had within the guard window (100 turns the guard off); null keeps the default."
  type        = number
  default     = null

  validation {
    condition     = var.guard_max_loss == null || try(var.guard_max_loss >= 0 && var.guard_max_loss <= 100, false)
    error_message = "guard_max_loss must be null or a percentage between 0 and 100."
  }
}

variable "gc_interval" {
  description = "REGSYNC_GC_INTERVAL: how often the replica holding the store's GC lease collects garbage (keeps gc_retain generations, deletes unreferenced objects older than gc_grace); \"0s\" turns it off, and the task role then gets no delete permission. null keeps the default (10m)."
  type        = string
  default     = null

  validation {
    condition     = var.gc_interval == null || can(regex("^[0-9]+(ms|s|m|h|d)?$", var.gc_interval))
    error_message = "gc_interval must be a duration such as 10m or 1h, or 0s for off."
  }
}

variable "gc_retain" {
  description = "REGSYNC_GC_RETAIN: generations the scheduled GC keeps (at least 1); null keeps the default (10)."
  type        = number
  default     = null

  validation {
    condition     = var.gc_retain == null || try(var.gc_retain >= 1 && floor(var.gc_retain) == var.gc_retain, false)
    error_message = "gc_retain must be null or a whole number of at least 1."
  }
}

variable "gc_grace" {
  description = "REGSYNC_GC_GRACE: minimum age of an object the scheduled GC deletes; longer than the sync function's timeout (a writer's longest attempt). null keeps the default (1h)."
  type        = string
  default     = null

  validation {
    condition     = var.gc_grace == null || can(regex("^[0-9]+(ms|s|m|h|d)?$", var.gc_grace))
    error_message = "gc_grace must be a duration such as 1h."
  }
}

variable "guard_window" {
  description = "REGSYNC_MCP_GUARD_WINDOW: serve a held generation anyway once its loss has lasted this long (e.g. 10m); null keeps the default (10m)."
  type        = string
  default     = null

  validation {
    condition     = var.guard_window == null || can(regex("^[0-9]+(ms|s|m|h|d)?$", var.guard_window))
    error_message = "guard_window must be a duration such as 10m or 1h."
  }
}

variable "max_message_bytes" {
  description = "REGSYNC_MCP_MAX_MESSAGE_BYTES: largest gRPC message in bytes (a full push is about 100 bytes per endpoint); null keeps the default (256 MiB)."
  type        = number
  default     = null

  validation {
    condition     = var.max_message_bytes == null || try(var.max_message_bytes >= 4194304 && floor(var.max_message_bytes) == var.max_message_bytes, false)
    error_message = "max_message_bytes must be null or a whole number >= 4194304."
  }
}

variable "min_capacity" {
  description = "Fewest running tasks (also the initial desired count). Every task serves the whole mesh; istiod connects to one through the NLB."
  type        = number
  default     = 2

  validation {
    condition     = var.min_capacity >= 1 && floor(var.min_capacity) == var.min_capacity
    error_message = "min_capacity must be a whole number >= 1."
  }
}

variable "max_capacity" {
  description = "Most running tasks under CPU autoscaling."
  type        = number
  default     = 6

  validation {
    condition     = var.max_capacity >= 1 && floor(var.max_capacity) == var.max_capacity
    error_message = "max_capacity must be a whole number >= 1."
  }
}

variable "cpu_target_percent" {
  description = "Average CPU utilization the target-tracking policy keeps the service at."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_percent > 0 && var.cpu_target_percent <= 100
    error_message = "cpu_target_percent must be in (0, 100]."
  }
}

variable "deregistration_delay" {
  description = "Seconds the NLB keeps draining a deregistered task; its xDS streams are then closed and istiod reconnects to another task."
  type        = number
  default     = 60

  validation {
    condition     = var.deregistration_delay >= 0 && var.deregistration_delay <= 3600
    error_message = "deregistration_delay must be between 0 and 3600."
  }
}

variable "enable_deletion_protection" {
  description = "Deletion protection of the NLB."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the log group /ecs/NAME in days (0 keeps logs forever)."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's values: 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key ARN that encrypts the log group; null uses CloudWatch's own encryption."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags added to every taggable resource."
  type        = map(string)
  default     = {}
}
