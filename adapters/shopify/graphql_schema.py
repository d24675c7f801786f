"""The part of Shopify's Admin GraphQL schema (2025-01) that the sandbox executes, and how Shopify
prices a query.

The SDL below is a strict subset of the vendor's: every type, field and argument it declares exists
in Shopify's schema with the same type and default (tests check it against the published SDL), so a
query that runs here is one Shopify accepts. Resolvers call the sandbox's shop (the execution
context's `shop`), which owns the data; this module owns only GraphQL.

Query cost, simplified from Shopify's calculated cost: a connection costs 2 + `first` (whatever is
selected inside its nodes), any other object 1, scalars and enums 0, every mutation field 10. The
actual cost refunds the nodes a connection did not return."""
from __future__ import annotations

from dataclasses import dataclass

from graphql import (FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError, GraphQLObjectType,
                     GraphQLSchema, IntValueNode, OperationType, VariableNode, build_schema,
                     get_named_type, get_operation_ast, is_object_type)

from adapters.world.views import CURRENCY

CONNECTION_BASE_COST = 2
OBJECT_COST = 1
MUTATION_COST = 10
# The world's countries and their currencies: a subset of Shopify's CountryCode and CurrencyCode enums.
COUNTRY_CODES = sorted(CURRENCY)
CURRENCY_CODES = sorted(set(CURRENCY.values()))

SDL = """
schema {
  query: QueryRoot
  mutation: Mutation
}

scalar DateTime
scalar Decimal

type QueryRoot {
  customer(id: ID!): Customer
  customers(first: Int, after: String, reverse: Boolean = false, sortKey: CustomerSortKeys = ID,
            query: String): CustomerConnection!
  orders(first: Int, after: String, reverse: Boolean = false, sortKey: OrderSortKeys = PROCESSED_AT,
         query: String): OrderConnection!
}

type Mutation {
  customerCreate(input: CustomerInput!): CustomerCreatePayload
  customerRequestDataErasure(customerId: ID!): CustomerRequestDataErasurePayload
  customerUpdate(input: CustomerInput!): CustomerUpdatePayload
  customerEmailMarketingConsentUpdate(
    input: CustomerEmailMarketingConsentUpdateInput!): CustomerEmailMarketingConsentUpdatePayload
  customerSmsMarketingConsentUpdate(
    input: CustomerSmsMarketingConsentUpdateInput!): CustomerSmsMarketingConsentUpdatePayload
}

enum CustomerSortKeys { ID UPDATED_AT }
enum OrderSortKeys { ID PROCESSED_AT UPDATED_AT }
enum CustomerEmailMarketingState { NOT_SUBSCRIBED PENDING SUBSCRIBED UNSUBSCRIBED REDACTED INVALID }
enum CustomerSmsMarketingState { NOT_SUBSCRIBED PENDING SUBSCRIBED UNSUBSCRIBED REDACTED }
enum CustomerMarketingOptInLevel { SINGLE_OPT_IN CONFIRMED_OPT_IN UNKNOWN }
enum CustomerEmailMarketingConsentUpdateUserErrorCode { INVALID INCLUSION INTERNAL_ERROR MISSING_ARGUMENT }
enum CustomerSmsMarketingConsentErrorCode { INVALID INCLUSION INTERNAL_ERROR MISSING_ARGUMENT }
enum CustomerRequestDataErasureErrorCode { DOES_NOT_EXIST FAILED_TO_REQUEST }
enum CountryCode { %(countries)s }
enum CurrencyCode { %(currencies)s }

type PageInfo {
  endCursor: String
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
}

type Customer {
  createdAt: DateTime!
  defaultAddress: MailingAddress
  email: String @deprecated(reason: "Use `defaultEmailAddress.emailAddress` instead.")
  emailMarketingConsent: CustomerEmailMarketingConsentState @deprecated(reason: "Use `defaultEmailAddress` instead.")
  firstName: String
  id: ID!
  lastName: String
  note: String
  phone: String
  smsMarketingConsent: CustomerSmsMarketingConsentState
  tags: [String!]!
  updatedAt: DateTime!
}

type MailingAddress {
  address1: String
  address2: String
  city: String
  countryCodeV2: CountryCode
  province: String
  zip: String
}

type CustomerEmailMarketingConsentState {
  consentUpdatedAt: DateTime
  marketingOptInLevel: CustomerMarketingOptInLevel
  marketingState: CustomerEmailMarketingState!
}

type CustomerSmsMarketingConsentState {
  consentUpdatedAt: DateTime
  marketingOptInLevel: CustomerMarketingOptInLevel!
  marketingState: CustomerSmsMarketingState!
}

type CustomerConnection {
  edges: [CustomerEdge!]!
  nodes: [Customer!]!
  pageInfo: PageInfo!
}

type CustomerEdge {
  cursor: String!
  node: Customer!
}

type Order {
  createdAt: DateTime!
  customer: Customer
  id: ID!
  name: String!
  processedAt: DateTime!
  totalPriceSet: MoneyBag!
  updatedAt: DateTime!
}

type MoneyBag {
  shopMoney: MoneyV2!
}

type MoneyV2 {
  amount: Decimal!
  currencyCode: CurrencyCode!
}

type OrderConnection {
  edges: [OrderEdge!]!
  nodes: [Order!]!
  pageInfo: PageInfo!
}

type OrderEdge {
  cursor: String!
  node: Order!
}

input CustomerInput {
  email: String
  firstName: String
  id: ID
  lastName: String
  note: String
  phone: String
  tags: [String!]
  emailMarketingConsent: CustomerEmailMarketingConsentInput
  smsMarketingConsent: CustomerSmsMarketingConsentInput
}

input CustomerEmailMarketingConsentInput {
  marketingOptInLevel: CustomerMarketingOptInLevel
  marketingState: CustomerEmailMarketingState!
  consentUpdatedAt: DateTime
}

input CustomerSmsMarketingConsentInput {
  marketingOptInLevel: CustomerMarketingOptInLevel
  marketingState: CustomerSmsMarketingState!
  consentUpdatedAt: DateTime
}

input CustomerEmailMarketingConsentUpdateInput {
  customerId: ID!
  emailMarketingConsent: CustomerEmailMarketingConsentInput!
}

input CustomerSmsMarketingConsentUpdateInput {
  customerId: ID!
  smsMarketingConsent: CustomerSmsMarketingConsentInput!
}

type UserError {
  field: [String!]
  message: String!
}

type CustomerCreatePayload {
  customer: Customer
  userErrors: [UserError!]!
}

type CustomerUpdatePayload {
  customer: Customer
  userErrors: [UserError!]!
}

type CustomerRequestDataErasureUserError {
  code: CustomerRequestDataErasureErrorCode
  field: [String!]
  message: String!
}

type CustomerRequestDataErasurePayload {
  customerId: ID
  userErrors: [CustomerRequestDataErasureUserError!]!
}

type CustomerEmailMarketingConsentUpdateUserError {
  code: CustomerEmailMarketingConsentUpdateUserErrorCode
  field: [String!]
  message: String!
}

type CustomerEmailMarketingConsentUpdatePayload {
  customer: Customer
  userErrors: [CustomerEmailMarketingConsentUpdateUserError!]!
}

type CustomerSmsMarketingConsentError {
  code: CustomerSmsMarketingConsentErrorCode
  field: [String!]
  message: String!
}

type CustomerSmsMarketingConsentUpdatePayload {
  customer: Customer
  userErrors: [CustomerSmsMarketingConsentError!]!
}
""" % {"countries": " ".join(COUNTRY_CODES), "currencies": " ".join(CURRENCY_CODES)}


@dataclass
class Execution:
    """The context of one request: the shop that holds the data, and the cost the answer saves."""

    shop: object
    refund: int = 0


def schema() -> GraphQLSchema:
    """The executable subset: the SDL with resolvers attached to the fields that need more than a dict key."""
    built = build_schema(SDL)
    query, mutation = built.query_type, built.mutation_type
    query.fields["customer"].resolve = lambda _, info, id: info.context.shop.customer(id)
    query.fields["customers"].resolve = _connection("customers")
    query.fields["orders"].resolve = _connection("orders")
    built.get_type("Order").fields["customer"].resolve = _order_customer
    mutation.fields["customerCreate"].resolve = lambda _, info, input: info.context.shop.create_customer(input)
    mutation.fields["customerRequestDataErasure"].resolve = _erasure
    mutation.fields["customerUpdate"].resolve = lambda _, info, input: info.context.shop.update_customer(input)
    mutation.fields["customerEmailMarketingConsentUpdate"].resolve = _consent("email")
    mutation.fields["customerSmsMarketingConsentUpdate"].resolve = _consent("sms")
    return built


def _connection(kind: str):
    def resolve(_, info, **args):
        if args.get("first") is None:
            raise GraphQLError("you must provide one of first or last")
        page = info.context.shop.page(kind, **args)
        info.context.refund += args["first"] - len(page["nodes"])
        return page
    return resolve


def _order_customer(order: dict, info):
    # The order keeps the customer's id even when that customer is gone (an orphan order).
    ref = order.get("customer")
    return ref and (info.context.shop.customer(ref["id"]) or ref)


def _erasure(_, info, customerId: str):  # noqa: N803 - GraphQL's argument name
    return info.context.shop.request_erasure(customerId)


def _consent(channel: str):
    return lambda _, info, input: info.context.shop.update_consent(channel, input)


def requested_cost(schema_: GraphQLSchema, document, variables: dict | None, operation_name: str | None) -> int:
    """What Shopify would charge before running the operation (see the module docstring)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * sum(isinstance(s, FieldNode) for s in operation.selection_set.selections)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return _selection_cost(schema_, operation.selection_set, schema_.query_type, variables or {}, fragments)


def _selection_cost(schema_, selection_set, parent: GraphQLObjectType, variables: dict, fragments: dict) -> int:
    total = 0
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            total += _field_cost(schema_, selection, parent, variables, fragments)
            continue
        # Validation ran first, so every spread names a fragment of the document.
        fragment = fragments[selection.name.value] if isinstance(selection, FragmentSpreadNode) else selection
        condition = fragment.type_condition
        target = schema_.get_type(condition.name.value) if condition else parent
        if is_object_type(target):
            total += _selection_cost(schema_, fragment.selection_set, target, variables, fragments)
    return total


def _field_cost(schema_, node: FieldNode, parent: GraphQLObjectType, variables: dict, fragments: dict) -> int:
    field = parent.fields.get(node.name.value)
    if field is None:  # __typename and other meta fields are free
        return 0
    named = get_named_type(field.type)
    if named.name.endswith("Connection"):
        return CONNECTION_BASE_COST + _first(node, variables)
    if is_object_type(named):
        return OBJECT_COST + _selection_cost(schema_, node.selection_set, named, variables, fragments)
    return 0


def _first(node: FieldNode, variables: dict) -> int:
    for argument in node.arguments or ():
        if argument.name.value == "first":
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                given = variables.get(value.name.value)
                return given if isinstance(given, int) else 0  # a bad variable fails when it is coerced
    return 0
