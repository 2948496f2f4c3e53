terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # aws_lambda_permission.invoked_via_function_url, which public Function URLs need since
      # October 2025, arrived in 6.28 (provider CHANGELOG); every module and the example pin
      # the same range.
      version = "~> 6.29"
    }
  }
}
