-- GET /health: the worker answers a constant, no actor.
wrk.method = "GET"
wrk.path = "/health"
