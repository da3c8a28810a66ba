"""The baseline the issue names, measured in the same run as our gateway: a Flask route making
one nameko RPC through a ClusterRpcProxy per thread, under one sync gunicorn worker per core.
It is not part of the product; bench.run starts it on a spare loopback port and stops it."""
import threading

from flask import Flask, jsonify
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.config import env

app = Flask(__name__)
_local = threading.local()


def _proxy():
    if not hasattr(_local, "proxy"):
        _local.proxy = ClusterRpcProxy({"AMQP_URI": env("AMQP_URI")}).start()
    return _local.proxy


@app.get("/ping")
def ping():
    return jsonify(_proxy().identity.ping())
