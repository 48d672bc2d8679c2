"""A fix to Hypercorn's HTTP/2 connections: data for a stream that is already answered.

When the app answers before the request body has arrived (a 401 for a missing key, a
413 announced by ``content-length``), Hypercorn closes the stream; the client's DATA
frames for it still come, and Hypercorn 0.18 looks the stream up without checking, so
the whole connection, with every other stream on it, dies with ``KeyError`` and a
traceback in the log (pgjones/hypercorn#329; the fix, #334, is not released).  Every
HTTP/2 client reaches this once TLS offers ``h2`` by ALPN.

``ThreadgateH2Protocol`` hands Hypercorn its events one at a time and drops such DATA
(still returning its flow-control credit to the connection), as Hypercorn already does
for the stream's end.  ``install`` puts it where ``hypercorn.protocol.ProtocolWrapper``
takes the protocol class from.
"""

from __future__ import annotations

import h2.events
from hypercorn.protocol.h2 import H2Protocol

from adapters.http.protocol_patch import replace_protocol


class ThreadgateH2Protocol(H2Protocol):
    async def _handle_events(self, events: list[h2.events.Event]) -> None:
        for event in events:
            # one at a time: answering an earlier event of the batch may close the stream
            if isinstance(event, h2.events.DataReceived) and event.stream_id not in self.streams:
                self.connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                continue
            await super()._handle_events([event])
        await self._flush()


def install() -> bool:
    """Make Hypercorn's connections use ``ThreadgateH2Protocol`` (False if it cannot)."""
    return replace_protocol(
        "H2Protocol",
        H2Protocol,
        ThreadgateH2Protocol,
        "_handle_events",
        "HTTP/2 data on an answered stream still drops the connection",
    )
