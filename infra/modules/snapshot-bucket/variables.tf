variable "bucket_name" {
  description = "Name of the S3 bucket that holds the snapshot store (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !can(regex("\\.\\.", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 characters, lower case letters, digits, dots and hyphens."
  }
}

variable "prefix" {
  description = "Key prefix of the snapshot store inside the bucket, without leading or trailing slash. The store URL is s3://BUCKET/PREFIX; dead letters and the archive live under PREFIX/dead-letter/ and PREFIX/archive/."
  type        = string
  default     = "regsync"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$", var.prefix))
    error_message = "prefix must be non-empty, without leading or trailing slash, made of S3-safe characters (letters, digits, !_.*'()- and / between segments)."
  }
}

variable "kms_key_arn" {
  description = "ARN of a KMS key for SSE-KMS (aws:kms, with an S3 bucket key). null uses SSE-S3 (AES256). Readers and writers then also need kms:Decrypt / kms:GenerateDataKey on it (the sync-function and mcp-server modules take the same ARN)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key (or alias) ARN."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions (every overwritten root pointer and deleted object) are removed."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number >= 1."
  }
}

variable "dead_letter_expiration_days" {
  description = "Days after which objects under PREFIX/dead-letter/ expire."
  type        = number
  default     = 30

  validation {
    condition     = var.dead_letter_expiration_days >= 1 && floor(var.dead_letter_expiration_days) == var.dead_letter_expiration_days
    error_message = "dead_letter_expiration_days must be a whole number >= 1."
  }
}

variable "archive_transition_days" {
  description = "Days after which objects under PREFIX/archive/ move to archive_transition_storage_class; null keeps them in STANDARD."
  type        = number
  default     = 30

  validation {
    condition     = var.archive_transition_days == null || try(var.archive_transition_days >= 0 && floor(var.archive_transition_days) == var.archive_transition_days, false)
    error_message = "archive_transition_days must be null or a whole number >= 0 (STANDARD_IA and ONEZONE_IA need >= 30)."
  }
}

variable "archive_transition_storage_class" {
  description = "Storage class that archived records move to after archive_transition_days."
  type        = string
  default     = "STANDARD_IA"

  validation {
    condition     = contains(["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], var.archive_transition_storage_class)
    error_message = "archive_transition_storage_class must be one of STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE."
  }
}

variable "archive_expiration_days" {
  description = "Days after which objects under PREFIX/archive/ expire; null keeps the archive (and the ability to replay from it) forever. Replays can only go back this far."
  type        = number
  default     = 365

  validation {
    condition     = var.archive_expiration_days == null || try(var.archive_expiration_days >= 1 && floor(var.archive_expiration_days) == var.archive_expiration_days, false)
    error_message = "archive_expiration_days must be null or a whole number >= 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which incomplete multipart uploads are aborted."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number >= 1."
  }
}

variable "access_log_bucket" {
  description = "Name of an existing bucket that receives S3 server access logs for this bucket; null disables access logging."
  type        = string
  default     = null
}

variable "access_log_prefix" {
  description = "Key prefix of the access logs in access_log_bucket."
  type        = string
  default     = "s3-access/regsync/"
}

variable "eventbridge_notifications" {
  description = "Send this bucket's object events to Amazon EventBridge (nothing in regsync needs them: the MCP service polls the store)."
  type        = bool
  default     = false
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete a bucket that still holds objects (all snapshots, dead letters and the archive)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every taggable resource."
  type        = map(string)
  default     = {}
}
