"""Twilio: the caller directory (a Sync Map keyed by E.164 number; the customers) and Voice calls."""
ADAPTER = "adapters.twilio.client:TwilioAdapter"
