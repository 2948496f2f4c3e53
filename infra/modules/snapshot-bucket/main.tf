# The snapshot store: one bucket, the store under PREFIX/ (generations, content-addressed
# objects, the root pointer swapped with conditional writes), dead letters under
# PREFIX/dead-letter/ and the record archive under PREFIX/archive/.

locals {
  dead_letter_prefix = "${var.prefix}/dead-letter/"
  archive_prefix     = "${var.prefix}/archive/"
  sse_algorithm      = var.kms_key_arn == null ? "AES256" : "aws:kms"
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice of the deployer; the store can be rebuilt from the registries (and replayed from the archive), and replicating the conditional-write root pointer across regions would not keep its compare-and-swap semantics.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = local.sse_algorithm
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.bucket.json

  # A bucket policy put before the public access block could be refused as public.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }

  rule {
    id     = "dead-letter"
    status = "Enabled"

    filter {
      prefix = local.dead_letter_prefix
    }

    expiration {
      days = var.dead_letter_expiration_days
    }
  }

  rule {
    id     = "archive"
    status = "Enabled"

    filter {
      prefix = local.archive_prefix
    }

    # Always present, so the rule has an action when the archive is kept forever in STANDARD.
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }

    dynamic "transition" {
      for_each = var.archive_transition_days == null ? [] : [var.archive_transition_days]
      content {
        days          = transition.value
        storage_class = var.archive_transition_storage_class
      }
    }

    dynamic "expiration" {
      for_each = var.archive_expiration_days == null ? [] : [var.archive_expiration_days]
      content {
        days = expiration.value
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.archive_transition_days == null || !contains(["STANDARD_IA", "ONEZONE_IA"], var.archive_transition_storage_class) || coalesce(var.archive_transition_days, 30) >= 30
      error_message = "archive_transition_days must be >= 30 when archive_transition_storage_class is STANDARD_IA or ONEZONE_IA (an S3 rule)."
    }
    precondition {
      condition     = var.archive_transition_days == null || var.archive_expiration_days == null || coalesce(var.archive_expiration_days, 0) > coalesce(var.archive_transition_days, 0)
      error_message = "archive_expiration_days must be greater than archive_transition_days."
    }
  }

  # Lifecycle rules on a versioned bucket need versioning in place first.
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_logging" "this" {
  count = var.access_log_bucket == null ? 0 : 1

  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket
  target_prefix = var.access_log_prefix
}

resource "aws_s3_bucket_notification" "this" {
  count = var.eventbridge_notifications ? 1 : 0

  bucket      = aws_s3_bucket.this.id
  eventbridge = true
}
