//! Eureka payloads (JSON as every server version writes it, and XML) to normalized instances
