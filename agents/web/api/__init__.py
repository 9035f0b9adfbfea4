"""The bus's HTTP way in for outside systems: the ingest gateway and event status (`ingest`, `status`,
beside the dashboard's subscriber API), the Confluent-compatible Schema Registry read API
(`registry`), and the OpenAPI document of the HTTP API (`openapi`)."""
