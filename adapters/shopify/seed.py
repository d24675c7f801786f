"""Seed data for the Shopify sandbox: the world's Shopify views as Admin API Customer nodes and its
order activities as Order nodes, exactly as the GraphQL API returns them.

The world decides everything (ids, values, noise, malformed fields, timestamps); this module only
dresses it in Shopify's shape. Shopify has no birth date or full-name field, so those are dropped."""
from __future__ import annotations

from adapters.world import Activity, View, World

ORDER_ID_PREFIX = "gid://shopify/Order/"
FIRST_ORDER_ID = 9_000_001   # the world numbers a shop's orders from here
FIRST_ORDER_NUMBER = 1001    # and Shopify names a shop's first order "#1001"


def seed(seed_value: int, customers: int) -> tuple[list[dict], list[dict]]:
    """(Customer nodes, Order nodes) of a world of `customers` people."""
    world = World(seed_value, customers)
    return [customer_node(v) for v in world.views("shopify")], [order_node(a) for a in world.activities("shopify")]


def customer_node(view: View) -> dict:
    return {
        "id": view.source_id,
        "firstName": view.given_name,
        "lastName": view.family_name,
        "email": view.email,
        "phone": view.phone,
        "note": None,
        "tags": [],
        "createdAt": view.created_at,
        "updatedAt": view.updated_at,
        "defaultAddress": _address(view.address),
        # Shopify holds no email consent without an email, nor SMS consent without a phone.
        "emailMarketingConsent": _consent(view.consent.get("email")) if view.email else None,
        "smsMarketingConsent": _consent(view.consent.get("sms")) if view.phone else None,
    }


def order_node(activity: Activity) -> dict:
    number = int(activity.source_id.removeprefix(ORDER_ID_PREFIX)) - FIRST_ORDER_ID + FIRST_ORDER_NUMBER
    return {
        "id": activity.source_id,
        "name": f"#{number}",
        "createdAt": activity.occurred_at,
        "processedAt": activity.occurred_at,
        "updatedAt": activity.occurred_at,
        "customer": {"id": activity.customer_ref},
        "totalPriceSet": {"shopMoney": {"amount": activity.attributes["total"],
                                        "currencyCode": activity.attributes["currency"]}},
    }


def _address(address: dict | None) -> dict | None:
    if not address:
        return None
    return {"address1": address["line1"], "address2": address["line2"] or None, "city": address["city"],
            "province": address["region"], "zip": address["postcode"], "countryCodeV2": address["country"]}


def _consent(heard: dict | None) -> dict:
    if heard is None:
        return {"marketingState": "NOT_SUBSCRIBED", "marketingOptInLevel": "SINGLE_OPT_IN", "consentUpdatedAt": None}
    return {"marketingState": heard["status"].upper(), "marketingOptInLevel": "SINGLE_OPT_IN",
            "consentUpdatedAt": heard["updated_at"]}
