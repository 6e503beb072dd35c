"""A portfolio's answer written out a few items at a time.

A 1,000-site answer is about 40 MB of JSON. Encoded in one piece it sits in memory twice
beside the priced answers (the bytes, and the server's send buffer holding them while
the client reads), which took a worker past 500 MB (docs/performance.md). Here each
chunk of items is encoded when the client is ready for it and let go once written, so
a worker holds the priced answers and one chunk. The bytes are the same as encoding the
whole answer at once (msgspec, compact), a test holds them so.

Everything is priced and stored before the first byte: a client that goes away midway
loses only its copy of the answer, which ``GET /v1/quotes/{id}`` still has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

import msgspec

from service.quotes.schemas import BatchItem, QuoteBatchResponse, QuoteResponse

CHUNK_ITEMS: Final = 32  # about 1.2 MB of JSON a chunk


def batch_chunks(
    answer: QuoteBatchResponse,
    chunk: int = CHUNK_ITEMS,
    render: Callable[[QuoteResponse], QuoteResponse] | None = None,
) -> Iterator[bytes]:
    """``answer`` as JSON in pieces that join to ``msgspec.json.encode(answer)``, each
    item's quote passed through ``render`` (its texts, in the caller's language) as it
    is written. Items are released as they are written: the caller hands over
    ``answer`` and keeps no other reference to its items if it wants their memory back."""
    items: list[BatchItem | None] = list(answer.items)
    head = msgspec.json.encode(msgspec.structs.replace(answer, items=[]))
    del answer
    # ``items`` is the last field: the empty answer ends in the list's brackets and brace
    if not head.endswith(b"[]}"):
        raise ValueError("the batch answer's items are not its last field")
    yield head[:-2]
    encoder = msgspec.json.Encoder()

    def written(item: BatchItem | None) -> bytes:
        if render is not None and item is not None and item.quote is not None:
            item = msgspec.structs.replace(item, quote=render(item.quote))
        return encoder.encode(item)

    for lo in range(0, len(items), chunk):
        data = b",".join(written(item) for item in items[lo : lo + chunk])
        items[lo : lo + chunk] = [None] * len(items[lo : lo + chunk])
        yield (b"," if lo else b"") + data
    yield b"]}"
