-- POST /check?key=hot: one counter actor (get, +1, put, answer).
wrk.method = "POST"
wrk.path = "/check?key=hot"
