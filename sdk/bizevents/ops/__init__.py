"""Operations: Grafana dashboards as code, the operations overview (`/ops`, `bizevents status`),
Kafka topics planned from the contracts."""
