output "nlb_dns_name" {
  description = "DNS name of the internal NLB."
  value       = aws_lb.this.dns_name
}

output "nlb_arn" {
  description = "ARN of the internal NLB."
  value       = aws_lb.this.arn
}

output "nlb_zone_id" {
  description = "Route 53 zone of the NLB (for an alias record)."
  value       = aws_lb.this.zone_id
}

output "config_source_address" {
  description = "istiod's configSources address: meshConfig.configSources[].address = xds://NLB:15010."
  value       = "xds://${aws_lb.this.dns_name}:15010"
}

output "cluster_name" {
  description = "ECS cluster of the service."
  value       = var.cluster_name
}

output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "ARN of the task definition revision."
  value       = aws_ecs_task_definition.this.arn
}

output "task_role_arn" {
  description = "ARN of the task role (read-only on the snapshot store)."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "ARN of the execution role (image pull, logs)."
  value       = aws_iam_role.execution.arn
}

output "task_security_group_id" {
  description = "Security group of the tasks."
  value       = aws_security_group.task.id
}

output "nlb_security_group_id" {
  description = "Security group of the NLB."
  value       = aws_security_group.nlb.id
}

output "target_group_arn" {
  description = "ARN of the NLB target group (TCP 15010, health check HTTP 15014 /readyz)."
  value       = aws_lb_target_group.this.arn
}

output "log_group_name" {
  description = "Log group of the tasks, /ecs/NAME."
  value       = aws_cloudwatch_log_group.this.name
}
