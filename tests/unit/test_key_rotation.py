"""SECRET_KEY rotation (deploy/RUNBOOK.md): while SECRET_KEY_PREVIOUS names the old root
secret, everything made with it is still accepted and only the new one signs; once it is
dropped, what the old key made is refused, except stored secrets prepare sealed again."""
import time

import pytest
from cryptography.exceptions import InvalidTag

from services.common import caller, keys, tokens
from services.common.caller import CUSTOMER_BOOKER, CallerContext
from services.common.errors import Unauthenticated
from services.identity import one_time

OLD, NEW = "old-root-secret-0123456789", "new-root-secret-9876543210"
ME = CallerContext(role=CUSTOMER_BOOKER, user_id="u-1", customer_id="c-1")


@pytest.fixture
def rotate(monkeypatch):
    """``rotate(current, previous)``: the environment of a process during a rotation."""
    def set_keys(current: str, previous: str | None = None):
        monkeypatch.setenv("SECRET_KEY", current)
        if previous:
            monkeypatch.setenv("SECRET_KEY_PREVIOUS", previous)
        else:
            monkeypatch.delenv("SECRET_KEY_PREVIOUS", raising=False)
    return set_keys


def test_tokens_and_signed_calls_made_with_the_old_key_pass_until_it_is_dropped(rotate):
    rotate(OLD)
    token, _ = tokens.issue(ME)
    context = caller.sign(ME, time.time() + 60)
    rotate(NEW, OLD)
    assert tokens.read(token)[0] == ME and caller.verify(context) == ME
    fresh, _ = tokens.issue(ME)
    rotate(NEW)
    assert tokens.read(fresh)[0] == ME                    # the new key signed it
    with pytest.raises(Unauthenticated):
        tokens.read(token)
    assert caller.verify(context).problem == "caller context signature is not valid"


def test_a_process_that_has_the_new_key_only_as_previous_already_accepts_it(rotate):
    """Phase one of a rotation: every process learns the new key before any signs with it."""
    rotate(NEW)
    context = caller.sign(ME, time.time() + 60)
    rotate(OLD, NEW)
    assert caller.verify(context) == ME


def test_sealed_secrets_open_under_either_key_and_reseal_moves_them_to_the_new_one(rotate):
    rotate(OLD)
    sealed = keys.seal("totp-secret", "JBSWY3DPEHPK3PXP")
    rotate(NEW, OLD)
    assert keys.unseal("totp-secret", sealed) == "JBSWY3DPEHPK3PXP"
    resealed = keys.reseal("totp-secret", sealed)
    assert resealed and keys.reseal("totp-secret", resealed) is None      # already current
    rotate(NEW)
    assert keys.unseal("totp-secret", resealed) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(InvalidTag):
        keys.unseal("totp-secret", sealed)


def test_links_and_one_time_tokens_made_before_the_rotation_still_work(rotate):
    from gateway.auth import _csrf_matches, csrf_token
    from services.notify.preferences import _signer, unsubscribe_token

    rotate(OLD)
    link = unsubscribe_token("u-1", "order.status_changed")
    csrf = csrf_token("sid-1")
    invite_token = one_time.derive("invite", "inv-1", "nonce-1")
    rotate(NEW, OLD)
    assert _signer().loads(link) == ["u-1", "order.status_changed"]
    assert _csrf_matches(csrf, "sid-1") and not _csrf_matches(csrf, "sid-2")
    assert invite_token in one_time.candidates("invite", "inv-1", "nonce-1")
    rotate(NEW)
    assert not _csrf_matches(csrf, "sid-1") and not _csrf_matches("", "sid-1")
    assert invite_token not in one_time.candidates("invite", "inv-1", "nonce-1")


def test_prepare_reseals_stored_totp_and_webhook_secrets_with_the_new_key(rotate, tmp_path, monkeypatch):
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from services.common import prepare
    from services.identity.models import Base as IdentityBase, User
    from services.notify import webhook_http
    from services.notify.models import Base as NotifyBase, WebhookEndpoint

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    engines = {}
    for service, base in (("identity", IdentityBase), ("notify", NotifyBase)):
        engines[service] = create_engine(f"sqlite:///{tmp_path}/{service}.db")
        base.metadata.create_all(engines[service])
    rotate(OLD)
    with Session(engines["identity"]) as session, session.begin():
        session.add(User(email="two@factor.example", role="customer_booker",
                         totp_secret=keys.seal("totp-secret", "JBSWY3DPEHPK3PXP")))
    with Session(engines["notify"]) as session, session.begin():
        session.add(WebhookEndpoint(url="https://partner.example/hook", event_types=["*"],
                                    secret_sealed=webhook_http.seal("whsec_partner")))
    rotate(NEW, OLD)
    prepare.reseal()
    rotate(NEW)                                         # the old key is gone: still readable
    with Session(engines["identity"]) as session:
        assert keys.unseal("totp-secret", session.scalar(select(User.totp_secret))) == "JBSWY3DPEHPK3PXP"
    with Session(engines["notify"]) as session:
        assert webhook_http.unseal(session.scalar(select(WebhookEndpoint.secret_sealed))) == "whsec_partner"
    for engine in engines.values():
        engine.dispose()
