-- POST /chat/room1/messages with a small JSON body: appends to one chat actor.
wrk.method = "POST"
wrk.path = "/chat/room1/messages"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"user":"bench","text":"hello from wrk, a small chat message"}'
