"""A C2SP tlog-witness: cosigns a log's checkpoints once they are consistent with what it saw.

`protocol` (the add-checkpoint wire format) and `core` (the checks and the state) need only
the crypto layer; `server` puts `core` behind HTTP and needs the server extra.
"""
