"""The identity service's contract: RPC payloads and answers (the gateway uses the same ones)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates
from marshmallow.utils import get_value

from services.common.caller import CUSTOMER_BOOKER, CUSTOMER_PEOPLE
from services.common.esign import SignatureOut
from services.common.money import MoneySchema
from services.common.schemas import MAX_PAGE, PageArgs, StrictSchema

LOCATION_SHARING = ("exact", "approximate", "none")


class LoginIn(StrictSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    otp = fields.String(validate=validate.Length(min=6, max=32), metadata={
        "description": "With two-factor sign-in on: the authenticator's code, or a recovery code."})

    @pre_load
    def _trim_email(self, data, **_):
        # People paste addresses with a stray space; the password is taken as typed.
        if isinstance(data, dict) and isinstance(data.get("email"), str):
            data = {**data, "email": data["email"].strip()}
        return data


class UserOut(Schema):
    id = fields.String(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)
    customer_id = fields.String(allow_none=True)
    sites = fields.List(fields.String(), allow_none=True,
                        metadata={"description": "Site codes the user is limited to; null: all of the customer's."})
    must_change_password = fields.Boolean(required=True)
    is_active = fields.Boolean(metadata={"description": "False once removed."})
    has_portal_access = fields.Boolean(metadata={"description": "False while the operator has switched it off."})
    # never the secret itself: only whether there is one (a row mapping or a User alike)
    two_factor_enabled = fields.Function(lambda user: bool(get_value(user, "totp_secret")),
                                         metadata={"type": "boolean", "description": "Two-factor sign-in is on."})
    created_at = fields.DateTime(required=True)
    last_login_at = fields.DateTime(allow_none=True)


class LoginOut(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    user = fields.Nested(UserOut, required=True)


class SessionOut(Schema):
    """A browser session (the access token itself stays in the HttpOnly cookie)."""
    signed_in = fields.Boolean(required=True)
    csrf_token = fields.String(metadata={"description": "Send as X-CSRF-Token on every write."})
    expires_in = fields.Integer()
    limited = fields.String(allow_none=True, metadata={"description": "What the user must do first, if anything."})
    role = fields.String()
    user_id = fields.String()
    customer_id = fields.String(allow_none=True)


class Address(StrictSchema):
    unit = fields.String(validate=validate.Length(max=40), allow_none=True)
    line1 = fields.String(required=True, validate=validate.Length(min=1, max=200))
    line2 = fields.String(validate=validate.Length(max=200), allow_none=True)
    city = fields.String(required=True, validate=validate.Length(min=1, max=100))
    state = fields.String(validate=validate.Length(max=100), allow_none=True)
    postal_code = fields.String(validate=validate.Length(max=20), allow_none=True)
    country = fields.String(required=True, validate=validate.Length(equal=2))


class CustomerIn(StrictSchema):
    """What an operator may set on a customer. ``client_id`` is generated, never set."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, validate=validate.Regexp(r"^\+?[0-9 ()./-]{4,40}$"))
    postal_code = fields.String(allow_none=True, validate=validate.Length(max=20))
    billing_address = fields.Nested(Address, allow_none=True)
    has_portal_access = fields.Boolean(load_default=True)
    is_active = fields.Boolean(load_default=True)
    require_dimensions = fields.Boolean(load_default=False)
    location_sharing = fields.String(load_default="approximate", validate=validate.OneOf(LOCATION_SHARING))
    allow_order_upload = fields.Boolean(load_default=True)
    default_depot_id = fields.String(allow_none=True, validate=validate.Length(max=36))


class CustomerPatch(CustomerIn):
    """A change to a customer: only the fields sent change (loaded with ``partial=True``)."""


SITE_CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$",
                            error="Use 1-32 letters, digits, dots, dashes or underscores.")


class Site(StrictSchema):
    """One of a customer's sites or cost centres: orders carry its code, users may be limited to some."""
    code = fields.String(required=True, validate=SITE_CODE, metadata={"example": "north-depot"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


def _unique_codes(sites: list | None) -> None:
    codes = [str(site.get("code", "")).lower() for site in sites or [] if site.get("code")]
    if len(codes) != len(set(codes)):
        raise ValidationError("Each site needs a code of its own.")


SiteCodes = fields.List(fields.String(validate=SITE_CODE), allow_none=True, validate=validate.Length(max=100),
                        metadata={"description": "The site codes the user may see and order for; "
                                                 "null or absent: all of them."})


class CustomerOut(Schema):
    id = fields.String(required=True)
    client_id = fields.String(required=True)
    name = fields.String(required=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    postal_code = fields.String(allow_none=True)
    billing_address = fields.Dict(allow_none=True)
    has_portal_access = fields.Boolean(required=True)
    is_active = fields.Boolean(required=True)
    require_dimensions = fields.Boolean(required=True)
    location_sharing = fields.String(required=True)
    allow_order_upload = fields.Boolean(required=True)
    default_depot_id = fields.String(allow_none=True)
    sites = fields.List(fields.Nested(Site), required=True)
    approval_limit = fields.Nested(MoneySchema, allow_none=True,
                                   metadata={"description": "Orders by bookers above it wait for an admin's approval."})
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class CustomerSelfOut(CustomerOut):
    """What a customer sees of its own account: not the operator's switches and notes."""

    class Meta:
        exclude = ("has_portal_access", "is_active", "default_depot_id", "created_at", "updated_at")


class CustomerSelfPatch(StrictSchema):
    """What a customer admin may change on its own account."""

    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    phone = CustomerIn._declared_fields["phone"]
    billing_address = fields.Nested(Address, allow_none=True)
    sites = fields.List(fields.Nested(Site), validate=validate.Length(max=100))
    approval_limit = fields.Nested(MoneySchema, allow_none=True,
                                   metadata={"description": "null: no approval needed"})

    @validates("sites")
    def _sites(self, value, **_):
        _unique_codes(value)

    @validates("approval_limit")
    def _limit(self, value, **_):
        if value is not None and value.get("amount") is not None and value["amount"] < 0:
            raise ValidationError("The approval limit cannot be negative.")


CustomerRole = fields.String(validate=validate.OneOf(CUSTOMER_PEOPLE), metadata={
    "description": "customer_admin: users, keys, billing and everything a booker does; customer_booker: "
                   "orders; customer_viewer: reads only."})


class InvitesIn(StrictSchema):
    emails = fields.List(fields.Email(validate=validate.Length(max=254)), required=True,
                         validate=validate.Length(min=1, max=20))
    role = fields.String(load_default=CUSTOMER_BOOKER, validate=CustomerRole.validate,
                         metadata=CustomerRole.metadata)
    sites = SiteCodes


class UserPatch(StrictSchema):
    """What a customer admin changes on a colleague: its role and the sites it is limited to."""
    role = fields.String(validate=CustomerRole.validate, metadata=CustomerRole.metadata)
    sites = SiteCodes


class InviteOut(Schema):
    id = fields.String(required=True)
    customer_id = fields.String(required=True)
    email = fields.String(required=True)
    role = fields.String(required=True)
    sites = fields.List(fields.String(), allow_none=True)
    status = fields.String(required=True, metadata={"enum": ["pending", "accepted", "revoked", "expired"]})
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    sent_count = fields.Integer(required=True)


class AcceptInviteIn(StrictSchema):
    token = fields.String(required=True, validate=validate.Length(min=20, max=200))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class MePatch(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    current_password = fields.String(validate=validate.Length(max=1024))
    new_password = fields.String(validate=validate.Length(min=1, max=1024))


class UserAccessPatch(StrictSchema):
    has_portal_access = fields.Boolean()
    is_active = fields.Boolean()


class ApiKeyIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class ApiKeyOut(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class ApiKeyCreated(ApiKeyOut):
    secret = fields.String(required=True, metadata={"description": "Shown this once; store it now."})


class AuditArgs(StrictSchema):
    customer_id = fields.String(load_default=None)
    actor_id = fields.String(load_default=None)
    action = fields.String(load_default=None)
    since = fields.AwareDateTime(load_default=None)
    until = fields.AwareDateTime(load_default=None)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))   # an OFFSET: bounded
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AuditEntryOut(Schema):
    at = fields.DateTime(required=True)
    action = fields.String(required=True)
    actor_id = fields.String(allow_none=True)
    actor_role = fields.String(allow_none=True)
    customer_id = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    details = fields.Dict()


class PasswordResetIn(StrictSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))


class PasswordResetConfirmIn(StrictSchema):
    token = fields.String(required=True, validate=validate.Length(min=20, max=200))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class SignupIn(StrictSchema):
    company_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    phone = CustomerIn._declared_fields["phone"]
    postal_code = fields.String(allow_none=True, validate=validate.Length(max=20))


class ClaimIn(StrictSchema):
    phone = fields.String(required=True, validate=validate.Length(min=4, max=40))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    postal_code = fields.String(required=True, validate=validate.Length(min=1, max=20))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    name = fields.String(validate=validate.Length(min=1, max=200))


class OperatorSettings(StrictSchema):
    self_signup = fields.Boolean(metadata={"description": "Customers may create their own account."})
    require_2fa_for_staff = fields.Boolean(metadata={
        "description": "Operator staff must turn on two-factor sign-in before doing anything else."})


class BrandingIn(StrictSchema):
    """A change to the operator's branding: only the fields sent change; null or "" = the default."""
    display_name = fields.String(allow_none=True, validate=validate.Length(max=120))
    primary_color = fields.String(allow_none=True, validate=validate.Length(max=7), metadata={
        "description": "Hex `#rrggbb`; at least 4.5:1 contrast with white (links, white text on it)."})
    accent_color = fields.String(allow_none=True, validate=validate.Length(max=7), metadata={
        "description": "Hex `#rrggbb`; at least 3:1 contrast with white (markers, focus rings)."})
    email_footer = fields.String(allow_none=True, validate=validate.Length(max=300),
                                 metadata={"description": "One line at the foot of every email."})


class LogoUploadIn(StrictSchema):
    """A file the gateway streamed into the blob store (gateway.inputs.upload)."""
    key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    size = fields.Integer(required=True, validate=validate.Range(min=0))
    sha256 = fields.String(required=True, validate=validate.Length(equal=64))
    filename = fields.String(load_default=None, validate=validate.Length(max=500))


class BrandingOut(Schema):
    """The branding in use: what the operator set, else the platform's defaults."""
    name = fields.String(required=True)
    primary_color = fields.String(required=True)
    accent_color = fields.String(required=True)
    primary_text = fields.String(required=True, metadata={"description": "Text colour on the primary colour."})
    accent_text = fields.String(required=True, metadata={"description": "Text colour on the accent colour."})
    logo_url = fields.String(required=True, allow_none=True)


class BrandingSettingsOut(BrandingOut):
    email_footer = fields.String(required=True, allow_none=True)
    settings = fields.Nested(BrandingIn, required=True, metadata={
        "description": "What the operator set; null = the default (from the environment)."})


class NewUserIn(StrictSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = fields.String(required=True, validate=validate.OneOf(
        ["operator_admin", "dispatcher", *CUSTOMER_PEOPLE]))


class DriverIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    phone = CustomerIn._declared_fields["phone"]
    depot_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    is_active = fields.Boolean()


class DriverPatch(DriverIn):
    """A change to a driver: only the fields sent change (loaded with ``partial=True``)."""


class DriverOut(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    phone = fields.String(allow_none=True)
    depot_id = fields.String(allow_none=True)
    is_active = fields.Boolean(required=True)
    credential_prefix = fields.String(required=True)
    credential_issued_at = fields.DateTime(required=True)
    created_at = fields.DateTime(required=True)


class DriverWithCredential(DriverOut):
    credential = fields.String(required=True, metadata={
        "description": "For the driver app; shown this once. Rotate it to replace a lost one."})


class TwoFactorSetupOut(Schema):
    secret = fields.String(required=True, metadata={"description": "Type it into the app, or use the URI."})
    otpauth_uri = fields.String(required=True, metadata={"description": "Show it as a QR code."})


class TwoFactorCodeIn(StrictSchema):
    code = fields.String(required=True, validate=validate.Length(min=6, max=32))


class TwoFactorDisableIn(StrictSchema):
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    code = fields.String(required=True, validate=validate.Length(min=6, max=32))


class TwoFactorStatus(Schema):
    enabled = fields.Boolean(required=True)
    recovery_codes = fields.List(fields.String(), metadata={"description": "Shown this once."})


# --- the operator's terms (services/identity/terms.py) --------------------------------------------
class TermsVersionOut(Schema):
    version = fields.Integer()
    sha256 = fields.String(metadata={"description": "The SHA-256 of the PDF's bytes: what a signature is given against."})
    size = fields.Integer()
    pages = fields.Integer()
    filename = fields.String(allow_none=True)
    uploaded_at = fields.String()
    uploaded_by = fields.String(allow_none=True)


class TermsSignatureOut(SignatureOut):
    customer_id = fields.String()
    customer_name = fields.String(allow_none=True)
    version = fields.Integer()


class TermsOut(Schema):
    current = fields.Nested(TermsVersionOut, allow_none=True, metadata={
        "description": "The current version (null: the operator has published no terms)."})
    signature = fields.Nested(TermsSignatureOut, allow_none=True, metadata={
        "description": "Your company's signature of the current version (null: not signed)."})
    must_sign = fields.Boolean(metadata={"description": "Your company has not signed the current version."})


class TermsVersionCountOut(TermsVersionOut):
    signatures = fields.Integer(metadata={"description": "How many companies signed this version."})


class TermsAdminOut(Schema):
    current = fields.Nested(TermsVersionOut, allow_none=True)
    versions = fields.List(fields.Nested(TermsVersionCountOut))
    customers = fields.Integer(metadata={"description": "Active customers (each should sign the current version)."})


class TermsSignatureListArgs(PageArgs):
    version = fields.Integer(validate=validate.Range(min=1, max=1_000_000))
    customer_id = fields.String(validate=validate.Length(max=36))


class SignedTermsArgs(StrictSchema):
    customer_id = fields.String(validate=validate.Length(max=36), metadata={
        "description": "Operator staff: the customer whose signed terms to show."})
    version = fields.Integer(validate=validate.Range(min=1, max=1_000_000), metadata={
        "description": "A version signed before (default: the latest the company signed)."})
    download = fields.String(validate=validate.OneOf(["0", "1"]), metadata={"description": "1: as an attachment."})
