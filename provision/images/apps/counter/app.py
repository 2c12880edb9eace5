"""The visit counter from the classic Docker tutorials: hit count in Redis, container hostname."""

import os
import socket

from flask import Flask
from redis import Redis, RedisError

app = Flask(__name__)
redis = Redis(
    host=os.environ.get("REDIS_HOST", "redis"),
    port=int(os.environ.get("REDIS_PORT", "6379")),
    socket_connect_timeout=2,
    socket_timeout=2,
)


@app.route("/")
def hello():
    try:
        visits = redis.incr("counter")
    except RedisError:
        visits = "<i>cannot connect to Redis, counter disabled</i>"
    html = (
        "<h3>Hello {name}!</h3>\n"
        "<b>Hostname:</b> <span id=\"hostname\">{hostname}</span><br/>\n"
        "<b>Visits:</b> <span id=\"visits\">{visits}</span>\n"
    )
    return html.format(name=os.getenv("NAME", "world"), hostname=socket.gethostname(), visits=visits)


@app.route("/healthz")
def healthz():
    return "ok\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "5000")))
