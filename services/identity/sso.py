"""Signing in through an OpenID Connect provider (Google, Microsoft ...).

The gateway runs the browser flow and checks the ID token; here the verified identity is
matched to a portal user. SSO never creates access on its own: an identity is linked only to
an existing user with the same, provider-verified email, or to a pending invitation for it
(which it then accepts). Later sign-ins follow the link, whatever the email has become."""
from __future__ import annotations

from sqlalchemy import select

from services.common.db import UnitOfWork, utcnow
from services.common.errors import Unauthenticated
from services.identity import audit, users
from services.identity.accounts import normalise_email, signed_in
from services.identity.models import ExternalIdentity, Invite, User

NO_ACCOUNT = ("No portal account uses this address. Ask your administrator for an invitation, "
              "then sign in with it.")


def sign_in(uow: UnitOfWork, provider: str, subject: str, email: str | None, email_verified: bool,
            address: str | None = None) -> dict:
    session = uow.session
    link = session.get(ExternalIdentity, (provider, subject))
    user = session.get(User, link.user_id) if link else None
    if user is None:
        if not email or not email_verified:
            raise Unauthenticated("The provider did not vouch for an email address.")
        email = normalise_email(email)
        user = session.scalar(select(User).where(User.email == email)) or _from_invitation(uow, email)
        if user is None:
            raise Unauthenticated(NO_ACCOUNT)
        session.add(ExternalIdentity(provider=provider, subject=subject, user_id=user.id, email=email))
        audit.record(session, None, "auth.sso_linked", customer_id=user.customer_id, target_id=user.id,
                     address=address, details={"provider": provider})
    if not user.is_active or not user.has_portal_access:
        raise Unauthenticated("This account cannot sign in; ask your administrator.")
    return signed_in(session, user, address)


def _from_invitation(uow: UnitOfWork, email: str) -> User | None:
    session = uow.session
    invite = session.scalar(select(Invite).where(
        Invite.email == email, Invite.accepted_at.is_(None), Invite.revoked_at.is_(None),
        Invite.expires_at > utcnow()).order_by(Invite.created_at.desc()))
    if invite is None:
        return None
    user = User(email=email, name=email.split("@")[0], role=invite.role,
                customer_id=invite.customer_id, sites=invite.sites, password_hash=None)
    session.add(user)
    invite.accepted_at = utcnow()
    session.flush()
    users.announce(uow, "user.activated", user)
    return user
