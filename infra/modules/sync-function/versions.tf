terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.29 is the first release with aws_lambda_permission.invoked_via_function_url, which
      # Function URLs need since October 2025; every module and the example pin the same range.
      version = "~> 6.29"
    }
  }
}
