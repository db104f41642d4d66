"""The verbs of the service. Every write goes through one; services never see a Request."""
