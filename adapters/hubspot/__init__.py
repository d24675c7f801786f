"""HubSpot (marketing CRM): contacts (the customers, with their email subscription status) and email events."""
ADAPTER = "adapters.hubspot.client:HubSpotAdapter"
