"""The driver side of tracking: the SDK a driver app embeds (``DriverClient`` over a shared
``DriverLink``) and a simulator (``python -m services.tracking.driver.simulator``)."""
from services.tracking.driver.client import DriverClient, Publisher, location_key, stop_key
from services.tracking.driver.link import EXCHANGE, DriverLink, DriverLinkError

__all__ = ["EXCHANGE", "DriverClient", "DriverLink", "DriverLinkError", "Publisher", "location_key",
           "stop_key"]
