"""Mailchimp Marketing: one audience's members (the customers) and one campaign's email activity."""
ADAPTER = "adapters.mailchimp.client:MailchimpAdapter"
