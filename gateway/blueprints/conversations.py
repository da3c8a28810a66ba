"""Support conversations with the operator's team, about an order or not."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from gateway.auth import caller, requires
from gateway.inputs import query_args
from gateway.rpc import answer, client
from services.common.caller import CUSTOMER_ROLES, OPERATOR_ROLES
from services.common.schemas import page_of
from services.orders.schemas import (ConversationDetailOut, ConversationIn, ConversationListArgs,
                                     ConversationOut, ConversationPatch, MessageIn, MessageOut)

blp = Blueprint("conversations", __name__, url_prefix="/api/v1/conversations",
                description="Conversations with the operator's team (operator staff answer here too).")
ANYONE = tuple(sorted(CUSTOMER_ROLES | OPERATOR_ROLES))


def conversations(method: str, *args):
    return client().call("orders", method, *args, caller=caller())


@blp.route("", methods=["GET"])
@requires(*ANYONE)
@blp.arguments(ConversationListArgs, location="query")
@blp.response(200, page_of(ConversationOut))
def list_conversations(_args):
    """Conversations, latest message first; `about=order|support`, `status=open|closed`
    (operator staff see every customer's, or one with `customer_id`)."""
    return answer(conversations("list_conversations", query_args()))


@blp.route("", methods=["POST"])
@requires(*ANYONE)
@blp.arguments(ConversationIn)
@blp.response(201, ConversationDetailOut)
def open_conversation(_payload):
    """Ask the operator's team something not tied to one order: a subject and the first message."""
    return answer(conversations("open_conversation", request.get_json()), 201)


@blp.route("/<string:conversation_id>", methods=["GET"])
@requires(*ANYONE)
@blp.response(200, ConversationDetailOut)
def get_conversation(conversation_id):
    """A conversation with all its messages."""
    return answer(conversations("get_conversation", conversation_id))


@blp.route("/<string:conversation_id>", methods=["PATCH"])
@requires(*ANYONE)
@blp.arguments(ConversationPatch)
@blp.response(200, ConversationDetailOut)
def set_status(_payload, conversation_id):
    """Close a conversation (or reopen it); a new message reopens it too."""
    return answer(conversations("set_conversation_status", conversation_id, request.get_json()))


@blp.route("/<string:conversation_id>/messages", methods=["POST"])
@requires(*ANYONE)
@blp.arguments(MessageIn)
@blp.response(201, MessageOut)
def post_message(_payload, conversation_id):
    """Add a message; the other side is told."""
    return answer(conversations("post_message", conversation_id, request.get_json()), 201)
