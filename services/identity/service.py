"""The identity service: entrypoints only; the rules live in the domain modules."""
from __future__ import annotations

from services.common.caller import SERVICE
from services.common.database import Database
from services.common.caller import personal
from services.common.entrypoints import rpc
from services.common.schemas import PageArgs, dump, load
from services.common.service import PortalService
from services.identity import (accounts, activation, api_keys, audit, branding, customers, drivers,
                               invites, mailer, onboarding, resets, sessions, sso, terms, two_factor,
                               users)
from services.identity.models import Base
from services.identity.schemas import UserPatch
from services.identity.schemas import SignedTermsArgs, TermsSignatureListArgs
from services.common.esign import DocumentUploadIn, SignatureIn
from services.identity.schemas import (AcceptInviteIn, ApiKeyIn, AuditArgs, BrandingIn, ClaimIn,
                                       CustomerSelfPatch, DriverIn, InvitesIn, LoginIn, MePatch,
                                       LogoUploadIn, NewUserIn, OperatorSettings, PasswordResetConfirmIn,
                                       PasswordResetIn, SignupIn, TwoFactorCodeIn,
                                       TwoFactorDisableIn, UserAccessPatch, UserOut)


class Service(PortalService):
    name = "identity"
    db = Database(Base)

    # --- signing in -------------------------------------------------------------------
    @rpc
    def login(self, credentials: dict, address: str | None = None) -> dict:
        data = load(LoginIn, credentials)
        return accounts.login(self.db, data["email"], data["password"], address, data.get("otp"))

    @personal
    @rpc
    def check_session(self, jti: str, issued_at: float, session_id: str | None = None) -> dict:
        return sessions.check(self.db.session, self.caller, jti, issued_at, session_id)

    @personal
    @rpc
    def renew_session(self, claims: dict) -> dict:
        return sessions.renew(self.db.session, self.caller, claims)

    @personal
    @rpc
    def logout(self, jti: str, expires_at: float, address: str | None = None,
               session_id: str | None = None) -> None:
        sessions.logout(self.db.session, self.caller, jti, expires_at, address, session_id)

    @rpc
    def request_password_reset(self, payload: dict, address: str | None = None) -> None:
        resets.request(self.db, load(PasswordResetIn, payload)["email"], address)

    @rpc
    def confirm_password_reset(self, payload: dict, address: str | None = None) -> None:
        data = load(PasswordResetConfirmIn, payload)
        resets.confirm(self.db, data["token"], data["password"], address)

    @rpc
    def signup(self, payload: dict, address: str | None = None) -> dict:
        user = onboarding.signup(self.db, load(SignupIn, payload), address)
        return accounts.signed_in(self.db.session, user, address)

    @rpc
    def claim(self, payload: dict, address: str | None = None) -> dict:
        user = onboarding.claim(self.db, load(ClaimIn, payload), address)
        return accounts.signed_in(self.db.session, user, address)

    @rpc
    def get_settings(self) -> dict:
        self.caller.require_operator()
        return onboarding.settings(self.db.session)

    @rpc
    def update_settings(self, payload: dict) -> dict:
        return onboarding.update_settings(self.db, self.caller, load(OperatorSettings, payload))

    # --- branding (public to read: the portal's sign-in page and tracking pages show it) --------
    @rpc
    def get_branding(self) -> dict:
        return branding.view(self.db.session)

    @rpc
    def update_branding(self, payload: dict) -> dict:
        return branding.update(self.db, self.caller, load(BrandingIn, payload))

    @rpc
    def set_branding_logo(self, upload: dict) -> dict:
        return branding.set_logo(self.db, self.caller, load(LogoUploadIn, upload))

    @rpc
    def remove_branding_logo(self) -> dict:
        return branding.remove_logo(self.db, self.caller)

    # --- the operator's terms (customers' admins sign each version) ------------------------------
    @rpc
    def get_terms(self) -> dict:
        return terms.status(self.db.session, self.caller)

    @rpc
    def terms_document(self) -> dict:
        return terms.document(self.db.session, self.caller)

    @rpc
    def sign_terms(self, payload: dict, origin: dict | None = None) -> dict:
        return terms.sign(self.db, self.caller, load(SignatureIn, payload), origin or {})

    @rpc
    def signed_terms_pdf(self, args: dict | None = None) -> dict:
        data = load(SignedTermsArgs, args or {})
        return terms.signed_pdf(self.db.session, self.caller, data.get("customer_id"), data.get("version"))

    @rpc
    def upload_terms(self, upload: dict) -> dict:
        return terms.upload(self.db, self.caller, load(DocumentUploadIn, upload))

    @rpc
    def admin_terms(self) -> dict:
        return terms.admin_view(self.db.session, self.caller)

    @rpc
    def list_terms_signatures(self, args: dict | None = None) -> dict:
        return terms.signatures(self.db.session, self.caller, load(TermsSignatureListArgs, args or {}))

    @rpc
    def sso_sign_in(self, provider: str, subject: str, email: str | None, email_verified: bool,
                    address: str | None = None) -> dict:
        return sso.sign_in(self.db, provider, subject, email, email_verified, address)

    @rpc
    def authenticate_api_key(self, secret: str) -> dict:
        return api_keys.authenticate(self.db.session, secret)

    @rpc
    def accept_invite(self, payload: dict, address: str | None = None) -> dict:
        data = load(AcceptInviteIn, payload)
        return dump(UserOut, invites.accept(self.db, data["token"], data["name"], data["password"], address))

    # --- oneself ----------------------------------------------------------------------
    @personal
    @rpc
    def get_me(self) -> dict:
        return accounts.profile(self.db, self.caller)

    @personal
    @rpc
    def update_me(self, payload: dict) -> dict:
        return users.update_me(self.db, self.caller, load(MePatch, payload))

    @personal
    @rpc
    def setup_two_factor(self) -> dict:
        return two_factor.setup(self.db, self.caller)

    @personal
    @rpc
    def confirm_two_factor(self, payload: dict) -> dict:
        return two_factor.confirm(self.db, self.caller, load(TwoFactorCodeIn, payload)["code"])

    @personal
    @rpc
    def disable_two_factor(self, payload: dict) -> dict:
        data = load(TwoFactorDisableIn, payload)
        return two_factor.disable(self.db, self.caller, data["password"], data["code"])

    @rpc
    def get_own_customer(self) -> dict:
        return customers.own(self.db.session, self.caller)

    @rpc
    def update_own_customer(self, payload: dict) -> dict:
        return customers.update_own(self.db, self.caller, load(CustomerSelfPatch, payload))

    # --- colleagues and invitations ---------------------------------------------------
    @rpc
    def list_users(self, customer_id: str | None = None) -> list:
        return users.of_customer(self.db.session, self.caller, customer_id or self.caller.customer_id)

    @rpc
    def invite(self, customer_id: str | None, payload: dict, address: str | None = None) -> list:
        data = load(InvitesIn, payload)
        return invites.invite(self.db, self.caller, customer_id or self.caller.customer_id,
                              data["emails"], data["role"], address, data.get("sites"))

    @rpc
    def list_invites(self, customer_id: str | None = None) -> list:
        return invites.listing(self.db.session, self.caller, customer_id or self.caller.customer_id)

    @rpc
    def resend_invite(self, invite_id: str) -> dict:
        return invites.resend(self.db, self.caller, invite_id)

    @rpc
    def revoke_invite(self, invite_id: str) -> dict:
        return invites.revoke(self.db, self.caller, invite_id)

    @rpc
    def remove_user(self, user_id: str) -> None:
        users.remove(self.db, self.caller, user_id)

    @rpc
    def update_user(self, user_id: str, payload: dict) -> dict:
        return users.update(self.db, self.caller, user_id, load(UserPatch, payload, partial=True))

    @rpc
    def set_user_access(self, user_id: str, payload: dict) -> dict:
        return users.set_access(self.db, self.caller, user_id, load(UserAccessPatch, payload))

    # --- API keys ---------------------------------------------------------------------
    @rpc
    def create_api_key(self, payload: dict) -> dict:
        return api_keys.create(self.db, self.caller, load(ApiKeyIn, payload)["name"])

    @rpc
    def list_api_keys(self) -> list:
        return api_keys.listing(self.db.session, self.caller)

    @rpc
    def revoke_api_key(self, key_id: str) -> dict:
        return api_keys.revoke(self.db, self.caller, key_id)

    # --- operator: customers and the audit log ----------------------------------------
    @rpc
    def create_customer(self, payload: dict, idempotency_key: str | None = None) -> dict:
        self.caller.require_operator()
        fields = customers.validate_fields(payload)
        return self.db.idempotent("create_customer", self.caller, idempotency_key, payload,
                                  lambda: customers.create(self.db, self.caller, fields))

    @rpc
    def update_customer(self, customer_id: str, payload: dict) -> dict:
        fields = customers.validate_fields(payload, partial=True)
        return customers.update(self.db, self.caller, customer_id, fields)

    @rpc
    def get_customer(self, customer_id: str) -> dict:
        return customers.get(self.db.session, self.caller, customer_id)

    @rpc
    def list_customers(self, args: dict | None = None) -> dict:
        paging = load(PageArgs, {k: v for k, v in (args or {}).items() if k != "q"})
        return customers.listing(self.db.session, self.caller, q=(args or {}).get("q"), **paging)

    @rpc
    def create_user(self, payload: dict, customer_id: str | None = None, address: str | None = None) -> dict:
        return activation.create(self.db, self.caller, load(NewUserIn, payload), customer_id, address)

    @rpc
    def list_staff(self) -> list:
        return activation.staff(self.db.session, self.caller)

    @rpc
    def create_driver(self, payload: dict) -> dict:
        return drivers.create(self.db, self.caller, load(DriverIn, payload))

    @rpc
    def list_drivers(self) -> list:
        return drivers.listing(self.db.session, self.caller)

    @rpc
    def update_driver(self, driver_id: str, payload: dict) -> dict:
        return drivers.update(self.db, self.caller, driver_id, load(DriverIn, payload, partial=True))

    @rpc
    def rotate_driver_credential(self, driver_id: str) -> dict:
        return drivers.rotate(self.db, self.caller, driver_id)

    @rpc
    def authenticate_driver(self, credential: str) -> dict:
        return drivers.authenticate(self.db.session, credential)

    @rpc
    def authenticate_drivers(self, credentials: list) -> dict:
        return drivers.authenticate_many(self.db.session, credentials)

    @rpc
    def audit_log(self, args: dict | None = None) -> dict:
        data = load(AuditArgs, args or {})
        page, per_page = data.pop("page"), data.pop("per_page")
        return audit.listing(self.db.session, self.caller, data, page, per_page)

    # --- what the account emails carry (notify sends them) -------------------------------
    @rpc
    def mail_content(self, event: dict) -> dict | None:
        """For the notify service only: the recipient and the secret link (or temporary
        password) of an invitation, password reset or activation, if it may still go out."""
        self.caller.require(SERVICE)
        return mailer.content(self.db.session, event)
