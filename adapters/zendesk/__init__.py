"""Zendesk Support: users (the customers) and tickets."""
ADAPTER = "adapters.zendesk.client:ZendeskAdapter"
