"""Security pieces shared by every process: the payload codec and its codec server."""
