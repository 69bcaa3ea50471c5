"""The operators' side: one set of operations (clients, users, MFA factors, email provider and
templates, audit) behind three front doors — the Management API (`api/`), the admin dashboard
(provider/admin) and the CLI. Every change is recorded in the audit log with who made it."""
