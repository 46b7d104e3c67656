"""A subscriber spread over processes: each child runs an ordinary subscriber on a shared
subscription; the group starts, counts, restarts and stops them as one, and relays what they
processed back to an observer in the parent."""
