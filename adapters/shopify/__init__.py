"""Shopify (commerce): customers and their orders, through the GraphQL Admin API."""
ADAPTER = "adapters.shopify.client:ShopifyAdapter"
