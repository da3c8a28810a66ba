"""The orders service: entrypoints only; the rules live in the domain modules."""
from __future__ import annotations

from services.common.database import Database
from services.common.caller import CUSTOMER_ADMIN, personal
from services.common.entrypoints import event_handler, rpc
from services.common.schemas import PageArgs, load
from services.common.service import PortalService
from services.common.service_rpc import ServiceRpc
from services.orders import (booking, conversations, customers, dispatch, documents, emissions, etas,
                             imports, lifecycle, listing, places, pricing, quotes, rentals)
from services.orders import approval, exceptions, import_mappings
from services.orders import rental_signing
from services.common.esign import DocumentUploadIn, SignatureIn
from services.orders.schemas import DeliveryChangeIn, ExceptionListArgs
from services.orders.models import Base
from nameko.timer import timer

from services.common.config import env_float
from services.orders import recurring, repeat
from services.orders.schemas import RecurringIn, RecurringPatch, RepeatIn
from services.orders.schemas import ImportConfirmIn, ImportPreviewFormIn
from services.orders.schemas import EmissionFactorIn, EmissionsArgs
from services.orders.schemas import (AdminOrderListArgs, CallOffIn, CallOffListArgs,
                                     ConversationIn, ConversationListArgs, ConversationPatch,
                                     DecisionIn, DeclineIn, DepotIn, DocumentFormIn, IdsIn, ImportArgs,
                                     ImportFormIn, ListViewIn, MessageIn, OrderIn, OrderListArgs,
                                     OrderPatch, PlaceIn, PlaceListArgs, ReasonIn,
                                     RentalContractIn, RentalListArgs, RequestListArgs,
                                     RescheduleIn, RouteIn, RouteListArgs, RouteOrdersIn,
                                     RoutePatch)


class Service(PortalService):
    name = "orders"
    db = Database(Base)
    # Prices for the approval limit (approval.py): billing owns them; a short timeout, since
    # the order row is locked meanwhile.
    billing = ServiceRpc("billing", timeout=approval.PRICE_TIMEOUT)

    @property
    def pricer(self) -> approval.Pricer:
        return approval.billing_pricer(self.billing)

    # --- facts from other services ------------------------------------------------------------
    @event_handler("customer.created", "customer.updated")
    def keep_customer_settings(self, event: dict) -> None:
        customers.apply_customer_event(self.db.session, event)

    @event_handler("driver.created", "driver.updated")
    def keep_drivers(self, event: dict) -> None:
        dispatch.apply_driver_event(self.db.session, event)

    @event_handler("stop.completed")
    def complete_stop(self, event: dict) -> None:
        dispatch.apply_stop_event(self.db, event)
        exceptions.note_stop(self.db, event)

    @event_handler("stop.eta_changed")
    def keep_stop_eta(self, event: dict) -> None:
        etas.apply_eta(self.db, event)
        exceptions.note_eta(self.db, event)

    @event_handler("quote.accepted")
    def book_accepted_quote(self, event: dict) -> None:
        quotes.book(self.db, event)

    @event_handler("order.priced")
    def keep_order_price(self, event: dict) -> None:
        order = pricing.apply_priced(self.db, event)
        if order is not None:
            emissions.refresh(self.db.session, order)

    @rpc
    def customer_settings(self, customer_id: str) -> dict:
        return customers.settings_of(self.db.session, self.caller, customer_id)

    # --- orders -------------------------------------------------------------------------------
    @rpc
    def create_order(self, payload: dict, idempotency_key: str | None = None) -> dict:
        data = load(OrderIn, payload)

        def produce() -> dict:
            customer_id = booking.target_customer(self.caller, data.pop("customer_id", None))
            order = booking.create(self.db, self.caller, customer_id, data, pricer=self.pricer)
            emissions.refresh(self.db.session, order)      # born submitted: it has its CO2e
            return lifecycle.view(self.db, self.caller, order)

        return self.db.idempotent("create_order", self.caller, idempotency_key, payload, produce)

    @rpc
    def list_orders(self, args: dict) -> dict:
        schema = AdminOrderListArgs if self.caller.is_operator else OrderListArgs
        return listing.list_orders(self.db, self.caller, load(schema, args))

    @rpc
    def get_order(self, order_id: str) -> dict:
        return lifecycle.get(self.db, self.caller, order_id)

    @rpc
    def update_order(self, order_id: str, payload: dict) -> dict:
        data = load(OrderPatch, payload, partial=True)
        order = booking.get_scoped(self.db.session, self.caller, order_id, lock=True)
        booking.replace_content(self.db, self.caller, order, data)
        return lifecycle.view(self.db, self.caller, order)

    @rpc
    def submit_order(self, order_id: str) -> dict:
        return lifecycle.submit(self.db, self.caller, order_id, self.pricer)

    @rpc
    def submit_orders(self, payload: dict) -> dict:
        return lifecycle.submit_many(self.db, self.caller, load(IdsIn, payload)["ids"], self.pricer)

    @rpc
    def approve_order(self, order_id: str) -> dict:
        return lifecycle.view(self.db, self.caller, approval.approve(self.db, self.caller, order_id))

    @rpc
    def decline_order(self, order_id: str, payload: dict | None = None) -> dict:
        self.caller.require(CUSTOMER_ADMIN)     # 403 before 422: a booker's bad body tells nothing
        reason = load(DeclineIn, payload or {})["reason"]
        return lifecycle.view(self.db, self.caller, approval.decline(self.db, self.caller, order_id, reason))

    @rpc
    def withdraw_order(self, order_id: str) -> dict:
        return lifecycle.withdraw(self.db, self.caller, order_id)

    @rpc
    def cancel_order(self, order_id: str, payload: dict | None = None) -> dict:
        return lifecycle.cancel(self.db, self.caller, order_id, load(ReasonIn, payload or {}).get("reason"))

    @rpc
    def request_reschedule(self, order_id: str, payload: dict) -> dict:
        return lifecycle.request_reschedule(self.db, self.caller, order_id, load(RescheduleIn, payload))

    @rpc
    def list_reschedules(self, args: dict, order_id: str | None = None) -> dict:
        return lifecycle.list_reschedules(self.db, self.caller, load(RequestListArgs, args), order_id)

    @rpc
    def decide_reschedule(self, request_id: str, payload: dict) -> dict:
        data = load(DecisionIn, payload)
        return lifecycle.decide_reschedule(self.db, self.caller, request_id, data["accept"], data.get("reason"))

    # --- delivery exceptions (late or failed stops the customer or recipient acts on) ---------
    @rpc
    def list_exceptions(self, args: dict) -> dict:
        return exceptions.listing(self.db, self.caller, load(ExceptionListArgs, args))

    @rpc
    def request_delivery_change(self, exception_id: str, payload: dict) -> dict:
        return exceptions.request_change(self.db, self.caller, exception_id, load(DeliveryChangeIn, payload))

    @rpc
    def recipient_exception(self, order_id: str) -> dict:
        return exceptions.recipient_view(self.db, self.caller, order_id)

    @rpc
    def recipient_delivery_change(self, order_id: str, payload: dict) -> dict:
        return exceptions.recipient_request(self.db, self.caller, order_id, load(DeliveryChangeIn, payload))

    @rpc
    def get_list_view(self) -> dict:
        return listing.get_view(self.db.session, self.caller)

    @personal
    @rpc
    def save_list_view(self, payload: dict) -> dict:
        return listing.save_view(self.db.session, self.caller, load(ListViewIn, payload))

    # --- address book -------------------------------------------------------------------------
    @rpc
    def list_places(self, args: dict) -> dict:
        return places.listing(self.db.session, self.caller, load(PlaceListArgs, args))

    @rpc
    def create_place(self, payload: dict) -> dict:
        return places.create(self.db.session, self.caller, load(PlaceIn, payload))

    @rpc
    def get_place(self, place_id: str) -> dict:
        return places.get(self.db.session, self.caller, place_id)

    @rpc
    def update_place(self, place_id: str, payload: dict) -> dict:
        return places.update(self.db.session, self.caller, place_id, load(PlaceIn, payload, partial=True))

    @rpc
    def delete_place(self, place_id: str) -> None:
        places.delete(self.db.session, self.caller, place_id)

    # --- imports ------------------------------------------------------------------------------
    @rpc
    def start_import(self, upload: dict, form: dict | None = None) -> dict:
        return imports.start(self.db, self.caller, upload, load(ImportFormIn, form or {}))

    @rpc
    def get_import(self, import_id: str, args: dict | None = None) -> dict:
        return imports.get(self.db.session, self.caller, import_id, load(ImportArgs, args or {}))

    @rpc
    def list_imports(self, args: dict) -> dict:
        return imports.listing(self.db.session, self.caller, load(PageArgs, args))

    @rpc
    def import_error_report(self, import_id: str) -> str:
        return imports.error_report(self.db.session, self.caller, import_id)

    @rpc
    def preview_import(self, upload: dict, form: dict | None = None) -> dict:
        return imports.preview(self.db, self.caller, upload, load(ImportPreviewFormIn, form or {}))

    @rpc
    def confirm_import(self, import_id: str, payload: dict | None = None) -> dict:
        return imports.confirm(self.db, self.caller, import_id, load(ImportConfirmIn, payload or {}))

    @rpc
    def list_import_mappings(self) -> list:
        return import_mappings.listing(self.db.session, self.caller)

    @rpc
    def create_import_mapping(self, payload: dict) -> dict:
        return import_mappings.create(self.db.session, self.caller, payload)

    @rpc
    def update_import_mapping(self, mapping_id: str, payload: dict) -> dict:
        return import_mappings.update_mapping(self.db.session, self.caller, mapping_id, payload)

    @rpc
    def delete_import_mapping(self, mapping_id: str) -> None:
        import_mappings.delete(self.db.session, self.caller, mapping_id)

    @rpc
    def get_import_address(self) -> dict:
        return import_mappings.get_address(self.db.session, self.caller)

    @rpc
    def rotate_import_address(self) -> dict:
        return import_mappings.rotate_address(self.db.session, self.caller)

    # --- documents ----------------------------------------------------------------------------
    @rpc
    def list_documents(self, order_id: str) -> list:
        return documents.listing(self.db, self.caller, order_id)

    @rpc
    def add_document(self, order_id: str, upload: dict, form: dict | None = None) -> dict:
        kind = load(DocumentFormIn, form or {})["kind"]
        return documents.add(self.db, self.caller, order_id, {**upload, "kind": kind})

    @rpc
    def document_content(self, document_id: str, thumbnail: bool = False) -> dict:
        return documents.content(self.db, self.caller, document_id, thumbnail)

    # --- conversations ------------------------------------------------------------------------
    @rpc
    def order_messages(self, order_id: str) -> list:
        return conversations.order_messages(self.db, self.caller, order_id)

    @rpc
    def post_order_message(self, order_id: str, payload: dict) -> dict:
        return conversations.post_on_order(self.db, self.caller, order_id, load(MessageIn, payload)["body"])

    @rpc
    def list_conversations(self, args: dict) -> dict:
        return conversations.listing(self.db.session, self.caller, load(ConversationListArgs, args))

    @rpc
    def open_conversation(self, payload: dict) -> dict:
        return conversations.open_conversation(self.db, self.caller, load(ConversationIn, payload))

    @rpc
    def get_conversation(self, conversation_id: str) -> dict:
        return conversations.get(self.db.session, self.caller, conversation_id)

    @rpc
    def post_message(self, conversation_id: str, payload: dict) -> dict:
        return conversations.post(self.db, self.caller, conversation_id, load(MessageIn, payload)["body"])

    @rpc
    def set_conversation_status(self, conversation_id: str, payload: dict) -> dict:
        return conversations.set_status(self.db.session, self.caller, conversation_id,
                                        load(ConversationPatch, payload)["status"])

    # --- dispatch (operator) ------------------------------------------------------------------
    @rpc
    def list_depots(self) -> list:
        return dispatch.list_depots(self.db.session, self.caller)

    @rpc
    def create_depot(self, payload: dict) -> dict:
        return dispatch.create_depot(self.db.session, self.caller, load(DepotIn, payload))

    @rpc
    def list_routes(self, args: dict) -> dict:
        return dispatch.list_routes(self.db.session, self.caller, load(RouteListArgs, args))

    @rpc
    def create_route(self, payload: dict) -> dict:
        return dispatch.create_route(self.db.session, self.caller, load(RouteIn, payload))

    @rpc
    def get_route(self, route_id: str) -> dict:
        return dispatch.get_route(self.db.session, self.caller, route_id)

    @rpc
    def update_route(self, route_id: str, payload: dict) -> dict:
        return dispatch.update_route(self.db, self.caller, route_id, load(RoutePatch, payload, partial=True))

    @rpc
    def schedule_orders(self, route_id: str, payload: dict) -> dict:
        return dispatch.schedule(self.db, self.caller, route_id, load(RouteOrdersIn, payload)["order_ids"])

    @rpc
    def unschedule_order(self, route_id: str, order_id: str) -> dict:
        return dispatch.unschedule(self.db, self.caller, route_id, order_id)

    @rpc
    def start_route(self, route_id: str) -> dict:
        return dispatch.start(self.db, self.caller, route_id)

    # --- CO2e (GLEC / ISO 14083) ---------------------------------------------------------------
    @rpc
    def list_emission_factors(self) -> list:
        return emissions.list_factors(self.db.session, self.caller)

    @rpc
    def save_emission_factor(self, vehicle_type: str, payload: dict) -> dict:
        return emissions.save_factor(self.db.session, self.caller, vehicle_type,
                                     load(EmissionFactorIn, payload, partial=True))

    @rpc
    def emissions_monthly(self, args: dict) -> dict:
        return emissions.monthly(self.db.session, self.caller, load(EmissionsArgs, args))

    @rpc
    def emissions_csv(self, args: dict) -> dict:
        return emissions.csv_export(self.db.session, self.caller, load(EmissionsArgs, args))

    # --- rentals ------------------------------------------------------------------------------
    @rpc
    def list_rentals(self, args: dict) -> dict:
        return rentals.listing(self.db.session, self.caller, load(RentalListArgs, args))

    @rpc
    def get_rental(self, contract_id: str) -> dict:
        return rentals.get(self.db.session, self.caller, contract_id)

    @rpc
    def create_rental(self, payload: dict) -> dict:
        return rentals.create(self.db.session, self.caller, load(RentalContractIn, payload))

    @rpc
    def request_call_off(self, contract_id: str, payload: dict) -> dict:
        return rentals.request_call_off(self.db, self.caller, contract_id, load(CallOffIn, payload))

    @rpc
    def list_call_offs(self, args: dict) -> dict:
        return rentals.list_call_offs(self.db.session, self.caller, load(CallOffListArgs, args))

    @rpc
    def decide_call_off(self, call_off_id: str, payload: dict) -> dict:
        data = load(DecisionIn, payload)
        return rentals.decide_call_off(self.db, self.caller, call_off_id, data["accept"], data.get("reason"))

    # --- signing a rental contract's document -------------------------------------------------
    @rpc
    def attach_rental_document(self, contract_id: str, upload: dict) -> dict:
        return rental_signing.attach(self.db, self.caller, contract_id, load(DocumentUploadIn, upload))

    @rpc
    def rental_document(self, contract_id: str) -> dict:
        return rental_signing.document_file(self.db.session, self.caller, contract_id)

    @rpc
    def sign_rental(self, contract_id: str, payload: dict, origin: dict | None = None) -> dict:
        return rental_signing.sign(self.db, self.caller, contract_id, load(SignatureIn, payload), origin or {})

    @rpc
    def rental_signature(self, contract_id: str) -> dict:
        return rental_signing.signature(self.db.session, self.caller, contract_id)

    @rpc
    def signed_rental_pdf(self, contract_id: str) -> dict:
        return rental_signing.signed_pdf(self.db.session, self.caller, contract_id)

    # --- book again and recurring orders ------------------------------------------------------
    @rpc
    def repeat_order(self, order_id: str, payload: dict | None = None,
                     idempotency_key: str | None = None) -> dict:
        data = load(RepeatIn, payload or {})

        def produce() -> dict:
            order = repeat.repeat(self.db, self.caller, order_id, data, pricer=self.pricer)
            return lifecycle.view(self.db, self.caller, order)

        return self.db.idempotent("repeat_order", self.caller, idempotency_key,
                                  {"order_id": order_id, **(payload or {})}, produce)

    @rpc
    def list_recurring(self, args: dict) -> dict:
        return recurring.listing(self.db.session, self.caller, load(PageArgs, args))

    @rpc
    def get_recurring(self, recurring_id: str) -> dict:
        return recurring.get(self.db.session, self.caller, recurring_id)

    @rpc
    def create_recurring(self, payload: dict) -> dict:
        return recurring.create(self.db.session, self.caller, load(RecurringIn, payload))

    @rpc
    def update_recurring(self, recurring_id: str, payload: dict) -> dict:
        return recurring.update(self.db.session, self.caller, recurring_id, load(RecurringPatch, payload))

    @rpc
    def delete_recurring(self, recurring_id: str) -> None:
        recurring.delete(self.db.session, self.caller, recurring_id)

    @timer(interval=env_float("ORDERS_RECURRING_SECONDS"))
    def book_recurring(self) -> None:
        """Each due day of every schedule booked once (safe on several instances at once)."""
        recurring.run_due(self.db, pricer=self.pricer)
