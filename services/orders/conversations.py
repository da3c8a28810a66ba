"""Conversations between a customer's users and the operator's team: one per order (opened by
the first message about it) and general support questions with a subject and a status.
Each message is published as ``message.posted`` so notify can tell the other side."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import ValidationFailed
from services.common.schemas import dump
from services.orders import sites
from services.orders.booking import customer_settings, get_scoped, target_customer
from services.orders.models import Conversation, Message
from services.common.scoping import get_owned, owned, paged
from services.orders.schemas import ConversationDetailOut, ConversationOut, MessageOut


def _get(session: Session, caller: CallerContext, conversation_id: str) -> Conversation:
    conversation = get_owned(session, caller, Conversation, conversation_id, "conversation")
    sites.require_visible_order(session, caller, conversation.order_id, "conversation", loose=True)
    return conversation


def _messages(session: Session, conversation: Conversation) -> list:
    return session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                           .order_by(Message.created_at, Message.id)).all()


def detail(session: Session, conversation: Conversation) -> dict:
    return dump(ConversationDetailOut, {**{c.key: getattr(conversation, c.key)
                                           for c in Conversation.__table__.columns},
                                        "messages": _messages(session, conversation)})


def _post(uow: UnitOfWork, caller: CallerContext, conversation: Conversation, body: str) -> dict:
    now = utcnow()
    message = Message(conversation_id=conversation.id, customer_id=conversation.customer_id,
                      author_id=caller.user_id, author_role=caller.role,
                      author_side="operator" if caller.is_operator else "customer", body=body,
                      created_at=now)
    uow.session.add(message)
    conversation.last_message_at = now
    conversation.message_count += 1
    if conversation.status == "closed":    # a new message reopens the thread
        conversation.status = "open"
    uow.session.flush()
    uow.emit("message.posted", {"conversation_id": conversation.id, "order_id": conversation.order_id,
                                "message_id": message.id, "author_role": caller.role,
                                "author_side": message.author_side, "subject": conversation.subject,
                                "preview": body[:300]},
             customer_id=conversation.customer_id)
    return dump(MessageOut, message)


# --- about an order ---------------------------------------------------------------------------
def order_messages(uow: UnitOfWork, caller: CallerContext, order_id: str) -> list[dict]:
    order = get_scoped(uow.session, caller, order_id)
    conversation = uow.session.scalar(select(Conversation).where(Conversation.order_id == order.id))
    return dump(MessageOut, _messages(uow.session, conversation), many=True) if conversation else []


def post_on_order(uow: UnitOfWork, caller: CallerContext, order_id: str, body: str) -> dict:
    order = get_scoped(uow.session, caller, order_id, lock=True)
    conversation = uow.session.scalar(select(Conversation).where(Conversation.order_id == order.id))
    if conversation is None:
        conversation = Conversation(customer_id=order.customer_id, order_id=order.id,
                                    subject=f"Order {order.reference}", created_by=caller.user_id)
        uow.session.add(conversation)
        uow.session.flush()
    return _post(uow, caller, conversation, body)


# --- support conversations --------------------------------------------------------------------
def open_conversation(uow: UnitOfWork, caller: CallerContext, data: dict) -> dict:
    customer_id = target_customer(caller, data.get("customer_id"))
    customer_settings(uow.session, customer_id)
    conversation = Conversation(customer_id=customer_id, subject=data["subject"], created_by=caller.user_id)
    uow.session.add(conversation)
    uow.session.flush()
    _post(uow, caller, conversation, data["body"])
    return detail(uow.session, conversation)


def post(uow: UnitOfWork, caller: CallerContext, conversation_id: str, body: str) -> dict:
    return _post(uow, caller, _get(uow.session, caller, conversation_id), body)


def get(session: Session, caller: CallerContext, conversation_id: str) -> dict:
    return detail(session, _get(session, caller, conversation_id))


def set_status(session: Session, caller: CallerContext, conversation_id: str, new_status: str) -> dict:
    conversation = _get(session, caller, conversation_id)
    if conversation.order_id and new_status == "closed" and not caller.is_operator:
        raise ValidationFailed.of({"status": ["An order's conversation stays with the order."]})
    conversation.status = new_status
    return detail(session, conversation)


def listing(session: Session, caller: CallerContext, args: dict) -> dict:
    query = sites.of_visible_orders(caller, owned(caller, Conversation, args.get("customer_id")),
                                    Conversation.order_id, loose=True)
    if args.get("status"):
        query = query.where(Conversation.status == args["status"])
    if args.get("about") == "order":
        query = query.where(Conversation.order_id.is_not(None))
    elif args.get("about") == "support":
        query = query.where(Conversation.order_id.is_(None))
    return paged(session, query.order_by(Conversation.last_message_at.desc()), args, ConversationOut)
