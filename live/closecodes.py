"""WebSocket close codes the server uses, numbered in one place."""

NORMAL = 1000
GOING_AWAY = 1001  # the server is shutting down; reconnect (to any process) and resume
ABNORMAL = 1006  # the socket went away without a close (never sent; for metrics)
POLICY_FLOOD = 1008  # kept flooding after rate_limited
TOO_BIG = 1009  # a frame over 4 KiB
SERVER_ERROR = 1011
UNAUTHORIZED = 4001  # the token is present but invalid
BANNED = 4003
NO_SUCH_ROOM = 4004
TOO_SLOW = 4008  # the viewer fell further behind than the outbox bound; resume with since
HISTORY_LOST = 4009  # the room's history moved past this process's reader; reconnect for a snapshot
